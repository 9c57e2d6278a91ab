"""The pure parts of Vercel publishing: readyState as our statuses, the deployment body, the URL,
and the 429 reset read from the body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.platforms.base import SiteFile
from sitedeploy.platforms.vercel.api import VercelApi, VercelRetry, _error, limit_reset_seconds
from sitedeploy.platforms.vercel.deploy import VercelDeployer, deployment_url, map_ready_state


@pytest.mark.parametrize(
    ("deployment", "status", "progress"),
    [
        ({"readyState": "QUEUED", "target": "production"}, DeploymentStatus.BUILDING, 91),
        ({"readyState": "INITIALIZING", "target": "production"}, DeploymentStatus.BUILDING, 93),
        ({"readyState": "BUILDING", "target": "production"}, DeploymentStatus.BUILDING, 95),
        ({"readyState": "READY", "target": "production", "aliasAssigned": False}, DeploymentStatus.BUILDING, 98),
        ({"readyState": "READY", "target": "production", "aliasAssigned": True}, DeploymentStatus.READY, 100),
        ({"readyState": "READY", "target": None}, DeploymentStatus.READY, 100),  # a preview needs no alias
        ({"readyState": "SOMETHING_NEW"}, DeploymentStatus.BUILDING, 91),
        ({}, DeploymentStatus.BUILDING, 91),
    ],
)
def test_ready_states_in_progress_and_ready(
    deployment: dict[str, Any], status: DeploymentStatus, progress: int
) -> None:
    state = map_ready_state(deployment)
    assert (state.status, state.progress, state.error) == (status, progress, None)


def test_building_never_reports_less_than_the_uploads_reached() -> None:
    """Uploads take a deployment to 90 %: following the build must not move it back."""
    states = ["QUEUED", "INITIALIZING", "BUILDING", "READY"]
    progress = [map_ready_state({"readyState": s, "target": "production"}).progress for s in states]
    assert progress == sorted(progress)
    assert min(progress) > 90


def test_error_states_carry_vercels_reason() -> None:
    failed = map_ready_state({"readyState": "ERROR", "errorCode": "BUILD_FAILED", "errorMessage": "Command failed"})
    assert failed.status is DeploymentStatus.ERROR
    assert failed.error == "Vercel deployment failed: Command failed (BUILD_FAILED)"
    assert failed.job_status == "ERROR"
    bare = map_ready_state({"readyState": "ERROR"})
    assert bare.error == "Vercel deployment failed: ERROR"
    for other in ("BUILD_ERROR", "DEPLOY_ERROR", "upload_error"):
        state = map_ready_state({"readyState": other, "errorCode": "x_failed"})
        assert state.status is DeploymentStatus.ERROR
        assert state.error == "Vercel deployment failed: x_failed"


def test_canceled_is_an_error_saying_so_with_any_reason() -> None:
    canceled = map_ready_state({"readyState": "CANCELED"})
    assert (canceled.status, canceled.error) == (DeploymentStatus.ERROR, "Vercel deployment canceled")
    reason = map_ready_state({"readyState": "CANCELED", "errorMessage": "a newer deployment replaced it"})
    assert reason.error == "Vercel deployment canceled: a newer deployment replaced it"


def test_an_alias_that_cannot_be_assigned_is_an_error() -> None:
    state = map_ready_state(
        {"readyState": "READY", "target": "production", "aliasError": {"code": "x", "message": "domain taken"}}
    )
    assert (state.status, state.error) == (DeploymentStatus.ERROR, "Vercel could not assign the alias: domain taken")


def test_the_url_is_the_alias_once_assigned() -> None:
    assert deployment_url({"alias": ["site.vercel.app", "site-team.vercel.app"]}, "site") == "https://site.vercel.app"
    # Before an alias: the deployment's own URL, never a guess at an alias somebody else may hold.
    assert deployment_url({"alias": [], "url": "site-abc123.vercel.app"}, "site") == "https://site-abc123.vercel.app"
    assert deployment_url({}, "site") == "https://site.vercel.app"
    assert (
        map_ready_state(
            {"readyState": "READY", "target": "production", "aliasAssigned": True, "alias": ["site-team.vercel.app"]}
        ).url
        == "https://site-team.vercel.app"
    )


def test_the_body_names_every_path_without_a_leading_slash() -> None:
    same = SiteFile("a.css", "1" * 64, 3, "text/css")
    files = [
        SiteFile("index.html", "0" * 64, 10, "text/html"),
        same,
        SiteFile("b/a.css", "1" * 64, 3, "text/css"),
    ]
    digests = {"0" * 64: "a" * 40, "1" * 64: "b" * 40}
    config = SiteFile(".vercel/output/config.json", "2" * 64, 99, "application/json")
    digests["2" * 64] = "c" * 40
    deployer = VercelDeployer(VercelApi(SecretStr("t"), base_url="http://127.0.0.1:9"))
    body = deployer.body("my-site", files, digests, config)
    assert body["name"] == body["project"] == "my-site"
    assert body["target"] == "production"
    assert body["files"] == [
        {"file": ".vercel/output/static/a.css", "sha": "b" * 40, "size": 3},
        {"file": ".vercel/output/static/b/a.css", "sha": "b" * 40, "size": 3},
        {"file": ".vercel/output/static/index.html", "sha": "a" * 40, "size": 10},
        {"file": ".vercel/output/config.json", "sha": "c" * 40, "size": 99},
    ]
    assert body["projectSettings"] == {
        "framework": None, "buildCommand": "", "installCommand": "", "devCommand": "", "outputDirectory": ""
    }  # fmt: skip
    # A prebuilt deployment's routing is its config.json: none travels in the body.
    assert not {"routes", "rewrites", "redirects", "headers", "cleanUrls", "builds", "functions"} & set(body)


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("reset", "expected"),
    [
        (1_700_000_030, 30.0),  # epoch seconds, as documented
        (1_700_000_030.5, 30.5),
        (1_700_000_030_000, 30.0),  # milliseconds, tolerated
        (1_699_999_990, 0.0),  # already passed
    ],
)
def test_the_limit_reset_in_the_body(reset: float, expected: float) -> None:
    body = json.dumps({"error": {"code": "rate_limited", "limit": {"remaining": 0, "reset": reset, "total": 1}}})
    assert limit_reset_seconds(body.encode(), NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"error": {"code": "rate_limited"}}', b'{"error": {"limit": {"reset": true}}}']
)
def test_no_reset_in_the_body_means_backoff(body: bytes) -> None:
    assert limit_reset_seconds(body, NOW) is None


class _Response:
    def __init__(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.status = status
        self.headers = headers
        self.data = data


def test_the_retry_waits_for_retry_after_else_the_reset_capped() -> None:
    import time

    from sitedeploy.platforms.base import retry_policy

    retry = retry_policy(attempts=3, backoff=0.1, retry_after_cap=5.0, retry_class=VercelRetry)
    reset = {"error": {"code": "rate_limited", "limit": {"reset": int(time.time()) + 3}}}
    far = {"error": {"code": "rate_limited", "limit": {"reset": int(time.time()) + 3600}}}
    assert retry.get_retry_after(_Response(429, {"Retry-After": "2"}, b"{}")) == 2.0  # type: ignore[arg-type]
    assert 1.5 < (retry.get_retry_after(_Response(429, {}, json.dumps(reset).encode())) or 0) <= 3.0  # type: ignore[arg-type]
    assert retry.get_retry_after(_Response(429, {}, json.dumps(far).encode())) == 5.0  # type: ignore[arg-type]
    assert retry.get_retry_after(_Response(503, {}, json.dumps(far).encode())) is None  # type: ignore[arg-type]
    copied = retry.new(total=1)  # type: ignore[no-untyped-call]
    assert isinstance(copied, VercelRetry)
    assert copied.retry_after_cap == 5.0


def test_errors_carry_code_and_missing_digests() -> None:
    missing = _error(
        400, {"error": {"code": "missing_files", "message": "Missing files", "missing": ["a" * 40]}}, "creating"
    )
    assert (missing.status, missing.code, missing.missing) == (400, "missing_files", ["a" * 40])
    assert missing.message == "creating failed: Missing files (missing_files, HTTP 400)"
    plain = _error(502, None, "reading")
    assert (plain.message, plain.code, plain.missing) == ("reading failed: HTTP 502", None, [])


def test_team_id_goes_on_every_call() -> None:
    team = VercelApi(SecretStr("t"), team_id="team_1", base_url="http://x/")
    assert team.url("/v2/user") == "http://x/v2/user?teamId=team_1"
    assert team.url("/v9/projects", {"limit": "100"}) == "http://x/v9/projects?limit=100&teamId=team_1"
    personal = VercelApi(SecretStr("t"), team_id="", base_url="http://x")
    assert personal.url("/v2/user") == "http://x/v2/user"
