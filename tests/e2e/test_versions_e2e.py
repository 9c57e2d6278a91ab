"""Versions on the local stack, on every platform and in both modes: deploy v1, deploy v2, roll back
to v1 and production serves v1's bytes exactly; a preview serves its bytes at its own URL while
production is unchanged; promote makes production serve the preview's; a Quick Deploy site claimed
into the user's own account serves the same bytes there."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import urllib3

from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e

PLATFORMS = ("cloudflare", "amplify", "netlify", "vercel")
CF_ACCOUNT = "5e7f0a1b2c3d4e5f60718293a4b5c6d7"
CF_TOKEN = "versions-user-token"


def _credentials(stack: LocalStack, platform: str) -> dict[str, str]:
    """The user's own account on the platform's emulator, and the deploy fields naming it."""
    if platform == "cloudflare":
        stack.cloudflare.add_account(CF_ACCOUNT, name="Versions Co", subdomain="versions-co")
        stack.cloudflare.add_token(CF_TOKEN, [CF_ACCOUNT])
        return {"token": CF_TOKEN, "accountId": CF_ACCOUNT}
    if platform == "amplify":
        return {"accessKeyId": "AKIAVERSIONSKEYS0001", "secretAccessKey": "versions-secret", "region": "us-east-1"}
    if platform == "netlify":
        stack.netlify.add_account("versions-team", name="Versions Team")
        stack.netlify.add_token("versions-netlify-token", ["versions-team"])
        return {"token": "versions-netlify-token", "accountSlug": "versions-team"}
    stack.vercel.add_team("team_versions", "versions", name="Versions Team")
    stack.vercel.add_token("versions-vercel-token", user="versions", teams=["team_versions"])
    return {"token": "versions-vercel-token", "teamId": "team_versions"}


def _site(text: str) -> dict[str, bytes]:
    return {"/index.html": f"<!doctype html><h1>{text}</h1>".encode(), "/logo.png": b"\x89PNG" + os.urandom(2048)}


def _get(url: str) -> bytes:
    answer = urllib3.request("GET", url.rstrip("/") + "/", timeout=10, redirect=False)
    assert answer.status == 200, (url, answer.status)
    return answer.data


def _ready(api: Api, answer: dict[str, Any]) -> dict[str, Any]:
    final = wait_terminal(api, answer["deploymentId"], timeout=90)
    assert final["status"] == "ready", final
    return final


def _post(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer, _ = api.request("POST", path, body=body)
    assert status == 202, answer
    return dict(answer)


@pytest.mark.parametrize("mode", ["platform-managed", "user-token"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_rollback_preview_promote_and_claim(api: Api, stack: LocalStack, platform: str, mode: str) -> None:
    own = _credentials(stack, platform)
    fields: dict[str, Any] = {"projectName": f"versions-{uuid.uuid4().hex[:6]}", "authMode": mode}
    if mode == "user-token":
        fields.update(own)
    sites = {name: _site(name) for name in ("first", "second", "preview")}

    v1 = _ready(api, deploy(api, platform, {"files": inline_files(sites["first"]), **fields}))
    v2 = _ready(api, deploy(api, platform, {"files": inline_files(sites["second"]), **fields}))
    production = v2["localUrl"]
    assert _get(production) == sites["second"]["/index.html"]

    listing = api.get(f"/sites/{v1['siteId']}/deployments")[1]
    assert [(d["deploymentId"], d["live"]) for d in listing["deployments"]][:2] == [
        (v2["deploymentId"], True),
        (v1["deploymentId"], False),
    ]
    credentials = {"credentials": own} if mode == "user-token" else {}
    back = _ready(api, _post(api, f"/sites/{v1['siteId']}/rollback", credentials))
    assert back["kind"] == "rollback"
    assert back["sourceDeploymentId"] == v1["deploymentId"]
    assert _get(back["localUrl"]) == sites["first"]["/index.html"]

    preview = _ready(
        api,
        deploy(
            api,
            platform,
            {"files": inline_files(sites["preview"]), "target": "preview", "chatId": "chat-42", **fields},
        ),
    )
    assert preview["target"] == "preview"
    assert preview["previewUrl"], preview
    assert _get(preview["localPreviewUrl"]) == sites["preview"]["/index.html"]
    assert _get(back["localUrl"]) == sites["first"]["/index.html"]  # production unchanged

    promoted = _ready(api, _post(api, f"/deployments/{preview['deploymentId']}/promote", credentials))
    assert promoted["kind"] == "promote"
    assert promoted["siteId"] == v1["siteId"]
    assert _get(promoted["localUrl"]) == sites["preview"]["/index.html"]

    if mode == "platform-managed":
        claimed = _ready(api, _post(api, f"/sites/{v1['siteId']}/claim", {"credentials": own}))
        assert claimed["kind"] == "claim"
        assert claimed["authMode"] == "user-token"
        assert claimed["siteId"] != v1["siteId"]
        assert _get(claimed["localUrl"]) == sites["preview"]["/index.html"]


def test_a_version_the_site_no_longer_keeps_is_refused(api: Api) -> None:
    v1 = _ready(api, deploy(api, "cloudflare", {"files": {"index.html": "v1"}, "projectName": "kept"}))
    status, answer, _ = api.request("POST", f"/sites/{v1['siteId']}/rollback", body={"deploymentId": "dpl_" + "a" * 26})
    assert (status, answer["code"]) == (404, "not_found")
    status, answer, _ = api.request("POST", f"/sites/{v1['siteId']}/rollback", body={"deploymentId": "nope"})
    assert status == 400
    status, answer, _ = api.request("POST", f"/sites/{v1['siteId']}/rollback", body={})
    assert (status, answer["code"]) == (409, "no_earlier_version")
    status, answer, _ = api.request("POST", "/sites/site_nope/rollback", body={})
    assert (status, answer["code"]) == (404, "site_not_found")
