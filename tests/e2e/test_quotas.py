"""Owners' quotas on the local stack, with small limits (a stack of its own): a tenant past each
quota gets 429 ``quota_exceeded`` naming it, with nothing written anywhere, while another tenant
still deploys; ``GET /platforms`` tells the Deploy button what is left."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sitedeploy_local.stack import LocalStack, StackOptions
from tests.conftest import Api
from tests.helpers import wait_terminal

pytestmark = pytest.mark.e2e

LIMITS = {
    "QuickDeploySitesPerOwner": 2,
    "RoutingProfilesPerOwner": 1,
    "DeploymentsInFlightPerOwner": 2,
    "StagedBytesPerOwnerPerDay": 100_000,
    "FilesPerUpload": 5,
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("quota-state"),
        write_local_json=False,
        run_schedules=False,
        amplify_job_step_seconds=0.05,
        build_poll_seconds=0.2,
        parameters=dict(LIMITS),
    )
    with LocalStack(options) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _settled(limited: LocalStack) -> Iterator[None]:
    """Each test ends with some deploys accepted and still publishing (a room-freed check is one):
    their Workers and branches must land before the next test counts what a refusal left alone."""
    yield
    if limited.pump:
        limited.pump.wait_idle()


def _api(stack: LocalStack) -> Api:
    return Api(stack, stack.mint_token(f"tenant-{uuid.uuid4().hex[:8]}"))


def _written(stack: LocalStack) -> tuple[int, int, int, int]:
    """Items, staged objects, Workers and Amplify branches: what a refusal must leave alone."""
    table = stack.moto.shared("dynamodb").scan(TableName=stack.resource("DeploymentsTable"), Select="COUNT")["Count"]
    objects = stack.moto.shared("s3").list_objects_v2(Bucket=stack.resource("StagingBucket")).get("KeyCount", 0)
    workers = sum(len(stack.cloudflare.scripts(a)) for a in stack.cloudflare_accounts)
    branches = sum(len(stack.amplify.branches(a["appId"])) for a in stack.amplify.apps())
    return table, objects, workers, branches


def _deploy(api: Api, platform: str, project: str, files: dict[str, Any] | None = None) -> tuple[int, Any]:
    body = {"files": files or {"index.html": f"<h1>{project}</h1>"}, "projectName": project}
    status, answer, _ = api.request("POST", f"/deployments/{platform}", body=body)
    return status, answer


def _refused(answer: Any, quota: str, limit: int) -> None:
    assert answer["code"] == "quota_exceeded", answer
    assert (answer["quota"], answer["limit"]) == (quota, limit)
    assert quota.lower()[:5] in answer["error"].lower().replace(" ", "") or "limit" in answer["error"]


def test_quick_deploy_sites_per_owner(limited: LocalStack) -> None:
    stack, api = limited, _api(limited)
    for project in ("one", "two"):
        status, answer = _deploy(api, "cloudflare", project)
        assert status == 202, answer
        assert wait_terminal(api, answer["deploymentId"])["status"] == "ready"
    before = _written(stack)
    status, answer = _deploy(api, "cloudflare", "three", {"index.html": "never staged"})
    assert status == 429
    _refused(answer, "quickDeploySites", 2)
    stack.pump.wait_idle() if stack.pump else None
    assert _written(stack) == before
    row = next(p for p in api.get("/platforms")[1]["platforms"] if p["platform"] == "cloudflare")
    assert row["quickDeploySitesLeft"] == 0
    quotas = {(q["quota"], q.get("platform")): (q["used"], q["limit"]) for q in api.get("/platforms")[1]["quotas"]}
    assert quotas[("quickDeploySites", "cloudflare")] == (2, 2)
    other = _api(stack)
    status, answer = _deploy(other, "cloudflare", "three")  # another tenant still deploys
    assert status == 202, answer
    # A redeploy of a site the owner has is no new site: still accepted.
    assert _deploy(api, "cloudflare", "one")[0] == 202
    sites = {s["projectName"]: s["siteId"] for s in api.get("/sites")[1]["sites"]}
    assert api.request("DELETE", f"/sites/{sites['two']}")[0] == 204
    assert _deploy(api, "cloudflare", "three")[0] == 202  # room freed


def test_deployments_in_flight_per_owner(limited: LocalStack) -> None:
    stack, api = limited, _api(limited)
    stack.pump.pause("PublisherFunction") if stack.pump else None
    try:
        accepted = [_deploy(api, "netlify", project) for project in ("a", "b")]
        assert [status for status, _ in accepted] == [202, 202]
        before = _written(stack)
        status, answer = _deploy(api, "vercel", "c")
        assert status == 429
        _refused(answer, "deploymentsInFlight", 2)
        assert _written(stack) == before
        assert _deploy(_api(stack), "vercel", "c")[0] == 202
    finally:
        stack.pump.resume("PublisherFunction") if stack.pump else None
    for _, answer in accepted:
        assert wait_terminal(api, answer["deploymentId"])["status"] == "ready"
    assert _deploy(api, "vercel", "c")[0] == 202  # room freed as they ended


def test_routing_profiles_per_owner(limited: LocalStack) -> None:
    stack, api = limited, _api(limited)
    status, answer = _deploy(api, "amplify", "spa")
    assert status == 202, answer
    assert wait_terminal(api, answer["deploymentId"], timeout=90)["status"] == "ready"
    before = _written(stack)
    apps = len(stack.amplify.apps())
    status, answer = _deploy(api, "amplify", "plain", {"index.html": "x", "404.html": "gone"})
    assert status == 429
    _refused(answer, "routingProfiles", 1)
    assert _written(stack) == before
    assert len(stack.amplify.apps()) == apps  # no app was made for it
    status, answer = _deploy(_api(stack), "amplify", "plain", {"index.html": "x", "404.html": "gone"})
    assert status == 202, answer


def test_staged_bytes_per_day_and_files_per_upload(limited: LocalStack) -> None:
    stack, api = limited, _api(limited)

    def listing(*sizes: int) -> dict[str, Any]:
        return {
            "files": [
                {"path": f"f{i}.bin", "sha256": hashlib.sha256(f"{uuid.uuid4()}".encode()).hexdigest(), "size": size}
                for i, size in enumerate(sizes)
            ]
        }

    before = _written(stack)
    status, answer, _ = api.request("POST", "/uploads", body=listing(*[10] * 6))
    assert status == 429
    _refused(answer, "filesPerUpload", 5)
    status, answer, _ = api.request("POST", "/uploads", body=listing(60_000, 50_000))
    assert status == 429
    _refused(answer, "stagedBytesPerDay", 100_000)
    assert 0 < answer["retryAfter"] <= 86400
    assert _written(stack) == before
    status, answer, _ = api.request("POST", "/uploads", body=listing(60_000))
    assert status == 200, answer
    status, answer, _ = _api(stack).request("POST", "/uploads", body=listing(60_000, 30_000))
    assert status == 200, answer  # another owner's day is their own
