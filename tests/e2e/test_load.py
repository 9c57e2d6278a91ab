"""Load: fifty deployments at once through the gateway, on both platforms, for several owners.

The other end-to-end tests deploy one site at a time, which never exercises what only concurrency
can break: the conditional writes that claim a deployment, the per-account asset deduplication of
Cloudflare racing between two publishers, queueing in front of each function's few execution
environments, and the status endpoint answering while publishers are busy. This test submits every
deployment at the same instant (a barrier releases the client threads), polls each one the way the
front end does, and then checks the three promises that matter under load:

- every deployment ends, and ends ``ready`` (no fault is injected here);
- nothing is published twice: a Worker's ``put_count`` equals the deployments made to it, an Amplify
  branch got exactly one ``CreateDeployment`` and holds exactly one job, the deployment's own;
- every site serves exactly the bytes that were sent (``a/index.html`` at ``a/``).

Timing is printed (deploys per minute), never asserted: a slow machine must not fail it. The
helpers here are reused by ``test_faults.py``.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import urllib3

from sitedeploy.domain.naming import derived_name
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LocalStack
from tests.conftest import Api
from tests.helpers import TERMINAL, amplify_app, inline_files

pytestmark = pytest.mark.e2e

IN_FLIGHT = frozenset({"pending", "uploading", "building"})
# The front end polls every 2–3 s (fifty clients at the helpers' 0.1 s would be 500 requests a second
# on two cores, a load no front end makes).
POLL_SECONDS = 2.0
# Every deployment must be terminal this long after the last one was accepted. Generous: a bound
# that catches "never ends", not a performance target.
SETTLE_SECONDS = 150.0
# A burst of fifty waits in the local gateway for each function's few execution environments (the
# real API's Lambda scales out instead), on two cores shared with everything else: answers can take
# tens of seconds. The client waits for them; a transport error is still a failure.
CLIENT_READ_TIMEOUT = 180.0
WORKER_PREFIX = "sd"  # the local stack's platform-managed prefix, for Workers and Amplify branches


def site_files(tag: str, rng: random.Random) -> dict[str, bytes]:
    """A small site whose every file is distinct to ``tag``: text, nested index pages and binaries
    with random bytes (so that no two sites share an asset and a mix-up shows as wrong bytes)."""
    return {
        "/index.html": f"<!doctype html><h1>{tag} ✓</h1>".encode(),
        "/about/index.html": f"<h1>about {tag}</h1>".encode(),
        "/assets/app.js": f"console.log({tag!r})".encode(),
        "/assets/logo.png": b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randrange(2_000, 24_000)),
        "/data/blob.bin": rng.randbytes(rng.randrange(500, 6_000)),
    }


@dataclass
class Job:
    """One deployment as a client sees it: what was sent, what the API answered, how it ended."""

    platform: str
    owner: str
    project: str
    files: dict[str, bytes]
    accepted: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    seen: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # every non-2xx answer from the API
    poll_seconds: list[float] = field(default_factory=list)  # how long each GET /deployments/{id} took
    submitted: float = 0.0
    accepted_at: float = 0.0
    ended_at: float | None = None

    @property
    def deployment_id(self) -> str:
        return str(self.accepted["deploymentId"]) if self.accepted else "?"

    @property
    def status(self) -> str:
        if self.final is not None:
            return str(self.final["status"])
        return self.seen[-1] if self.seen else "not accepted"

    @property
    def name(self) -> str:
        """The Worker or the Amplify branch (platform-managed: the same derived name)."""
        return derived_name(WORKER_PREFIX, self.owner, self.project)

    def describe(self) -> str:
        error = f" error={self.final.get('error')!r}" if self.final else ""
        return f"{self.platform}:{self.name} {self.deployment_id} {self.status} seen={self.seen}{error} {self.problems}"


def run_jobs(make_api: Callable[[str], Api], jobs: list[Job], settle: float = SETTLE_SECONDS) -> float:
    """Submit every job at the same instant from a thread each, poll each until it is terminal or
    ``settle`` seconds have passed since it was accepted; returns the wall time of the whole run."""
    barrier = threading.Barrier(len(jobs))

    def one(job: Job) -> None:
        api = make_api(job.owner)  # a connection pool per client, like separate browsers
        api.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=CLIENT_READ_TIMEOUT))
        body = {"files": inline_files(job.files), "projectName": job.project, "chatId": f"chat-{job.project}"}
        barrier.wait()
        job.submitted = time.monotonic()
        try:
            status, answer, _ = api.request("POST", f"/deployments/{job.platform}", body=body)
        except urllib3.exceptions.HTTPError as exc:
            job.problems.append(f"POST raised {type(exc).__name__}: {exc}")
            return
        if status != 202:
            job.problems.append(f"POST answered {status}: {answer!r}")
            return
        job.accepted, job.accepted_at = dict(answer), time.monotonic()
        deadline = job.accepted_at + settle
        time.sleep(random.uniform(0, POLL_SECONDS))
        while time.monotonic() < deadline:
            asked = time.monotonic()
            try:
                status, answer, _ = api.get(f"/deployments/{job.deployment_id}")
                job.poll_seconds.append(time.monotonic() - asked)
            except urllib3.exceptions.HTTPError as exc:
                job.problems.append(f"GET raised {type(exc).__name__}: {exc}")
                time.sleep(POLL_SECONDS)
                continue
            if status != 200:
                job.problems.append(f"GET answered {status}: {answer!r}")
            else:
                if not job.seen or job.seen[-1] != answer["status"]:
                    job.seen.append(answer["status"])
                if answer["status"] in TERMINAL:
                    job.final, job.ended_at = dict(answer), time.monotonic()
                    return
            time.sleep(POLL_SECONDS)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="client") as pool:
        list(pool.map(one, jobs))
    return time.monotonic() - started


def served_path(path: str) -> str:
    """Where a file is served: ``a/index.html`` at ``a/`` on both platforms."""
    return path.removesuffix("index.html")


def wrong_bytes(job: Job, http: urllib3.PoolManager) -> list[str]:
    """Every file of a ready job whose served bytes differ from what was sent."""
    assert job.final is not None
    base = str(job.final.get("localUrl") or "")
    if not base.startswith("http://127.0.0.1:"):
        return [f"{job.describe()}: no localUrl ({base!r})"]
    wrong = []
    for path, data in job.files.items():
        answer = http.request("GET", base.rstrip("/") + served_path(path), redirect=False, timeout=10.0)
        if answer.status != 200 or answer.data != data:
            wrong.append(f"{job.describe()}: {path} answered {answer.status}, {len(answer.data)} bytes")
    return wrong


def publisher_failures(stack: LocalStack, ids: set[str]) -> list[str]:
    """Stream deliveries to the publisher for these deployments that did not end "ok" (the
    publisher could not even record an outcome)."""
    assert stack.pump is not None
    bad = []
    for delivery in stack.pump.deliveries:
        if delivery.function != "PublisherFunction" or delivery.outcome == "ok":
            continue
        for record in delivery.records:
            image = record["dynamodb"].get("NewImage") or {}
            if image.get("id", {}).get("S") in ids:
                bad.append(f"{image['id']['S']}: delivery {delivery.outcome}")
    return bad


def amplify_client(stack: LocalStack) -> Any:
    return boto3.client(
        "amplify",
        endpoint_url=stack.amplify.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIATESTLOADCHECKER0",
        aws_secret_access_key="test-load-checker",
    )


def external_id(stack: LocalStack, deployment_id: str) -> str | None:
    key = {"pk": {"S": f"DEPLOYMENT#{deployment_id}"}, "sk": {"S": "META"}}
    item = stack.moto.shared("dynamodb").get_item(TableName=stack.resource("DeploymentsTable"), Key=key)["Item"]
    found = item.get("externalId", {}).get("S")
    return str(found) if found is not None else None


def summary(label: str, jobs: list[Job], wall: float) -> str:
    ended = [j for j in jobs if j.ended_at is not None]
    ready = [j for j in ended if j.status == "ready"]
    first = min((j.submitted for j in jobs if j.submitted), default=0.0)
    last_end = max((j.ended_at for j in ended if j.ended_at), default=first)
    span = max(last_end - first, 1e-9)
    refused = sum(1 for j in jobs if j.accepted is None)
    lines = [
        f"\n{label}: {len(jobs)} deployments, {len(ready)} ready, {len(ended) - len(ready)} error, "
        f"{len(jobs) - len(ended) - refused} unfinished, {refused} not accepted; the last ended {span:.1f}s "
        f"after submission (wall {wall:.1f}s); {60 * len(ready) / span:.0f} ready deploys/minute"
    ]
    posts = sorted(j.accepted_at - j.submitted for j in jobs if j.accepted)
    polls = sorted(t for j in jobs for t in j.poll_seconds)
    if posts and polls:
        lines.append(
            f"  POST /deployments: median {statistics.median(posts):.2f}s, max {posts[-1]:.2f}s; "
            f"GET /deployments/{{id}}: median {statistics.median(polls) * 1000:.0f}ms, "
            f"p99 {polls[int(0.99 * (len(polls) - 1))] * 1000:.0f}ms over {len(polls)}"
        )
    for platform in ("cloudflare", "amplify"):
        times = sorted(j.ended_at - j.submitted for j in ready if j.platform == platform and j.ended_at)
        if times:
            lines.append(
                f"  {platform:<10} time to ready: median {statistics.median(times):.1f}s, "
                f"max {times[-1]:.1f}s over {len(times)}"
            )
    return "\n".join(lines)


def test_fifty_concurrent_deploys_all_end_ready_once_with_the_right_bytes(
    clean: LocalStack, api_for: Callable[[str], Api]
) -> None:
    stack = clean
    rng = random.Random(20240611)
    run = uuid.uuid4().hex[:8]
    owners = [f"load-{run}-{i}" for i in range(5)]
    jobs: list[Job] = []
    # Cloudflare: 27 Workers; the first three get the same site twice at the same instant (a double
    # click): the newer wins; the older ends ready too if it started first, else "superseded by" the
    # newer, and the Worker was PUT once per deployment that ended ready.
    for i in range(27):
        owner, project = owners[i % len(owners)], f"cf-{i:02d}"
        files = site_files(f"{run}-{project}", rng)
        jobs.append(Job("cloudflare", owner, project, files))
        if i < 3:
            jobs.append(Job("cloudflare", owner, project, dict(files)))
    # Amplify: 20 branches, one deployment each.
    for i in range(20):
        owner, project = owners[(i + 2) % len(owners)], f"amp-{i:02d}"
        jobs.append(Job("amplify", owner, project, site_files(f"{run}-{project}", rng)))
    assert len(jobs) == 50

    wall = run_jobs(api_for, jobs)
    print(summary("load", jobs, wall))

    assert not [j.describe() for j in jobs if j.problems], "the API answered something other than 2xx"
    assert not [j.describe() for j in jobs if j.status not in TERMINAL], "deployments still in flight"
    superseded = [j for j in jobs if j.status != "ready"]
    by_site = {
        (j.owner, j.project, j.platform): [k for k in jobs if (k.owner, k.project) == (j.owner, j.project)]
        for j in jobs
    }
    for job in superseded:  # only an older double-click may lose, and only to its twin
        twins = [k for k in by_site[(job.owner, job.project, job.platform)] if k is not job]
        assert twins, job.describe()
        assert job.final is not None
        assert job.final["error"] == f"superseded by {twins[0].deployment_id}", job.describe()
        assert twins[0].status == "ready", twins[0].describe()
    ids = {j.deployment_id for j in jobs}
    assert stack.pump is not None
    stack.pump.wait_idle(timeout=60)
    assert not publisher_failures(stack, ids)

    # Published once: Cloudflare Workers.
    per_worker = Counter(j.name for j in jobs if j.platform == "cloudflare" and j.status == "ready")
    puts = {}
    for name in per_worker:
        script = stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, name)
        puts[name] = script.put_count if script else 0
    assert puts == dict(per_worker)
    for job in (j for j in jobs if j.status == "ready"):
        assert job.final is not None
        assert job.accepted is not None
        assert job.final["url"] == job.accepted["url"], job.describe()
        assert job.final["url"].startswith(f"https://{job.name}."), job.describe()

    # Published once: Amplify branches — one CreateDeployment, one job, and it is the deployment's.
    amplify = amplify_client(stack)
    creates = Counter(
        r.path.split("/")[4] for r in list(stack.amplify.requests) if r.route == "CreateDeployment" and r.status == 200
    )
    for job in (j for j in jobs if j.platform == "amplify"):
        assert creates[job.name] == 1, job.describe()
        listed = amplify.list_jobs(appId=amplify_app(str((job.accepted or {}).get("url"))), branchName=job.name)[
            "jobSummaries"
        ]
        assert [(s["jobId"], s["status"]) for s in listed] == [(external_id(stack, job.deployment_id), "SUCCEED")]

    # The right bytes, everywhere.
    http = urllib3.PoolManager(retries=False)
    wrong = [problem for job in jobs if job.status == "ready" for problem in wrong_bytes(job, http)]
    assert not wrong
