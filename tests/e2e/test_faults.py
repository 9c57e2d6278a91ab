"""Faults: deployments under a steady drizzle of platform failures, and under a permanent one.

Retries, ``retry-after``, lost answers and connection resets are where a publisher goes wrong in
production, and the failure mode that hurts most is not an error but a deployment that never ends:
the front end polls a spinner forever. So the promise checked here is the reliability issue's own —
under faults every deployment ends, ``ready`` or ``error``, an ``error`` always says why, and a
``ready`` site serves the right bytes. How many succeed depends on the fault rates and is printed,
not asserted (beyond "some do": the publishers retry, so moderate rates must not sink everything).

The emulators inject, at seeded rates, on both platforms: 429 with ``retry-after``, 5xx (some after
the request took effect, the "lost answer" that makes a client repeat something that happened),
connection resets, slowness, and failed Amplify builds. Every rule is cleared after each test.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import urllib3

from sitedeploy.domain.naming import derived_name
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LocalStack
from tests.conftest import Api
from tests.e2e.test_load import (
    IN_FLIGHT,
    WORKER_PREFIX,
    Job,
    amplify_client,
    publisher_failures,
    run_jobs,
    site_files,
    summary,
    wrong_bytes,
)
from tests.helpers import TERMINAL, amplify_app, deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e

FAULT_SEED = 20240611
BUILD_FAILURE = "injected: the build image could not be pulled"
# An Amplify job that is not finished blocks its branch (one unfinished job per branch).
UNFINISHED_JOB = frozenset({"CREATED", "PENDING", "PROVISIONING", "RUNNING"})


@pytest.fixture
def faults(clean: LocalStack) -> Iterator[LocalStack]:
    """The stack, with every fault rule of both emulators removed afterwards, pass or fail."""
    try:
        yield clean
    finally:
        clean.cloudflare.faults.clear()
        clean.amplify.faults.clear()
        clean.amplify.job_faults.clear()
        clean.netlify.faults.clear()
        clean.vercel.faults.clear()


def inject_steady_faults(stack: LocalStack) -> None:
    """Moderate, seeded fault rates on the routes each publisher uses. The first rule that matches
    a request and wins its draw applies, so the specific rules come before the catch-all slowness."""
    cf = stack.cloudflare.faults
    cf.seed(FAULT_SEED)
    cf.add("assets-upload-session", status=429, retry_after=1, times=None, rate=0.2)
    cf.add("assets-upload", status=503, times=None, rate=0.15)
    cf.add("assets-upload", reset=True, times=None, rate=0.1)
    cf.add("script-put", status=500, times=None, rate=0.15)
    cf.add("script-put", status=502, times=None, rate=0.1, after=True)  # the PUT happened; its answer is lost
    cf.add("subdomain-post", reset=True, times=None, rate=0.15)
    cf.add("account-subdomain-get", status=429, retry_after=1, times=None, rate=0.2)
    cf.add("any", delay=0.4, times=None, rate=0.1)

    amp = stack.amplify.faults
    amp.seed(FAULT_SEED)
    amp.add("CreateDeployment", status=429, retry_after=1, times=None, rate=0.2)
    amp.add("CreateDeployment", status=500, times=None, rate=0.05, after=True)  # a job was created; answer lost
    amp.add("StartDeployment", status=500, times=None, rate=0.15)
    amp.add("StartDeployment", status=503, times=None, rate=0.05, after=True)  # started; answer lost
    amp.add("GetBranch", status=429, times=None, rate=0.15)
    amp.add("ListJobs", status=503, times=None, rate=0.1)
    amp.add("GetJob", status=503, times=None, rate=0.2)
    amp.add("GetJob", reset=True, times=None, rate=0.1)
    amp.add("zip-upload", reset=True, times=None, rate=0.15)
    amp.add("zip-upload", status=503, times=None, rate=0.1)
    amp.add("any", delay=0.4, times=None, rate=0.1)

    jobs = stack.amplify.job_faults
    jobs.seed(FAULT_SEED)
    jobs.add("DEPLOY", status=500, times=None, rate=0.25, body={"message": BUILD_FAILURE})


def test_under_steady_faults_every_deployment_ends_and_every_error_says_why(
    faults: LocalStack, api_for: Callable[[str], Api]
) -> None:
    stack = faults
    rng = random.Random(FAULT_SEED)
    run = uuid.uuid4().hex[:8]
    owners = [f"faults-{run}-{i}" for i in range(3)]
    jobs = [Job("cloudflare", owners[i % 3], f"cf-{i:02d}", site_files(f"{run}-cf-{i}", rng)) for i in range(12)] + [
        Job("amplify", owners[i % 3], f"amp-{i:02d}", site_files(f"{run}-amp-{i}", rng)) for i in range(8)
    ]

    inject_steady_faults(stack)
    cf_before, amp_before = len(stack.cloudflare.requests), len(stack.amplify.requests)
    wall = run_jobs(api_for, jobs)
    injected_cf = [r for r in stack.cloudflare.requests[cf_before:] if r.fault]
    injected_amp = [r for r in stack.amplify.requests[amp_before:] if r.status in (0, 429, 500, 503)]
    stack.cloudflare.faults.clear()  # the checks below read the sites back without interference
    stack.amplify.faults.clear()

    ready = [j for j in jobs if j.status == "ready"]
    errors = [j for j in jobs if j.status == "error"]
    print(summary("faults", jobs, wall))
    print(
        f"  success rate {len(ready)}/{len(jobs)} = {len(ready) / len(jobs):.0%}; "
        f"{len(injected_cf)} Cloudflare and {len(injected_amp)} Amplify answers were injected faults"
    )
    for job in errors:
        print(f"  error {job.platform:<10} {job.final.get('error') if job.final else None!r}")

    assert not [j.describe() for j in jobs if j.problems], "the API answered something other than 2xx"
    assert not [j.describe() for j in jobs if j.status in IN_FLIGHT or j.status not in TERMINAL], "still in flight"
    assert not [j.describe() for j in errors if not (j.final and str(j.final.get("error") or "").strip())]
    assert injected_cf
    assert injected_amp
    assert ready, "moderate fault rates and retries: some deployments must succeed"
    assert stack.pump is not None
    stack.pump.wait_idle(timeout=60)
    assert not publisher_failures(stack, {j.deployment_id for j in jobs})
    http = urllib3.PoolManager(retries=False)
    assert not [problem for job in ready for problem in wrong_bytes(job, http)], "ready must mean live"


def inject_digest_platform_faults(stack: LocalStack) -> None:
    """Seeded faults on every call the Netlify and Vercel publishers make: 429s with reset
    headers, 5xx before and after the request took effect, resets, slowness, failed builds."""
    net = stack.netlify.faults
    net.seed(FAULT_SEED)
    net.add("createSite", status=429, retry_after=1, times=None, rate=0.2)
    net.add("createSite", status=500, times=None, rate=0.1, after=True)  # the site exists; answer lost
    net.add("getSite", status=503, times=None, rate=0.15)
    net.add("createSiteDeploy", status=429, retry_after=1, times=None, rate=0.2)
    net.add("createSiteDeploy", status=502, times=None, rate=0.1, after=True)  # a deploy exists; answer lost
    net.add("getDeploy", status=503, times=None, rate=0.15)
    net.add("getDeploy", reset=True, times=None, rate=0.1)
    net.add("uploadDeployFile", status=503, times=None, rate=0.15)
    net.add("uploadDeployFile", status=500, times=None, rate=0.1, after=True)  # stored; answer lost
    net.add("uploadDeployFile", reset=True, times=None, rate=0.1)
    net.add("any", delay=0.4, times=None, rate=0.1)

    ver = stack.vercel.faults
    ver.seed(FAULT_SEED)
    ver.add("deployment-create", status=429, retry_after=1, times=None, rate=0.2)
    ver.add("deployment-create", status=500, times=None, rate=0.1, after=True)  # created; answer lost
    ver.add("files-upload", status=503, times=None, rate=0.15)
    ver.add("files-upload", status=502, times=None, rate=0.1, after=True)
    ver.add("files-upload", reset=True, times=None, rate=0.1)
    ver.add("deployment-get", status=503, times=None, rate=0.15)
    ver.add("deployment-get", status=429, times=None, rate=0.1)
    ver.add("any", delay=0.4, times=None, rate=0.1)


def test_netlify_and_vercel_under_steady_faults_every_deployment_ends_and_says_why(
    faults: LocalStack, api_for: Callable[[str], Api]
) -> None:
    stack = faults
    rng = random.Random(FAULT_SEED + 1)
    run = uuid.uuid4().hex[:8]
    owners = [f"faults-{run}-{i}" for i in range(3)]
    jobs = [
        Job(platform, owners[i % 3], f"{platform[:3]}-{i:02d}", site_files(f"{run}-{platform}-{i}", rng))
        for platform in ("netlify", "vercel")
        for i in range(8)
    ]
    # A build that fails on the platform is an error with the platform's words, not a hang.
    failing = {jobs[1].project, jobs[9].project}
    inject_digest_platform_faults(stack)
    before = {p: len(getattr(stack, p).requests) for p in ("netlify", "vercel")}
    for job in (jobs[1], jobs[9]):
        # The platforms' names are derived from (owner, project): fail whatever deploys next under it.
        name = derived_name("sd", job.owner, job.project)
        # Every deploy under it, not only the next: when the answer to the first creation is lost,
        # the retry's deploy fails too, instead of leaving the failure to an orphan.
        if job.platform == "netlify":
            stack.netlify.fail_next_deploy(name, BUILD_FAILURE, times=5)
        else:
            stack.vercel.fail_next_deployment(name, BUILD_FAILURE, times=5)
    wall = run_jobs(api_for, jobs)
    injected = {p: [r for r in getattr(stack, p).requests[before[p] :] if r.fault] for p in before}
    stack.netlify.faults.clear()
    stack.vercel.faults.clear()

    ready = [j for j in jobs if j.status == "ready"]
    errors = [j for j in jobs if j.status == "error"]
    print(summary("netlify/vercel faults", jobs, wall))
    print(f"  injected: {', '.join(f'{p} {len(r)}' for p, r in injected.items())}")
    for job in errors:
        print(f"  error {job.platform:<8} {job.final.get('error') if job.final else None!r}")

    assert not [j.describe() for j in jobs if j.problems], "the API answered something other than 2xx"
    assert not [j.describe() for j in jobs if j.status in IN_FLIGHT or j.status not in TERMINAL], "still in flight"
    assert not [j.describe() for j in errors if not (j.final and str(j.final.get("error") or "").strip())]
    assert all(injected.values())
    # A failed build ends its deployment in the platform's words. Not necessarily both: a job may
    # still end on another injected fault first. (When the answer to a deploy's creation is lost, the
    # retry creates a second deploy, which fails as well; before, the failure was left to the orphan
    # and both jobs could end ready: see base.retry_policy.)
    build_failures = [j for j in errors if BUILD_FAILURE in str(j.final and j.final.get("error"))]
    assert build_failures
    assert {j.project for j in build_failures} <= failing
    assert ready, "moderate fault rates and retries: some deployments must succeed"
    assert stack.pump is not None
    stack.pump.wait_idle(timeout=60)
    assert not publisher_failures(stack, {j.deployment_id for j in jobs})
    http = urllib3.PoolManager(retries=False)
    assert not [problem for job in ready for problem in wrong_bytes(job, http)], "ready must mean live"


def test_a_permanently_failing_worker_upload_ends_as_error_with_a_reason(
    faults: LocalStack, api: Api, owner: str
) -> None:
    stack = faults
    stack.cloudflare.faults.add("script-put", status=500, times=None)
    before = len(stack.cloudflare.requests)
    accepted = deploy(api, "cloudflare", {"files": {"index.html": "<p>never</p>"}, "projectName": "always-500"})
    final = wait_terminal(api, accepted["deploymentId"], timeout=90)
    puts = [r for r in stack.cloudflare.requests[before:] if r.route == "script-put"]
    print(f"\npermanent script-put 500: {len(puts)} attempts, error {final['error']!r}")
    assert final["status"] == "error", final
    assert "uploading the Worker" in final["error"], final
    assert "500" in final["error"], final
    assert final["completedAt"]
    assert 1 < len(puts) <= 10, "retried, but not forever"
    worker = derived_name(WORKER_PREFIX, owner, "always-500")
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, worker) is None


def test_a_permanently_failing_amplify_start_ends_as_error_and_leaves_the_branch_usable(
    faults: LocalStack, api: Api
) -> None:
    stack = faults
    stack.amplify.faults.add("StartDeployment", status=503, times=None)
    body = {"files": inline_files({"/index.html": b"<p>amp</p>"}), "projectName": "always-503"}
    accepted = deploy(api, "amplify", body)
    final = wait_terminal(api, accepted["deploymentId"], timeout=120)
    print(f"\npermanent StartDeployment 503: error {final['error']!r}")
    assert final["status"] == "error", final
    assert "starting the deployment" in final["error"], final
    assert final["completedAt"]
    branch = accepted["url"].removeprefix("https://").split(".")[0]
    listed = amplify_client(stack).list_jobs(appId=amplify_app(accepted["url"]), branchName=branch)["jobSummaries"]
    assert not [s for s in listed if s["status"] in UNFINISHED_JOB], listed  # its job was stopped
    stack.amplify.faults.clear()
    again = deploy(api, "amplify", body)
    assert wait_terminal(api, again["deploymentId"], timeout=120)["status"] == "ready"


def test_a_throttled_amplify_never_makes_the_status_endpoint_fail(faults: LocalStack, api: Api) -> None:
    """While a deployment builds, each poll may ask Amplify's GetJob. When Amplify throttles every
    call, the poll must still answer 200 from the record (the next one retries), not run out the
    status function's time and surface as a 500 to the front end."""
    stack = faults
    accepted = deploy(api, "amplify", {"files": {"index.html": "<p>throttled</p>"}, "projectName": "throttled"})
    path = f"/deployments/{accepted['deploymentId']}"
    deadline = time.monotonic() + 60
    while api.get(path)[1]["status"] != "building":
        assert time.monotonic() < deadline, "never reached building"
        time.sleep(0.1)
    stack.amplify.faults.add("GetJob", status=429, times=None)
    answers = []
    for _ in range(3):
        time.sleep(2.1)  # past the refresh interval: this poll asks Amplify
        asked = time.monotonic()
        status, body, _ = api.get(path)
        answers.append((status, body.get("status") if status == 200 else body, round(time.monotonic() - asked, 1)))
    stack.amplify.faults.clear()
    print(f"\npolls while GetJob answers 429: {answers}")
    assert [(status, state) for status, state, _ in answers] == [(200, "building")] * 3, answers
    assert wait_terminal(api, accepted["deploymentId"], timeout=60)["status"] == "ready"
