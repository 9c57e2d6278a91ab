"""Netlify's API v1: JSON in, JSON or a NetlifyError out, with urllib3's Retry (429, 5xx, resets)
under it. Netlify answers every error as ``{"code": <status>, "message": "..."}`` (validation
errors add ``errors``), and a rate limit as 429 with ``X-RateLimit-Reset`` (epoch seconds): that
header is honoured like Retry-After, capped the same way."""

from __future__ import annotations

import time
from typing import Any, ClassVar
from urllib.parse import quote

from urllib3 import BaseHTTPResponse

from sitedeploy.platforms.base import CappedRetry, PlatformError
from sitedeploy.platforms.http import JsonApi

DEFAULT_API_BASE = "https://api.netlify.com/api/v1"
USER_AGENT = "sitedeploy (+https://github.com/sitedeploy)"
# What JS encodeURI leaves alone (netlify-cli escapes upload paths with it), '#' and '?' excepted:
# in a URL path they would end it.
_URI_SAFE = "/:@!$&'()*+,;=-._~"


class NetlifyError(PlatformError):
    pass


class NetlifyRetry(CappedRetry):
    """On a 429 without Retry-After, Netlify names the reset in ``X-RateLimit-Reset`` (epoch seconds)."""

    def reset_wait(self, response: BaseHTTPResponse) -> float | None:
        try:
            return float(response.headers.get("X-RateLimit-Reset", "")) - time.time()
        except ValueError:
            return None


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
    suffix = "" if detail == f"HTTP {status}" else f" (HTTP {status})"
    return NetlifyError(
        f"{what} failed: {detail}{suffix}",
        status=status,
        code=code if isinstance(code, (int, str)) else None,
    )


class NetlifyApi(JsonApi):
    """The v1 API: JSON in and out, NetlifyError on any 4xx/5xx, retries by urllib3's Retry."""

    error_class: ClassVar[type[PlatformError]] = NetlifyError
    retry_class: ClassVar[type[CappedRetry]] = NetlifyRetry
    default_headers: ClassVar[dict[str, str]] = {"User-Agent": USER_AGENT}
    default_base_url: ClassVar[str] = DEFAULT_API_BASE
    title: ClassVar[str] = "Netlify"

    def answer(self, status: int, payload: Any, what: str) -> Any:
        if status >= 400:
            raise error_from(status, payload, what)
        return payload
