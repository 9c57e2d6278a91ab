"""Errors the library raises when a caller's request cannot be honoured. Each carries the status
class and a machine code the API answers with; the message names the field or path at fault and
never carries a secret. (The API glue maps them; the library stays free of HTTP events.)"""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Extra machine-readable fields beside error and code (e.g. the missing blobs of a 409).
        self.details = details or {}
        if code:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class VersionExpired(Conflict):
    """A version the site no longer keeps (older than the promise, or its files gone): nothing can
    make it live again."""

    code = "version_expired"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


class PlatformFailed(ApiError):
    """The platform refused or failed what the request needed (its own words in the message)."""

    status = 502
    code = "platform_error"


class RecordsError(Exception):
    """A deployment record cannot be had as asked (raised by the records store, answered by the
    API). Defined here, free of storage imports, so that the API's error mapping costs a handler
    that never reads records nothing to import."""


class DeploymentNotFound(RecordsError):
    """No such deployment for this owner. Deliberately the same for "missing" and "someone else's"."""

    def __init__(self, deployment_id: str) -> None:
        super().__init__(f"deployment {deployment_id} not found")
        self.deployment_id = deployment_id


class InvalidCursor(RecordsError):
    """A pagination cursor that this owner's listing did not hand out."""
