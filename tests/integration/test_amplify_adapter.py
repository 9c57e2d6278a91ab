"""The Amplify adapter against the emulator, with the real boto3 client: branches, jobs, the zip,
the SPA rule and the quota."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

import boto3
import botocore.loaders
import pytest
import urllib3
from botocore.config import Config
from pydantic import SecretStr

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.domain.sitefiles import content_type
from sitedeploy.platforms.amplify.client import AmplifyError, amplify_client
from sitedeploy.platforms.amplify.credentials import AmplifyAccess, AmplifyKeys
from sitedeploy.platforms.amplify.platform import AmplifyPlatform
from sitedeploy.platforms.amplify.publisher import AmplifyPublisher, AmplifyTarget
from sitedeploy.platforms.amplify.routing import SPA_RULE, routing_profile
from sitedeploy.platforms.base import PlatformError, SiteFile
from sitedeploy.settings import Settings
from sitedeploy_local.emulators.amplify import AmplifyEmulator
from sitedeploy_local.stack import LocalStack
from tests.fakes.stores import FakeServiceSecret

# A single-page app's routing: every unknown path answers index.html.
SPA = routing_profile(redirects_text=None, headers_text=None, spa=True, paths={"index.html"})


@pytest.fixture
def emulator(stack: LocalStack) -> Iterator[AmplifyEmulator]:
    stack.amplify.reset()
    yield stack.amplify
    stack.amplify.faults.clear()


@pytest.fixture
def app_id(emulator: AmplifyEmulator) -> str:
    return emulator.create_app_directly(f"adapter-{uuid.uuid4().hex[:6]}")


def _publisher(emulator: AmplifyEmulator) -> AmplifyPublisher:
    """A user's keys; the endpoint comes from AWS_ENDPOINT_URL_AMPLIFY, as in the functions."""
    client = amplify_client(AmplifyAccess("us-east-1", "AKIAADAPTERTESTS0001", SecretStr("x")))
    assert client.meta.endpoint_url == emulator.endpoint_url
    return AmplifyPublisher(client, backoff=0.1, branch_wait_seconds=20)


def _site() -> dict[str, bytes]:
    return {
        "index.html": b"<!doctype html><h1>amplify</h1>",
        "about/index.html": b"<h1>about</h1>",
        "assets/logo.png": os.urandom(30_000),
        "assets/app.js": b"console.log('a')" * 50,
    }


def _files(site: dict[str, bytes]) -> list[SiteFile]:
    return [SiteFile(p, hashlib.sha256(d).hexdigest(), len(d), content_type(p)) for p, d in sorted(site.items())]


def _reader(site: dict[str, bytes]) -> Callable[[SiteFile], Iterator[bytes]]:
    return lambda f: iter([site[f.path]])


def _wait(publisher: AmplifyPublisher, target: AmplifyTarget, job_id: str) -> DeploymentStatus:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = publisher.job(target, job_id)
        if state.status is not DeploymentStatus.BUILDING:
            return state.status
        time.sleep(0.1)
    raise AssertionError("job never finished")


