"""Vercel's REST API: JSON in, JSON or a VercelError out, with urllib3's Retry under it.

Errors are ``{"error": {"code", "message", ...}}``; ``missing_files`` also names the digests Vercel
lacks. Every call carries ``teamId`` when the token acts for a team. A 429 is waited out: Retry-After
when Vercel sends it, otherwise the body's ``error.limit.reset`` (epoch seconds), capped either way
so that a platform asking for an hour cannot hold a Lambda hostage."""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from pydantic import SecretStr
from urllib3 import BaseHTTPResponse

from sitedeploy.platforms.base import CappedRetry, PlatformError
from sitedeploy.platforms.http import JsonApi

DEFAULT_API_BASE = "https://api.vercel.com"
# ``limit.reset`` is documented in epoch seconds; a value this large can only be milliseconds.
MILLISECONDS_THRESHOLD = 1e11
# Uploads at once. Each waits a round trip to Vercel, which is what bounds a first deploy of many
# small files: on the local stack with 40 ms added to each call, 500 files (25 MB) took 4.1-4.4 s to
# publish 6 at a time, 1.9-2.1 s 16 at a time and 1.3-1.5 s 32 at a time (``@vercel/client`` sends
# up to 50). Without the added wait, the machine's CPU bounds it and the number makes no difference.
UPLOAD_CONCURRENCY = 32
# Kept-alive connections: every upload at once and a few more (the status polls, a create); past
# the pool's size urllib3 opens a connection per request and drops it (a TLS handshake each).
POOL_SIZE = UPLOAD_CONCURRENCY + 4


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
    """On a 429 without Retry-After, Vercel names the reset in the body's ``error.limit.reset``."""

    def reset_wait(self, response: BaseHTTPResponse) -> float | None:
        # The body was read before the retry decision (preloaded), so it is still there.
        return limit_reset_seconds(response.data, time.time())


def _error(status: int, payload: Any, what: str) -> VercelError:
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return VercelError(f"{what} failed: HTTP {status}", status=status)
    code = error.get("code")
    message = str(error.get("message") or code or "error")
    missing = error.get("missing")
    digests = [str(d) for d in missing] if isinstance(missing, list) else None
    return VercelError(f"{what} failed: {message} ({code}, HTTP {status})", status=status, code=code, missing=digests)


class VercelApi(JsonApi):
    """One token acting on one scope (its personal account, or ``team_id``)."""

    error_class: ClassVar[type[PlatformError]] = VercelError
    retry_class: ClassVar[type[CappedRetry]] = VercelRetry
    default_base_url: ClassVar[str] = DEFAULT_API_BASE
    title: ClassVar[str] = "Vercel"
    default_pool_size: ClassVar[int] = POOL_SIZE

    def __init__(self, token: SecretStr, *, team_id: str | None = None, **options: Any) -> None:
        super().__init__(token, **options)
        self.team_id = team_id or None

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        params = dict(query or {})
        if self.team_id:
            params["teamId"] = self.team_id
        return super().url(path, params)

    def answer(self, status: int, payload: Any, what: str) -> Any:
        if status >= 400:
            raise _error(status, payload, what)
        return payload
