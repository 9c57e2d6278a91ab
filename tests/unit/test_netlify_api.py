"""The Netlify client's pure parts: error messages, upload path escaping, rate-limit waits, and
the deploy state mapping."""

from __future__ import annotations

import time

import pytest
from urllib3 import HTTPResponse

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.platforms.base import retry_policy
from sitedeploy.platforms.netlify.api import NetlifyError, NetlifyRetry, error_from, upload_path
from sitedeploy.platforms.netlify.deploy import map_deploy


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/index.html", "index.html"),
        ("assets/app.js", "assets/app.js"),
        ("/a b/c d.html", "a%20b/c%20d.html"),
        ("/café/ü.png", "caf%C3%A9/%C3%BC.png"),
        ("/docs/(draft)/it's!.md", "docs/(draft)/it's!.md"),
        ("/a+b=c&d;e,f:g@h$i*j~k_l.m-n", "a+b=c&d;e,f:g@h$i*j~k_l.m-n"),
        ("/100%.txt", "100%25.txt"),
        ("/q?x#y.html", "q%3Fx%23y.html"),
        ("/[id]/page.html", "%5Bid%5D/page.html"),
    ],
)
def test_upload_path_drops_the_slash_and_escapes_like_encodeuri(path: str, expected: str) -> None:
    assert upload_path(path) == expected


def test_error_carries_netlify_message_and_status() -> None:
    error = error_from(401, {"code": 401, "message": "Access Denied: your token is bad"}, "reading the user")
    assert isinstance(error, NetlifyError)
    assert error.status == 401
    assert error.code == 401
    assert error.message == "reading the user failed: Access Denied: your token is bad (HTTP 401)"


def test_validation_errors_are_named() -> None:
    payload = {"code": 422, "message": "Validation Failed", "errors": {"subdomain": ["must be unique"]}}
    error = error_from(422, payload, "creating the site x")
    assert "Validation Failed (subdomain must be unique)" in error.message
    assert "unique" in error.message


def test_a_body_that_is_not_json_still_names_the_status() -> None:
    error = error_from(502, None, "creating the deploy")
    assert error.message == "creating the deploy failed: HTTP 502"


def _response(status: int, headers: dict[str, str]) -> HTTPResponse:
    return HTTPResponse(body=b"", headers=headers, status=status)


def test_retry_after_wins_and_is_capped() -> None:
    policy = retry_policy(attempts=3, backoff=0.1, retry_after_cap=5.0, retry_class=NetlifyRetry)
    assert policy.get_retry_after(_response(429, {"Retry-After": "2"})) == 2.0
    assert policy.get_retry_after(_response(429, {"Retry-After": "3600"})) == 5.0


def test_rate_limit_reset_is_waited_for_when_no_retry_after() -> None:
    policy = retry_policy(attempts=3, backoff=0.1, retry_after_cap=5.0, retry_class=NetlifyRetry)
    soon = policy.get_retry_after(_response(429, {"X-RateLimit-Reset": str(int(time.time()) + 3)}))
    assert soon is not None
    assert 1.0 <= soon <= 3.0
    assert policy.get_retry_after(_response(429, {"X-RateLimit-Reset": str(int(time.time()) + 999)})) == 5.0
    assert policy.get_retry_after(_response(429, {"X-RateLimit-Reset": str(int(time.time()) - 10)})) == 0.0
    assert policy.get_retry_after(_response(429, {"X-RateLimit-Reset": "soon"})) is None
    assert policy.get_retry_after(_response(503, {"X-RateLimit-Reset": str(int(time.time()) + 3)})) is None


def test_the_cap_survives_each_retry() -> None:
    policy = retry_policy(attempts=3, backoff=0.1, retry_after_cap=1.5, retry_class=NetlifyRetry)
    following = policy.increment(method="GET", url="/x", response=_response(429, {"Retry-After": "60"}))
    assert following.get_retry_after(_response(429, {"Retry-After": "60"})) == 1.5
    assert type(following) is type(policy)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("new", DeploymentStatus.BUILDING),
        ("preparing", DeploymentStatus.BUILDING),
        ("prepared", DeploymentStatus.BUILDING),
        ("uploading", DeploymentStatus.BUILDING),
        ("uploaded", DeploymentStatus.BUILDING),
        ("processing", DeploymentStatus.BUILDING),
        ("something-new", DeploymentStatus.BUILDING),
        ("ready", DeploymentStatus.READY),
        ("error", DeploymentStatus.ERROR),
        ("rejected", DeploymentStatus.ERROR),
    ],
)
def test_deploy_states_map_to_ours(state: str, status: DeploymentStatus) -> None:
    mapped = map_deploy({"state": state, "error_message": "boom" if state == "error" else None})
    assert mapped.status is status
    assert mapped.job_status == state
    if status is DeploymentStatus.BUILDING:
        assert 50 <= mapped.progress < 100
        assert mapped.error is None
    else:
        assert mapped.progress == 100


def test_building_progress_moves_forward() -> None:
    order = ["new", "preparing", "prepared", "uploading", "uploaded", "processing"]
    progress = [map_deploy({"state": s}).progress for s in order]
    assert progress == sorted(progress)


def test_a_failed_deploy_carries_netlifys_reason() -> None:
    assert map_deploy({"state": "error", "error_message": "Build script returned non-zero"}).error == (
        "Build script returned non-zero"
    )
    assert map_deploy({"state": "error"}).error == "the Netlify deploy failed"
    assert map_deploy({"state": "rejected"}).error == "the Netlify deploy was rejected"
