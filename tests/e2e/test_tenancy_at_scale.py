"""Quick Deploy past one account's quotas, on a local stack of its own with small quotas: three
Cloudflare accounts of a few Workers each, Amplify apps of 3 branches, 2 builds at a time.

Forty owners deploy one or two projects each (sixty sites a platform), all at once, to both
platforms, with three routing profiles among them. Every deployment ends ready and serves its own
bytes; the accounts fill evenly to their limits and one more new site is refused with 503
``capacity_exhausted``, writing nothing; no app holds branches of two profiles; never more than 2
builds run at once; and after a round of teardowns the seat counters equal the sites that are left
and emptied apps are gone."""

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

ACCOUNTS = {f"{n:032x}": 20 for n in range(0xC1, 0xC4)}  # 3 accounts × 20 Workers: 60 sites
BRANCHES_PER_APP = 3
CONCURRENT_JOBS = 2
POOL_APPS = 30


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("tenancy-state"),
        write_local_json=False,
        run_schedules=False,
        cloudflare_accounts=dict(ACCOUNTS),
        amplify_max_apps=POOL_APPS,
        amplify_max_branches_per_app=BRANCHES_PER_APP,
        amplify_max_concurrent_jobs=CONCURRENT_JOBS,
        max_concurrency=4,
        amplify_job_step_seconds=0.1,
        build_poll_seconds=0.2,
    )
    with LocalStack(options) as stack:
        yield stack


PROFILES = {
    "spa": {"/index.html": "<h1>{tag}</h1>"},
    "notfound": {"/index.html": "<h1>{tag}</h1>", "/404.html": "<p>missing {tag}</p>"},
    "redirects": {"/index.html": "<h1>{tag}</h1>", "/_redirects": "/old /index.html 301\n"},
}


def _site(tag: str, profile: str, rng: random.Random) -> dict[str, bytes]:
    files = {path: text.format(tag=tag).encode() for path, text in PROFILES[profile].items()}
    files["/assets/blob.bin"] = rng.randbytes(2048)
    return files


def _items(stack: LocalStack, prefix: str) -> list[dict[str, Any]]:
    ddb = stack.moto.shared("dynamodb")
    found = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=stack.resource("DeploymentsTable"),
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": prefix}},
    ):
        found += [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
    return found


def _wait_all(jobs: list[dict[str, Any]], timeout: float = 300.0) -> None:
    accepted = [j for j in jobs if j["status"] == 202]
    finals = wait_all_terminal([(j["api"], j["answer"]["deploymentId"]) for j in accepted], timeout=timeout)
    for job, final in zip(accepted, finals, strict=True):
        job["final"] = final


def test_forty_owners_past_one_accounts_quotas(small: LocalStack) -> None:
    stack = small
    rng = random.Random(404)
    run = uuid.uuid4().hex[:6]
    jobs: list[dict[str, Any]] = []
    for owner_no in range(40):
        owner = f"tenant-{run}-{owner_no:02d}"
        for project_no in range(1 + owner_no % 2):
            for platform in ("cloudflare", "amplify"):
                profile = list(PROFILES)[(owner_no + project_no) % len(PROFILES)]
                tag = f"{owner}-{project_no}-{platform}"
                files = _site(tag, profile, rng)
                jobs.append({"owner": owner, "platform": platform, "files": files, "project": f"p{project_no}"})

    def submit(job: dict[str, Any]) -> None:
        api = Api(stack, stack.mint_token(job["owner"]))
        api.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=180))
        body = {"files": inline_files(job["files"]), "projectName": job["project"]}
        status, answer, _ = api.request("POST", f"/deployments/{job['platform']}", body=body)
        job.update(status=status, answer=answer, api=api)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(submit, jobs))
    print(f"\n{len(jobs)} deploys accepted in {time.monotonic() - started:.1f}s")
    assert Counter(j["status"] for j in jobs) == {202: len(jobs)}, [j["answer"] for j in jobs if j["status"] != 202]
    _wait_all(jobs)
    print(f"all ended {time.monotonic() - started:.1f}s after the first was sent")
    failed = [(j["platform"], j["final"].get("error")) for j in jobs if j["final"]["status"] != "ready"]
    assert not failed
    http = urllib3.PoolManager(retries=False)
    for job in jobs:  # each serves its own bytes
        assert job["final"].get("localUrl"), job["final"]
        local = job["final"]["localUrl"].rstrip("/")
        answer = http.request("GET", local + "/assets/blob.bin", timeout=10)
        assert answer.data == job["files"]["/assets/blob.bin"], job["final"]["url"]

    # Every Cloudflare account filled to its limit, no further; the counters match the emulator.
    members = {m["memberId"]: int(m["used"]) for m in _items(stack, "POOL#cloudflare#")}
    assert members == ACCOUNTS
    assert {a: len(stack.cloudflare.scripts(a)) for a in ACCOUNTS} == ACCOUNTS
    # One more new site: refused, 503, and nothing written anywhere.
    before = (len(_items(stack, "")), sum(len(stack.cloudflare.scripts(a)) for a in ACCOUNTS))
    extra = Api(stack, stack.mint_token(f"latecomer-{run}"))
    status, answer, _ = extra.request("POST", "/deployments/cloudflare", body={"files": {"index.html": "late"}})
    assert (status, answer["code"]) == (503, "capacity_exhausted")
    assert (len(_items(stack, "")), sum(len(stack.cloudflare.scripts(a)) for a in ACCOUNTS)) == before
    assert {p["platform"]: p["quickDeployRoom"] for p in extra.get("/platforms")[1]["platforms"]} == {
        "cloudflare": False,
        "amplify": True,
        "netlify": True,
        "vercel": True,
    }

    # Amplify: one routing profile per app, at most 3 branches each, never more than 2 builds at once.
    by_app: dict[str, set[str]] = {}
    for site in (s for s in _items(stack, "SITE#") if s["platform"] == "amplify"):
        by_app.setdefault(site["accountId"], set()).add(site["profile"])
    assert all(len(profiles) == 1 for profiles in by_app.values()), by_app
    assert len({next(iter(p)) for p in by_app.values()}) == len(PROFILES)
    assert all(len(stack.amplify.branches(app)) <= BRANCHES_PER_APP for app in by_app)
    assert stack.amplify.max_running_seen <= CONCURRENT_JOBS

    # A round of teardowns: every other site; then the seats counted equal the sites left, and the
    # apps nobody sits in any more are gone.
    doomed = jobs[::2]
    with ThreadPoolExecutor(max_workers=8) as pool:
        deleted = list(pool.map(lambda j: j["api"].request("DELETE", f"/sites/{j['answer']['siteId']}")[0], doomed))
    assert deleted == [204] * len(doomed)
    kept = [j for j in jobs if j not in doomed]
    apps_left = Counter(
        j["final"]["url"].removeprefix("https://").split(".")[1] for j in kept if j["platform"] == "amplify"
    )
    assert {m["memberId"]: int(m["used"]) for m in _items(stack, "POOL#amplify#")} == dict(apps_left)
    cf_left = sum(1 for j in kept if j["platform"] == "cloudflare")
    assert sum(int(m["used"]) for m in _items(stack, "POOL#cloudflare#")) == cf_left
    pool_apps = {a["appId"] for a in stack.amplify.apps() if a["name"].startswith("sitedeploy-pool-")}
    assert pool_apps == set(apps_left)
