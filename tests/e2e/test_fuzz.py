"""The API against its own OpenAPI document, through the local gateway with a valid token: every
answer must be no 5xx, a documented status code, the documented content type, and a body the
documented schema accepts.

- schemathesis fuzzes every documented operation. Bounded for CI: a fixed seed, derandomized
  generation, no shrinking, no example database, MAX_EXAMPLES fuzzed requests per operation (the
  coverage phase adds its boundary cases on top: a fixed set for a given document). The POST routes
  create real deployments against the emulators, for a dedicated owner.
- Random requests almost never make a valid deploy (a deploy needs exactly one of files and
  manifest, valid paths, ...), so a journey of known-good requests walks the answers fuzzing does
  not reach (202, ready, 204, 409, a second page) through the same checks. Where the document is
  wrong in a file of another function, the step is a strict xfail naming the fix: it turns into a
  failure once the fix lands, so that the mark goes too."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
import urllib3
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sitedeploy_local.openapi import DOCUMENT_PATH
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LOCAL_CLOUDFLARE_TOKEN, LocalStack

pytestmark = pytest.mark.e2e

FUZZ_OWNER = "fuzz-user"
MAX_EXAMPLES = 20
SEED = 20251125
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Loaded when the module is collected, so that each operation is a test of its own; the `target`
# fixture makes sure the gateway serves this very document. (schemathesis.pytest.from_fixture, which
# would load it from the gateway, fails on pytest 9.2: it sets the removed `Function._nodeid`.)
schema = schemathesis.openapi.from_path(
    DOCUMENT_PATH,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "request-timeout": 35,
            # The coverage phase also sends methods a path does not route (the gateway answers 404).
            "phases": {
                "coverage": {
                    "unexpected-methods": ["get", "put", "post", "delete", "options", "patch", "trace", "query"]
                }
            },
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "no-shrink": True,
                "database": "none",
                # The token is a real one (the `target` fixture's), not a generated one.
                "with-security-parameters": False,
            },
        }
    ),
)


@dataclass(frozen=True)
class Target:
    base_url: str
    headers: dict[str, str]

    def call(
        self, method: str, path: str, *, expect: int, path_parameters: dict[str, str] | None = None, **parts: Any
    ) -> Any:
        """One known-good request, checked like a fuzzed one; its status must be `expect`."""
        case = schema[path][method].Case(path_parameters=path_parameters, **parts)
        response = case.call_and_validate(base_url=self.base_url, headers=self.headers, checks=CHECKS)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def target(stack: LocalStack) -> Target:
    served = urllib3.request("GET", stack.api_url + "/openapi.json")
    assert json.loads(served.data) == schema.raw_schema, "the gateway serves another document than the one fuzzed"
    return Target(stack.api_url, {"Authorization": f"Bearer {stack.mint_token(FUZZ_OWNER)}"})


def test_served_document_is_the_packaged_one_and_needs_no_token(stack: LocalStack) -> None:
    response = urllib3.request("GET", stack.api_url + "/openapi.json")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.data.decode() == DOCUMENT_PATH.read_text(encoding="utf-8")
    assert json.loads(response.data)["info"]["title"] == "sitedeploy"


@schema.parametrize()
def test_every_operation_answers_within_its_document(case: schemathesis.Case[Any], target: Target) -> None:
    case.call_and_validate(base_url=target.base_url, headers=target.headers, checks=CHECKS)


def _wait_ready(target: Target, deployment_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer: dict[str, Any] = target.call(
            "GET", "/deployments/{deploymentId}", expect=200, path_parameters={"deploymentId": deployment_id}
        )
        if answer["status"] in {"ready", "error"} or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


@pytest.fixture
def journey(clean: LocalStack) -> Target:
    """A fresh owner of its own: the journeys below count on what they created only."""
    return Target(clean.api_url, {"Authorization": f"Bearer {clean.mint_token(f'journey-{uuid.uuid4().hex[:8]}')}"})


SITE = {"/index.html": "<!doctype html><h1>fuzz</h1>", "/app.js": "console.log(1)"}


def test_deploys_polls_and_pages_answer_within_the_document(journey: Target) -> None:
    body = {"files": SITE, "chatId": "chat-1", "projectName": "Journey"}
    accepted = journey.call("POST", "/deployments/cloudflare", expect=202, body=body)
    assert _wait_ready(journey, accepted["deploymentId"])["status"] == "ready"
    query = {"platform": "cloudflare", "deploymentId": accepted["deploymentId"]}
    journey.call("GET", "/deploy-status", expect=200, query=query)
    building = journey.call("POST", "/deployments/amplify", expect=202, body={"files": SITE, "projectName": "Journey"})
    assert _wait_ready(journey, building["deploymentId"])["status"] == "ready"  # through building and GetJob
    first = journey.call("GET", "/deployments", expect=200, query={"limit": 1})
    assert first["nextCursor"]
    journey.call("GET", "/deployments", expect=200, query={"limit": 1, "cursor": first["nextCursor"]})
    journey.call("GET", "/deployments", expect=200, query={"chatId": "chat-1"})
    unstaged = "ab" * 32
    plan = journey.call(
        "POST", "/uploads", expect=200, body={"files": [{"path": "a.txt", "sha256": unstaged, "size": 3}]}
    )
    assert [upload["sha256"] for upload in plan["uploads"]] == [unstaged]


def test_connections_answer_within_the_document(journey: Target) -> None:
    platform = {"platform": "cloudflare"}
    connection = {"token": LOCAL_CLOUDFLARE_TOKEN, "accountId": LOCAL_CLOUDFLARE_ACCOUNT}
    journey.call("POST", "/platform-tokens/{platform}/verify", expect=200, path_parameters=platform, body=connection)
    journey.call("PUT", "/platform-tokens/{platform}", expect=200, path_parameters=platform, body=connection)
    journey.call("GET", "/platform-tokens", expect=200)
    journey.call("GET", "/platforms", expect=200)
    journey.call("GET", "/platforms/{platform}/stats", expect=200, path_parameters=platform)
    journey.call("DELETE", "/platform-tokens/{platform}", expect=204, path_parameters=platform)
    journey.call("DELETE", "/platform-tokens/{platform}", expect=404, path_parameters=platform)


def test_a_manifest_of_unstaged_blobs_is_a_documented_409(journey: Target) -> None:
    journey.call("POST", "/deployments/cloudflare", expect=409, body={"manifest": {"/a.txt": "ab" * 32}})
    journey.call("POST", "/deployments/amplify", expect=409, body={"manifest": {"/a.txt": "ab" * 32}})


def test_deleting_a_site_is_a_documented_204(journey: Target) -> None:
    journey.call("POST", "/deployments/cloudflare", expect=202, body={"files": SITE, "projectName": "Journey"})
    sites = journey.call("GET", "/sites", expect=200)["sites"]
    assert sites
    journey.call("DELETE", "/sites/{siteId}", expect=204, path_parameters={"siteId": sites[0]["siteId"]})
