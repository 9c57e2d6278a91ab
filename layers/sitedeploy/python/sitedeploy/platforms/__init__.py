"""Platform adapters: they publish files and answer with URLs; they know nothing of DynamoDB or HTTP
events. Shared here: the shape of their input, their result and their errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from urllib3.util.retry import Retry


@dataclass(frozen=True)
class SiteFile:
    """One served file: relative POSIX path, the sha256 of its bytes, its size and content type."""

    path: str
    sha256: str
    size: int
    content_type: str


# Reads a file's bytes (verified against its sha256 by the caller's store).
BlobReader = Callable[[SiteFile], bytes]
# Called as bytes reach the platform: (bytes sent so far, bytes to send in all).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PublishResult:
    url: str
    external_id: str | None
    uploaded_files: int
    uploaded_bytes: int


class PlatformError(Exception):
    """The platform refused or failed; ``message`` is the platform's own words, never a secret."""

    def __init__(self, message: str, *, status: int | None = None, code: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class CappedRetry(Retry):
    """urllib3's Retry (exponential backoff with jitter, Retry-After honoured) with Retry-After
    capped, so a platform asking for an hour cannot hold a 15-minute Lambda hostage."""

    retry_after_cap: float = 30.0

    def get_retry_after(self, response):  # type: ignore[no-untyped-def]
        value = super().get_retry_after(response)
        if value is None:
            return None
        return min(float(value), self.retry_after_cap)

    def new(self, **kwargs):  # type: ignore[no-untyped-def]
        fresh = super().new(**kwargs)
        fresh.retry_after_cap = self.retry_after_cap
        return fresh


def retry_policy(
    *, attempts: int, backoff: float, backoff_max: float = 16.0, retry_after_cap: float = 30.0
) -> CappedRetry:
    """``attempts`` tries in all on 429/5xx/524 and on connection resets, for every method (the
    calls we retry are idempotent on the platform's side: same hashes, same completion token)."""
    policy = CappedRetry(
        total=attempts - 1,
        connect=attempts - 1,
        read=attempts - 1,
        status=attempts - 1,
        other=attempts - 1,
        backoff_factor=backoff,
        backoff_max=backoff_max,
        backoff_jitter=backoff / 2,
        status_forcelist=frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524}),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    policy.retry_after_cap = retry_after_cap
    return policy
