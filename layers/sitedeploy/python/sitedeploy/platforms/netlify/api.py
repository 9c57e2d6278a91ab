"""Netlify's API v1: JSON in, JSON or a NetlifyError out, with urllib3's Retry (429, 5xx, resets)
under it. Netlify answers every error as ``{"code": <status>, "message": "..."}`` (validation
errors add ``errors``), and a rate limit as 429 with ``X-RateLimit-Reset`` (epoch seconds): that
header is honoured like Retry-After, capped the same way."""

from __future__ import annotations

import io
import json
import time
from typing import Any
from urllib.parse import quote

import urllib3
from pydantic import SecretStr
from urllib3 import BaseHTTPResponse
from urllib3.util.retry import Retry

from sitedeploy.platforms.base import CappedRetry, PlatformError, retry_policy

DEFAULT_API_BASE = "https://api.netlify.com/api/v1"
ATTEMPTS = 5
POOL_SIZE = 8
SEND_BLOCK_BYTES = 256 * 1024  # a body goes out in blocks this big (urllib3's default: 16 KiB)
USER_AGENT = "sitedeploy (+https://github.com/sitedeploy)"
# What JS encodeURI leaves alone (netlify-cli escapes upload paths with it), '#' and '?' excepted:
# in a URL path they would end it.
_URI_SAFE = "/:@!$&'()*+,;=-._~"


class NetlifyError(PlatformError):
    pass


class NetlifyRetry(CappedRetry):
    """Retry-After when Netlify sends it; otherwise, on a 429, wait until ``X-RateLimit-Reset``
    (epoch seconds). Either is capped by ``retry_after_cap``."""

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value = Retry.get_retry_after(self, response)
        if value is None and response.status == 429:
            try:
                value = float(response.headers.get("X-RateLimit-Reset", "")) - time.time()
            except ValueError:
                return None
        if value is None:
            return None
        return min(max(float(value), 0.0), self.retry_after_cap)


def netlify_retry(*, attempts: int, backoff: float, retry_after_cap: float) -> NetlifyRetry:
    base = retry_policy(attempts=attempts, backoff=backoff, retry_after_cap=retry_after_cap)
    policy = NetlifyRetry(
        total=base.total,
        connect=base.connect,
        read=base.read,
        status=base.status,
        other=base.other,
        backoff_factor=base.backoff_factor,
        backoff_max=base.backoff_max,
        backoff_jitter=base.backoff_jitter,
        status_forcelist=base.status_forcelist,
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    policy.retry_after_cap = retry_after_cap
    return policy


def upload_path(path: str) -> str:
    """A site path as the file-upload URL wants it: no leading slash, escaped like encodeURI."""
    return quote(path.lstrip("/"), safe=_URI_SAFE)


def error_from(status: int, payload: Any, what: str) -> NetlifyError:
    """``{code, message, errors?}`` → NetlifyError naming what failed, in Netlify's words."""
    message = payload.get("message") if isinstance(payload, dict) else None
    errors = payload.get("errors") if isinstance(payload, dict) else None
    detail = str(message) if message else f"HTTP {status}"
    if isinstance(errors, dict) and errors:
        parts = []
        for field_name, problems in list(errors.items())[:5]:
            listed = problems if isinstance(problems, list) else [problems]
            parts.append(f"{field_name} {', '.join(str(p) for p in listed[:3])}")
        detail += f" ({'; '.join(parts)})"
    code = payload.get("code") if isinstance(payload, dict) else None
    return NetlifyError(
        f"{what} failed: {detail} (HTTP {status})",
        status=status,
        code=code if isinstance(code, (int, str)) else None,
    )


class NetlifyApi:
    """The v1 API: JSON in and out, NetlifyError on any 4xx/5xx, retries by urllib3's Retry."""

    def __init__(
        self,
        token: SecretStr,
        *,
        base_url: str = DEFAULT_API_BASE,
        backoff: float = 1.0,
        retry_after_cap: float = 30.0,
        attempts: int = ATTEMPTS,
        timeout: float = 60.0,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._attempts = attempts
        self._retries = netlify_retry(attempts=attempts, backoff=backoff, retry_after_cap=retry_after_cap)
        self._http = urllib3.PoolManager(
            maxsize=pool_size,
            retries=self._retries,
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
            blocksize=SEND_BLOCK_BYTES,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | io.IOBase | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        what: str = "Netlify API call",
    ) -> tuple[int, Any]:
        """``(status, decoded JSON or None)``. A file-like ``body`` is rewound by urllib3 on retry."""
        sent = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        }
        data: Any = body
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        elif content_type:
            sent["Content-Type"] = content_type
        try:
            response = self._http.request(method, self.base_url + path, body=data, headers=sent)
        except urllib3.exceptions.MaxRetryError as exc:
            raise NetlifyError(f"{what} failed: {type(exc.reason).__name__} after {self._attempts} attempts") from None
        except urllib3.exceptions.HTTPError as exc:
            raise NetlifyError(f"{what} failed: {type(exc).__name__}") from None
        try:
            payload = json.loads(response.data) if response.data else None
        except ValueError:
            payload = None
        if response.status >= 400:
            raise error_from(response.status, payload, what)
        return response.status, payload
