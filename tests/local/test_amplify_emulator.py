"""The Amplify Hosting emulator, driven by the real boto3 ``amplify`` client.

The adapter trusts this emulator to behave like the service, so these tests pin the wire protocol
(every operation's answer validates against botocore's output shape, errors surface as the modeled
exceptions) and the service's awkward parts: one unfinished job per branch, the zip PUT, job
progress and failures, async branch deletion, quotas, faults, and the deployed site's bytes and
rewrite rules. The emulator starts once for the module, with short job steps so the file stays fast.
"""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.session
import pytest
import urllib3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import StructureShape
from botocore.validate import ParamValidator

from sitedeploy_local.emulators.amplify import AmplifyEmulator
from sitedeploy_local.emulators.amplify.sites import compile_header_pattern

STEP = 0.1
# For the tests that watch a job pass through its phases: a poll on a busy machine can take longer
# than 0.1 s and miss one (in make test one never saw DEPLOY RUNNING).
OBSERVED_STEP = 1.0
DELETE_SECONDS = 0.5
MODEL = botocore.session.get_session().get_service_model("amplify")
HTTP = urllib3.PoolManager(retries=False)
BINARY = bytes(range(256)) * 64 + b"\x00\r\n\x1a\xff"


@pytest.fixture(scope="module")
def emulator() -> Iterator[AmplifyEmulator]:
    em = AmplifyEmulator(job_step_seconds=STEP, branch_delete_seconds=DELETE_SECONDS)
    em.start()
    try:
        yield em
    finally:
        em.stop()


@contextmanager
def observed_steps(em: AmplifyEmulator) -> Iterator[None]:
    """Jobs started inside take OBSERVED_STEP per phase (the emulator reads it as it answers)."""
    before = em.job_step_seconds
    em.job_step_seconds = OBSERVED_STEP
    try:
        yield
    finally:
        em.job_step_seconds = before


def make_client(em: AmplifyEmulator, *, attempts: int = 1, key: str = "x") -> Any:
    """A real boto3 client. ``attempts`` counts the first try: botocore's ``max_attempts`` counts
    retries only (``max_attempts=1`` still retries once), so ``total_max_attempts`` turns them off."""
    return boto3.client(
        "amplify",
        endpoint_url=em.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}, read_timeout=10),
    )


@pytest.fixture
def client(emulator: AmplifyEmulator) -> Iterator[Any]:
    yield make_client(emulator)
    emulator.faults.clear()
    emulator.job_faults.clear()


@pytest.fixture
def app_id(emulator: AmplifyEmulator, client: Any) -> Iterator[str]:
    app = emulator.create_app_directly(f"test-{uuid.uuid4().hex[:8]}")
    yield app
    client.delete_app(appId=app)


