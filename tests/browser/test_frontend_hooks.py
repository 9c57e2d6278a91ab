"""The app builder's deploy hooks, replayed in Chromium as they are written
(../shared/reference/frontend-contract.md), with the connection stores' initial values: Quick
Deploy carries the stores' empty credential fields; user-token mode carries the connected account
(and, on Amplify, ``projectId`` as the app); the Amplify hook polls /deploy-status with an extra
``externalId`` it read from an answer that has none ("undefined")."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import urllib3
from playwright.sync_api import Page

from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy_local.stack import LocalStack
from tests.browser.conftest import open_console

pytestmark = pytest.mark.e2e

USER_CF_ACCOUNT = "f00df00df00df00df00df00df00df00d"
USER_CF_TOKEN = "hooks-user-cloudflare-token"
USER_AWS_KEY = "AKIAHOOKSUSERKEY0001"
USER_AWS_SECRET = "hooks-user-aws-secret"

# The hooks, as the front end has them: files as text, paths beginning with '/'.
HOOKS = """
async ({api, token, platform, connected, conn, files, chatId}) => {
  const headers = {'Content-Type': 'application/json', Authorization: `Bearer ${token}`};
  const authMode = connected ? 'user-token' : 'platform-managed';
  const body = platform === 'cloudflare'
    ? {files, chatId, authMode, token: conn.token, accountId: conn.accountId}
    : {files, chatId, authMode, accessKeyId: conn.accessKeyId, secretAccessKey: conn.secretAccessKey,
       region: conn.region, ...(conn.projectId ? {projectId: conn.projectId} : {})};
  const response = await fetch(`${api}/deployments/${platform}`, {method: 'POST', headers, body: JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) return {status: response.status, data, polls: []};
  if (platform === 'cloudflare') return {status: response.status, data, polls: []};  // shows data.url at once
  const polls = [];
  for (let i = 0; i < 200; i++) {
    const url = `${api}/deploy-status?platform=amplify&deploymentId=${data.deploymentId}&externalId=${data.externalId}`;
    const poll = await fetch(url, {headers: {Authorization: `Bearer ${token}`}});
    const state = await poll.json();
    polls.push({status: poll.status, state});
    if (!poll.ok || state.status === 'ready' || state.status === 'error') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return {status: response.status, data, polls};
}
"""

CLOUDFLARE_STORE = {"user": None, "token": "", "accountId": ""}
AMPLIFY_STORE = {"user": None, "token": "", "accessKeyId": "", "secretAccessKey": "", "region": "us-east-1"}
FILES = {
    "/index.html": "<!doctype html><h1>from the hooks</h1>",
    "/assets/app.js": "console.log('héllo ✓')",
}


def replay(page: Page, stack: LocalStack, platform: str, connected: bool, conn: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        HOOKS,
        {
            "api": stack.api_url,
            "token": stack.mint_token("hooks-user"),
            "platform": platform,
            "connected": connected,
            "conn": conn,
            "files": FILES,
            "chatId": f"chat-{platform}-{connected}",
        },
    )
    return result


def wait_ready(stack: LocalStack, deployment_id: str) -> dict[str, Any]:
    repo = DeploymentsRepository(stack.resource("DeploymentsTable"), stack.moto.client("dynamodb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = repo.get(deployment_id)
        assert record is not None
        if record.status.terminal:
            dumped: dict[str, Any] = json.loads(record.model_dump_json(by_alias=True))
            return dumped
        time.sleep(0.2)
    raise AssertionError(f"{deployment_id} did not finish")


@pytest.fixture
def user_accounts(stack: LocalStack) -> str:
    stack.cloudflare.add_account(USER_CF_ACCOUNT, name="Hooks user", subdomain="hooks-user")
    stack.cloudflare.add_token(USER_CF_TOKEN, [USER_CF_ACCOUNT])
    return stack.amplify.create_app_directly("hooks-user-app")


@pytest.mark.parametrize("platform", ["cloudflare", "amplify"])
def test_quick_deploy_with_the_stores_initial_values(page: Page, stack: LocalStack, platform: str) -> None:
    open_console(page, stack.console.url)
    store = CLOUDFLARE_STORE if platform == "cloudflare" else AMPLIFY_STORE
    outcome = replay(page, stack, platform, connected=False, conn=store)
    assert outcome["status"] == 202, outcome
    data = outcome["data"]
    assert data["success"] is True
    assert data["status"] == "pending"
    assert data["deploymentId"].startswith("dpl_")
    if platform == "amplify":
        assert [p["status"] for p in outcome["polls"]] == [200] * len(outcome["polls"])
        final = outcome["polls"][-1]["state"]
        assert final["status"] == "ready", final
        assert set(final) >= {"deploymentId", "platform", "status", "url", "progress", "startedAt", "completedAt"}
        assert final["progress"] == 100
    record = wait_ready(stack, data["deploymentId"])
    assert record["status"] == "ready", record
    assert record["authMode"] == "platform-managed"
    served = urllib3.request("GET", record["localUrl"].rstrip("/") + "/assets/app.js", timeout=10)
    assert served.data == FILES["/assets/app.js"].encode()
    assert record["sealedCredentials"] is None  # nothing of the empty credential fields was kept


@pytest.mark.parametrize("platform", ["cloudflare", "amplify"])
def test_user_token_with_the_connected_account(
    page: Page, stack: LocalStack, platform: str, user_accounts: str
) -> None:
    open_console(page, stack.console.url)
    if platform == "cloudflare":
        conn: dict[str, Any] = {
            **CLOUDFLARE_STORE,
            "user": {"id": "u"},
            "token": USER_CF_TOKEN,
            "accountId": USER_CF_ACCOUNT,
        }
    else:
        conn = {
            **AMPLIFY_STORE,
            "user": {"id": "u"},
            "accessKeyId": USER_AWS_KEY,
            "secretAccessKey": USER_AWS_SECRET,
            "projectId": user_accounts,
        }
    outcome = replay(page, stack, platform, connected=True, conn=conn)
    assert outcome["status"] == 202, outcome
    record = wait_ready(stack, outcome["data"]["deploymentId"])
    assert record["status"] == "ready", record
    assert record["authMode"] == "user-token"
    if platform == "cloudflare":
        assert record["url"].endswith(".hooks-user.workers.dev")
    else:
        assert record["accountId"] == user_accounts  # projectId named the app
        assert outcome["polls"][-1]["state"]["status"] == "ready"
    served = urllib3.request("GET", record["localUrl"].rstrip("/") + "/assets/app.js", timeout=10)
    assert served.data == FILES["/assets/app.js"].encode()  # text stays UTF-8, byte for byte
