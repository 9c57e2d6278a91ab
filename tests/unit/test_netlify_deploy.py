"""NetlifyDeployer's decisions against a scripted API: what a failed poll after the uploads means."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.platforms.base import SiteConfig, SiteFile
from sitedeploy.platforms.netlify.api import NetlifyApi, NetlifyError
from sitedeploy.platforms.netlify.deploy import NetlifyDeployer, NetlifyTarget

INDEX = SiteFile("index.html", "0" * 64, 5, "text/html")


class ScriptedApi(NetlifyApi):
    """Answers each call from the script; reading the deploy after the upload fails with ``poll_error``."""

    def __init__(self, poll_error: NetlifyError) -> None:
        super().__init__(SecretStr("t"), base_url="http://127.0.0.1:9")
        self.poll_error = poll_error
        self.uploaded = False
        self.calls: list[str] = []

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        self.calls.append(f"{method} {path}")
        if method == "GET" and path.startswith("/sites/"):
            return 200, {"id": "site-1", "account_slug": "team", "ssl_url": "https://s.netlify.app"}
        if method == "POST" and path == "/sites/site-1/deploys":
            return 200, {"id": "dep-1", "state": "prepared", "required": ["a" * 40]}
        if method == "PUT":
            self.uploaded = True
            return 200, {}
        if method == "GET" and path == "/deploys/dep-1" and self.uploaded:
            raise self.poll_error
        raise AssertionError(f"unexpected call {method} {path}")


def _publish(api: ScriptedApi) -> Any:
    deployer = NetlifyDeployer(api, follow_seconds=5.0, sleep=lambda _: None)
    return deployer.publish(
        NetlifyTarget("team", "s"),
        [INDEX],
        SiteConfig(spa=False),
        lambda _: iter([b"hello"]),
        sha1s=lambda files: {INDEX.sha256: "a" * 40},
    )


@pytest.mark.parametrize("status", [None, 429, 502])
def test_a_poll_that_fails_after_the_uploads_leaves_the_deploy_to_refresh(status: int | None) -> None:
    """Every file is in and Netlify goes on processing: failing the deployment here would record an
    error for a site that then goes live."""
    api = ScriptedApi(NetlifyError("reading the deploy failed: ProtocolError after 5 attempts", status=status))
    published = _publish(api)
    assert published.status is DeploymentStatus.BUILDING
    assert published.external_id == "dep-1"
    assert published.uploaded_files == 1
    assert api.calls.count("GET /deploys/dep-1") == 1


def test_a_poll_refused_outright_still_fails() -> None:
    api = ScriptedApi(NetlifyError("reading the deploy failed: Not Found (HTTP 404)", status=404))
    with pytest.raises(NetlifyError, match="Not Found"):
        _publish(api)


class PreparingApi(NetlifyApi):
    """A deploy that is ``preparing`` when created and ``prepared`` from the ``ready_on``-th read."""

    def __init__(self, ready_on: int, events: list[str]) -> None:
        super().__init__(SecretStr("t"), base_url="http://127.0.0.1:9")
        self.ready_on = ready_on
        self.reads = 0
        self.events = events

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        if method == "POST":
            self.events.append("create")
            return 200, {"id": "dep-1", "state": "prepared" if self.ready_on == 0 else "preparing", "required": []}
        self.events.append("read")
        self.reads += 1
        state = "prepared" if self.reads >= self.ready_on else "preparing"
        return 200, {"id": "dep-1", "state": state, "required": []}


@pytest.mark.parametrize("ready_on", [1, 2, 4])
def test_the_poll_that_finds_the_deploy_prepared_ends_the_wait(ready_on: int) -> None:
    """Each read comes after a wait and the read that answers ``prepared`` ends it: no wait after
    it (with Netlify's ~1 s polls, that is a second on every deploy), and no read straight after the
    create that answered ``preparing`` (it could only answer the same)."""
    events: list[str] = []
    api = PreparingApi(ready_on, events)
    deployer = NetlifyDeployer(api, sleep=lambda seconds: events.append("sleep"))
    deploy = deployer.wait_prepared(deployer.create_deploy("site-1", {"/index.html": "a" * 40}))
    assert deploy["state"] == "prepared"
    assert events == ["create"] + ["sleep", "read"] * ready_on


def test_a_deploy_created_prepared_is_not_read_again() -> None:
    events: list[str] = []
    api = PreparingApi(0, events)
    deployer = NetlifyDeployer(api, sleep=lambda seconds: events.append("sleep"))
    deployer.wait_prepared(deployer.create_deploy("site-1", {"/index.html": "a" * 40}))
    assert events == ["create"]


class RecordingApi(NetlifyApi):
    def __init__(self) -> None:
        super().__init__(SecretStr("t"), base_url="http://127.0.0.1:9")
        self.bodies: list[dict[str, Any]] = []

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        self.bodies.append(kwargs["json_body"])
        return 200, {"id": "dep-1", "state": "prepared", "required": []}


@pytest.mark.parametrize(("count", "asynchronous"), [(1, False), (100, False), (101, True), (1000, True)])
def test_a_small_deploy_is_diffed_at_once_and_a_large_one_in_the_background(count: int, asynchronous: bool) -> None:
    """As netlify-cli decides (DEFAULT_SYNC_LIMIT, 100 files): a small deploy's answer is already
    prepared, with nothing to poll for; a large one is prepared in the background, as Netlify may
    take longer to diff it than a request may last."""
    api = RecordingApi()
    NetlifyDeployer(api).create_deploy("site-1", {f"/f{i}.html": f"{i:040x}" for i in range(count)})
    assert api.bodies[0]["async"] is asynchronous
