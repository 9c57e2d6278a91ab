"""Netlify and Vercel end to end, through the gateway, the stream and the publisher, each test run
on both: binary sites byte for byte, a one-file redeploy that moves one file on both legs (client →
staging, publisher → platform), both modes, stored connections, teardown, and faults that end every
deployment ``ready`` or ``error`` with a reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from sitedeploy_local.stack import LOCAL_VERCEL_TEAM, LOCAL_VERCEL_TOKEN, LocalStack
from tests.conftest import Api
from tests.helpers import deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e

PLATFORMS = ("netlify", "vercel")
# The route that carries one file's bytes to the platform, and the one that creates a deploy.
UPLOAD_ROUTE = {"netlify": "uploadDeployFile", "vercel": "files-upload"}
CREATE_ROUTE = {"netlify": "createSiteDeploy", "vercel": "deployment-create"}
URL_SUFFIX = {"netlify": ".netlify.app", "vercel": ".vercel.app"}
USER_TOKEN = {"netlify": "netlify-user-own-token", "vercel": "vercel-user-own-token"}
USER_ACCOUNT = {"netlify": "user-own-team", "vercel": "team_userown"}


def _site() -> dict[str, bytes]:
    return {
        "/index.html": "<!doctype html><h1>Ünïcode ✓</h1>".encode(),
        "/about/index.html": b"<h1>about</h1>",
        "/assets/logo.png": b"\x89PNG\r\n\x1a\n" + os.urandom(30_000),
        "/assets/font.woff2": b"wOF2" + os.urandom(6_000),
        "/assets/app.js": b"console.log('hi')\n",
        "/blob.bin": bytes(range(256)) * 16,
    }


TYPES = {".html": "text/html", ".png": "image/png", ".woff2": "font/woff2", ".js": "text/javascript"}


def _emulator(stack: LocalStack, platform: str) -> Any:
    return stack.netlify if platform == "netlify" else stack.vercel


@pytest.fixture
def faults(clean: LocalStack) -> Iterator[LocalStack]:
    try:
        yield clean
    finally:
        clean.netlify.faults.clear()
        clean.vercel.faults.clear()
        clean.netlify.set_rate_limit(None)
        clean.vercel.set_rate_limit(None)


def _user_account(stack: LocalStack, platform: str) -> None:
    if platform == "netlify":
        stack.netlify.add_account(USER_ACCOUNT[platform], name="User Own Team")
        stack.netlify.add_token(USER_TOKEN[platform], [USER_ACCOUNT[platform]])
    else:
        stack.vercel.add_team(USER_ACCOUNT[platform], "user-own", name="User Own Team")
        stack.vercel.add_token(USER_TOKEN[platform], user="user-own", teams=[USER_ACCOUNT[platform]])


def _credentials(platform: str) -> dict[str, str]:
    key = "accountSlug" if platform == "netlify" else "teamId"
    return {"token": USER_TOKEN[platform], key: USER_ACCOUNT[platform]}


def _served_path(path: str) -> str:
    return path.removesuffix("index.html")


def _check_served(local: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        got = urllib3.request("GET", local.rstrip("/") + _served_path(path), timeout=10)
        assert got.status == 200, path
        assert got.data == data, path
        suffix = Path(path).suffix
        assert (got.headers.get("Content-Type") or "").split(";")[0] == TYPES.get(suffix, "application/octet-stream")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_inline_binary_site_is_served_byte_for_byte(api: Api, clean: LocalStack, platform: str) -> None:
    files = _site()
    accepted = deploy(api, platform, {"files": inline_files(files), "projectName": "Binary Site", "chatId": "c1"})
    # Netlify's URL is known at once; Vercel's alias only once the deployment is live.
    assert (accepted["url"] or URL_SUFFIX[platform]).endswith(URL_SUFFIX[platform])
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready", final
    assert final["url"].startswith("https://")
    assert final["url"].endswith(URL_SUFFIX[platform])
    assert final["progress"] == 100
    _check_served(final["localUrl"], files)
    status, polled, _ = api.get(f"/deploy-status?platform={platform}&deploymentId={accepted['deploymentId']}")
    assert status == 200
    assert polled["status"] == "ready"
    assert polled["platform"] == platform
    other = "vercel" if platform == "netlify" else "netlify"
    assert api.get(f"/deploy-status?platform={other}&deploymentId={accepted['deploymentId']}")[0] == 404
    # Every distinct content went to the platform once.
    assert len(_emulator(clean, platform).requests_for(UPLOAD_ROUTE[platform])) >= len(files)


def _cli_deploy(stack: LocalStack, owner: str, folder: Path, platform: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITEDEPLOY_")}
    env.update({"SITEDEPLOY_API_URL": stack.api_url, "SITEDEPLOY_TOKEN": stack.mint_token(owner)})
    done = subprocess.run(
        [sys.executable, "-m", "sitedeploy_cli", "deploy", str(folder), "--platform", platform, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_one_file_redeploy_moves_one_file_on_both_legs(
    clean: LocalStack, owner: str, tmp_path: Path, platform: str
) -> None:
    """Through /uploads (the CLI): staged once, then only the changed file goes to S3 and on to the
    platform; the site keeps its URL and serves the new bytes."""
    files = _site()
    folder = tmp_path / f"{platform}-cli-site"
    for path, data in files.items():
        (folder / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (folder / path.lstrip("/")).write_bytes(data)
    emulator = _emulator(clean, platform)
    first = _cli_deploy(clean, owner, folder, platform)
    assert first["status"] == "ready", first
    assert first["uploadedFiles"] == len(files)
    _check_served(first["localUrl"], files)
    sent_before = len(emulator.requests_for(UPLOAD_ROUTE[platform]))
    changed = b"wOF2" + os.urandom(7_000)
    (folder / "assets" / "font.woff2").write_bytes(changed)
    second = _cli_deploy(clean, owner, folder, platform)
    assert second["status"] == "ready", second
    assert second["uploadedFiles"] == 1  # client → staging
    assert len(emulator.requests_for(UPLOAD_ROUTE[platform])) - sent_before == 1  # publisher → platform
    assert second["url"] == first["url"]
    _check_served(second["localUrl"], {**files, "/assets/font.woff2": changed})


@pytest.mark.parametrize("platform", PLATFORMS)
def test_user_token_mode_inline_then_stored_connection(api: Api, clean: LocalStack, platform: str) -> None:
    _user_account(clean, platform)
    project = f"mine-{uuid.uuid4().hex[:6]}"
    body = {"files": {"/index.html": "<p>mine</p>"}, "projectName": project, "authMode": "user-token"}
    inline = deploy(api, platform, {**body, **_credentials(platform)})
    final = wait_terminal(api, inline["deploymentId"])
    assert final["status"] == "ready", final
    emulator = _emulator(clean, platform)
    assert (
        emulator.site_url(USER_ACCOUNT[platform], final["url"].removeprefix("https://").split(".")[0])
        or (final["localUrl"])
    )
    # Without credentials and without a connection: a clear 4xx, nothing written.
    status, refused, _ = api.request("POST", f"/deployments/{platform}", body=body)
    assert status in (400, 409), refused
    assert refused["code"] in {"connection_required", "credentials_required"}
    # A bad token is refused with the platform's words, and stores nothing.
    status, bad, _ = api.request("PUT", f"/platform-tokens/{platform}", body={"token": "not-a-real-token"})
    assert 400 <= status < 500, bad
    assert "not-a-real-token" not in json.dumps(bad)
    status, stored, _ = api.request("PUT", f"/platform-tokens/{platform}", body=_credentials(platform))
    assert status == 200, stored
    assert USER_TOKEN[platform] not in json.dumps(stored)
    connected = deploy(api, platform, body)
    again = wait_terminal(api, connected["deploymentId"])
    assert again["status"] == "ready", again
    assert again["url"] == final["url"]  # the same site on the user's own account
    status, stats, _ = api.get(f"/platforms/{platform}/stats")
    assert status == 200, stats
    assert USER_TOKEN[platform] not in json.dumps(stats)
    overview = {p["platform"]: p for p in api.get("/platforms")[1]["platforms"]}
    assert overview[platform]["connected"] is True
    assert overview[platform]["quickDeploy"] is True


@pytest.mark.parametrize("platform", PLATFORMS)
def test_delete_site_and_ttl_teardown_remove_the_platform_site(api: Api, clean: LocalStack, platform: str) -> None:
    emulator = _emulator(clean, platform)
    one = deploy(api, platform, {"files": {"/index.html": "<p>one</p>"}, "projectName": "gone-soon"})
    two = deploy(api, platform, {"files": {"/index.html": "<p>two</p>"}, "projectName": "expires"})
    for accepted in (one, two):
        assert wait_terminal(api, accepted["deploymentId"])["status"] == "ready"
    names = {a["siteId"]: wait_terminal(api, a["deploymentId"])["url"] for a in (one, two)}

    def served(site_id: str) -> bool:
        return any(
            emulator.site_url(account, names[site_id].removeprefix("https://").split(".")[0])
            for account in ("", "sitedeploy-local", LOCAL_VERCEL_TEAM)
        )

    assert served(one["siteId"])
    assert served(two["siteId"])
    status, _, _ = api.request("DELETE", f"/sites/{one['siteId']}")
    assert status in (200, 204)
    assert not served(one["siteId"])
    ddb = clean.moto.client("dynamodb")
    ddb.update_item(
        TableName=clean.resource("DeploymentsTable"),
        Key={"pk": {"S": f"SITE#{two['siteId']}"}, "sk": {"S": "META"}},
        UpdateExpression="SET expiresAt = :e",
        ExpressionAttributeValues={":e": {"N": str(int(time.time()) - 5)}},
    )
    assert clean.pump is not None
    clean.pump.expire_now()
    clean.pump.wait_idle(timeout=60)
    assert not served(two["siteId"])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_throttling_errors_and_lost_answers_still_end_ready(api: Api, faults: LocalStack, platform: str) -> None:
    emulator = _emulator(faults, platform)
    emulator.faults.add(CREATE_ROUTE[platform], status=429, retry_after=0.2, times=1)
    emulator.faults.add(UPLOAD_ROUTE[platform], status=503, times=2)
    emulator.faults.add(UPLOAD_ROUTE[platform], status=500, after=True, times=1)  # stored, answer lost
    emulator.faults.add(UPLOAD_ROUTE[platform], reset=True, times=1)
    files = _site()
    accepted = deploy(api, platform, {"files": inline_files(files), "projectName": f"faulty-{platform}"})
    final = wait_terminal(api, accepted["deploymentId"], timeout=90)
    assert final["status"] == "ready", final
    _check_served(final["localUrl"], files)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_platform_that_keeps_failing_ends_in_error_with_a_reason(api: Api, faults: LocalStack, platform: str) -> None:
    emulator = _emulator(faults, platform)
    emulator.faults.add(UPLOAD_ROUTE[platform], status=502, times=None)
    accepted = deploy(api, platform, {"files": inline_files(_site()), "projectName": f"broken-{platform}"})
    final = wait_terminal(api, accepted["deploymentId"], timeout=120)
    assert final["status"] == "error", final
    assert "502" in final["error"] or "attempts" in final["error"], final["error"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_deploy_the_platform_fails_ends_in_error_with_its_words(api: Api, clean: LocalStack, platform: str) -> None:
    project = f"fails-{uuid.uuid4().hex[:6]}"
    first = deploy(api, platform, {"files": {"/index.html": "<p>v1</p>"}, "projectName": project})
    done = wait_terminal(api, first["deploymentId"])
    assert done["status"] == "ready", done
    name = done["url"].removeprefix("https://").split(".")[0]
    if platform == "netlify":
        clean.netlify.fail_next_deploy(name, "Build script returned non-zero exit code: 2")
    else:
        clean.vercel.fail_next_deployment(name, "Command failed with exit code: 2")
    second = deploy(api, platform, {"files": {"/index.html": "<p>v2</p>"}, "projectName": project})
    failed = wait_terminal(api, second["deploymentId"])
    assert failed["status"] == "error", failed
    assert "exit code: 2" in failed["error"]
    # The site still serves what was live before.
    assert urllib3.request("GET", done["localUrl"], timeout=10).data == b"<p>v1</p>"


def test_a_vercel_deployment_canceled_on_the_platform_ends_at_once(api: Api, clean: LocalStack) -> None:
    """Not at a timeout: the publisher (or the status poll) sees CANCELED and says so."""
    emulator = clean.vercel
    slow = emulator.step_seconds
    emulator.step_seconds = 30.0
    http = urllib3.PoolManager()
    try:
        accepted = deploy(api, "vercel", {"files": {"/index.html": "<p>x</p>"}, "projectName": "to-cancel"})
        deadline = time.monotonic() + 30
        listed: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not listed:
            answer = http.request(
                "GET",
                f"{emulator.api_base}/v6/deployments?teamId={LOCAL_VERCEL_TEAM}",
                headers={"Authorization": f"Bearer {LOCAL_VERCEL_TOKEN}"},
            )
            listed = [d for d in json.loads(answer.data)["deployments"] if d["readyState"] not in ("READY", "ERROR")]
            time.sleep(0.1)
        assert listed, "the deployment never reached Vercel"
        started = time.monotonic()
        assert emulator.cancel(listed[0]["uid"])
        final = wait_terminal(api, accepted["deploymentId"], timeout=30)
        assert final["status"] == "error", final
        assert "cancel" in final["error"].lower()
        assert time.monotonic() - started < 15
    finally:
        emulator.step_seconds = slow
