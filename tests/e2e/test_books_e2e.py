"""Quick Deploy's books on the local stack, under attack (#19): several tenants race deploys, moves
and deletes of their own sites against each other's neighbours in small Amplify and Cloudflare
pools, hundreds of requests at once. Afterwards every victim's site still serves its own bytes,
the reconciler finds nothing to repair, and seats, claims, Site items and what the emulators list
agree exactly."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3

from sitedeploy_local.stack import LocalStack, StackOptions
from tests.conftest import Api
from tests.helpers import inline_files, wait_all_terminal

pytestmark = pytest.mark.e2e

ACCOUNTS = {f"{n:032x}": 12 for n in range(0xD1, 0xD3)}  # 2 accounts × 12 Workers
BRANCHES_PER_APP = 4
PROFILES = {
    "spa": {"/index.html": "<h1>{tag}</h1>"},
    "notfound": {"/index.html": "<h1>{tag}</h1>", "/404.html": "<p>missing {tag}</p>"},
    "redirects": {"/index.html": "<h1>{tag}</h1>", "/_redirects": "/old /index.html 301\n"},
}


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("books-state"),
        write_local_json=False,
        run_schedules=False,
        cloudflare_accounts=dict(ACCOUNTS),
        amplify_max_apps=12,
        amplify_max_branches_per_app=BRANCHES_PER_APP,
        amplify_max_concurrent_jobs=3,
        max_concurrency=6,
        amplify_job_step_seconds=0.05,
        amplify_branch_delete_seconds=0.5,
        build_poll_seconds=0.2,
        parameters={"DeploymentsInFlightPerOwner": 1000, "QuickDeploySitesPerOwner": 1000},
    )
    with LocalStack(options) as stack:
        yield stack


def _files(tag: str, profile: str) -> dict[str, bytes]:
    files = {path: text.format(tag=tag).encode() for path, text in PROFILES[profile].items()}
    files["/own.bin"] = tag.encode() * 16
    return files


def _table(stack: LocalStack) -> list[dict[str, Any]]:
    ddb = stack.moto.shared("dynamodb")
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=stack.resource("DeploymentsTable"), ConsistentRead=True):
        items += [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
    return items


def _wait(api: Api, deployment_ids: list[str], timeout: float = 240.0) -> dict[str, dict[str, Any]]:
    finals = wait_all_terminal([(api, d) for d in deployment_ids], timeout=timeout)
    return dict(zip(deployment_ids, finals, strict=True))


def test_tenants_racing_deploys_moves_and_deletes_never_unbalance_the_books(pools: LocalStack) -> None:
    stack = pools
    run = uuid.uuid4().hex[:6]
    rng = random.Random(19)
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=10))

    def api_of(owner: str) -> Api:
        api = Api(stack, stack.mint_token(owner))
        api.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=120))
        return api

    # The victims: four tenants, a site on each platform, live before the attack.
    victims: list[dict[str, Any]] = []
    for n in range(4):
        owner = f"victim-{run}-{n}"
        api = api_of(owner)
        for platform in ("cloudflare", "amplify"):
            tag = f"{owner}-{platform}"
            files = _files(tag, "spa")
            status, answer, _ = api.request(
                "POST", f"/deployments/{platform}", body={"files": inline_files(files), "projectName": "home"}
            )
            assert status == 202, answer
            victims.append({"api": api, "platform": platform, "files": files, "answer": answer})
    for victim in victims:
        victim["final"] = _wait(victim["api"], [victim["answer"]["deploymentId"]])[victim["answer"]["deploymentId"]]
        assert victim["final"]["status"] == "ready", victim["final"]

    # The attackers: deploys, redeploys that move their sites between routing profiles, and deletes
    # racing their own redeploys, all at once, in the apps and accounts the victims live in.
    attackers = [f"attacker-{run}-{n}" for n in range(3)]
    apis = {owner: api_of(owner) for owner in attackers}
    operations: list[tuple[str, str, str, str]] = []
    for i in range(240):
        owner = attackers[i % len(attackers)]
        platform = rng.choice(["cloudflare", "amplify"])
        project = rng.choice(["a", "b"])
        kind = rng.choices(["deploy", "delete"], weights=[3, 1])[0]
        operations.append((kind, owner, platform, project))
    accepted: dict[str, list[str]] = {owner: [] for owner in attackers}
    outcomes: Counter[str] = Counter()

    def operate(operation: tuple[str, str, str, str]) -> None:
        kind, owner, platform, project = operation
        api = apis[owner]
        if kind == "delete":
            status, listed, _ = api.get("/sites")
            assert status == 200, listed
            for site in listed["sites"]:
                if site["platform"] == platform and site["projectName"] == project:
                    deleted = api.request("DELETE", f"/sites/{site['siteId']}")[0]
                    assert deleted in {204, 404}, deleted
                    outcomes[f"delete {deleted}"] += 1
            return
        profile = rng.choice(list(PROFILES))
        body = {"files": inline_files(_files(f"{owner}-{project}-{rng.random()}", profile)), "projectName": project}
        status, answer, _ = api.request("POST", f"/deployments/{platform}", body=body)
        outcomes[f"deploy {status} {answer.get('code', '') if status != 202 else ''}".strip()] += 1
        assert status in {202, 409, 503}, answer  # accepted, its site being deleted, or no room
        if status == 202:
            accepted[owner].append(answer["deploymentId"])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(operate, operations))
    for owner, ids in accepted.items():
        _wait(apis[owner], ids)
    print(f"\n{len(operations)} operations in {time.monotonic() - started:.1f}s: {dict(outcomes)}")
    assert outcomes["deploy 202"] >= 100

    # Let the scheduled functions run once, as EventBridge would: nothing is left to repair.
    stack.pump.wait_idle() if stack.pump else None
    swept = stack.hosts["SweeperFunction"].invoke({"detail-type": "Scheduled Event"})
    assert swept["timedOut"] == []
    report = stack.hosts["ReconcilerFunction"].invoke({"detail-type": "Scheduled Event"})
    assert report["drift"] == {}, report

    # Every victim still serves its own bytes.
    for victim in victims:
        served = http.request("GET", victim["final"]["localUrl"].rstrip("/") + "/own.bin")
        assert served.status == 200
        assert served.data == victim["files"]["/own.bin"], victim["final"]["url"]

    # Seats, claims, Site items and the emulators agree exactly.
    items = _table(stack)
    members = {(i["platform"], i["memberId"]): int(i["used"]) for i in items if i.get("entity") == "PoolMember"}
    claims = [i for i in items if i.get("entity") == "NameClaim" and "releasedUntil" not in i]
    seats = Counter((c["platform"], c["memberId"]) for c in claims if c.get("memberId"))
    assert members == {key: seats.get(key, 0) for key in members}
    assert set(seats) <= set(members)
    sites = [i for i in items if i.get("entity") == "Site"]
    assert not [s for s in sites if "deletedAt" in s]
    places = set()
    for site in sites:
        places.add((site["platform"], site["memberId"], site["externalName"]))
        places.update((site["platform"], p["memberId"], p["externalName"]) for p in site.get("former") or [])
    assert places == {(c["platform"], c["memberId"], c["externalName"]) for c in claims}
    workers = {("cloudflare", a, name) for a in ACCOUNTS for name in stack.cloudflare.scripts(a)}
    app_ids = {m for (p, m) in members if p == "amplify"}
    branches = {("amplify", app, b) for app in app_ids for b in stack.amplify.branches(app)}
    assert workers | branches <= places  # nothing on a platform that no site owns
    pool_apps = {a["appId"] for a in stack.amplify.apps() if a["name"].startswith("sitedeploy-pool-")}
    assert pool_apps == app_ids
    assert all(len(stack.amplify.branches(app)) <= BRANCHES_PER_APP for app in app_ids)
    deployments = {i["id"]: i for i in items if i.get("entity") == "Deployment"}
    for site in sites:  # every site whose newest deployment is live is on its platform
        last = deployments.get(site.get("lastDeploymentId", ""))
        if last and last["status"] == "ready":
            assert (site["platform"], site["memberId"], site["externalName"]) in workers | branches
