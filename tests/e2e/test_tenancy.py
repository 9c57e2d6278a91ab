"""Quick Deploy as a hosting platform in miniature, through the API on the local stack: each of the
isolation defects, tried the way an attacker or an unlucky user would hit it, now does no harm."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3

from sitedeploy.domain.models import Platform
from sitedeploy.domain.naming import derived_names
from sitedeploy.domain.tenancy import NameClaim
from sitedeploy.platforms.cloudflare.assets import asset_hash
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LocalStack
from tests.conftest import Api
from tests.helpers import TERMINAL, amplify_app, deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e

USER_A = "aaaa0000aaaa0000aaaa0000aaaa0000"
USER_B = "bbbb0000bbbb0000bbbb0000bbbb0000"
USER_A_TOKEN = "tenancy-user-a-token"
USER_B_TOKEN = "tenancy-user-b-token"


def _ddb(stack: LocalStack) -> Any:
    return stack.moto.shared("dynamodb")


def _item(stack: LocalStack, pk: str) -> dict[str, Any] | None:
    answer = _ddb(stack).get_item(
        TableName=stack.resource("DeploymentsTable"), Key={"pk": {"S": pk}, "sk": {"S": "META"}}, ConsistentRead=True
    )
    item = answer.get("Item")
    return {k: next(iter(v.values())) for k, v in item.items()} if item else None


def _site(stack: LocalStack, site_id: str) -> dict[str, Any]:
    site = _item(stack, f"SITE#{site_id}")
    assert site is not None
    return site


def _served(url: str, path: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url.rstrip("/") + path, redirect=False, timeout=10)


def _counts(stack: LocalStack) -> dict[str, int]:
    """Everything a refused request must leave as it was: items, staged objects, Workers, apps."""
    table = _ddb(stack).scan(TableName=stack.resource("DeploymentsTable"), Select="COUNT")["Count"]
    objects = stack.moto.shared("s3").list_objects_v2(Bucket=stack.resource("StagingBucket")).get("KeyCount", 0)
    workers = sum(
        1 for account in (LOCAL_CLOUDFLARE_ACCOUNT, USER_A, USER_B) for _ in stack.cloudflare.scripts(account)
    )
    apps = len(stack.amplify.apps())
    return {"items": table, "objects": objects, "workers": workers, "apps": apps}


@pytest.fixture
def user_accounts(stack: LocalStack) -> None:
    stack.cloudflare.add_account(USER_A, name="User A", subdomain="user-a")
    stack.cloudflare.add_account(USER_B, name="User B", subdomain="user-b")
    stack.cloudflare.add_token(USER_A_TOKEN, [USER_A])
    stack.cloudflare.add_token(USER_B_TOKEN, [USER_B])


def test_a_name_held_by_another_site_is_never_reused(api_for: Any, stack: LocalStack) -> None:
    """Defect 1: an attacker whose project derives the victim's Worker name (an offline 2^40 search
    could find one) gets another name; the victim's Worker is never overwritten nor deletable."""
    attacker_id = f"attacker-{uuid.uuid4().hex[:6]}"
    victim, attacker = api_for(f"victim-{uuid.uuid4().hex[:6]}"), api_for(attacker_id)
    shop = deploy(victim, "cloudflare", {"files": {"index.html": "<h1>the victim's shop</h1>"}, "projectName": "shop"})
    assert wait_terminal(victim, shop["deploymentId"])["status"] == "ready"
    victim_name = _site(stack, shop["siteId"])["externalName"]
    # The collision, as if found: the attacker's first candidate is the victim's name.
    attacker_first = derived_names("sd", attacker_id, "shop")[0]
    _ddb(stack).put_item(
        TableName=stack.resource("DeploymentsTable"),
        Item={
            "pk": {"S": NameClaim(Platform.CLOUDFLARE, LOCAL_CLOUDFLARE_ACCOUNT, attacker_first).key},
            "sk": {"S": "META"},
            "entity": {"S": "NameClaim"},
            "siteId": {"S": shop["siteId"]},
        },
    )
    before = stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, victim_name)
    assert before is not None
    evil = deploy(attacker, "cloudflare", {"files": {"index.html": "<h1>defaced</h1>"}, "projectName": "shop"})
    assert wait_terminal(attacker, evil["deploymentId"])["status"] == "ready"
    evil_name = _site(stack, evil["siteId"])["externalName"]
    assert evil_name not in {victim_name, attacker_first}
    assert evil_name.startswith("sd-shop-")
    after = stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, victim_name)
    assert after is not None
    assert after.active_version().id == before.active_version().id
    assert attacker.request("DELETE", f"/sites/{shop['siteId']}")[0] == 404
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, victim_name) is not None


