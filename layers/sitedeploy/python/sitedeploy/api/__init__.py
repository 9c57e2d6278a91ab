"""API glue: the only part of the library that knows API Gateway events exist."""

from sitedeploy.api.auth import current_owner
from sitedeploy.api.resolver import accepted, create_resolver
from sitedeploy.domain.errors import ApiError, BadRequest, Conflict, NotFound, Unauthorized

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "NotFound",
    "Unauthorized",
    "accepted",
    "create_resolver",
    "current_owner",
]
