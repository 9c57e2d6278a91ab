"""One error shape, ``{"error": <message>, "code": <machine code>}``, for every 4xx and 5xx.

Messages name the offending field or path so that a client can fix its request; they never echo
request bodies (which may hold credentials) and never carry internal detail on a 500."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)

from sitedeploy.domain.errors import ApiError, DeploymentNotFound, InvalidCursor
from sitedeploy.observability import logger


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({**(details or {}), "error": message, "code": code}),
    )


def describe_validation_errors(errors: list[Any]) -> str:
    """Turn pydantic's error list into one line that names each offending field."""
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        elif err.get("type") == "missing":
            message = "is required"
        parts.append(f"{loc}: {message}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _api_error(exc: ApiError) -> Response[str]:
    return error_response(exc.status, exc.code, exc.message, exc.details)


def _validation_error(exc: RequestValidationError) -> Response[str]:
    return error_response(400, "validation_error", describe_validation_errors(list(exc.errors())))


def _unsupported_media_type(_exc: RequestUnsupportedContentType) -> Response[str]:
    return error_response(415, "unsupported_media_type", "the body must be application/json")


def _invalid_response(exc: ResponseValidationError) -> Response[str]:
    # The handler answered something its own declared type refuses: our bug, never the caller's.
    fields = [".".join(str(p) for p in err.get("loc", ())) for err in list(exc.errors())[:5]]
    logger.error("response failed its declared schema", extra={"fields": fields})
    return error_response(500, "internal_error", "internal error")


def _not_found(exc: DeploymentNotFound) -> Response[str]:
    return error_response(404, "not_found", str(exc))


def _bad_cursor(exc: InvalidCursor) -> Response[str]:
    return error_response(400, "invalid_cursor", str(exc))


def _service_error(exc: ServiceError) -> Response[str]:
    return error_response(exc.status_code, "error", str(exc.msg))


def _no_route(_exc: Exception) -> Response[str]:
    return error_response(404, "route_not_found", "no such route")


def _unexpected(exc: Exception) -> Response[str]:
    # Logged with its traceback for the operator; the client learns nothing internal.
    logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return error_response(500, "internal_error", "internal error")


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Most specific first is not needed: Powertools picks the handler by the exception's MRO."""
    app.exception_handler(ApiError)(_api_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    # A NotImplementedError subclass: without its own handler the catch-all below makes it a 500.
    app.exception_handler(RequestUnsupportedContentType)(_unsupported_media_type)
    app.exception_handler(ResponseValidationError)(_invalid_response)
    app.exception_handler(DeploymentNotFound)(_not_found)
    app.exception_handler(InvalidCursor)(_bad_cursor)
    app.exception_handler(ServiceError)(_service_error)
    app.not_found(_no_route)
    app.exception_handler(Exception)(_unexpected)