def test_clients_sign_as_their_keys_in_their_region_and_parse_no_model_again(
    emulator: AmplifyEmulator, app_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every status poll of an Amplify deployment makes a client: from the one session, not a
    session of its own that parses botocore's models again (70-150 ms of CPU each)."""
    amplify_client(AmplifyAccess("us-east-1", "AKIAWARMSTHESESSION1", SecretStr("w")))  # the first parses them
    reads: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted(self: botocore.loaders.JSONFileLoader, path: str) -> Any:
        reads.append(path)
        return load_file(self, path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    first = amplify_client(AmplifyAccess("eu-west-1", "AKIAFIRSTUSERKEYS001", SecretStr("one")))
    second = amplify_client(
        AmplifyAccess("us-west-2", "AKIASECONDUSERKEYS01", SecretStr("two"), SecretStr("token")), quick=True
    )
    role = amplify_client(AmplifyAccess("us-east-1"))  # no keys: the function's own role
    assert reads == []
    assert [c.meta.region_name for c in (first, second, role)] == ["eu-west-1", "us-west-2", "us-east-1"]
    assert (first.meta.config.read_timeout, second.meta.config.read_timeout) == (30, 3)
    before = len(emulator.requests)
    for client in (first, second, role):
        client.get_app(appId=app_id)
    signed = [r.access_key_id for r in emulator.requests[before:]]
    assert signed == ["AKIAFIRSTUSERKEYS001", "AKIASECONDUSERKEYS01", os.environ["AWS_ACCESS_KEY_ID"]]


def test_keys_without_their_secret_are_refused_never_checked_as_the_function_s_own_role(
    emulator: AmplifyEmulator,
) -> None:
    """A client without keys signs as the function's role: connecting a user's keys must never get
    there, or the service's own account would be reported as the user's."""
    platform = AmplifyPlatform(Settings(), FakeServiceSecret({}))
    keys = AmplifyKeys.model_construct(
        access_key_id="AKIAEMPTYSECRET00001", secret_access_key=SecretStr(""), region="us-east-1"
    )  # past validation, which refuses it on the way in
    before = len(emulator.requests)
    with pytest.raises(PlatformError, match="keys are required"):
        platform.verify(keys)
    assert len(emulator.requests) == before


def test_happy_path_creates_branch_uploads_zip_and_serves_bytes(emulator: AmplifyEmulator, app_id: str) -> None:
    site = _site()
    publisher = _publisher(emulator)
    target = AmplifyTarget(app_id, "sd-happy-1")
    result = publisher.publish(target, _files(site), _reader(site))
    assert result.url == f"https://sd-happy-1.{app_id}.amplifyapp.com"
    assert result.external_id
    assert _wait(publisher, target, result.external_id) is DeploymentStatus.READY
    branch = emulator.branch(app_id, "sd-happy-1")
    assert branch is not None
    assert branch["enableAutoBuild"] is False
    base = emulator.site_url(app_id, "sd-happy-1")
    assert base
    for path, data in site.items():
        served = "/" + path.removesuffix("index.html")
        assert urllib3.request("GET", base.rstrip("/") + served).data == data


def test_existing_branch_is_reused(emulator: AmplifyEmulator, app_id: str) -> None:
    site = _site()
    publisher = _publisher(emulator)
    target = AmplifyTarget(app_id, "sd-again")
    first = publisher.publish(target, _files(site), _reader(site))
    assert first.external_id
    _wait(publisher, target, first.external_id)
    site["assets/app.js"] = b"changed"
    second = publisher.publish(target, _files(site), _reader(site))
    assert second.external_id
    assert second.external_id != first.external_id
    assert _wait(publisher, target, second.external_id) is DeploymentStatus.READY
    creates = [r for r in emulator.requests if r.route == "CreateBranch"]
    assert len(creates) == 1


def test_an_unfinished_job_is_stopped_first(emulator: AmplifyEmulator, app_id: str) -> None:
    site = _site()
    publisher = _publisher(emulator)
    target = AmplifyTarget(app_id, "sd-busy")
    first = publisher.publish(target, _files(site), _reader(site))
    second = publisher.publish(target, _files(site), _reader(site))  # first still running
    assert second.external_id
    assert first.external_id
    job = emulator.job(app_id, "sd-busy", first.external_id)
    assert job is not None
    assert job["summary"]["status"] == "CANCELLED"
    assert _wait(publisher, target, second.external_id) is DeploymentStatus.READY


def test_a_branch_being_deleted_is_waited_for(emulator: AmplifyEmulator, app_id: str) -> None:
    site = _site()
    publisher = _publisher(emulator)
    target = AmplifyTarget(app_id, "sd-phoenix")
    first = publisher.publish(target, _files(site), _reader(site))
    assert first.external_id
    _wait(publisher, target, first.external_id)
    assert publisher.delete_branch(target) is True
    started = time.monotonic()
    again = publisher.publish(target, _files(site), _reader(site))
    assert time.monotonic() - started >= 0.5  # it had to wait for the deletion to finish
    assert again.external_id
    assert _wait(publisher, target, again.external_id) is DeploymentStatus.READY
    assert publisher.delete_branch(AmplifyTarget(app_id, "sd-never-was")) is False


@pytest.mark.parametrize("fault", [{"status": 503}, {"reset": True}])
def test_a_zip_upload_that_fails_once_is_sent_again_whole(
    emulator: AmplifyEmulator, app_id: str, fault: dict[str, Any]
) -> None:
    """The zip is sent from memory: the retry sends it again from its first byte (a body sent from
    where the failed attempt stopped would be a broken zip, and the job would fail)."""
    rule = emulator.faults.add("zip-upload", times=1, **fault)
    site = _site()
    publisher = _publisher(emulator)
    target = AmplifyTarget(app_id, "sd-upload-again")
    result = publisher.publish(target, _files(site), _reader(site))
    assert rule.hits == 1
    assert result.external_id
    assert _wait(publisher, target, result.external_id) is DeploymentStatus.READY


def test_the_zip_is_built_while_the_deployment_is_being_created(emulator: AmplifyEmulator, app_id: str) -> None:
    """Reading and zipping the files does not wait for Amplify's round trips (the app, the branch,
    its jobs, create_deployment: here each a quarter second slower than on the loopback)."""
    emulator.faults.add("any", delay=0.25, times=None)
    site = _site()
    publisher = _publisher(emulator)
    created: list[bool] = []
    seen: list[bool] = []
    create = publisher._create_deployment

    def creating(target: AmplifyTarget) -> dict[str, Any]:
        answer = create(target)
        created.append(True)
        return answer

    def reader(site_file: SiteFile) -> Iterator[bytes]:
        seen.append(bool(created))
        return iter([site[site_file.path]])

    publisher._create_deployment = creating  # type: ignore[method-assign]
    target = AmplifyTarget(app_id, "sd-zip-early")
    result = publisher.publish(target, _files(site), reader)
    emulator.faults.clear()
    assert seen[0] is False  # the first file was read before the deployment existed
    assert len(seen) == len(site)
    assert _wait(publisher, target, str(result.external_id)) is DeploymentStatus.READY


def test_a_failure_before_the_job_exists_stops_the_zip_and_creates_no_job(
    emulator: AmplifyEmulator, app_id: str
) -> None:
    """create_deployment refused: no job is left on the branch, the zip's builder stops reading
    and is gone, and nothing it spooled stays behind."""
    emulator.faults.add("CreateDeployment", status=400, times=None)
    site = {f"page{i}.html": f"<p>{i}</p>".encode() * 100 for i in range(200)} | {"index.html": b"<h1>i</h1>"}
    publisher = _publisher(emulator)
    refused = threading.Event()
    reads: list[str] = []
    create = publisher._create_deployment

    def creating(target: AmplifyTarget) -> dict[str, Any]:
        try:
            return create(target)
        finally:
            refused.set()

    def reader(site_file: SiteFile) -> Iterator[bytes]:
        assert refused.wait(10)  # every read waits for the refusal: what happens after it is counted
        reads.append(site_file.path)
        return iter([site[site_file.path]])

    publisher._create_deployment = creating  # type: ignore[method-assign]
    target = AmplifyTarget(app_id, "sd-refused-early")
    with pytest.raises(AmplifyError, match="creating the deployment"):
        publisher.publish(target, _files(site), reader)
    emulator.faults.clear()
    assert len(reads) < 20  # the read-ahead window, not the 201 files
    assert publisher.client.list_jobs(appId=app_id, branchName="sd-refused-early")["jobSummaries"] == []
    assert not [t for t in threading.enumerate() if t.name.startswith("amplify-zip")]


def test_an_upload_failure_stops_the_job(emulator: AmplifyEmulator, app_id: str) -> None:
    emulator.faults.add("zip-upload", status=500, times=None)
    site = _site()
    publisher = _publisher(emulator)
    target = AmplifyTarget(app_id, "sd-broken-upload")
    with pytest.raises(AmplifyError, match="uploading the zip"):
        publisher.publish(target, _files(site), _reader(site))
    emulator.faults.clear()
    jobs = publisher.client.list_jobs(appId=app_id, branchName="sd-broken-upload")["jobSummaries"]
    assert jobs
    assert jobs[0]["status"] in {"CANCELLING", "CANCELLED"}
    result = publisher.publish(target, _files(site), _reader(site))  # the branch is not blocked
    assert result.external_id
    assert _wait(publisher, target, result.external_id) is DeploymentStatus.READY


def test_the_zip_has_its_files_at_the_root(emulator: AmplifyEmulator, app_id: str) -> None:
    captured: list[bytes] = []
    original = AmplifyPublisher.upload_zip

    def spy(self: AmplifyPublisher, url: str, body: IO[bytes], size: int) -> None:
        captured.append(body.read())
        original(self, url, body, size)

    AmplifyPublisher.upload_zip = spy  # type: ignore[method-assign]
    try:
        site = _site()
        publisher = _publisher(emulator)
        publisher.publish(AmplifyTarget(app_id, "sd-zip-root"), _files(site), _reader(site))
    finally:
        AmplifyPublisher.upload_zip = original  # type: ignore[method-assign]
    with zipfile.ZipFile(io.BytesIO(captured[0])) as archive:
        assert sorted(archive.namelist()) == sorted(site)
        assert "index.html" in archive.namelist()


def test_spa_rule_is_merged_not_clobbered(emulator: AmplifyEmulator, app_id: str) -> None:
    publisher = _publisher(emulator)
    existing = {"source": "/old", "target": "/new", "status": "301"}
    publisher.client.update_app(appId=app_id, customRules=[existing])
    site = _site()
    target = AmplifyTarget(app_id, "sd-spa")
    result = publisher.publish(target, _files(site), _reader(site), routing=SPA)
    assert result.external_id
    rules = publisher.client.get_app(appId=app_id)["app"]["customRules"]
    assert rules == [SPA_RULE, existing]  # the site's rules first; the app's own are kept
    publisher.publish(target, _files(site), _reader(site), routing=SPA)
    assert publisher.client.get_app(appId=app_id)["app"]["customRules"] == [SPA_RULE, existing]  # not twice
    second = publisher.publish(target, _files(site), _reader(site), routing=SPA)
    assert second.external_id
    _wait(publisher, target, second.external_id)
    base = emulator.site_url(app_id, "sd-spa")
    assert base
    assert urllib3.request("GET", base + "some/client/route").data == site["index.html"]


def test_the_branch_quota_is_surfaced_clearly(stack: LocalStack) -> None:
    small = AmplifyEmulator(max_branches_per_app=2, job_step_seconds=0.05)
    small.start()
    try:
        app = small.create_app_directly("quota")
        raw = boto3.client(
            "amplify",
            endpoint_url=small.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
            config=Config(retries={"total_max_attempts": 1}),
        )
        publisher = AmplifyPublisher(raw, backoff=0.05)
        site = _site()
        for name in ("sd-a", "sd-b"):
            publisher.publish(AmplifyTarget(app, name), _files(site), _reader(site))
        with pytest.raises(AmplifyError) as refused:
            publisher.publish(AmplifyTarget(app, "sd-c"), _files(site), _reader(site))
        assert "quota" in refused.value.message
        assert refused.value.code == "LimitExceededException"
    finally:
        small.stop()


def test_invalid_branch_name_is_refused(emulator: AmplifyEmulator, app_id: str) -> None:
    site = _site()
    with pytest.raises(AmplifyError, match="not a valid branch name"):
        _publisher(emulator).publish(AmplifyTarget(app_id, "Bad_Branch"), _files(site), _reader(site))
