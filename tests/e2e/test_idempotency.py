"""Idempotency-Key on the deploy routes: a retried request gets the original answer."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Api
from tests.helpers import wait_terminal

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("platform", ["cloudflare", "amplify"])
def test_a_retry_with_the_same_key_returns_the_original_answer(api: Api, platform: str) -> None:
    key = f"retry-{uuid.uuid4().hex}"
    body = {"files": {"index.html": "<p>once</p>"}, "projectName": f"idem-{platform}"}
    first = api.request("POST", f"/deployments/{platform}", body=body, headers={"Idempotency-Key": key})
    second = api.request("POST", f"/deployments/{platform}", body=body, headers={"Idempotency-Key": key})
    assert first[0] == 202, first[1]
    assert second[0] in (200, 202), second[1]
    assert second[1]["deploymentId"] == first[1]["deploymentId"]
    listed = api.get("/deployments")[1]["deployments"]
    assert [d["deploymentId"] for d in listed] == [first[1]["deploymentId"]]
    wait_terminal(api, first[1]["deploymentId"])


def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    key = f"reuse-{uuid.uuid4().hex}"
    api.request(
        "POST", "/deployments/cloudflare", body={"files": {"index.html": "a"}}, headers={"Idempotency-Key": key}
    )
    status, answer, _ = api.request(
        "POST", "/deployments/cloudflare", body={"files": {"index.html": "b"}}, headers={"Idempotency-Key": key}
    )
    assert status == 409
    assert answer["code"] == "idempotency_key_reused"


def test_keys_are_per_owner_and_absent_keys_change_nothing(api: Api, api_for: object) -> None:
    key = f"shared-{uuid.uuid4().hex}"
    body = {"files": {"index.html": "<p>x</p>"}}
    mine = api.request("POST", "/deployments/cloudflare", body=body, headers={"Idempotency-Key": key})[1]
    theirs = api_for("another-owner").request(  # type: ignore[operator]
        "POST", "/deployments/cloudflare", body=body, headers={"Idempotency-Key": key}
    )[1]
    assert mine["deploymentId"] != theirs["deploymentId"]
    one = api.request("POST", "/deployments/cloudflare", body=body)[1]
    two = api.request("POST", "/deployments/cloudflare", body=body)[1]
    assert one["deploymentId"] != two["deploymentId"]
    status, answer, _ = api.request("POST", "/deployments/cloudflare", body=body, headers={"Idempotency-Key": "x y"})
    assert status == 400
    assert "Idempotency-Key" in answer["error"]