@pytest.mark.usefixtures("user_accounts")
def test_a_mode_switch_never_makes_a_platform_site_permanent(api: Api, stack: LocalStack) -> None:
    """Defect 2: a user-token deploy of a Quick Deploy project (with a bogus token) is another site;
    the platform site keeps its expiry and its place, and deleting it deletes the platform Worker."""
    managed = deploy(api, "cloudflare", {"files": {"index.html": "qd"}, "projectName": "p"})
    assert wait_terminal(api, managed["deploymentId"])["status"] == "ready"
    before = _site(stack, managed["siteId"])
    bogus = deploy(
        api,
        "cloudflare",
        {
            "files": {"index.html": "mine"},
            "projectName": "p",
            "authMode": "user-token",
            "token": "bogus",
            "accountId": USER_A,
        },
    )
    assert bogus["siteId"] != managed["siteId"]
    assert wait_terminal(api, bogus["deploymentId"])["status"] == "error"
    after = _site(stack, managed["siteId"])
    assert (after["authMode"], after["expiresAt"], after["accountId"]) == (
        "platform-managed",
        before["expiresAt"],
        LOCAL_CLOUDFLARE_ACCOUNT,
    )
    assert api.request("DELETE", f"/sites/{managed['siteId']}")[0] == 204
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, before["externalName"]) is None


def test_one_tenants_routing_never_changes_anothers(api_for: Any, stack: LocalStack) -> None:
    """Defect 3: an SPA tenant and a tenant with a 404 page and redirects are placed in different
    Amplify apps; each answers unknown paths and redirects its own way."""
    spa, plain = api_for(f"spa-{uuid.uuid4().hex[:6]}"), api_for(f"plain-{uuid.uuid4().hex[:6]}")
    spa_site = deploy(spa, "amplify", {"files": {"index.html": "<h1>app shell</h1>"}, "projectName": "web"})
    plain_files = {
        "index.html": "<h1>home</h1>",
        "404.html": "<h1>not here</h1>",
        "new.html": "<h1>new</h1>",
        "_redirects": "/old /new.html 301\n",
        "_headers": "/*\n  X-Tenant: plain\n",
    }
    plain_site = deploy(plain, "amplify", {"files": plain_files, "projectName": "web"})
    spa_final = wait_terminal(spa, spa_site["deploymentId"], timeout=90)
    plain_final = wait_terminal(plain, plain_site["deploymentId"], timeout=90)
    assert spa_final["status"] == plain_final["status"] == "ready", (spa_final, plain_final)
    assert _site(stack, spa_site["siteId"])["accountId"] != _site(stack, plain_site["siteId"])["accountId"]
    spa_unknown = _served(spa_final["localUrl"], "/dashboard/settings")
    assert (spa_unknown.status, spa_unknown.data) == (200, b"<h1>app shell</h1>")
    plain_unknown = _served(plain_final["localUrl"], "/dashboard/settings")
    assert (plain_unknown.status, plain_unknown.data) == (404, b"<h1>not here</h1>")
    moved = _served(plain_final["localUrl"], "/old")
    assert moved.status == 301
    assert moved.headers["Location"].endswith("/new.html")
    assert _served(plain_final["localUrl"], "/index.html").headers.get("X-Tenant") == "plain"
    assert "X-Tenant" not in _served(spa_final["localUrl"], "/index.html").headers


def test_redeploys_of_one_site_never_race(api: Api, stack: LocalStack) -> None:
    """Defect 4: a redeploy accepted while the first still builds waits for it (never stops its
    job), then wins: the site serves the newest bytes. The emulator's jobs take 2 × 2 s here: with
    its usual 2 × 0.4 s, a status read that took long on a busy machine could miss the build."""
    saved, stack.amplify.job_step_seconds = stack.amplify.job_step_seconds, 2.0
    try:
        first = deploy(api, "amplify", {"files": {"index.html": "<h1>v1</h1>"}, "projectName": "raced"})
        deadline = time.monotonic() + 30
        while (status := api.get(f"/deployments/{first['deploymentId']}")[1]["status"]) != "building":
            assert status not in TERMINAL, f"the first deployment ended {status} before the second came"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = deploy(api, "amplify", {"files": {"index.html": "<h1>v2</h1>"}, "projectName": "raced"})
        assert wait_terminal(api, first["deploymentId"], timeout=90)["status"] == "ready"
        final = wait_terminal(api, second["deploymentId"], timeout=90)
    finally:
        stack.amplify.job_step_seconds = saved
    assert final["status"] == "ready", final
    assert _served(final["localUrl"], "/").data == b"<h1>v2</h1>"
    site = _site(stack, second["siteId"])
    jobs = stack.amplify.jobs(site["accountId"], site["externalName"])
    assert [job["status"] for job in jobs] == ["SUCCEED", "SUCCEED"]  # none stopped the other


