"""Cloudflare's v4 API: the envelope ``{success, errors, messages, result}`` in, a result or a
CloudflareError out, with urllib3's Retry (429 with Retry-After, 5xx, 524, resets) under it."""

from __future__ import annotations

from typing import Any, ClassVar

from sitedeploy.platforms.base import PlatformError
from sitedeploy.platforms.http import JsonApi

DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
POOL_SIZE = 5


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


class CloudflareApi(JsonApi):
    """The v4 API: envelopes in, results or CloudflareError out, retries by urllib3's Retry."""

    error_class: ClassVar[type[PlatformError]] = CloudflareError
    default_base_url: ClassVar[str] = DEFAULT_API_BASE
    title: ClassVar[str] = "Cloudflare"
    default_pool_size: ClassVar[int] = POOL_SIZE

    def answer(self, status: int, payload: Any, what: str) -> Any:
        if status >= 400 or (isinstance(payload, dict) and payload.get("success") is False):
            raise _envelope_error(status, payload, what)
        return payload.get("result") if isinstance(payload, dict) else None
