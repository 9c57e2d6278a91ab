"""Amplify end to end: deploy through the gateway, watch pending → uploading → building → ready
through the status endpoint (which polls the job), and read the served bytes back."""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.domain.naming import derived_name
from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import amplify_app, deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e


def _site() -> dict[str, bytes]:
    return {
        "/index.html": "<!doctype html><h1>Ämplify ✓</h1>".encode(),
        "/about/index.html": b"<h1>about</h1>",
        "/assets/logo.png": b"\x89PNG\r\n\x1a\n" + os.urandom(30_000),
        "/assets/font.woff2": b"wOF2" + os.urandom(6_000),
        "/blob.bin": bytes(range(256)) * 8,
    }


def test_platform_managed_deploy_goes_through_building_to_ready(api: Api, stack: LocalStack) -> None:
    files = _site()
    accepted = deploy(api, "amplify", {"files": inline_files(files), "projectName": "Amp Site", "chatId": "c"})
    assert accepted["url"].endswith(".amplifyapp.com")
    app = stack.amplify.app(amplify_app(accepted["url"]))
    assert app is not None
    assert app["name"].startswith("sitedeploy-pool-")  # a Quick Deploy app of the service's pool
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready", final
    assert "building" in final["_seen"]
    assert final["_seen"][-1] == "ready"
    assert final["url"] == accepted["url"]
    assert final["completedAt"]
    local = final["localUrl"]
    assert local
    for path, data in files.items():
        answer = urllib3.request("GET", local.rstrip("/") + path.removesuffix("index.html"))
        assert answer.status == 200, path
        assert answer.data == data, path
    spa = urllib3.request("GET", local + "client/side/route")
    assert spa.data == files["/index.html"]  # the SPA rule was merged into the app
    deploy_status = api.get(f"/deploy-status?platform=amplify&deploymentId={accepted['deploymentId']}")
    assert deploy_status[1]["status"] == "ready"


def test_user_token_mode_creates_an_app_once(api: Api, stack: LocalStack) -> None:
    def creates() -> list[object]:  # apps made with the user's own keys
        return [
            r for r in stack.amplify.requests if r.route == "CreateApp" and r.access_key_id == "AKIAUSEROWNKEYS00001"
        ]

    apps_before = len(creates())
    body = {
        "files": inline_files(_site()),
        "authMode": "user-token",
        "accessKeyId": "AKIAUSEROWNKEYS00001",
        "secretAccessKey": "user-secret-access-key-e2e",
        "region": "us-east-1",
        "projectName": f"mine-{uuid.uuid4().hex[:6]}",
    }
    first = deploy(api, "amplify", body)
    final = wait_terminal(api, first["deploymentId"])
    assert final["status"] == "ready", final
    assert len(creates()) == apps_before + 1
    own = stack.amplify.app(amplify_app(final["url"]))
    assert own is not None
    assert not own["name"].startswith("sitedeploy-pool-")  # the user's own app, made when publishing
    second = deploy(api, "amplify", body)
    assert wait_terminal(api, second["deploymentId"])["status"] == "ready"
    assert second["url"] == final["url"]
    assert len(creates()) == apps_before + 1
    assert [
        r for r in stack.amplify.requests if r.route == "CreateDeployment" and r.access_key_id == "AKIAUSEROWNKEYS00001"
    ]


def test_a_failed_job_ends_as_error_with_its_reason(api: Api, stack: LocalStack, owner: str) -> None:
    project = "doomed-amp"
    branch = derived_name("sd", owner, project)
    first = deploy(api, "amplify", {"files": inline_files(_site()), "projectName": project})
    assert wait_terminal(api, first["deploymentId"])["status"] == "ready"
    stack.amplify.fail_next_job(amplify_app(first["url"]), branch, "Build image pull failed (injected)")
    accepted = deploy(api, "amplify", {"files": inline_files(_site()), "projectName": project})
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "error"
    assert "Build image pull failed (injected)" in final["error"]


def test_amplify_bad_input_is_refused(api: Api) -> None:
    cases = [
        ({"files": {"a.html": "x"}, "authMode": "user-token"}, "connect your amplify account first"),
        # A region without keys (the front end's store default) is no credential: the stored connection.
        ({"files": {"a.html": "x"}, "authMode": "user-token", "region": "us-east-1"}, "connect your amplify account"),
        (
            {"files": {"a.html": "x"}, "authMode": "user-token", "accessKeyId": "AKIA0000000000000000"},
            "secretAccessKey",
        ),
        (
            {
                "files": {"a.html": "x"},
                "authMode": "user-token",
                "accessKeyId": "AKIA0000000000000000",
                "secretAccessKey": "s",
                "region": "moon-base-1",
            },
            "region",
        ),
        ({"files": {"../a.html": "x"}}, "'..'"),
    ]
    for body, mentions in cases:
        status, answer, _ = api.request("POST", "/deployments/amplify", body=body)
        assert status == 400, (body, answer)
        assert mentions in answer["error"]


def test_many_pollers_ask_amplify_at_most_once_per_interval(api: Api, stack: LocalStack) -> None:
    """Twelve clients polling at once, and the publisher following its build, cost one GetJob per
    interval between them (a conditional lease on the record), never one each."""
    interval = stack.options.build_poll_seconds
    stack.amplify.job_faults.add("DEPLOY", delay=6.0, times=1)  # the build stays RUNNING meanwhile
    try:
        accepted = deploy(api, "amplify", {"files": {"index.html": "<p>polled</p>"}, "projectName": "polled"})
        repo = DeploymentsRepository(stack.resource("DeploymentsTable"), stack.moto.client("dynamodb"))
        deadline = time.monotonic() + 30
        while repo.get(accepted["deploymentId"]).status is not DeploymentStatus.BUILDING:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        job = repo.get(accepted["deploymentId"]).external_id  # type: ignore[union-attr]

        def get_jobs() -> int:
            return len([r for r in stack.amplify.requests if r.route == "GetJob" and job and job in r.path])

        before, started = get_jobs(), time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(4):
                answers = list(pool.map(lambda _: api.get(accepted["statusUrl"]), range(12)))
                assert all(status == 200 for status, _, _ in answers)
        window = time.monotonic() - started
        asked = get_jobs() - before
        assert 1 <= asked <= window / interval + 2, (asked, window)  # 48 polls, a handful of GetJobs
    finally:
        stack.amplify.job_faults.clear()
    assert wait_terminal(api, accepted["deploymentId"])["status"] == "ready"
