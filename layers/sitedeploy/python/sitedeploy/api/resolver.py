"""The resolver every HTTP function starts from: validation on, one error shape, OpenAPI-ready."""

from __future__ import annotations

import binascii
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from sitedeploy.api.errors import register_error_handlers
from sitedeploy.observability import metrics

JSON_CONTENT_TYPE = "application/json"
T = TypeVar("T")


class JsonBodiesOnly(OpenAPIRequestValidationMiddleware):
    """Request validation that reads JSON bodies only: every body of this API is JSON. Powertools
    would also parse forms and multipart, and answers a multipart type without a boundary with a
    bare ValueError (a 500); here any other declared type is a 415 before anything is parsed. A body
    that is not UTF-8 (API Gateway then base64-encodes it) is a 400, not Powertools' UnicodeDecodeError."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def _get_body(self, app: Any) -> dict[str, Any]:
        content_type = str(app.current_event.headers.get("content-type") or "").strip()
        if content_type and content_type.split(";")[0].strip().lower() != JSON_CONTENT_TYPE:
            error = {"type": "unsupported_content_type", "loc": ("body",), "msg": "not JSON", "input": {}, "ctx": {}}
            raise RequestUnsupportedContentType("Unsupported content type", errors=[error])
        return self._parse_json_data(app)  # also without a declared type, as Powertools does

    def _parse_json_data(self, app: Any) -> dict[str, Any]:
        try:
            body: dict[str, Any] = super()._parse_json_data(app)
        except (UnicodeDecodeError, binascii.Error) as exc:
            error = {"type": "json_invalid", "loc": ("body",), "msg": "the body is not UTF-8 JSON", "input": {}}
            raise RequestValidationError([error]) from exc
        except RecursionError as exc:  # nested deeper than the parser's stack: no request of ours is
            error = {"type": "json_invalid", "loc": ("body",), "msg": "the body is nested too deeply", "input": {}}
            raise RequestValidationError([error]) from exc
        return body


def create_resolver() -> APIGatewayHttpResolver:
    # A response that fails its declared type is our bug: a 500 (ResponseValidationError), not the 400
    # Powertools would otherwise raise as a RequestValidationError and blame the caller for.
    app = APIGatewayHttpResolver(
        enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
    )
    # Powertools runs this middleware before any other (app.use cannot come first), so it is replaced.
    app._request_validation_middleware = JsonBodiesOnly()
    register_error_handlers(app)
    return app


def accepted(body: T, metric: str | None = None) -> Response[T]:
    """202 Accepted: the work goes on after the answer (the status routes follow it); ``metric``
    counts it where the flow does not already."""
    if metric:
        metrics.add_metric(name=metric, unit="Count", value=1)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=body)
