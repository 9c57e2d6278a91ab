"""The Amplify emulator's quotas, driven by the real boto3 ``amplify`` client: apps per region
(LimitExceededException with Amplify's message; DeleteApp frees a place and takes the app's
branches and sites with it) and concurrent jobs per region, which Amplify does not refuse but
queues: a job beyond the quota stays PENDING, with no steps, until a running one finishes. Each
test runs its own emulator with small quotas and short job steps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from sitedeploy_local.emulators.amplify import APPS_LIMIT_MESSAGE, AmplifyEmulator
from tests.local.test_amplify_emulator import deploy, get, make_client, make_zip, new_branch, wait_job

STEP = 0.5  # long enough that a test sees each phase on a busy machine (0.2 left a loaded one 0.35 s)


@pytest.fixture
def emulator() -> Iterator[AmplifyEmulator]:
    with AmplifyEmulator(job_step_seconds=STEP, branch_delete_seconds=0.2, max_apps=2) as em:
        yield em


@pytest.fixture
def client(emulator: AmplifyEmulator) -> Any:
    return make_client(emulator)


def start(client: Any, app: str, branch: str, files: dict[str, bytes | str] | None = None) -> str:
    """CreateDeployment, the zip PUT and StartDeployment, without waiting; the job id."""
    return str(deploy(client, app, branch, make_zip(files or {"index.html": branch}), wait=False)["summary"]["jobId"])


def job(client: Any, app: str, branch: str, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get_job(appId=app, branchName=branch, jobId=job_id)["job"]
    return found


def assert_waiting(found: dict[str, Any]) -> None:
    """What a job queued behind the concurrent-jobs quota looks like: PENDING, nothing begun."""
    assert found["summary"]["status"] == "PENDING"
    assert found["steps"] == []
    assert "endTime" not in found["summary"]


def slot_interval(found: dict[str, Any]) -> tuple[float, float]:
    """When a finished job held its build slot: from its grant (one PENDING step before DEPLOY
    starts) to its end."""
    deploy_start = found["steps"][0]["startTime"].timestamp()
    return deploy_start - STEP, found["summary"]["endTime"].timestamp()


# -- apps -----------------------------------------------------------------------------------------


def test_apps_beyond_the_quota_are_refused_with_amplifys_message(client: Any) -> None:
    client.create_app(name="one")
    client.create_app(name="two")
    with pytest.raises(client.exceptions.LimitExceededException) as refused:
        client.create_app(name="three")
    assert refused.value.response["Error"]["Message"] == APPS_LIMIT_MESSAGE
    assert APPS_LIMIT_MESSAGE == "You have reached the maximum number of apps in this account."
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert [app["name"] for app in client.list_apps()["apps"]] == ["one", "two"]


def test_delete_app_frees_a_place_and_takes_its_branches_and_sites(emulator: AmplifyEmulator, client: Any) -> None:
    doomed = client.create_app(name="doomed")["app"]["appId"]
    kept = client.create_app(name="kept")["app"]["appId"]
    branches = [new_branch(client, doomed) for _ in range(2)]
    urls = []
    for branch in branches:
        assert deploy(client, doomed, branch, make_zip({"index.html": branch}))["summary"]["status"] == "SUCCEED"
        url = emulator.site_url(doomed, branch)
        assert url is not None
        assert get(url).data == branch.encode()
        urls.append(url)

    deleted = client.delete_app(appId=doomed)

    assert deleted["app"]["appId"] == doomed
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_app(appId=doomed)
    with pytest.raises(client.exceptions.NotFoundException):
        client.list_branches(appId=doomed)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_branch(appId=doomed, branchName=branches[0])
    assert emulator.app(doomed) is None
    for branch, url in zip(branches, urls, strict=True):
        assert emulator.site_url(doomed, branch) is None
        with pytest.raises(urllib3.exceptions.HTTPError):  # the site's port is closed
            get(url)
    with pytest.raises(client.exceptions.NotFoundException):
        client.delete_app(appId=doomed)
    again = client.create_app(name="in its place")["app"]["appId"]  # the quota counts live apps only
    assert {app["appId"] for app in client.list_apps()["apps"]} == {kept, again}


# -- concurrent jobs --------------------------------------------------------------------------------


def test_jobs_beyond_the_quota_wait_their_turn() -> None:
    with AmplifyEmulator(job_step_seconds=STEP, max_concurrent_jobs=2) as em:
        client = make_client(em)
        apps = [em.create_app_directly("first"), em.create_app_directly("second")]  # the quota is regional
        targets = [(app, new_branch(client, app)) for app in apps for _ in range(2)]
        jobs = [(app, branch, start(client, app, branch)) for app, branch in targets]

        assert em.running_jobs() == 2
        assert em.waiting_jobs() == 2
        for app, branch, job_id in jobs[2:]:
            assert_waiting(job(client, app, branch, job_id))
        time.sleep(STEP * 1.25)  # the first two are deploying or verifying; the others have not begun
        for app, branch, job_id in jobs[:2]:
            running = job(client, app, branch, job_id)
            assert running["summary"]["status"] == "RUNNING"
            assert running["steps"][0]["stepName"] == "DEPLOY"
        for app, branch, job_id in jobs[2:]:
            assert_waiting(job(client, app, branch, job_id))
        assert em.site_url(*targets[2]) is None

        finished = [wait_job(client, app, branch, job_id) for app, branch, job_id in jobs]

        assert [found["summary"]["status"] for found in finished] == ["SUCCEED"] * 4
        assert em.running_jobs() == 0
        assert em.waiting_jobs() == 0
        assert em.max_running_seen == 2
        slots = [slot_interval(found) for found in finished]
        for moment, _ in slots:  # never more than two held a slot at once
            assert sum(1 for begun, end in slots if begun <= moment + 1e-3 and end > moment + 1e-3) <= 2
        first_free = min(end for _, end in slots[:2])
        assert slots[2][0] == pytest.approx(first_free, abs=5e-3)  # the oldest waiting job got it
        assert slots[3][0] >= slots[2][0]  # ...and they started in start order
        assert slots[3][0] == pytest.approx(max(end for _, end in slots[:2]), abs=5e-3)
        for app, branch in targets:
            url = em.site_url(app, branch)
            assert url is not None
            assert get(url).data == branch.encode()


def test_stopping_a_waiting_job_cancels_it_and_it_never_runs() -> None:
    with AmplifyEmulator(job_step_seconds=STEP, max_concurrent_jobs=1) as em:
        client = make_client(em)
        app = em.create_app_directly("queue")
        running, queued, later = (new_branch(client, app) for _ in range(3))
        first = start(client, app, running)
        second = start(client, app, queued)
        third = start(client, app, later)
        assert em.waiting_jobs() == 2

        stopped = client.stop_job(appId=app, branchName=queued, jobId=second)["jobSummary"]

        assert stopped["status"] in ("CANCELLING", "CANCELLED")
        cancelled = wait_job(client, app, queued, second)
        assert cancelled["summary"]["status"] == "CANCELLED"
        assert cancelled["steps"] == []
        assert em.waiting_jobs() == 1
        assert wait_job(client, app, running, first)["summary"]["status"] == "SUCCEED"
        assert wait_job(client, app, later, third)["summary"]["status"] == "SUCCEED"  # the slot went past it
        assert em.site_url(app, queued) is None
        client.create_deployment(appId=app, branchName=queued)  # the cancelled job no longer blocks it
        assert em.max_running_seen == 1


def test_deleting_a_running_jobs_branch_frees_its_slot_at_once() -> None:
    with AmplifyEmulator(job_step_seconds=STEP, max_concurrent_jobs=1) as em:
        client = make_client(em)
        app = em.create_app_directly("delete")
        doomed, waiting = new_branch(client, app), new_branch(client, app)
        start(client, app, doomed)
        job_id = start(client, app, waiting)
        assert_waiting(job(client, app, waiting, job_id))

        client.delete_branch(appId=app, branchName=doomed)

        assert em.running_jobs() == 1
        assert em.waiting_jobs() == 0
        assert wait_job(client, app, waiting, job_id)["summary"]["status"] == "SUCCEED"


def test_raising_the_limit_starts_waiting_jobs_now() -> None:
    with AmplifyEmulator(job_step_seconds=STEP, max_concurrent_jobs=1) as em:
        client = make_client(em)
        app = em.create_app_directly("raise")
        branches = [new_branch(client, app) for _ in range(3)]
        jobs = [start(client, app, branch) for branch in branches]
        assert (em.running_jobs(), em.waiting_jobs()) == (1, 2)

        em.max_concurrent_jobs = None

        assert (em.running_jobs(), em.waiting_jobs()) == (3, 0)
        for branch, job_id in zip(branches, jobs, strict=True):
            assert wait_job(client, app, branch, job_id)["summary"]["status"] == "SUCCEED"
        with pytest.raises(ValueError, match="positive"):
            em.max_concurrent_jobs = 0


def test_unlimited_by_default_every_job_starts_at_once(emulator: AmplifyEmulator, client: Any) -> None:
    assert emulator.max_concurrent_jobs is None
    app = emulator.create_app_directly("unlimited")
    branches = [new_branch(client, app) for _ in range(6)]
    jobs = [start(client, app, branch) for branch in branches]
    assert (emulator.running_jobs(), emulator.waiting_jobs()) == (6, 0)
    for branch, job_id in zip(branches, jobs, strict=True):
        found = wait_job(client, app, branch, job_id)
        begun, _ = slot_interval(found)
        assert begun == pytest.approx(found["summary"]["startTime"].timestamp(), abs=5e-3)  # no wait at all
    assert emulator.max_running_seen == 6
    with pytest.raises(ValueError, match="positive"):
        AmplifyEmulator(max_concurrent_jobs=0)
