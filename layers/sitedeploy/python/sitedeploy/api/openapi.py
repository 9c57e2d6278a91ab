"""The API's OpenAPI document: the error shapes it documents, and the packaged document itself.

``sitedeploy_local.openapi`` assembles the document from every HTTP function's resolver and writes it
into this package (``sitedeploy/openapi.json``); DeployStatusFunction serves it at GET /openapi.json."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

DOCUMENT_NAME = "openapi.json"
ERROR_SCHEMA = "Error"
GATEWAY_ERROR_SCHEMA = "GatewayError"
ERROR_REF = f"#/components/schemas/{ERROR_SCHEMA}"
GATEWAY_ERROR_REF = f"#/components/schemas/{GATEWAY_ERROR_SCHEMA}"

# What sitedeploy.api.errors.error_response writes, on every 4xx and 5xx the functions answer.
ERROR_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": ERROR_SCHEMA,
    "description": "Every error the functions answer. Some errors add machine-readable fields beside these.",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong, naming the field or path at fault."},
        "code": {
            "type": "string",
            "description": "Machine code: validation_error, not_found, unsupported_platform, internal_error, ...",
        },
    },
    "additionalProperties": True,
}

# What API Gateway itself answers (authorizer, throttling, payload limit, integration failure).
GATEWAY_ERROR_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": GATEWAY_ERROR_SCHEMA,
    "description": "An answer of API Gateway itself, before or instead of a function's.",
    "required": ["message"],
    "properties": {"message": {"type": "string", "examples": ["Unauthorized", "Too Many Requests"]}},
}


def error_response_doc(description: str, *, from_gateway: bool = False) -> OpenAPIResponse:
    """One documented error response: the functions' ``{error, code}``, or also API Gateway's ``{message}``."""
    schema: dict[str, Any] = {"$ref": ERROR_REF}
    if from_gateway:
        schema = {"anyOf": [{"$ref": ERROR_REF}, {"$ref": GATEWAY_ERROR_REF}]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(descriptions: Mapping[int, str]) -> dict[int, OpenAPIResponse]:
    """For a route's ``responses=``: the errors it answers beyond the ones every route documents
    (400 on bad input, 401, 404 on a path parameter, 413/415 on a body, 429, 500, 503)."""
    return {status: error_response_doc(text) for status, text in descriptions.items()}


@functools.cache
def document_text() -> str:
    """The packaged document, read once per execution environment."""
    return resources.files("sitedeploy").joinpath(DOCUMENT_NAME).read_text(encoding="utf-8")