def test_an_older_pending_deployment_is_superseded_by_a_newer_one(api: Api, stack: LocalStack) -> None:
    stack.pump.pause("PublisherFunction")  # type: ignore[union-attr]
    try:
        older = deploy(api, "cloudflare", {"files": {"index.html": "old"}, "projectName": "sup"})
        newer = deploy(api, "cloudflare", {"files": {"index.html": "new"}, "projectName": "sup"})
    finally:
        stack.pump.resume("PublisherFunction")  # type: ignore[union-attr]
    ended = wait_terminal(api, older["deploymentId"])
    assert (ended["status"], ended["error"]) == ("error", f"superseded by {newer['deploymentId']}")
    assert wait_terminal(api, newer["deploymentId"])["status"] == "ready"


def test_the_reaper_reads_the_site_again_and_leaves_a_live_one(api: Api, stack: LocalStack) -> None:
    """Defect 5: a removal record of a site that is alive (replayed, or stray) deletes nothing."""
    accepted = deploy(api, "cloudflare", {"files": {"index.html": "alive"}, "projectName": "phoenix"})
    final = wait_terminal(api, accepted["deploymentId"])
    image = _ddb(stack).get_item(
        TableName=stack.resource("DeploymentsTable"),
        Key={"pk": {"S": f"SITE#{accepted['siteId']}"}, "sk": {"S": "META"}},
        ConsistentRead=True,
    )["Item"]
    event = {
        "Records": [
            {
                "eventID": "1",
                "eventName": "REMOVE",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                "dynamodb": {
                    "Keys": {"pk": image["pk"], "sk": image["sk"]},
                    "OldImage": image,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
            }
        ]
    }
    assert stack.hosts["ReaperFunction"].invoke(event) == {"batchItemFailures": []}
    name = _site(stack, accepted["siteId"])["externalName"]
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, name) is not None
    assert _served(final["localUrl"], "/").data == b"alive"


@pytest.mark.usefixtures("user_accounts")
def test_refused_requests_leave_tables_bucket_and_platforms_unchanged(api: Api, stack: LocalStack) -> None:
    """Defect 6: every refusal is decided before anything is written."""
    taken = deploy(
        api,
        "cloudflare",
        {
            "files": {"index.html": "x"},
            "authMode": "user-token",
            "token": USER_A_TOKEN,
            "accountId": USER_A,
            "workerName": "held-name",
        },
    )
    assert wait_terminal(api, taken["deploymentId"])["status"] == "ready"
    fresh = {"/index.html": f"<p>{uuid.uuid4().hex}</p>"}
    refusals: list[tuple[str, dict[str, Any], int, str]] = [
        ("amplify", {"files": fresh, "authMode": "user-token"}, 400, "connection_required"),
        (
            "amplify",
            {
                "manifest": {"/index.html": "ab" * 32},
                "authMode": "user-token",
                "accessKeyId": "AKIAREFUSEDKEYS00001",
                "secretAccessKey": "s",
                "region": "us-east-1",
            },
            409,
            "blobs_missing",
        ),
        ("cloudflare", {"files": fresh, "authMode": "user-token", "token": "t"}, 400, "credentials_required"),
        (
            "cloudflare",
            {
                "files": fresh,
                "projectName": "other",
                "authMode": "user-token",
                "token": USER_A_TOKEN,
                "accountId": USER_A,
                "workerName": "held-name",
            },
            409,
            "name_taken",
        ),
        ("cloudflare", {"files": {"../x": "y"}}, 400, "validation_error"),
        ("amplify", {"files": {**fresh, "_headers": {"data": "/w==", "encoding": "base64"}}}, 400, "validation_error"),
    ]
    for platform, body, code_status, code in refusals:
        before = _counts(stack)
        status, answer, _ = api.request("POST", f"/deployments/{platform}", body=body)
        assert (status, answer["code"]) == (code_status, code), (platform, body, answer)
        assert _counts(stack) == before, (platform, code)


