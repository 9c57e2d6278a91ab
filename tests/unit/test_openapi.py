"""The OpenAPI document: generated from the resolvers and template.yaml, committed, never stale; and
the resolver keeping its promises (answers within their declared types, JSON bodies only)."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, cast

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from sitedeploy.api.openapi import document_text
from sitedeploy_local.openapi import DOCUMENT_PATH, OpenApiError, build_document, http_functions, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return build_document()


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_committed_document_is_current(generated: dict[str, Any]) -> None:
    committed = DOCUMENT_PATH.read_text(encoding="utf-8")
    assert committed == render(generated), (
        f"{DOCUMENT_PATH.relative_to(ROOT)} is stale (a route, model or template.yaml changed): run `make openapi`"
    )


def test_rendering_is_deterministic(generated: dict[str, Any]) -> None:
    text = render(generated)
    assert text.endswith("}\n")
    assert text == render(json.loads(text))
    assert text.splitlines()[1].startswith('  "')  # two-space indent


def test_there_is_one_generated_document() -> None:
    """The packaged document is the only one: no copy (or link) of it to drift or to confuse."""
    skipped = {".git", "events", "node_modules", "__pycache__", "test-artifacts"}
    tools = (".venv", ".tools", ".aws-sam")
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skipped and not d.startswith(tools)]
        found += [Path(folder, name).relative_to(ROOT) for name in files if name == "openapi.json"]
    assert found == [DOCUMENT_PATH.relative_to(ROOT)]


def test_the_packaged_document_is_what_the_function_serves() -> None:
    assert document_text() == DOCUMENT_PATH.read_text(encoding="utf-8")


def test_every_template_route_is_documented_once(generated: dict[str, Any]) -> None:
    routes = {f"{r.method.upper()} {r.path}" for fn in http_functions() for r in fn.routes}
    assert set(_operations(generated)) == routes
    assert "GET /openapi.json" in routes


def test_bearer_token_everywhere_but_the_document_route(generated: dict[str, Any]) -> None:
    scheme = generated["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert generated["security"] == [{"bearerAuth": []}]
    open_routes = {key for key, op in _operations(generated).items() if op.get("security") == []}
    assert open_routes == {"GET /openapi.json"}
    for key, operation in _operations(generated).items():
        assert ("401" in operation["responses"]) == (key not in open_routes), key


def test_errors_are_documented_in_the_api_shape(generated: dict[str, Any]) -> None:
    schemas = generated["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error", "code"]
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(schemas)
    for key, operation in _operations(generated).items():
        responses = operation["responses"]
        assert "422" not in responses, key  # Powertools' default; the API answers 400
        assert "500" in responses, key
        if operation.get("parameters") or "requestBody" in operation:
            assert responses["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_header_of_the_document(generated: dict[str, Any]) -> None:
    import sitedeploy

    assert generated["openapi"].startswith("3.1")
    assert generated["info"]["title"] == "sitedeploy"
    assert generated["info"]["version"] == sitedeploy.__version__
    assert generated["servers"] == [{"url": "/"}]


def _function(root: Path, name: str, body: str) -> None:
    folder = root / "functions" / name
    folder.mkdir(parents=True)
    (folder / "helpers.py").write_text(f"WHO = {name!r}\n")
    (folder / "app.py").write_text(
        "from typing import Annotated\n"
        "from aws_lambda_powertools.event_handler.openapi.params import Path\n"
        "from sitedeploy.api import create_resolver\n"
        "from sitedeploy.api.openapi import error_responses\n"
        "import helpers\n"
        "app = create_resolver()\n" + body
    )


def _template(root: Path, routes: dict[str, list[str]]) -> Path:
    lines = ["Resources:"]
    for name, keys in routes.items():
        lines += [
            f"  {name.title()}Function:",
            "    Type: AWS::Serverless::Function",
            "    Properties:",
            f"      CodeUri: functions/{name}/",
            "      Handler: app.handler",
            "      Events:",
        ]
        for index, key in enumerate(keys):
            method, route = key.split()
            lines += [f"        E{index}:", "          Type: HttpApi", "          Properties:"]
            lines += [f"            Method: {method}", f"            Path: {route}"]
            if route == "/open":
                lines.append("            Auth: {Authorizer: NONE}")
    template = root / "template.yaml"
    template.write_text("\n".join(lines) + "\n")
    return template


def test_functions_are_imported_in_isolation_and_merged(tmp_path: Path) -> None:
    _function(
        tmp_path,
        "one",
        '@app.get("/items/<itemId>")\ndef get_item(itemId: Annotated[str, Path()]) -> str:\n    return helpers.WHO\n',
    )
    _function(tmp_path, "two", '@app.get("/open")\ndef open_route() -> str:\n    return helpers.WHO\n')
    document = build_document(_template(tmp_path, {"one": ["GET /items/{itemId}"], "two": ["GET /open"]}))
    operations = _operations(document)
    assert set(operations) == {"GET /items/{itemId}", "GET /open"}
    assert operations["GET /open"]["security"] == []
    assert "security" not in operations["GET /items/{itemId}"]
    assert set(operations["GET /items/{itemId}"]["responses"]) == {"200", "400", "401", "404", "429", "500", "503"}
    assert [tag["name"] for tag in document["tags"]] == ["One", "Two"]
    assert "helpers" not in sys.modules  # each function's own modules are forgotten after its import


def test_template_and_resolvers_must_agree(tmp_path: Path) -> None:
    routes = (
        '@app.get("/items")\ndef items() -> str:\n    return ""\n@app.get("/more")\ndef more() -> str:\n    return ""\n'
    )
    _function(tmp_path, "one", routes)
    with pytest.raises(OpenApiError, match=r"template routes without a handler.*'post', '/items'"):
        build_document(_template(tmp_path, {"one": ["GET /items", "GET /more", "POST /items"]}))
    with pytest.raises(OpenApiError, match=r"resolver routes the template does not route.*'/more'"):
        build_document(_template(tmp_path, {"one": ["GET /items"]}))


@pytest.mark.parametrize(
    ("declared", "problem"), [("{409: {'description': 'bare'}}", True), ("error_responses({409: 'shaped'})", False)]
)
def test_a_declared_error_must_be_in_the_error_shape(tmp_path: Path, declared: str, problem: bool) -> None:
    route = (
        f'@app.post("/x", responses={{200: {{"description": "ok"}}, **{declared}}})\ndef x() -> str:\n    return ""\n'
    )
    _function(tmp_path, "one", route)
    template = _template(tmp_path, {"one": ["POST /x"]})
    if problem:
        with pytest.raises(OpenApiError, match=r"POST /x: the declared 409 is not in the error shape"):
            build_document(template)
    else:
        conflict = _operations(build_document(template))["POST /x"]["responses"]["409"]
        assert conflict["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def _event(method: str, path: str, *, body: str | None = None, content_type: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events/deploy_status/openapi.json").read_text())
    event.update(routeKey=f"{method} {path}", rawPath=path)
    event["requestContext"].update(
        routeKey=f"{method} {path}", http={**event["requestContext"]["http"], "method": method, "path": path}
    )
    if body is not None:
        event["body"] = body
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    return event


def test_a_response_breaking_its_declared_type_is_a_500_not_a_400_blaming_the_caller() -> None:
    """What the documented schema promises is what Powertools validates answers against."""
    from sitedeploy.api import create_resolver

    app = create_resolver()

    @app.get("/broken")
    def broken() -> int:
        return "not a number"  # type: ignore[return-value]

    answer = app.resolve(_event("GET", "/broken"), cast(LambdaContext, None))
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"]) == {"error": "internal error", "code": "internal_error"}


class Named(BaseModel):  # at module level: this module's annotations are strings, resolved from its globals
    name: str


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("multipart/form-data", "{}", 415, "unsupported_media_type"),  # Powertools: a bare ValueError, a 500
        ("text/plain", "{}", 415, "unsupported_media_type"),
        ("application/x-www-form-urlencoded", "a=1", 415, "unsupported_media_type"),
        ("application/json", "{", 400, "validation_error"),
        ("application/json; charset=utf-8", '{"name": 1}', 400, "validation_error"),
        (None, '{"name": "x"}', 200, None),
    ],
)
def test_bodies_are_json_or_a_documented_4xx(
    content_type: str | None, body: str, status: int, code: str | None
) -> None:
    from sitedeploy.api import create_resolver

    app = create_resolver()

    @app.post("/named")
    def named(request: Annotated[Named, Body()]) -> str:
        return request.name

    answer = app.resolve(_event("POST", "/named", body=body, content_type=content_type), cast(LambdaContext, None))
    assert answer["statusCode"] == status, answer
    if code:
        assert json.loads(answer["body"])["code"] == code


def test_a_body_that_is_not_utf8_is_a_400() -> None:
    from sitedeploy.api import create_resolver

    app = create_resolver()

    @app.post("/raw")
    def raw(request: Annotated[dict[str, Any], Body()]) -> str:
        return "ok"

    event = _event("POST", "/raw", body=base64.b64encode(b"d\xff").decode(), content_type="application/json")
    event["isBase64Encoded"] = True  # what API Gateway does with a body that is not UTF-8
    answer = app.resolve(event, cast(LambdaContext, None))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["code"] == "validation_error"
