"""The API's OpenAPI document, generated from the functions' own resolvers.

    python -m sitedeploy_local.openapi            # (re)write layers/sitedeploy/python/sitedeploy/openapi.json
    python -m sitedeploy_local.openapi --check    # exit 1 if the committed document is stale

template.yaml is read every time: each function with an HttpApi event has its handler module
imported in isolation (they all call their resolver ``app``), its resolver's schema taken, and the
schemas merged into one document. The template and the resolvers must agree route for route; a
route one of them lacks, or one operation or component defined twice differently, is an error
rather than a silently wrong document. On top of what Powertools generates, the document gets:

- title ``sitedeploy``, the package's version, a relative server;
- the JWT bearer scheme on every route the template puts behind the authorizer, none on the
  routes it marks ``Auth: {Authorizer: NONE}`` (the document's own route);
- the errors the API really answers, in its ``{error, code}`` shape (and API Gateway's own
  ``{message}`` where the gateway may answer), instead of Powertools' 422, which it never sends."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

import sitedeploy
from sitedeploy.api.openapi import (
    DOCUMENT_NAME,
    ERROR_JSON_SCHEMA,
    ERROR_SCHEMA,
    GATEWAY_ERROR_JSON_SCHEMA,
    GATEWAY_ERROR_REF,
    GATEWAY_ERROR_SCHEMA,
    error_response_doc,
)
from sitedeploy_local.template import Template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
DOCUMENT_PATH = REPO_ROOT / "layers" / "sitedeploy" / "python" / "sitedeploy" / DOCUMENT_NAME
RESOLVER_NAME = "app"
BEARER_SCHEME = "bearerAuth"
SCHEMA_REF_PREFIX = "#/components/schemas/"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
# What Powertools adds on its own and this API never answers with (errors are mapped by sitedeploy.api.errors).
POWERTOOLS_VALIDATION_SCHEMAS = frozenset({"HTTPValidationError", "ValidationError", "ResponseValidationError"})

DESCRIPTION = (
    "Publishes a built static site to Cloudflare Workers Static Assets or AWS Amplify Hosting and reports "
    "its status until the site is live. Every route except this document needs `Authorization: Bearer <JWT>`; "
    "the token's `sub` owns everything the request touches. Generated from the functions' resolvers by "
    "`make openapi`: do not edit by hand."
)


class OpenApiError(Exception):
    """The template and the resolvers disagree, or the resolvers' schemas cannot be merged."""


@dataclass(frozen=True)
class HttpRoute:
    method: str  # lower case, as OpenAPI spells it
    path: str
    authorized: bool


@dataclass(frozen=True)
class HttpFunction:
    logical_id: str
    module_path: Path
    routes: tuple[HttpRoute, ...]

    @property
    def tag(self) -> str:
        return self.logical_id.removesuffix("Function")


def http_functions(template_path: Path = TEMPLATE_PATH) -> list[HttpFunction]:
    """The template's functions that serve HttpApi routes, in template order."""
    template = Template.load(template_path)
    glob = (template.body.get("Globals") or {}).get("Function") or {}
    found: list[HttpFunction] = []
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        props = resource.get("Properties") or {}
        routes = []
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            eprops = event.get("Properties") or {}
            if "Method" not in eprops or "Path" not in eprops:
                raise OpenApiError(f"{logical_id}: an HttpApi event without Method and Path is not supported")
            authorizer = (eprops.get("Auth") or {}).get("Authorizer")
            routes.append(HttpRoute(str(eprops["Method"]).lower(), str(eprops["Path"]), authorizer != "NONE"))
        if not routes:
            continue
        handler = str(props.get("Handler") or glob.get("Handler") or "")
        module, _, _attribute = handler.rpartition(".")
        module_path = (template.root / str(props["CodeUri"]) / f"{module.replace('.', '/')}.py").resolve()
        found.append(HttpFunction(logical_id, module_path, tuple(routes)))
    return found