@pytest.mark.usefixtures("user_accounts")
def test_a_users_site_is_torn_down_where_it_was_deployed(api: Api, stack: LocalStack) -> None:
    """Defect 7: the connection now points at another account, which has a Worker of the same
    name: deleting the site never touches it; it deletes the Worker where the site lives."""
    body = {
        "files": {"index.html": "a"},
        "authMode": "user-token",
        "token": USER_A_TOKEN,
        "accountId": USER_A,
        "workerName": "same-name",
    }
    on_a = deploy(api, "cloudflare", body)
    assert wait_terminal(api, on_a["deploymentId"])["status"] == "ready"
    other_user = Api(stack, stack.mint_token(f"other-{uuid.uuid4().hex[:6]}"))
    on_b = deploy(other_user, "cloudflare", {**body, "token": USER_B_TOKEN, "accountId": USER_B})
    assert wait_terminal(other_user, on_b["deploymentId"])["status"] == "ready"
    api.request("PUT", "/platform-tokens/cloudflare", body={"token": USER_B_TOKEN, "accountId": USER_B})
    status, answer, _ = api.request("DELETE", f"/sites/{on_a['siteId']}")
    assert status == 502  # B's token cannot reach account A: refused, and nothing else was touched
    assert USER_A in answer["error"] or "account" in answer["error"]
    assert stack.cloudflare.script(USER_B, "same-name") is not None
    assert stack.cloudflare.script(USER_A, "same-name") is not None
    api.request("PUT", "/platform-tokens/cloudflare", body={"token": USER_A_TOKEN, "accountId": USER_A})
    assert api.request("DELETE", f"/sites/{on_a['siteId']}")[0] == 204
    assert stack.cloudflare.script(USER_A, "same-name") is None
    assert stack.cloudflare.script(USER_B, "same-name") is not None


def test_tenants_learn_nothing_from_each_others_uploads(api_for: Any, stack: LocalStack) -> None:
    """Defect 8: identical bytes from two tenants are two assets; within one tenant, one."""
    shared = f"<p>the same bytes {uuid.uuid4().hex}</p>".encode()
    first, second = api_for(f"t1-{uuid.uuid4().hex[:6]}"), api_for(f"t2-{uuid.uuid4().hex[:6]}")
    uploads = stack.cloudflare.requests_for("assets-upload")
    seen = len(uploads)

    def hashes_since() -> list[str]:
        nonlocal seen
        fresh = stack.cloudflare.requests_for("assets-upload")[seen:]
        seen += len(fresh)
        return [h for request in fresh for h in request.hashes]

    a = deploy(first, "cloudflare", {"files": inline_files({"/f.txt": shared}), "projectName": "one"})
    wait_terminal(first, a["deploymentId"])
    assert len(hashes_since()) == 1
    again = deploy(first, "cloudflare", {"files": inline_files({"/f.txt": shared}), "projectName": "two"})
    wait_terminal(first, again["deploymentId"])
    assert hashes_since() == []  # the same tenant's bytes are not uploaded twice
    b = deploy(second, "cloudflare", {"files": inline_files({"/f.txt": shared}), "projectName": "one"})
    wait_terminal(second, b["deploymentId"])
    assert len(hashes_since()) == 1  # another tenant uploads its own copy: no tell-tale skip
    sha = hashlib.sha256(shared).hexdigest()
    assert asset_hash(sha, "f.txt", "t1") != asset_hash(sha, "f.txt", "t2")
    assert asset_hash(sha, "f.txt", "t1") == asset_hash(sha, "f.txt", "t1")


def test_fifty_five_quick_deploy_amplify_sites_all_end_ready(clean: LocalStack) -> None:
    """Past one app's 50 branches, with the region's default 5 builds at a time: one second app is
    made for the same routing (not one per racing request), never more than 5 builds run, and every
    site ends ready. (Builds waiting for a slot are shown by test_tenancy_at_scale, with 2 slots.)"""
    stack = clean
    run = uuid.uuid4().hex[:6]
    apis = [Api(stack, stack.mint_token(f"fifty-five-{run}-{n:02d}")) for n in range(55)]
    for api in apis:
        api.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=180))

    def submit(api: Api) -> dict[str, Any]:
        return deploy(api, "amplify", {"files": {"index.html": f"<h1>{api.token[-12:] if api.token else ''}</h1>"}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = list(pool.map(submit, apis))
    finals = [
        wait_terminal(api, answer["deploymentId"], timeout=240) for api, answer in zip(apis, accepted, strict=True)
    ]
    assert [f["status"] for f in finals] == ["ready"] * 55, [f.get("error") for f in finals if f["status"] != "ready"]
    apps = Counter(amplify_app(f["url"]) for f in finals)
    assert sorted(apps.values()) == [5, 50]
    assert stack.amplify.max_running_seen <= 5
