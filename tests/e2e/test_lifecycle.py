"""Lifecycle: TTL teardown through the stream (the reaper), DELETE /sites, and the sweeper."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LocalStack
from tests.conftest import Api
from tests.helpers import amplify_app, deploy, wait_terminal

pytestmark = pytest.mark.e2e

USER_ACCOUNT = "1234abcd1234abcd1234abcd1234abcd"
USER_TOKEN = "lifecycle-user-token"


def _ddb(stack: LocalStack) -> Any:
    return stack.moto.client("dynamodb")


def _set_site_expiry(stack: LocalStack, site_id: str, epoch: int) -> None:
    _ddb(stack).update_item(
        TableName=stack.resource("DeploymentsTable"),
        Key={"pk": {"S": f"SITE#{site_id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET expiresAt = :e",
        ExpressionAttributeValues={":e": {"N": str(epoch)}},
    )


def _site_exists(stack: LocalStack, site_id: str) -> bool:
    key = {"pk": {"S": f"SITE#{site_id}"}, "sk": {"S": "META"}}
    return "Item" in _ddb(stack).get_item(TableName=stack.resource("DeploymentsTable"), Key=key)


def _expire(stack: LocalStack) -> None:
    assert stack.pump is not None
    stack.pump.expire_now()
    stack.pump.wait_idle(timeout=60)


def _worker(url: str) -> str:
    return url.removeprefix("https://").split(".")[0]


def test_expired_platform_managed_sites_are_torn_down_on_both_platforms(api: Api, stack: LocalStack) -> None:
    cf = deploy(api, "cloudflare", {"files": {"index.html": "<p>cf</p>"}, "projectName": "ttl-site"})
    amp = deploy(api, "amplify", {"files": {"index.html": "<p>amp</p>"}, "projectName": "ttl-site"})
    assert wait_terminal(api, cf["deploymentId"])["status"] == "ready"
    assert wait_terminal(api, amp["deploymentId"])["status"] == "ready"
    worker, branch = _worker(cf["url"]), _worker(amp["url"])
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, worker) is not None
    assert stack.amplify.branch(amplify_app(amp["url"]), branch) is not None
    for site_id in (cf["siteId"], amp["siteId"]):
        _set_site_expiry(stack, site_id, int(time.time()) - 5)
    _expire(stack)
    assert not _site_exists(stack, cf["siteId"])
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, worker) is None
    assert stack.amplify.branch(amplify_app(amp["url"]), branch) is None
    reaped = [d for d in stack.pump.deliveries if d.function == "ReaperFunction"]  # type: ignore[union-attr]
    assert reaped
    assert all(d.outcome == "ok" for d in reaped)
    # Deployment records are history: their own removal triggers nothing.
    assert api.get(f"/deployments/{cf['deploymentId']}")[0] == 200


def test_a_user_token_site_is_never_torn_down(api: Api, stack: LocalStack) -> None:
    stack.cloudflare.add_account(USER_ACCOUNT, name="user", subdomain="lifeuser")
    stack.cloudflare.add_token(USER_TOKEN, [USER_ACCOUNT])
    accepted = deploy(
        api,
        "cloudflare",
        {"files": {"index.html": "mine"}, "authMode": "user-token", "token": USER_TOKEN, "accountId": USER_ACCOUNT},
    )
    assert wait_terminal(api, accepted["deploymentId"])["status"] == "ready"
    _set_site_expiry(stack, accepted["siteId"], int(time.time()) - 5)  # even if it somehow expired
    _expire(stack)
    assert stack.cloudflare.script(USER_ACCOUNT, _worker(accepted["url"])) is not None


def test_a_redeploy_pushes_expiry_forward_so_the_site_survives(api: Api, stack: LocalStack) -> None:
    body = {"files": {"index.html": "<p>v1</p>"}, "projectName": "kept-alive"}
    first = deploy(api, "cloudflare", body)
    wait_terminal(api, first["deploymentId"])
    _set_site_expiry(stack, first["siteId"], int(time.time()) + 2)
    second = deploy(api, "cloudflare", {**body, "files": {"index.html": "<p>v2</p>"}})
    wait_terminal(api, second["deploymentId"])
    time.sleep(3)
    _expire(stack)
    assert _site_exists(stack, first["siteId"])
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, _worker(first["url"])) is not None


def test_delete_site_in_both_modes_and_another_owner_gets_404(api: Api, api_for: Any, stack: LocalStack) -> None:
    managed = deploy(api, "cloudflare", {"files": {"index.html": "x"}, "projectName": "to-delete"})
    amp = deploy(api, "amplify", {"files": {"index.html": "x"}, "projectName": "to-delete"})
    stack.cloudflare.add_account(USER_ACCOUNT, name="user", subdomain="lifeuser")
    stack.cloudflare.add_token(USER_TOKEN, [USER_ACCOUNT])
    assert (
        api.request("PUT", "/platform-tokens/cloudflare", body={"token": USER_TOKEN, "accountId": USER_ACCOUNT})[0]
        == 200
    )
    mine = deploy(api, "cloudflare", {"files": {"index.html": "x"}, "projectName": "mine", "authMode": "user-token"})
    for accepted in (managed, amp, mine):
        assert wait_terminal(api, accepted["deploymentId"])["status"] == "ready"
    listed = {s["siteId"]: s for s in api.get("/sites")[1]["sites"]}
    assert set(listed) == {managed["siteId"], amp["siteId"], mine["siteId"]}
    assert listed[managed["siteId"]]["expiresAt"]
    assert listed[mine["siteId"]]["expiresAt"] is None
    assert listed[managed["siteId"]]["lastDeploymentId"] == managed["deploymentId"]
    intruder = api_for("intruder")
    assert intruder.request("DELETE", f"/sites/{managed['siteId']}")[0] == 404
    assert intruder.get("/sites")[1]["sites"] == []
    for accepted in (managed, amp, mine):
        assert api.request("DELETE", f"/sites/{accepted['siteId']}")[0] == 204
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, _worker(managed["url"])) is None
    assert stack.cloudflare.script(USER_ACCOUNT, _worker(mine["url"])) is None
    assert stack.amplify.branch(amplify_app(amp["url"]), _worker(amp["url"])) is None
    assert api.get("/sites")[1]["sites"] == []
    assert api.request("DELETE", f"/sites/{managed['siteId']}")[0] == 404


def test_a_publisher_killed_mid_deploy_ends_as_error_within_one_sweep(api: Api, stack: LocalStack) -> None:
    assert stack.pump is not None
    stack.pump.wait_idle(timeout=60)  # earlier tests' deployments are done with the publisher
    stack.cloudflare.faults.add("assets-upload", delay=30.0, times=None)  # every upload hangs meanwhile
    try:
        # Content no earlier test uploaded: Cloudflare deduplicates, and a known file needs no upload.
        page = f"<p>doomed {uuid.uuid4().hex}</p>"
        accepted = deploy(api, "cloudflare", {"files": {"index.html": page}, "projectName": "killed"})
        repo = DeploymentsRepository(stack.resource("DeploymentsTable"), _ddb(stack))
        deadline = time.monotonic() + 20
        while (
            current := repo.get(accepted["deploymentId"])
        ) is None or current.status is not DeploymentStatus.UPLOADING:
            assert current is None or not current.status.terminal, f"ended {current.status} before the kill"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # the upload is under way (and hanging) in the publisher
        stack.hosts["PublisherFunction"].kill_all()  # the Lambda dies mid-upload
    finally:
        stack.cloudflare.faults.clear()
    assert stack.pump is not None
    stack.pump.wait_idle(timeout=60)  # the retried delivery finds it claimed and does nothing
    assert repo.get(accepted["deploymentId"]).status is DeploymentStatus.UPLOADING  # type: ignore[union-attr]
    # Time passes: no update for longer than the threshold.
    _ddb(stack).update_item(
        TableName=stack.resource("DeploymentsTable"),
        Key={"pk": {"S": f"DEPLOYMENT#{accepted['deploymentId']}"}, "sk": {"S": "META"}},
        UpdateExpression="SET updatedAt = :old",
        ExpressionAttributeValues={":old": {"S": "2026-01-01T00:00:00.000Z"}},
    )
    report = stack.hosts["SweeperFunction"].invoke({"detail-type": "Scheduled Event", "detail": {}})
    assert accepted["deploymentId"] in report["timedOut"]
    final = api.get(f"/deployments/{accepted['deploymentId']}")[1]
    assert final["status"] == "error"
    assert "timed out" in final["error"]


def test_an_unpolled_amplify_deployment_reaches_ready_through_the_sweeper(api: Api, stack: LocalStack) -> None:
    # In the user's own account nobody follows the build (Quick Deploy's publisher follows its own,
    # to give the job slot back): only a status poll or the sweeper moves it on.
    body = {
        "files": {"index.html": "<p>nobody watches</p>"},
        "projectName": f"unwatched-{uuid.uuid4().hex[:6]}",
        "authMode": "user-token",
        "accessKeyId": "AKIAUSEROWNKEYS00001",
        "secretAccessKey": "user-secret-access-key-e2e",
        "region": "us-east-1",
    }
    accepted = deploy(api, "amplify", body)
    repo = DeploymentsRepository(stack.resource("DeploymentsTable"), _ddb(stack))
    deadline = time.monotonic() + 30
    while repo.get(accepted["deploymentId"]).status is not DeploymentStatus.BUILDING:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(2.0)  # the job finishes on Amplify; nobody asks
    assert repo.get(accepted["deploymentId"]).status is DeploymentStatus.BUILDING  # type: ignore[union-attr]
    report = stack.hosts["SweeperFunction"].invoke({"detail-type": "Scheduled Event", "detail": {}})
    assert accepted["deploymentId"] in report["finished"]
    assert repo.get(accepted["deploymentId"]).status is DeploymentStatus.READY  # type: ignore[union-attr]


def test_the_reaper_acts_only_on_ttl_deletions(api: Api, stack: LocalStack) -> None:
    accepted = deploy(api, "cloudflare", {"files": {"index.html": "<p>guarded</p>"}, "projectName": "guarded"})
    assert wait_terminal(api, accepted["deploymentId"])["status"] == "ready"
    key = {"pk": {"S": f"SITE#{accepted['siteId']}"}, "sk": {"S": "META"}}
    image = _ddb(stack).get_item(TableName=stack.resource("DeploymentsTable"), Key=key)["Item"]
    record: dict[str, Any] = {
        "eventID": "1",
        "eventName": "REMOVE",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": key, "OldImage": image, "SequenceNumber": "1", "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
    reaper = stack.hosts["ReaperFunction"]
    assert reaper.invoke({"Records": [record]}) == {"batchItemFailures": []}  # a user's delete, not TTL
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, _worker(accepted["url"])) is not None
    # DynamoDB's TTL removes the item; the reaper reads the site again and finds it gone.
    _ddb(stack).delete_item(TableName=stack.resource("DeploymentsTable"), Key=key)
    record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert reaper.invoke({"Records": [record]}) == {"batchItemFailures": []}
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, _worker(accepted["url"])) is None