@contextlib.contextmanager
def _import_environment() -> Iterator[None]:
    """What importing a handler module outside Lambda needs: no X-Ray, a region. Restored afterwards."""
    defaults = {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    added = [name for name in defaults if name not in os.environ]
    os.environ.update({name: defaults[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def function_schema(function: HttpFunction) -> dict[str, Any]:
    """One function's resolver schema as plain JSON. The module is imported under a name of its own,
    with its folder on sys.path only meanwhile; modules it brought from that folder are forgotten."""
    code_dir = function.module_path.parent
    module_name = f"_sitedeploy_openapi_{function.logical_id}"
    spec = importlib.util.spec_from_file_location(module_name, function.module_path)
    if spec is None or spec.loader is None:
        raise OpenApiError(f"{function.logical_id}: cannot import {function.module_path}")
    module = importlib.util.module_from_spec(spec)
    known = set(sys.modules)
    sys.path.insert(0, str(code_dir))
    sys.modules[module_name] = module
    try:
        with _import_environment():
            spec.loader.exec_module(module)
            resolver = getattr(module, RESOLVER_NAME, None)
            if not isinstance(resolver, APIGatewayHttpResolver):
                raise OpenApiError(f"{function.module_path}: no APIGatewayHttpResolver named {RESOLVER_NAME!r}")
            schema: dict[str, Any] = json.loads(resolver.get_openapi_json_schema())
    finally:
        sys.path.remove(str(code_dir))
        for name in set(sys.modules) - known:
            file = getattr(sys.modules[name], "__file__", None)
            if name == module_name or (file and Path(file).resolve().is_relative_to(code_dir)):
                del sys.modules[name]
    return schema


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith(SCHEMA_REF_PREFIX):
                yield item.removeprefix(SCHEMA_REF_PREFIX)
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _reachable(paths: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    pending = list(_refs(paths))
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if name not in schemas:
            raise OpenApiError(f"a response or parameter refers to the undefined schema {name!r}")
        seen.add(name)
        pending.extend(_refs(schemas[name]))
    return seen


def _is_powertools_validation_response(response: dict[str, Any]) -> bool:
    return any(ref in POWERTOOLS_VALIDATION_SCHEMAS for ref in _refs(response))


def _document_errors(operation: dict[str, Any], route: HttpRoute) -> None:
    """The errors every route answers, as sitedeploy.api.errors and API Gateway send them. What a route
    declares itself (``responses=`` with sitedeploy.api.openapi.error_responses) is kept."""
    responses: dict[str, Any] = operation["responses"]
    for code in [code for code, response in responses.items() if _is_powertools_validation_response(response)]:
        del responses[code]
    for code, response in responses.items():
        if response.get("content") == {}:  # e.g. a 204: no body at all
            del response["content"]
        if int(code) >= 400 and not {ERROR_SCHEMA, GATEWAY_ERROR_SCHEMA} & set(_refs(response)):
            # Powertools gives a declared response without content the route's success schema.
            raise OpenApiError(
                f"{route.method.upper()} {route.path}: the declared {code} is not in the error shape; "
                "declare it with sitedeploy.api.openapi.error_responses"
            )
    parameters = operation.get("parameters") or []
    has_body = "requestBody" in operation
    standard: dict[int, dict[str, Any]] = {}
    if parameters or has_body:
        standard[400] = dict(error_response_doc("the request is invalid; `error` names the field at fault"))
    if route.authorized:
        standard[401] = dict(
            error_response_doc("no valid bearer token (API Gateway's JWT authorizer answers)", from_gateway=True)
        )
    if any(p.get("in") == "path" for p in parameters):
        standard[404] = dict(error_response_doc("nothing of this caller's at this path"))
    if has_body:
        standard[413] = dict(error_response_doc("the request body is too large", from_gateway=True))
        standard[415] = dict(error_response_doc("the request body is not application/json"))
    standard[429] = {
        "description": "throttled by API Gateway",
        "content": {"application/json": {"schema": {"$ref": GATEWAY_ERROR_REF}}},
    }
    standard[500] = dict(error_response_doc("internal error; nothing internal is disclosed", from_gateway=True))
    standard[503] = dict(
        error_response_doc("the function did not answer in time, or a dependency is unavailable", from_gateway=True)
    )
    for status, response in standard.items():
        responses.setdefault(str(status), response)


def _merge_component(target: dict[str, Any], name: str, definition: Any, origin: str) -> None:
    if name in target and target[name] != definition:
        raise OpenApiError(
            f"components.schemas.{name} is defined differently by {origin} and an earlier function; "
            "rename one of the models"
        )
    target[name] = definition


def build_document(template_path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The whole API's document, from the template's HTTP functions' resolvers."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    tags: list[dict[str, str]] = []
    open_routes: list[str] = []
    for function in http_functions(template_path):
        schema = function_schema(function)
        declared = {(method, path) for path, item in schema.get("paths", {}).items() for method in item}
        routed = {(route.method, route.path): route for route in function.routes}
        if missing := sorted(set(routed) - declared):
            raise OpenApiError(f"{function.logical_id}: template routes without a handler in its resolver: {missing}")
        if unrouted := sorted(declared - set(routed)):
            raise OpenApiError(f"{function.logical_id}: resolver routes the template does not route: {unrouted}")
        for path, item in schema["paths"].items():
            for method, operation in item.items():
                if method not in HTTP_METHODS:
                    raise OpenApiError(f"{function.logical_id}: {path} has {method!r}, which is not supported here")
                if method in paths.get(path, {}):
                    raise OpenApiError(f"{method.upper()} {path} is served by two functions")
                route = routed[(method, path)]
                _document_errors(operation, route)
                operation["tags"] = [function.tag]
                if not route.authorized:
                    operation["security"] = []
                    open_routes.append(f"{method.upper()} {path}")
                paths.setdefault(path, {})[method] = operation
        for name, definition in (schema.get("components") or {}).get("schemas", {}).items():
            if name not in POWERTOOLS_VALIDATION_SCHEMAS:
                _merge_component(schemas, name, definition, function.logical_id)
        tags.append({"name": function.tag, "description": f"served by {function.logical_id}"})
    _merge_component(schemas, ERROR_SCHEMA, ERROR_JSON_SCHEMA, "sitedeploy.api.openapi")
    _merge_component(schemas, GATEWAY_ERROR_SCHEMA, GATEWAY_ERROR_JSON_SCHEMA, "sitedeploy.api.openapi")
    used = _reachable(paths, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "sitedeploy", "version": sitedeploy.__version__, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{BEARER_SCHEME: []}],
        "tags": sorted(tags, key=lambda tag: tag["name"]),
        "paths": paths,
        "components": {
            "schemas": {name: schemas[name] for name in sorted(used)},
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The user's JWT, checked by API Gateway's JWT authorizer (issuer, audience, "
                    "expiry); its `sub` is the owner. Not needed for: " + ", ".join(sorted(open_routes)) + ".",
                }
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sitedeploy_local.openapi", description="Generate the API's OpenAPI document."
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument("--output", type=Path, default=DOCUMENT_PATH)
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the output is stale")
    args = parser.parse_args(argv)
    text = render(build_document(args.template))
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    shown = args.output.relative_to(REPO_ROOT) if args.output.is_relative_to(REPO_ROOT) else args.output
    if args.check:
        if current != text:
            print(f"{shown} is stale: run `make openapi`", file=sys.stderr)
            return 1
        print(f"{shown} is up to date")
        return 0
    if current == text:
        print(f"{shown} unchanged")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
