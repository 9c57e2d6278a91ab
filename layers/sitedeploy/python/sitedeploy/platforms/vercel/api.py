"""Vercel's REST API: JSON in, JSON or a VercelError out, with urllib3's Retry under it.

Errors are ``{"error": {"code", "message", ...}}``; ``missing_files`` also names the digests Vercel
lacks. Every call carries ``teamId`` when the token acts for a team. A 429 is waited out: Retry-After
when Vercel sends it, otherwise the body's ``error.limit.reset`` (epoch seconds), capped either way
so that a platform asking for an hour cannot hold a Lambda hostage."""

from __future__ import annotations

import io
import json
import time
from typing import IO, Any
from urllib.parse import urlencode

import urllib3
from pydantic import SecretStr
from urllib3 import BaseHTTPResponse

from sitedeploy.platforms.base import CappedRetry, PlatformError, retry_policy

DEFAULT_API_BASE = "https://api.vercel.com"
ATTEMPTS = 5
POOL_SIZE = 8
SEND_BLOCK_BYTES = 256 * 1024  # a file body goes out in blocks this big (urllib3's default: 16 KiB)
# ``limit.reset`` is documented in epoch seconds; a value this large can only be milliseconds.
MILLISECONDS_THRESHOLD = 1e11


class VercelError(PlatformError):
    """Vercel's refusal: its ``code`` and message; ``missing`` lists the digests of ``missing_files``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        missing: list[str] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.missing = missing or []


def limit_reset_seconds(body: bytes | None, now: float) -> float | None:
    """Seconds until the body's ``error.limit.reset`` (None when the body names no reset)."""
    if not body:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    limit = error.get("limit") if isinstance(error, dict) else None
    reset = limit.get("reset") if isinstance(limit, dict) else None
    if isinstance(reset, bool) or not isinstance(reset, int | float):
        return None
    moment = float(reset) / 1000.0 if reset > MILLISECONDS_THRESHOLD else float(reset)
    return max(0.0, moment - now)


class VercelRetry(CappedRetry):
    """The service's retry policy, plus Vercel's body-borne reset when a 429 has no Retry-After."""

    @classmethod
    def adopt(cls, policy: CappedRetry) -> VercelRetry:
        fresh = cls.__new__(cls)
        fresh.__dict__.update(vars(policy))
        return fresh

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value: float | None = super().get_retry_after(response)  # type: ignore[no-untyped-call]
        if value is not None or response.status != 429:
            return value
        # The body was read before the retry decision (preloaded), so it is still there.
        wait = limit_reset_seconds(response.data, time.time())
        return None if wait is None else min(wait, self.retry_after_cap)


def _error(status: int, payload: Any, what: str) -> VercelError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return VercelError(f"{what} failed: HTTP {status}", status=status)
    code = error.get("code")
    message = str(error.get("message") or code or "error")
    missing = error.get("missing")
    digests = [str(d) for d in missing] if isinstance(missing, list) else None
    return VercelError(f"{what} failed: {message} ({code}, HTTP {status})", status=status, code=code, missing=digests)


class VercelApi:
    """One token acting on one scope (its personal account, or ``team_id``)."""

    def __init__(
        self,
        token: SecretStr,
        *,
        team_id: str | None = None,
        base_url: str = DEFAULT_API_BASE,
        backoff: float = 1.0,
        retry_after_cap: float = 30.0,
        attempts: int = ATTEMPTS,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.team_id = team_id or None
        self._token = token
        self._attempts = attempts
        self._retries = VercelRetry.adopt(
            retry_policy(attempts=attempts, backoff=backoff, retry_after_cap=retry_after_cap)
        )
        self._http = urllib3.PoolManager(
            maxsize=POOL_SIZE,
            retries=self._retries,
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
            blocksize=SEND_BLOCK_BYTES,
        )
        self.requests_sent = 0

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        params = dict(query or {})
        if self.team_id:
            params["teamId"] = self.team_id
        if not params:
            return self.base_url + path
        return self.base_url + path + ("&" if "?" in path else "?") + urlencode(params)

    def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        json_body: Any = None,
        body: bytes | IO[bytes] | io.RawIOBase | None = None,
        headers: dict[str, str] | None = None,
        what: str = "Vercel API call",
    ) -> tuple[int, Any]:
        sent = {"Authorization": f"Bearer {self._token.get_secret_value()}", **(headers or {})}
        data: Any = body
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        try:
            self.requests_sent += 1
            response = self._http.request(method, self.url(path, query), body=data, headers=sent)
        except urllib3.exceptions.MaxRetryError as exc:
            raise VercelError(f"{what} failed: {type(exc.reason).__name__} after {self._attempts} attempts") from None
        except urllib3.exceptions.HTTPError as exc:
            raise VercelError(f"{what} failed: {type(exc).__name__}") from None
        try:
            payload = json.loads(response.data) if response.data else None
        except ValueError:
            payload = None
        if response.status >= 400:
            raise _error(response.status, payload, what)
        return response.status, payload
