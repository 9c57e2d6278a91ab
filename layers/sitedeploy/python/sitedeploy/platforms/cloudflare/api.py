"""Cloudflare's v4 API: the envelope ``{success, errors, messages, result}`` in, a result or a
CloudflareError out, with urllib3's Retry (429 with Retry-After, 5xx, 524, resets) under it."""

from __future__ import annotations

import io
import json
from typing import Any

import urllib3
from pydantic import SecretStr

from sitedeploy.platforms.base import PlatformError, retry_policy

DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
ATTEMPTS = 5
POOL_SIZE = 5
SEND_BLOCK_BYTES = 256 * 1024  # a streamed body goes out in blocks this big (urllib3's default: 16 KiB)


class CloudflareError(PlatformError):
    pass


def _envelope_error(status: int, payload: Any, fallback: str) -> CloudflareError:
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if isinstance(errors, list) and errors:
        parts = []
        codes = []
        for err in errors[:5]:
            if isinstance(err, dict):
                parts.append(f"{err.get('message', 'error')} (code {err.get('code')})")
                codes.append(err.get("code"))
        return CloudflareError(
            f"{fallback} failed: {'; '.join(parts)} (HTTP {status})", status=status, code=codes[0] if codes else None
        )
    return CloudflareError(f"{fallback} failed: HTTP {status}", status=status)


class CloudflareApi:
    """The v4 API: envelopes in, results or CloudflareError out, retries by urllib3's Retry."""

    def __init__(
        self,
        token: SecretStr,
        *,
        base_url: str = DEFAULT_API_BASE,
        backoff: float = 1.0,
        retry_after_cap: float = 30.0,
        attempts: int = ATTEMPTS,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._attempts = attempts
        self._retries = retry_policy(attempts=attempts, backoff=backoff, retry_after_cap=retry_after_cap)
        self._http = urllib3.PoolManager(
            maxsize=POOL_SIZE,
            retries=self._retries,
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
            blocksize=SEND_BLOCK_BYTES,
        )
        self.requests_sent = 0

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | io.RawIOBase | None = None,
        content_type: str | None = None,
        bearer: SecretStr | str | None = None,
        headers: dict[str, str] | None = None,
        what: str = "Cloudflare API call",
    ) -> tuple[int, Any]:
        token = bearer if bearer is not None else self._token
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        sent = {"Authorization": f"Bearer {secret}", **(headers or {})}
        data = body
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        elif content_type:
            sent["Content-Type"] = content_type
        try:
            self.requests_sent += 1
            response = self._http.request(method, self.base_url + path, body=data, headers=sent)
        except urllib3.exceptions.MaxRetryError as exc:
            raise CloudflareError(
                f"{what} failed: {type(exc.reason).__name__} after {self._attempts} attempts"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise CloudflareError(f"{what} failed: {type(exc).__name__}") from None
        try:
            payload = json.loads(response.data) if response.data else None
        except ValueError:
            payload = None
        if response.status >= 400 or (isinstance(payload, dict) and payload.get("success") is False):
            raise _envelope_error(response.status, payload, what)
        result = payload.get("result") if isinstance(payload, dict) else None
        return response.status, result
