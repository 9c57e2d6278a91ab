"""Cloudflare end to end: the gateway, the deploy function, the table's stream, the publisher in its
own execution environment, the emulator, and the served site — bytes compared at the end."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import urllib3

from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LOCAL_CLOUDFLARE_TOKEN, LocalStack
from tests.conftest import Api
from tests.helpers import deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e

USER_ACCOUNT = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
USER_TOKEN = "user-own-cloudflare-token-e2e"


def _site() -> dict[str, bytes]:
    return {
        "/index.html": "<!doctype html><h1>Ünïcode ✓</h1>".encode(),
        "/about/index.html": b"<h1>about</h1>",
        "/assets/app.js": b"console.log(1)",
        "/assets/logo.png": b"\x89PNG\r\n\x1a\n" + os.urandom(20_000),
        "/assets/font.woff2": b"wOF2" + os.urandom(8_000),
        "/blob.bin": bytes(range(256)) * 16,
        "/_headers": b"/assets/*\n  Cache-Control: max-age=60\n",
    }


def _get(url: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, redirect=True, timeout=10)


def test_platform_managed_deploy_reaches_ready_and_serves_identical_bytes(api: Api) -> None:
    files = _site()
    accepted = deploy(api, "cloudflare", {"files": inline_files(files), "chatId": "c1", "projectName": "E2E Site"})
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready", final
    assert final["_seen"][-1] == "ready"
    assert set(final["_seen"]) <= {"pending", "uploading", "ready"}
    assert final["url"] == accepted["url"]
    assert final["progress"] == 100
    assert final["completedAt"]
    assert final["startedAt"]
    local = final["localUrl"]
    assert local.startswith("http://127.0.0.1:")
    for path, data in files.items():
        if path == "/_headers":
            continue
        served = path.removesuffix("index.html")
        answer = _get(local.rstrip("/") + served)
        assert answer.status == 200, path
        assert answer.data == data, path
    assert _get(local + "assets/logo.png").headers["Content-Type"] == "image/png"
    assert _get(local + "assets/logo.png").headers.get("Cache-Control") == "max-age=60"
    assert _get(local + "no/such/route").data == files["/index.html"]  # SPA fallback
    name = final["url"].removeprefix("https://").split(".")[0]
    script = api.local.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, name)
    assert script is not None
    assert "_headers" in script.config


def test_redeploy_lands_on_the_same_worker_and_pushes_expiry(api: Api) -> None:
    files = _site()
    first = deploy(api, "cloudflare", {"files": inline_files(files), "projectName": "again"})
    wait_terminal(api, first["deploymentId"])
    site_before = _site_item(api.local, first["siteId"])
    time.sleep(1.1)
    files["/assets/app.js"] = b"console.log(2)"
    uploads_before = _uploaded_bytes(api.local)
    second = deploy(api, "cloudflare", {"files": inline_files(files), "projectName": "again"})
    final = wait_terminal(api, second["deploymentId"])
    assert final["status"] == "ready"
    assert second["url"] == first["url"] == final["url"]
    assert second["siteId"] == first["siteId"]
    assert _uploaded_bytes(api.local) - uploads_before < 2_000  # only the changed file went up
    site_after = _site_item(api.local, first["siteId"])
    assert int(site_after["expiresAt"]["N"]) > int(site_before["expiresAt"]["N"])
    assert site_after["lastDeploymentId"]["S"] == second["deploymentId"]
    assert _get(final["localUrl"] + "assets/app.js").data == b"console.log(2)"


def test_user_token_mode_publishes_to_the_users_account(api: Api, stack: LocalStack) -> None:
    stack.cloudflare.add_account(USER_ACCOUNT, name="a user", subdomain="someuser")
    stack.cloudflare.add_token(USER_TOKEN, [USER_ACCOUNT])
    files = _site()
    accepted = deploy(
        api,
        "cloudflare",
        {
            "files": inline_files(files),
            "authMode": "user-token",
            "token": USER_TOKEN,
            "accountId": USER_ACCOUNT,
            "workerName": "my-own-worker",
        },
    )
    assert accepted["url"] == "https://my-own-worker.someuser.workers.dev"
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready", final
    assert stack.cloudflare.script(USER_ACCOUNT, "my-own-worker") is not None
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, "my-own-worker") is None
    assert _get(final["localUrl"] + "blob.bin").data == files["/blob.bin"]
    item = _deployment_item(stack, accepted["deploymentId"])
    assert "sealedCredentials" not in item  # dropped once terminal
    site = _site_item(stack, accepted["siteId"])
    assert "expiresAt" not in site  # user sites never expire


def test_a_redelivered_stream_record_does_not_publish_twice(api: Api, stack: LocalStack) -> None:
    accepted = deploy(api, "cloudflare", {"files": {"index.html": "<p>once</p>"}, "projectName": "once"})
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready"
    assert stack.pump is not None
    stack.pump.wait_idle()  # the delivery is recorded when the publisher's invocation returns
    delivered = [
        record
        for d in stack.pump.deliveries
        if d.function == "PublisherFunction"
        for record in d.records
        # Earlier tests' records of other kinds (sites, queue items) carry no deployment id.
        if record["dynamodb"].get("NewImage", {}).get("id", {}).get("S") == accepted["deploymentId"]
    ]
    assert delivered
    name = final["url"].removeprefix("https://").split(".")[0]
    script = stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, name)
    assert script is not None
    puts = script.put_count
    result = stack.hosts["PublisherFunction"].invoke({"Records": delivered[:1]})
    assert result == {"batchItemFailures": []}
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, name).put_count == puts  # type: ignore[union-attr]
    assert wait_terminal(api, accepted["deploymentId"])["updatedAt"] == final["updatedAt"]


def test_platform_failure_ends_as_error_with_the_platforms_message(api: Api, stack: LocalStack) -> None:
    stack.cloudflare.faults.add(
        "script-put",
        status=400,
        times=None,
        body={
            "success": False,
            "errors": [{"code": 10021, "message": "Uploaded script has no assets"}],
            "messages": [],
            "result": None,
        },
    )
    try:
        accepted = deploy(api, "cloudflare", {"files": {"index.html": "<p>x</p>"}, "projectName": "doomed"})
        final = wait_terminal(api, accepted["deploymentId"])
    finally:
        stack.cloudflare.faults.clear()
    assert final["status"] == "error"
    assert "10021" in final["error"] or "no assets" in final["error"]
    assert final["completedAt"]


def test_no_log_line_contains_a_token(api: Api, stack: LocalStack) -> None:
    stack.cloudflare.add_account(USER_ACCOUNT, name="a user", subdomain="someuser")
    stack.cloudflare.add_token(USER_TOKEN, [USER_ACCOUNT])
    accepted = deploy(
        api,
        "cloudflare",
        {"files": {"index.html": "x"}, "authMode": "user-token", "token": USER_TOKEN, "accountId": USER_ACCOUNT},
    )
    wait_terminal(api, accepted["deploymentId"])
    bad = deploy(
        api,
        "cloudflare",
        {
            "files": {"index.html": "x"},
            "authMode": "user-token",
            "token": USER_TOKEN + "-wrong",
            "accountId": USER_ACCOUNT,
        },
    )
    assert wait_terminal(api, bad["deploymentId"])["status"] == "error"
    lines = [line for path in stack.log_dir.glob("*.log") for line in path.read_text().splitlines()]
    assert len(lines) > 10
    for secret in (USER_TOKEN, LOCAL_CLOUDFLARE_TOKEN, api.token or ""):
        assert not [line for line in lines if secret in line]


def _deployment_item(stack: LocalStack, deployment_id: str) -> dict[str, Any]:
    ddb = stack.moto.client("dynamodb")
    key = {"pk": {"S": f"DEPLOYMENT#{deployment_id}"}, "sk": {"S": "META"}}
    return dict(ddb.get_item(TableName=stack.resource("DeploymentsTable"), Key=key)["Item"])


def _site_item(stack: LocalStack, site_id: str) -> dict[str, Any]:
    ddb = stack.moto.client("dynamodb")
    key = {"pk": {"S": f"SITE#{site_id}"}, "sk": {"S": "META"}}
    return dict(ddb.get_item(TableName=stack.resource("DeploymentsTable"), Key=key)["Item"])


def _uploaded_bytes(stack: LocalStack) -> int:
    return sum(r.bytes_in for r in stack.cloudflare.requests if r.route == "assets-upload")