def make_zip(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def assert_shape(operation: str, response: dict[str, Any]) -> None:
    """The parsed answer carries every required member with the modeled types, and nothing else."""
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    shape = MODEL.operation_model(operation).output_shape
    assert shape is not None
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()


def wait_job(client: Any, app: str, branch: str, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get_job(appId=app, branchName=branch, jobId=job_id)["job"]
        if job["summary"]["status"] in ("SUCCEED", "FAILED", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, f"job still {job['summary']['status']}"
        time.sleep(STEP / 4)


def deploy(client: Any, app: str, branch: str, archive: bytes | None, *, wait: bool = True) -> dict[str, Any]:
    """CreateDeployment, PUT the zip (no Content-Type), StartDeployment, and (by default) wait."""
    created = client.create_deployment(appId=app, branchName=branch)
    if archive is not None:
        response = HTTP.request("PUT", created["zipUploadUrl"], body=archive)
        assert response.status == 200, response.data
    started = client.start_deployment(appId=app, branchName=branch, jobId=created["jobId"])
    if not wait:
        return {"summary": started["jobSummary"], "steps": []}
    return wait_job(client, app, branch, created["jobId"])


def new_branch(client: Any, app: str, name: str | None = None) -> str:
    name = name or f"b-{uuid.uuid4().hex[:10]}"
    client.create_branch(appId=app, branchName=name, stage="DEVELOPMENT", enableAutoBuild=False)
    return name


def members(shape_name: str) -> set[str]:
    shape = MODEL.shape_for(shape_name)
    assert isinstance(shape, StructureShape)
    return set(shape.members)


def steps_of(job: dict[str, Any]) -> list[tuple[str, str]]:
    return [(step["stepName"], step["status"]) for step in job["steps"]]


def get(url: str) -> urllib3.BaseHTTPResponse:
    return HTTP.request("GET", url, redirect=False)


# -- protocol ---------------------------------------------------------------------------------------


def test_every_operation_answers_in_botocore_shapes(emulator: AmplifyEmulator, client: Any) -> None:
    rules = [{"source": "/<*>", "target": "/index.html", "status": "404-200"}]
    created = client.create_app(name="shapes", platform="WEB", customRules=rules)
    assert_shape("CreateApp", created)
    app = created["app"]["appId"]
    assert app.startswith("d")
    assert len(app) == 14
    assert app.isalnum()
    assert app.islower()
    assert created["app"]["defaultDomain"] == f"{app}.amplifyapp.com"
    try:
        assert_shape("GetApp", client.get_app(appId=app))
        listed = client.list_apps()
        assert_shape("ListApps", listed)
        assert app in [a["appId"] for a in listed["apps"]]
        more = [*rules, {"source": "/a", "target": "/b", "status": "301"}]
        updated = client.update_app(appId=app, customRules=more)
        assert_shape("UpdateApp", updated)
        assert len(updated["app"]["customRules"]) == 2

        branch = client.create_branch(appId=app, branchName="main", stage="PRODUCTION", enableAutoBuild=False)
        assert_shape("CreateBranch", branch)
        assert_shape("GetBranch", client.get_branch(appId=app, branchName="main"))
        assert_shape("ListBranches", client.list_branches(appId=app))

        deployment = client.create_deployment(appId=app, branchName="main")
        assert_shape("CreateDeployment", deployment)
        assert deployment["fileUploadUrls"] == {}
        job_id = deployment["jobId"]
        assert_shape("GetJob", client.get_job(appId=app, branchName="main", jobId=job_id))  # CREATED
        HTTP.request("PUT", deployment["zipUploadUrl"], body=make_zip({"index.html": "<p>hi</p>"}))
        with observed_steps(emulator):
            assert_shape("StartDeployment", client.start_deployment(appId=app, branchName="main", jobId=job_id))
            time.sleep(OBSERVED_STEP * 1.5)  # RUNNING: a step without its end yet carries every required member
            running = client.get_job(appId=app, branchName="main", jobId=job_id)
            assert running["job"]["summary"]["status"] == "RUNNING"
            assert_shape("GetJob", running)
            wait_job(client, app, "main", job_id, timeout=20.0)
        assert_shape("GetJob", client.get_job(appId=app, branchName="main", jobId=job_id))
        assert_shape("ListJobs", client.list_jobs(appId=app, branchName="main"))

        second = client.create_deployment(appId=app, branchName="main")["jobId"]
        stopped = client.stop_job(appId=app, branchName="main", jobId=second)
        assert_shape("StopJob", stopped)
        assert stopped["jobSummary"]["status"] in ("CANCELLING", "CANCELLED")

        deleted = client.delete_branch(appId=app, branchName="main")
        assert_shape("DeleteBranch", deleted)
        assert deleted["branch"]["branchName"] == "main"
    finally:
        assert_shape("DeleteApp", client.delete_app(appId=app))
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_app(appId=app)


def test_raw_answers_use_only_modeled_names(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    job = deploy(client, app_id, branch, make_zip({"index.html": "x"}))
    raw_app = emulator.app(app_id)
    raw_branch = emulator.branch(app_id, branch)
    raw_job = emulator.job(app_id, branch, job["summary"]["jobId"])
    assert raw_app is not None
    assert raw_branch is not None
    assert raw_job is not None
    assert set(raw_app) <= members("App")
    assert set(raw_branch) <= members("Branch")
    assert set(raw_job["summary"]) <= members("JobSummary")
    for step in raw_job["steps"]:
        assert set(step) <= members("Step")
    assert raw_branch["activeJobId"] == job["summary"]["jobId"]
    assert raw_branch["totalNumberOfJobs"] == "1"


def test_errors_surface_as_modeled_exceptions(client: Any, app_id: str) -> None:
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_app(appId="dnotthereatall1")
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_branch(appId=app_id, branchName="missing")
    branch = new_branch(client, app_id)
    with pytest.raises(client.exceptions.BadRequestException, match="already exists"):
        client.create_branch(appId=app_id, branchName=branch)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_job(appId=app_id, branchName=branch, jobId="99")
    with pytest.raises(client.exceptions.BadRequestException):
        client.update_app(appId=app_id, customRules=[{"source": "/a", "target": "/b", "status": "307"}])
    with pytest.raises(client.exceptions.BadRequestException):
        client.start_deployment(appId=app_id, branchName=branch)  # neither jobId nor sourceUrl


def test_pagination(client: Any, app_id: str) -> None:
    names = [new_branch(client, app_id) for _ in range(5)]
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"appId": app_id, "maxResults": 2}
        if token:
            kwargs["nextToken"] = token
        page = client.list_branches(**kwargs)
        pages += 1
        seen.extend(b["branchName"] for b in page["branches"])
        token = page.get("nextToken")
        if not token:
            break
    assert seen == names
    assert pages == 3
    first = client.list_apps(maxResults=1)
    assert len(first["apps"]) == 1
    if "nextToken" in first:
        assert client.list_apps(maxResults=1, nextToken=first["nextToken"])["apps"][0] != first["apps"][0]


def test_branch_names_with_slashes_round_trip(client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id, "feature/new-ui")
    got = client.get_branch(appId=app_id, branchName=branch)["branch"]
    assert got["branchName"] == "feature/new-ui"
    job = deploy(client, app_id, branch, make_zip({"index.html": "slash"}))
    assert job["summary"]["status"] == "SUCCEED"
    with pytest.raises(client.exceptions.BadRequestException):
        client.create_branch(appId=app_id, branchName="x" * 256)


# -- jobs -------------------------------------------------------------------------------------------


def test_job_lifecycle_and_served_bytes(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    assert emulator.site_url(app_id, branch) is None
    created = client.create_deployment(appId=app_id, branchName=branch)
    job_id = created["jobId"]
    fresh = client.get_job(appId=app_id, branchName=branch, jobId=job_id)["job"]
    assert fresh["summary"]["status"] == "CREATED"
    archive = make_zip({"index.html": "<h1>home</h1>", "assets/logo.bin": BINARY, "docs/index.html": "docs"})
    put = HTTP.request("PUT", created["zipUploadUrl"], body=archive)  # urllib3 sends no Content-Type
    assert put.status == 200
    assert put.headers["ETag"].startswith('"')
    upload = [r for r in emulator.requests if r.route == "zip-upload"][-1]
    assert upload.status == 200
    assert upload.bytes_in == len(archive)
    statuses: list[str] = []
    steps_seen: set[tuple[str, str]] = set()
    with observed_steps(emulator):
        client.start_deployment(appId=app_id, branchName=branch, jobId=job_id)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            job = client.get_job(appId=app_id, branchName=branch, jobId=job_id)["job"]
            status = job["summary"]["status"]
            if not statuses or statuses[-1] != status:
                statuses.append(status)
            steps_seen.update((s["stepName"], s["status"]) for s in job["steps"])
            if status in ("SUCCEED", "FAILED"):
                break
            time.sleep(OBSERVED_STEP / 5)
    assert statuses == ["PENDING", "RUNNING", "SUCCEED"]
    assert ("DEPLOY", "RUNNING") in steps_seen
    assert ("VERIFY", "RUNNING") in steps_seen
    assert steps_of(job) == [("DEPLOY", "SUCCEED"), ("VERIFY", "SUCCEED")]
    assert job["summary"]["jobType"] == "MANUAL"
    assert job["summary"]["endTime"] >= job["summary"]["startTime"]
    log = get(job["steps"][0]["logUrl"])
    assert log.status == 200
    assert b"unpacked 3 files" in log.data

    url = emulator.site_url(app_id, branch)
    assert url is not None
    home = get(url)
    assert home.status == 200
    assert home.data == b"<h1>home</h1>"
    assert home.headers["Content-Type"] == "text/html; charset=utf-8"
    logo = get(url + "assets/logo.bin")
    assert logo.data == BINARY
    assert logo.headers["Content-Type"] == "application/octet-stream"
    assert get(url + "docs/").data == b"docs"
    moved = get(url + "docs")
    assert moved.status == 301
    assert moved.headers["Location"] == "/docs/"
    assert get(url + "missing.html").status == 404
    assert HTTP.request("HEAD", url + "assets/logo.bin").headers["Content-Length"] == str(len(BINARY))


def test_redeploy_keeps_old_site_until_success_and_keeps_port(
    emulator: AmplifyEmulator, client: Any, app_id: str
) -> None:
    branch = new_branch(client, app_id)
    deploy(client, app_id, branch, make_zip({"index.html": "v1"}))
    url = emulator.site_url(app_id, branch)
    assert url is not None
    started = deploy(client, app_id, branch, make_zip({"index.html": "v2"}), wait=False)
    assert get(url).data == b"v1"  # still the old site while the new job runs
    wait_job(client, app_id, branch, started["summary"]["jobId"])
    assert get(url).data == b"v2"
    assert emulator.site_url(app_id, branch) == url
    failed = deploy(client, app_id, branch, b"not a zip")
    assert failed["summary"]["status"] == "FAILED"
    assert get(url).data == b"v2"  # a failed redeploy leaves the site alone


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (b"PK\x03\x04 this is not really a zip", "could not be read"),
        (make_zip({"dist/index.html": "x", "dist/app.js": "y"}), "inside the folder 'dist/'"),
        (make_zip({"about.html": "x"}), "No index.html at the root"),
        (None, "No zip file was uploaded"),
    ],
    ids=["corrupt", "nested-folder", "no-index", "never-uploaded"],
)
def test_bad_zips_fail_the_job_with_a_reason(
    emulator: AmplifyEmulator, client: Any, app_id: str, archive: bytes | None, reason: str
) -> None:
    branch = new_branch(client, app_id)
    job = deploy(client, app_id, branch, archive)
    assert job["summary"]["status"] == "FAILED"
    deploy_step = job["steps"][0]
    assert deploy_step["stepName"] == "DEPLOY"
    assert deploy_step["status"] == "FAILED"
    assert reason in deploy_step["statusReason"]
    assert emulator.site_url(app_id, branch) is None


def test_crc_corruption_inside_a_valid_zip_fails(client: Any, app_id: str) -> None:
    archive = bytearray(make_zip({"index.html": "hello " * 200}))
    archive[40] ^= 0xFF  # flip a byte of the compressed data, past the local header
    branch = new_branch(client, app_id)
    job = deploy(client, app_id, branch, bytes(archive))
    assert job["summary"]["status"] == "FAILED"
    assert "corrupt" in job["steps"][0]["statusReason"]


def test_fail_next_job_and_job_faults(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    emulator.fail_next_job(app_id, branch, "Simulated deploy failure")
    first = deploy(client, app_id, branch, make_zip({"index.html": "x"}))
    assert first["summary"]["status"] == "FAILED"
    assert first["steps"][-1]["statusReason"] == "Simulated deploy failure"
    assert deploy(client, app_id, branch, make_zip({"index.html": "x"}))["summary"]["status"] == "SUCCEED"

    emulator.job_faults.add("VERIFY", status=500, body={"message": "verification timed out"})
    third = deploy(client, app_id, branch, make_zip({"index.html": "y"}))
    assert third["summary"]["status"] == "FAILED"
    assert steps_of(third) == [("DEPLOY", "SUCCEED"), ("VERIFY", "FAILED")]
    assert third["steps"][1]["statusReason"] == "verification timed out"

    emulator.job_faults.add("DEPLOY", delay=0.5)
    begun = time.monotonic()
    assert deploy(client, app_id, branch, make_zip({"index.html": "z"}))["summary"]["status"] == "SUCCEED"
    assert time.monotonic() - begun >= 0.5


def test_one_unfinished_job_per_branch(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    created = client.create_deployment(appId=app_id, branchName=branch)["jobId"]
    blocked = f"The last job {created} was not finished"
    with pytest.raises(client.exceptions.BadRequestException, match=blocked):
        client.create_deployment(appId=app_id, branchName=branch)
    stopped = client.stop_job(appId=app_id, branchName=branch, jobId=created)["jobSummary"]
    assert stopped["status"] in ("CANCELLING", "CANCELLED")
    assert wait_job(client, app_id, branch, created)["summary"]["status"] == "CANCELLED"
    running = deploy(client, app_id, branch, make_zip({"index.html": "x"}), wait=False)
    job_id = running["summary"]["jobId"]
    assert job_id == str(int(created) + 1)
    with pytest.raises(client.exceptions.BadRequestException, match="was not finished"):
        client.create_deployment(appId=app_id, branchName=branch)
    client.stop_job(appId=app_id, branchName=branch, jobId=job_id)
    cancelled = wait_job(client, app_id, branch, job_id)
    assert cancelled["summary"]["status"] == "CANCELLED"
    with pytest.raises(client.exceptions.BadRequestException, match="already CANCELLED"):
        client.stop_job(appId=app_id, branchName=branch, jobId=job_id)
    client.create_deployment(appId=app_id, branchName=branch)  # unblocked
    listed = client.list_jobs(appId=app_id, branchName=branch)["jobSummaries"]
    assert [j["jobId"] for j in listed] == ["3", "2", "1"]  # newest first
    assert emulator.site_url(app_id, branch) is None  # a cancelled job never publishes


def test_start_deployment_rules(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    created = client.create_deployment(appId=app_id, branchName=branch)["jobId"]
    saved = emulator.start_window_seconds
    emulator.start_window_seconds = 0
    try:
        with pytest.raises(client.exceptions.BadRequestException, match="hours"):
            client.start_deployment(appId=app_id, branchName=branch, jobId=created)
    finally:
        emulator.start_window_seconds = saved
    client.stop_job(appId=app_id, branchName=branch, jobId=created)
    wait_job(client, app_id, branch, created)
    with pytest.raises(client.exceptions.BadRequestException, match="CANCELLED"):
        client.start_deployment(appId=app_id, branchName=branch, jobId=created)
    with pytest.raises(client.exceptions.NotFoundException):
        client.start_deployment(appId=app_id, branchName=branch, jobId="42")


class _ZipHandler(BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_start_deployment_from_source_url(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    bucket = "s3://bucket/site.zip"
    s3 = client.start_deployment(appId=app_id, branchName=branch, sourceUrl=bucket, sourceUrlType="ZIP")
    failed = wait_job(client, app_id, branch, s3["jobSummary"]["jobId"])
    assert failed["summary"]["status"] == "FAILED"
    assert failed["summary"]["sourceUrl"] == bucket
    assert "cannot read s3://bucket/site.zip" in failed["steps"][0]["statusReason"]

    _ZipHandler.payload = make_zip({"index.html": "from a url", "b.bin": BINARY})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ZipHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        source = f"http://127.0.0.1:{server.server_address[1]}/site.zip"
        started = client.start_deployment(appId=app_id, branchName=branch, sourceUrl=source)
        done = wait_job(client, app_id, branch, started["jobSummary"]["jobId"])
    finally:
        server.shutdown()
        server.server_close()
    assert done["summary"]["status"] == "SUCCEED"
    url = emulator.site_url(app_id, branch)
    assert url is not None
    assert get(url + "b.bin").data == BINARY


# -- zip upload URL ----------------------------------------------------------------------------------


def test_zip_upload_url_is_put_only_and_signed(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    url = client.create_deployment(appId=app_id, branchName=branch)["zipUploadUrl"]
    assert url.startswith(emulator.endpoint_url)
    assert "X-Amz-Signature=" in url
    for method in ("GET", "POST", "DELETE"):
        refused = HTTP.request(method, url, body=b"x" if method == "POST" else None)
        assert refused.status == 403, method
        assert b"SignatureDoesNotMatch" in refused.data
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert HTTP.request("PUT", tampered, body=b"zip").status == 403
    # A re-PUT replaces the first upload; a chunked body (no Content-Length) is fine too.
    assert HTTP.request("PUT", url, body=make_zip({"index.html": "first"})).status == 200
    second = make_zip({"index.html": "second"})
    assert HTTP.request("PUT", url, body=iter([second[:10], second[10:]]), chunked=True).status == 200
    job_id = client.list_jobs(appId=app_id, branchName=branch)["jobSummaries"][0]["jobId"]
    client.start_deployment(appId=app_id, branchName=branch, jobId=job_id)
    assert wait_job(client, app_id, branch, job_id)["summary"]["status"] == "SUCCEED"
    site = emulator.site_url(app_id, branch)
    assert site is not None
    assert get(site).data == b"second"


# -- branches and quotas ----------------------------------------------------------------------------


def test_deleting_branch_blocks_its_name_a_while(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    """The name is blocked for 2 s here: three calls on a busy machine took longer than the
    module's 0.5 s, and the name was free again before the test asked for it. The wait for it to
    be free counts from the delete's answer, which comes after the emulator starts the block (a
    clock read before the call let a busy machine ask again 50 ms too soon)."""
    branch = new_branch(client, app_id)
    deploy(client, app_id, branch, make_zip({"index.html": "bye"}))
    url = emulator.site_url(app_id, branch)
    assert url is not None
    blocked, emulator.branch_delete_seconds = emulator.branch_delete_seconds, 2.0
    try:
        client.delete_branch(appId=app_id, branchName=branch)
        deleted_at = time.monotonic()
    finally:
        emulator.branch_delete_seconds = blocked
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_branch(appId=app_id, branchName=branch)
    assert branch not in [b["branchName"] for b in client.list_branches(appId=app_id)["branches"]]
    with pytest.raises(client.exceptions.BadRequestException, match="deleting"):
        client.create_branch(appId=app_id, branchName=branch)
    with pytest.raises(urllib3.exceptions.HTTPError):  # the site's port is freed
        get(url)
    assert emulator.site_url(app_id, branch) is None
    time.sleep(max(0.0, 2.0 - (time.monotonic() - deleted_at)) + 0.05)
    client.create_branch(appId=app_id, branchName=branch)
    assert client.get_branch(appId=app_id, branchName=branch)["branch"]["branchName"] == branch


def test_51st_branch_exceeds_the_quota(client: Any, app_id: str) -> None:
    for index in range(50):
        client.create_branch(appId=app_id, branchName=f"q{index}")
    with pytest.raises(client.exceptions.LimitExceededException):
        client.create_branch(appId=app_id, branchName="q50")
    client.delete_branch(appId=app_id, branchName="q0")
    with pytest.raises(client.exceptions.LimitExceededException):  # a deleting branch still counts
        client.create_branch(appId=app_id, branchName="q50")
    time.sleep(DELETE_SECONDS + 0.05)
    client.create_branch(appId=app_id, branchName="q50")


def test_26th_app_exceeds_the_quota() -> None:
    with AmplifyEmulator(max_apps=2) as em:
        client = make_client(em)
        client.create_app(name="one")
        em.create_app_directly("two", app_id="dfixedappid01")
        assert client.get_app(appId="dfixedappid01")["app"]["name"] == "two"
        with pytest.raises(client.exceptions.LimitExceededException):
            client.create_app(name="three")


# -- served sites -----------------------------------------------------------------------------------


def test_custom_rules(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    client.update_app(
        appId=app_id,
        customRules=[
            {"source": "/old/<*>", "target": "/new/<*>", "status": "301"},
            {"source": "/temp", "target": "https://example.com/elsewhere", "status": "302"},
            {"source": "/blog/<year>/<slug>", "target": "/posts/<slug>-<year>.html", "status": "200"},
            {"source": "/docs/<*>", "target": "/404.html", "status": "404"},
            {"source": "/<*>", "target": "/index.html", "status": "404-200"},
        ],
    )
    branch = new_branch(client, app_id)
    files: dict[str, bytes | str] = {
        "index.html": "spa",
        "404.html": "not here",
        "app.js": "js",
        "posts/hello-2024.html": "post",
        "docs/real.html": "real doc",
    }
    deploy(client, app_id, branch, make_zip(files))
    url = emulator.site_url(app_id, branch)
    assert url is not None
    assert get(url + "dashboard/settings").data == b"spa"  # SPA fallback
    assert get(url + "dashboard/settings").status == 200
    assert get(url + "app.js").data == b"js"  # existing files win over 404-200
    assert get(url + "app.js").headers["Content-Type"] == "text/javascript; charset=utf-8"
    moved = get(url + "old/a/b?x=1")
    assert moved.status == 301
    assert moved.headers["Location"] == "/new/a/b?x=1"
    temp = get(url + "temp")
    assert temp.status == 302
    assert temp.headers["Location"] == "https://example.com/elsewhere"
    rewritten = get(url + "blog/2024/hello")
    assert rewritten.status == 200
    assert rewritten.data == b"post"
    missing_doc = get(url + "docs/nothing")
    assert missing_doc.status == 404
    assert missing_doc.data == b"not here"
    assert get(url + "docs/real.html").data == b"real doc"

    # The documented regex SPA rule; a rules change applies without a redeploy.
    spa = r"</^[^.]+$|\.(?!(css|gif|ico|jpg|js|png|txt|svg|woff|ttf|map|json)$)([^.]+$)/>"
    client.update_app(appId=app_id, customRules=[{"source": spa, "target": "/index.html", "status": "200"}])
    assert get(url + "some/route").data == b"spa"
    assert get(url + "missing.js").status == 404
    client.update_app(appId=app_id, customRules=[])
    assert get(url + "some/route").status == 404


HEADERS = """customHeaders:
  - pattern: '**/*'
    headers:
      - key: 'Cache-Control'
        value: 'public, max-age=31536000, immutable'
      - key: 'X-Frame-Options'
        value: 'DENY'
  - pattern: '*.json'
    headers:
      - key: 'cache-control'
        value: 'no-cache'
      - key: 'Access-Control-Allow-Origin'
        value: '*'
  - pattern: '/docs/*'
    headers:
      - key: 'X-Docs'
        value: 'direct child'
  - pattern: '/api/**'
    headers:
      - key: X-Api-Version
        value: 3
"""


def test_custom_headers_apply_by_pattern(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    updated = client.update_app(
        appId=app_id,
        customHeaders=HEADERS,
        customRules=[{"source": "/<*>", "target": "/index.html", "status": "404-200"}],
    )
    assert updated["app"]["customHeaders"] == HEADERS
    assert client.get_app(appId=app_id)["app"]["customHeaders"] == HEADERS  # as stored
    branch = new_branch(client, app_id)
    files: dict[str, bytes | str] = {
        "index.html": "home",
        "top.json": "{}",
        "a/b/c.json": "[]",
        "docs/page.html": "doc",
        "docs/deep/page.html": "deep doc",
        "api/v1/data.txt": "api",
    }
    deploy(client, app_id, branch, make_zip(files))
    url = emulator.site_url(app_id, branch)
    assert url is not None

    home = get(url)
    assert home.headers.getlist("Cache-Control") == ["public, max-age=31536000, immutable"]  # replaces the default
    assert home.headers["X-Frame-Options"] == "DENY"
    assert "Access-Control-Allow-Origin" not in home.headers
    assert "X-Docs" not in home.headers
    for path in ("top.json", "a/b/c.json"):  # no leading slash: any depth; the later pattern wins
        answer = get(url + path)
        assert answer.headers.getlist("Cache-Control") == ["no-cache"], path
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert get(url + "docs/page.html").headers["X-Docs"] == "direct child"
    assert "X-Docs" not in get(url + "docs/deep/page.html").headers  # '*' stops at '/'
    assert get(url + "api/v1/data.txt").headers["X-Api-Version"] == "3"  # '**' crosses '/'
    rewritten = get(url + "some/route")  # custom rules still apply; headers follow the request path
    assert rewritten.data == b"home"
    assert rewritten.headers["X-Frame-Options"] == "DENY"
    assert "X-Api-Version" not in rewritten.headers
    head = HTTP.request("HEAD", url + "a/b/c.json")
    assert head.headers["Cache-Control"] == "no-cache"
    assert head.headers["Content-Length"] == "2"  # framing stays the server's

    # A change applies without a redeploy, to every answer (a 404 too); an empty one removes them.
    changed = "\n".join(
        [
            "customHeaders:",
            "  - pattern: '/'",
            "    headers: [{key: X-Root, value: yes-root}]",
            "  - pattern: '/missing/*'",
            "    headers: [{key: X-Missing, value: still}]",
        ]
    )
    client.update_app(appId=app_id, customHeaders=changed, customRules=[])
    assert get(url).headers["X-Root"] == "yes-root"
    assert "X-Root" not in get(url + "top.json").headers
    assert get(url + "top.json").headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    missing = get(url + "missing/page")
    assert missing.status == 404
    assert missing.headers["X-Missing"] == "still"
    client.update_app(appId=app_id, customHeaders="")
    assert "X-Root" not in get(url).headers


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("**/*", ["/", "/index.html", "/a/b/c.css"], []),
        ("**", ["/", "/a", "/a/b/"], []),
        ("*.json", ["/c.json", "/a/b/c.json"], ["/c.jsonp", "/json", "/a.json/x"]),
        ("/path/*", ["/path/x", "/path/"], ["/path", "/path/x/y", "/other/path/x"]),
        ("/**/*.js", ["/a.js", "/x/y/a.js"], ["/a.json"]),
        ("/assets/**", ["/assets/", "/assets/a/b.png"], ["/assets", "/x/assets/a"]),
        ("/a+b(c).txt", ["/a+b(c).txt"], ["/aab(c).txt", "/x/a+b(c).txt"]),
        ("docs/*.html", ["/docs/a.html", "/v1/docs/a.html"], ["/docs/a/b.html"]),
    ],
)
def test_custom_header_patterns_are_globs_on_the_path(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = compile_header_pattern(pattern)
    for path in matches:
        assert regex.fullmatch(path), (pattern, path)
    for path in misses:
        assert not regex.fullmatch(path), (pattern, path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("customHeaders:\n  - pattern: '**/*\n    headers: []\n", "not valid YAML"),
        ("- pattern: '**/*'\n  headers:\n    - key: A\n      value: b\n", "must be YAML of this form"),
        ("customHeaders: {pattern: x}\n", "must be a list"),
        ("customHeaders:\n  - pattern: '**/*'\n", "headers must be a non-empty list"),
        ("customHeaders:\n  - headers:\n      - key: A\n        value: b\n", "pattern must be a non-empty string"),
        ("customHeaders:\n  - pattern: '*'\n    headers:\n      - key: 'Bad Name'\n        value: b\n", "header name"),
        (
            "customHeaders:\n  - pattern: '*'\n    headers:\n      - key: A\n        value: \"x\\r\\nY: z\"\n",
            "line breaks",
        ),
        ("customHeaders:\n  - pattern: '*'\n    headers:\n      - key: A\n        value: [1]\n", "must be a string"),
        ("customHeaders:\n  - pattern: '*'\n    headers:\n      - {key: A}\n", "exactly 'key' and 'value'"),
        ("customHeaders: []\nextra: 1\n", "unknown top-level key"),
    ],
    ids=[
        "bad-yaml",
        "no-top-key",
        "not-a-list",
        "no-headers",
        "no-pattern",
        "bad-key",
        "crlf",
        "list-value",
        "no-value",
        "extra-key",
    ],
)
def test_malformed_custom_headers_are_refused(
    emulator: AmplifyEmulator, client: Any, app_id: str, text: str, fragment: str
) -> None:
    apps_before = len(client.list_apps()["apps"])
    with pytest.raises(client.exceptions.BadRequestException, match=fragment) as refused:
        client.create_app(name="bad-headers", customHeaders=text)
    assert refused.value.response["Error"]["Message"].startswith("customHeaders")
    assert len(client.list_apps()["apps"]) == apps_before

    good = "customHeaders:\n  - pattern: '**'\n    headers:\n      - key: X-Good\n        value: kept\n"
    client.update_app(appId=app_id, customHeaders=good)
    branch = new_branch(client, app_id)
    deploy(client, app_id, branch, make_zip({"index.html": "still up"}))
    with pytest.raises(client.exceptions.BadRequestException, match=fragment):
        client.update_app(appId=app_id, customHeaders=text, description="not applied either")
    app = client.get_app(appId=app_id)["app"]
    assert app["customHeaders"] == good
    assert app["description"] != "not applied either"  # a refused UpdateApp changes nothing
    url = emulator.site_url(app_id, branch)
    assert url is not None
    served = get(url)
    assert served.data == b"still up"
    assert served.headers["X-Good"] == "kept"


# -- faults and auth --------------------------------------------------------------------------------


def test_faults(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    emulator.faults.add("GetApp", status=429, retry_after=1)
    with pytest.raises(client.exceptions.LimitExceededException) as throttled:
        client.get_app(appId=app_id)
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert throttled.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"

    throttling: dict[str, object] = {"code": "ThrottlingException", "message": "Rate exceeded"}
    emulator.faults.add("ListApps", status=429, body=throttling)
    with pytest.raises(ClientError) as custom:
        client.list_apps()
    assert custom.value.response["Error"]["Code"] == "ThrottlingException"

    emulator.faults.add("GetApp", status=500)
    with pytest.raises(client.exceptions.InternalFailureException):
        client.get_app(appId=app_id)
    emulator.faults.add("any", status=503)
    with pytest.raises(client.exceptions.DependentServiceFailureException):
        client.get_app(appId=app_id)

    emulator.faults.add("GetApp", reset=True)
    with pytest.raises(BotoCoreError):
        client.get_app(appId=app_id)
    assert emulator.requests[-1].route == "GetApp"
    assert emulator.requests[-1].status == 0

    emulator.faults.add("GetApp", delay=0.3)
    begun = time.monotonic()
    client.get_app(appId=app_id)
    assert time.monotonic() - begun >= 0.3

    retrying = make_client(emulator, attempts=4)
    emulator.faults.add("GetApp", status=429, times=2)
    answered = retrying.get_app(appId=app_id)
    assert answered["ResponseMetadata"]["RetryAttempts"] == 2


def test_lost_answer_and_zip_upload_faults(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    # The job is created but the answer is lost: the retry meets the unfinished job.
    emulator.faults.add("CreateDeployment", status=500, after=True)
    with pytest.raises(client.exceptions.InternalFailureException):
        client.create_deployment(appId=app_id, branchName=branch)
    with pytest.raises(client.exceptions.BadRequestException, match="The last job 1 was not finished"):
        client.create_deployment(appId=app_id, branchName=branch)
    client.stop_job(appId=app_id, branchName=branch, jobId="1")
    wait_job(client, app_id, branch, "1")

    url = client.create_deployment(appId=app_id, branchName=branch)["zipUploadUrl"]
    archive = make_zip({"index.html": "ok"})
    emulator.faults.add("zip-upload", status=503)
    slow_down = HTTP.request("PUT", url, body=archive)
    assert slow_down.status == 503
    assert b"<Code>SlowDown</Code>" in slow_down.data
    emulator.faults.add("zip-upload", reset=True)
    with pytest.raises(urllib3.exceptions.HTTPError):
        HTTP.request("PUT", url, body=archive)
    assert HTTP.request("PUT", url, body=archive).status == 200
    client.start_deployment(appId=app_id, branchName=branch, jobId="2")
    assert wait_job(client, app_id, branch, "2")["summary"]["status"] == "SUCCEED"


def test_require_access_keys(emulator: AmplifyEmulator, app_id: str) -> None:
    emulator.require_access_keys = {"AKIAGOODKEY"}
    try:
        assert make_client(emulator, key="AKIAGOODKEY").get_app(appId=app_id)["app"]["appId"] == app_id
        bad = make_client(emulator, key="AKIABADKEY")
        with pytest.raises(ClientError) as refused:
            bad.get_app(appId=app_id)
        assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        emulator.unknown_key_error = "UnauthorizedException"
        with pytest.raises(bad.exceptions.UnauthorizedException):
            bad.get_app(appId=app_id)
        assert emulator.requests[-1].access_key_id == "AKIABADKEY"
        assert emulator.requests[-1].status == 401
    finally:
        emulator.require_access_keys = None
        emulator.unknown_key_error = "UnrecognizedClientException"
    assert make_client(emulator, key="anything").get_app(appId=app_id)["app"]["appId"] == app_id


def test_concurrent_deploys_on_many_branches(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branches = [new_branch(client, app_id) for _ in range(6)]
    results: dict[str, str] = {}

    def run(branch: str) -> None:
        own = make_client(emulator)
        job = deploy(own, app_id, branch, make_zip({"index.html": branch, "data.bin": BINARY}))
        results[branch] = job["summary"]["status"]

    threads = [threading.Thread(target=run, args=(b,)) for b in branches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == dict.fromkeys(branches, "SUCCEED")
    urls = {emulator.site_url(app_id, b) for b in branches}
    assert len(urls) == len(branches)  # one port per branch
    for branch in branches:
        url = emulator.site_url(app_id, branch)
        assert url is not None
        assert get(url).data == branch.encode()


def test_reset_forgets_branches_but_keeps_apps(client: Any) -> None:
    with AmplifyEmulator(job_step_seconds=STEP) as em:
        own = make_client(em)
        app = em.create_app_directly("kept")
        branch = new_branch(own, app)
        deploy(own, app, branch, make_zip({"index.html": "x"}))
        url = em.site_url(app, branch)
        assert url is not None
        em.faults.add("GetApp", status=500, times=None)
        em.reset()
        assert em.requests == []
        assert own.get_app(appId=app)["app"]["name"] == "kept"  # the fault rule is gone too
        assert own.list_branches(appId=app)["branches"] == []
        assert em.site_url(app, branch) is None
        with pytest.raises(urllib3.exceptions.HTTPError):
            get(url)


# -- custom domains ---------------------------------------------------------------------------------


def domain() -> str:
    return f"d{uuid.uuid4().hex[:10]}.example"


def by_host(emulator: AmplifyEmulator, host: str, path: str = "/") -> urllib3.BaseHTTPResponse:
    """A visitor whose DNS sends ``host`` to the emulator's custom-domain port."""
    return HTTP.request(
        "GET", f"http://127.0.0.1:{emulator.domains_port}{path}", headers={"Host": host}, redirect=False
    )


def record(text: str) -> tuple[str, str, str]:
    """Amplify's ``"<name> <TYPE> <value>"`` (the apex's name is empty: a leading space)."""
    name, kind, value = text.split(" ", 2)
    return name, kind, value


def validate(emulator: AmplifyEmulator, association: dict[str, Any]) -> None:
    """Create the certificate's validation CNAME, as its owner would at their DNS provider."""
    name, kind, value = record(association["certificate"]["certificateVerificationDNSRecord"])
    assert kind == "CNAME"
    emulator.dns.add(name, "CNAME", value)


def wait_domain(client: Any, app: str, name: str, status: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = client.get_domain_association(appId=app, domainName=name)["domainAssociation"]
        if found["domainStatus"] == status:
            return found
        assert time.monotonic() < deadline, f"{name} still {found['domainStatus']}"
        time.sleep(0.05)


def test_domain_associations_answer_in_botocore_shapes(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    name = domain()
    settings = [{"prefix": "", "branchName": branch}, {"prefix": "www", "branchName": branch}]
    created = client.create_domain_association(appId=app_id, domainName=name, subDomainSettings=settings)
    assert_shape("CreateDomainAssociation", created)
    association = created["domainAssociation"]
    assert association["domainAssociationArn"] == f"arn:aws:amplify:us-east-1:123456789012:apps/{app_id}/domains/{name}"
    assert association["domainStatus"] == "PENDING_VERIFICATION"
    assert association["statusReason"] == ""
    assert association["certificate"]["type"] == "AMPLIFY_MANAGED"
    assert (
        association["certificateVerificationDNSRecord"]
        == association["certificate"]["certificateVerificationDNSRecord"]
    )
    cert_name, _, cert_value = record(association["certificateVerificationDNSRecord"])
    assert cert_name.startswith("_")
    assert cert_name.endswith(f".{name}.")  # ACM's form: both sides fully qualified
    assert cert_value.endswith(".acm-validations.aws.")
    apex, www = association["subDomains"]
    target = record(www["dnsRecord"])[2]
    assert re.fullmatch(r"d[a-z0-9]{13}\.cloudfront\.net", target)
    assert www["dnsRecord"] == f"www CNAME {target}"
    assert apex["dnsRecord"] == f" CNAME {target}"  # the apex: an empty name
    assert [s["verified"] for s in association["subDomains"]] == [False, False]
    assert set(association) <= members("DomainAssociation")

    assert_shape("GetDomainAssociation", client.get_domain_association(appId=app_id, domainName=name))
    listed = client.list_domain_associations(appId=app_id)
    assert_shape("ListDomainAssociations", listed)
    assert [a["domainName"] for a in listed["domainAssociations"]] == [name]
    updated = client.update_domain_association(
        appId=app_id, domainName=name, subDomainSettings=[{"prefix": "www", "branchName": branch}]
    )
    assert_shape("UpdateDomainAssociation", updated)
    assert [s["subDomainSetting"]["prefix"] for s in updated["domainAssociation"]["subDomains"]] == ["www"]
    deleted = client.delete_domain_association(appId=app_id, domainName=name)
    assert_shape("DeleteDomainAssociation", deleted)
    assert deleted["domainAssociation"]["domainName"] == name
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_domain_association(appId=app_id, domainName=name)
    with pytest.raises(client.exceptions.NotFoundException):
        client.delete_domain_association(appId=app_id, domainName=name)


def test_domain_association_requests_are_checked(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    name = domain()
    one = [{"prefix": "www", "branchName": branch}]

    def refused(error: Any, match: str | None = None, **kwargs: Any) -> None:
        with pytest.raises(error, match=match):
            client.create_domain_association(
                **{"appId": app_id, "domainName": name, "subDomainSettings": one, **kwargs}
            )

    bad_request = client.exceptions.BadRequestException
    refused(bad_request, domainName="localhost")  # botocore checks no pattern: the service does
    refused(bad_request, domainName="-bad.example")
    refused(bad_request, domainName=f"{'a' * 60}.example")  # over 64 characters
    refused(bad_request, subDomainSettings=[])
    refused(bad_request, subDomainSettings=[{"prefix": "a b", "branchName": branch}])
    refused(bad_request, "more than once", subDomainSettings=[*one, *one])
    refused(client.exceptions.NotFoundException, "Branch", subDomainSettings=[{"prefix": "", "branchName": "nope"}])
    refused(bad_request, certificateSettings={"type": "CUSTOM"})
    refused(bad_request, certificateSettings={"type": "CUSTOM", "customCertificateArn": "arn:aws:acm:x"})
    refused(bad_request, autoSubDomainIAMRole="not-a-role")
    with pytest.raises(client.exceptions.NotFoundException):
        client.create_domain_association(appId="dnotthereatall1", domainName=name, subDomainSettings=one)
    many = [{"prefix": f"p{i}", "branchName": branch} for i in range(51)]
    refused(bad_request, "Too many sub domains", subDomainSettings=many)
    assert client.list_domain_associations(appId=app_id)["domainAssociations"] == []  # nothing half-made

    client.create_domain_association(appId=app_id, domainName=name.upper(), subDomainSettings=one)
    refused(bad_request, "already associated")  # the same domain twice on one app
    with pytest.raises(bad_request):
        client.update_domain_association(
            appId=app_id, domainName=name, subDomainSettings=[{"prefix": "-x", "branchName": branch}]
        )
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    with pytest.raises(bad_request, match="certificate"):
        client.update_domain_association(
            appId=app_id, domainName=name, certificateSettings={"type": "CUSTOM", "customCertificateArn": arn}
        )
    with pytest.raises(bad_request):
        client.list_domain_associations(appId=app_id, maxResults=51)
    assert client.get_domain_association(appId=app_id, domainName=name)["domainAssociation"]["domainName"] == name


def test_five_domains_per_app_and_one_app_per_hostname(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    names = [domain() for _ in range(6)]
    for name in names[:5]:
        client.create_domain_association(
            appId=app_id, domainName=name, subDomainSettings=[{"prefix": "www", "branchName": branch}]
        )
    with pytest.raises(client.exceptions.LimitExceededException, match="maximum number of custom domains") as limit:
        client.create_domain_association(
            appId=app_id, domainName=names[5], subDomainSettings=[{"prefix": "", "branchName": branch}]
        )
    assert limit.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    listed = client.list_domain_associations(appId=app_id, maxResults=2)
    assert len(listed["domainAssociations"]) == 2
    assert "nextToken" in listed
    pages = client.get_paginator("list_domain_associations").paginate(appId=app_id, PaginationConfig={"PageSize": 2})
    assert sorted(a["domainName"] for page in pages for a in page["domainAssociations"]) == sorted(names[:5])

    other = emulator.create_app_directly(f"test-{uuid.uuid4().hex[:8]}")
    try:
        theirs = new_branch(client, other)
        with pytest.raises(client.exceptions.BadRequestException, match="already associated with another Amplify app"):
            client.create_domain_association(
                appId=other,
                domainName=names[0],
                subDomainSettings=[{"prefix": "", "branchName": theirs}, {"prefix": "www", "branchName": theirs}],
            )
        with pytest.raises(client.exceptions.BadRequestException, match=f"www.{names[1]}"):
            client.create_domain_association(
                appId=other, domainName=f"www.{names[1]}", subDomainSettings=[{"prefix": "", "branchName": theirs}]
            )
        # Another hostname of the same domain is free for another app: uniqueness is per hostname.
        blog = client.create_domain_association(
            appId=other, domainName=names[0], subDomainSettings=[{"prefix": "blog", "branchName": theirs}]
        )
        assert blog["domainAssociation"]["domainAssociationArn"].endswith(f"apps/{other}/domains/{names[0]}")
        with pytest.raises(client.exceptions.BadRequestException, match="already associated"):
            client.update_domain_association(
                appId=app_id,
                domainName=names[0],
                subDomainSettings=[{"prefix": "www", "branchName": branch}, {"prefix": "blog", "branchName": branch}],
            )
    finally:
        client.delete_app(appId=other)
    # The other app's associations went with it: its hostname is free again.
    client.update_domain_association(
        appId=app_id,
        domainName=names[0],
        subDomainSettings=[{"prefix": "www", "branchName": branch}, {"prefix": "blog", "branchName": branch}],
    )


def test_domain_lifecycle_follows_the_dns_and_serves_by_host(
    emulator: AmplifyEmulator, client: Any, app_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "creating_seconds", 0.3)
    monkeypatch.setattr(emulator, "certificate_seconds", 0.3)
    branch = new_branch(client, app_id)
    deploy(client, app_id, branch, make_zip({"index.html": "<h1>own domain</h1>", "a/index.html": "a"}))
    name = domain()
    settings = [{"prefix": "www", "branchName": branch}, {"prefix": "", "branchName": branch}]
    creating = client.create_domain_association(appId=app_id, domainName=name, subDomainSettings=settings)
    association = creating["domainAssociation"]
    # What Amplify answers first: no certificate record yet, no target yet.
    assert association["domainStatus"] == "CREATING"
    assert "certificateVerificationDNSRecord" not in association
    assert "certificateVerificationDNSRecord" not in association["certificate"]
    assert association["subDomains"][0]["dnsRecord"] == "www CNAME <pending>"

    association = wait_domain(client, app_id, name, "PENDING_VERIFICATION")
    target = record(association["subDomains"][0]["dnsRecord"])[2]
    emulator.dns.add(f"www.{name}", "CNAME", target)  # routing first: nothing happens without the certificate
    time.sleep(0.35)
    waiting = client.get_domain_association(appId=app_id, domainName=name)["domainAssociation"]
    assert waiting["domainStatus"] == "PENDING_VERIFICATION"
    assert by_host(emulator, f"www.{name}").status == 404

    validate(emulator, association)
    deploying = client.get_domain_association(appId=app_id, domainName=name)["domainAssociation"]
    assert deploying["domainStatus"] == "PENDING_DEPLOYMENT"
    assert by_host(emulator, f"www.{name}").status == 404
    available = wait_domain(client, app_id, name, "AVAILABLE")
    assert [s["verified"] for s in available["subDomains"]] == [True, False]  # the apex has no record yet
    assert "updateStatus" not in available
    served = by_host(emulator, f"www.{name}")
    assert served.status == 200
    assert served.data == b"<h1>own domain</h1>"
    assert by_host(emulator, f"WWW.{name}.:443", "/a/").data == b"a"  # Host is case-insensitive, port ignored
    assert by_host(emulator, name).status == 404

    emulator.dns.add(name, "ALIAS", target)  # the apex: an ALIAS/ANAME to the same target
    assert client.get_domain_association(appId=app_id, domainName=name)["domainAssociation"]["subDomains"][1][
        "verified"
    ]
    assert by_host(emulator, name).data == b"<h1>own domain</h1>"

    # Adding a subdomain to an available association: UPDATING a while; the live hostnames stay live.
    more = [*settings, {"prefix": "shop", "branchName": branch}]
    updating = client.update_domain_association(appId=app_id, domainName=name, subDomainSettings=more)
    assert updating["domainAssociation"]["domainStatus"] == "UPDATING"
    assert updating["domainAssociation"]["updateStatus"] == "PENDING_DEPLOYMENT"
    assert by_host(emulator, f"www.{name}").status == 200
    done = wait_domain(client, app_id, name, "AVAILABLE")
    assert done["updateStatus"] == "UPDATE_COMPLETE"
    assert [s["verified"] for s in done["subDomains"]] == [True, True, False]
    emulator.dns.add(f"shop.{name}", "CNAME", "somewhere-else.example")  # a record to another target: no
    assert by_host(emulator, f"shop.{name}").status == 404

    emulator.dns.remove(f"www.{name}")  # traffic no longer comes: nothing answers for it
    assert by_host(emulator, f"www.{name}").status == 404
    client.delete_domain_association(appId=app_id, domainName=name)
    assert by_host(emulator, name).status == 404


def test_a_new_association_has_a_new_target(emulator: AmplifyEmulator, client: Any, app_id: str) -> None:
    branch = new_branch(client, app_id)
    name = domain()
    settings = [{"prefix": "www", "branchName": branch}]
    first = client.create_domain_association(appId=app_id, domainName=name, subDomainSettings=settings)
    client.delete_domain_association(appId=app_id, domainName=name)
    again = client.create_domain_association(appId=app_id, domainName=name, subDomainSettings=settings)
    old, new = (a["domainAssociation"]["subDomains"][0]["dnsRecord"] for a in (first, again))
    assert old != new  # records made for the old one no longer verify
    assert (
        first["domainAssociation"]["certificateVerificationDNSRecord"]
        != again["domainAssociation"]["certificateVerificationDNSRecord"]
    )


def test_domains_fail_past_the_deadline_or_when_told(
    emulator: AmplifyEmulator, client: Any, app_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "domain_deadline_seconds", 0.2)
    branch = new_branch(client, app_id)
    late, told = domain(), domain()
    for name in (late, told):
        client.create_domain_association(
            appId=app_id, domainName=name, subDomainSettings=[{"prefix": "", "branchName": branch}]
        )
    failed = wait_domain(client, app_id, late, "FAILED")
    assert "could not be verified" in failed["statusReason"]
    validate(emulator, failed)  # too late: FAILED is final
    assert client.get_domain_association(appId=app_id, domainName=late)["domainAssociation"]["domainStatus"] == "FAILED"

    emulator.fail_domain(
        app_id, told, "One or more of the CNAMEs you provided are already associated with a different resource."
    )
    reported = client.get_domain_association(appId=app_id, domainName=told)["domainAssociation"]
    assert reported["domainStatus"] == "FAILED"
    assert reported["statusReason"].startswith("One or more of the CNAMEs")


def test_custom_certificate_needs_no_validation_record(
    emulator: AmplifyEmulator, client: Any, app_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each phase lasts this long: long enough for a poll on a busy machine to see PENDING_DEPLOYMENT
    # (at 0.2 s a poll once went from IMPORTING_CUSTOM_CERTIFICATE straight to AVAILABLE).
    monkeypatch.setattr(emulator, "certificate_seconds", 1.0)
    branch = new_branch(client, app_id)
    name = domain()
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0123-abcd"
    created = client.create_domain_association(
        appId=app_id,
        domainName=name,
        subDomainSettings=[{"prefix": "www", "branchName": branch}],
        certificateSettings={"type": "CUSTOM", "customCertificateArn": arn},
    )["domainAssociation"]
    assert created["domainStatus"] == "IMPORTING_CUSTOM_CERTIFICATE"
    assert created["certificate"] == {"type": "CUSTOM", "customCertificateArn": arn}
    assert "certificateVerificationDNSRecord" not in created
    wait_domain(client, app_id, name, "PENDING_DEPLOYMENT")
    wait_domain(client, app_id, name, "AVAILABLE")


def test_deleting_a_branch_or_the_app_drops_its_domains(emulator: AmplifyEmulator, client: Any) -> None:
    app = emulator.create_app_directly(f"test-{uuid.uuid4().hex[:8]}")
    kept, dropped = new_branch(client, app), new_branch(client, app)
    shared, alone = domain(), domain()
    client.create_domain_association(
        appId=app,
        domainName=shared,
        subDomainSettings=[{"prefix": "www", "branchName": kept}, {"prefix": "old", "branchName": dropped}],
    )
    client.create_domain_association(
        appId=app, domainName=alone, subDomainSettings=[{"prefix": "", "branchName": dropped}]
    )
    client.delete_branch(appId=app, branchName=dropped)
    left = client.list_domain_associations(appId=app)["domainAssociations"]
    assert [a["domainName"] for a in left] == [shared]
    assert [s["subDomainSetting"]["prefix"] for s in left[0]["subDomains"]] == ["www"]
    client.delete_app(appId=app)
    assert emulator.domain_association(app, shared) is None
    other = emulator.create_app_directly(f"test-{uuid.uuid4().hex[:8]}")
    try:  # the hostnames are free for another app
        branch = new_branch(client, other)
        client.create_domain_association(
            appId=other, domainName=shared, subDomainSettings=[{"prefix": "www", "branchName": branch}]
        )
    finally:
        client.delete_app(appId=other)
