"""The Cloudflare emulator's error: an answer in the platform's envelope. A module of its own so that
the state and its mixins (``domains``) raise the same one."""

from __future__ import annotations


class ApiError(Exception):
    """An answer in the platform's error envelope: HTTP ``status``, Cloudflare error ``code``."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
