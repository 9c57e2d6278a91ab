"""The Netlify adapter against the emulator over real HTTP: the file-digest deploy, dedup, routing
files, retries (429, 5xx, resets, lost answers), platform failures, names held elsewhere, teardown,
and the account calls."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import urllib3
from pydantic import SecretStr

from sitedeploy.domain.models import DeploymentStatus, Platform, SiteAddress
from sitedeploy.platforms.base import PlatformError, PublishJob, SiteConfig, SiteFile
from sitedeploy.platforms.netlify.api import NetlifyApi
from sitedeploy.platforms.netlify.credentials import NetlifyToken
from sitedeploy.platforms.netlify.deploy import NetlifyDeployer, NetlifyTarget
from sitedeploy.platforms.netlify.platform import NetlifyPlatform
from sitedeploy.settings import Settings
from sitedeploy_local.emulators.netlify import NetlifyEmulator
from tests.fakes.stores import FakeServiceSecret
from tests.sites import Site

TEAM = "adapter-team"
OTHER_TEAM = "someone-else"
TOKEN = "nfp_adapter_test_token"
OTHER_TOKEN = "nfp_other_account_token"
SERVICE_TOKEN = "nfp_service_pool_token"
POOL_TEAM = "service-pool"


@pytest.fixture(scope="module")
def running() -> Iterator[NetlifyEmulator]:
    emulator = NetlifyEmulator(port=0)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def emulator(running: NetlifyEmulator) -> Iterator[NetlifyEmulator]:
    running.reset()
    running.add_account(TEAM, name="Adapter Tests")
    running.add_account(OTHER_TEAM, name="Someone Else")
    running.add_account(POOL_TEAM, name="Service Pool")
    running.add_token(TOKEN, [TEAM], user_slug="adapter-user")
    running.add_token(OTHER_TOKEN, [OTHER_TEAM])
    running.add_token(SERVICE_TOKEN, [POOL_TEAM])
    yield running
    running.faults.clear()


def _site() -> Site:
    return Site(
        {
            "index.html": b"<!doctype html><h1>hi</h1>",
            "assets/app.js": b"console.log('hi')",
            "assets/logo.png": os.urandom(5000),
            "fonts/a.woff2": b"wOF2" + os.urandom(3000),
        }
    )


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _platform(emulator: NetlifyEmulator, **settings: Any) -> NetlifyPlatform:
    configured = dataclasses.replace(
        Settings(),
        **{
            "netlify_api_base": emulator.api_base,
            "retry_backoff_seconds": 0.05,
            "retry_after_cap_seconds": 2.0,
            **settings,
        },
    )
    secret = FakeServiceSecret(
        {"netlify": {"accessToken": SERVICE_TOKEN, "accountSlug": POOL_TEAM, "sitePrefix": "qd"}}
    )
    return NetlifyPlatform(configured, secret)


def _credentials(token: str = TOKEN, team: str | None = TEAM) -> NetlifyToken:
    return NetlifyToken.model_validate({"token": token, "accountSlug": team})


def _job(site: Site, name: str, *, team: str | None = TEAM, config: SiteConfig | None = None) -> PublishJob:
    return site.job(SiteAddress(account_id=team, name=name), config, remember_sha1s=True)


def _publish(
    emulator: NetlifyEmulator, site: Site, name: str, *, config: SiteConfig | None = None, token: str = TOKEN
) -> Any:
    team = OTHER_TEAM if token == OTHER_TOKEN else TEAM
    return _platform(emulator).publish(_job(site, name, team=team, config=config), _credentials(token, team))


def _served(emulator: NetlifyEmulator, name: str, path: str, team: str = TEAM) -> urllib3.BaseHTTPResponse:
    base = emulator.site_url(team, name)
    assert base, f"{name} is not served"
    return urllib3.request("GET", base.rstrip("/") + path, redirect=False)


def _uploads(emulator: NetlifyEmulator) -> int:
    return len([r for r in emulator.requests_for("uploadDeployFile") if r.status == 200])


# -- publishing ---------------------------------------------------------------------------------


def test_first_publish_uploads_every_file(emulator: NetlifyEmulator) -> None:
    site = _site()
    name = _name()
    published = _platform(emulator).publish(_job(site, name), _credentials())
    assert published.status is DeploymentStatus.READY
    assert published.progress == 100
    assert published.url == f"https://{name}.netlify.app"
    assert published.external_id
    # four files and the generated _redirects (an index.html and no 404.html: a single-page app)
    assert published.uploaded_files == 5
    spa_rule = len(b"/* /index.html 200\n")
    assert published.uploaded_bytes == sum(len(d) for d in site.data.values()) + spa_rule
    assert site.progress[-1] == (published.uploaded_bytes, published.uploaded_bytes)
    assert _uploads(emulator) == 5
    for path, data in site.data.items():
        answer = _served(emulator, name, "/" + path if path != "index.html" else "/")
        assert answer.status == 200
        assert answer.data == data
    assert _served(emulator, name, "/assets/app.js").headers["Content-Type"].startswith("text/javascript")
    created = emulator.requests_for("createSiteDeploy")
    assert len(created) == 1
    site_view = emulator.site(name)
    assert site_view is not None
    assert site_view["account_slug"] == TEAM
    assert TOKEN not in str(emulator.requests[0].headers)


def test_one_file_redeploy_uploads_exactly_one_file(emulator: NetlifyEmulator) -> None:
    site = _site()
    name = _name()
    _publish(emulator, site, name)
    site.data["assets/app.js"] = b"console.log('changed')"
    site.reads.clear()
    before = _uploads(emulator)
    published = _publish(emulator, site, name)
    assert published.status is DeploymentStatus.READY
    assert published.uploaded_files == 1
    assert published.uploaded_bytes == len(b"console.log('changed')")
    assert _uploads(emulator) - before == 1
    assert set(site.reads) == {"assets/app.js"}  # its SHA-1, then its upload: nothing else is read
    assert site.prefetched[-1] == ["assets/app.js"]  # what Netlify asked for, fetched ahead of its upload
    assert _served(emulator, name, "/assets/app.js").data == b"console.log('changed')"
    unchanged = _publish(emulator, site, name)
    assert unchanged.uploaded_files == 0
    assert unchanged.status is DeploymentStatus.READY


def test_one_content_at_several_paths_is_uploaded_once(emulator: NetlifyEmulator) -> None:
    same = b"body { color: red }"
    site = Site({"index.html": b"<p>x</p>", "a.css": same, "b/a.css": same, "c/d/a.css": same})
    name = _name()
    published = _publish(emulator, site, name, config=SiteConfig(spa=False))
    assert published.uploaded_files == 2
    for path in ("/a.css", "/b/a.css", "/c/d/a.css"):
        assert _served(emulator, name, path).data == same


def test_binary_bytes_are_served_back_byte_for_byte(emulator: NetlifyEmulator) -> None:
    every_byte = bytes(range(256)) * 40
    site = Site(
        {
            "index.html": b"<p>bin</p>",
            "img/noise.png": os.urandom(70_000),
            "data/all-bytes.bin": every_byte,
            "data/crlf.txt": b"a\r\nb\r\n\x00\xff",
            "docs/a b/ü (1).html": "<p>ünïcode</p>".encode(),
        }
    )
    name = _name()
    _publish(emulator, site, name, config=SiteConfig(spa=False))
    for path, data in site.data.items():
        answer = _served(emulator, name, "/" + quote(path))
        assert answer.status == 200, path
        assert answer.data == data, path
    assert _served(emulator, name, "/img/noise.png").headers["Content-Type"].startswith("image/png")


def test_a_large_file_is_spooled_and_resent_on_retry(emulator: NetlifyEmulator) -> None:
    big = os.urandom(9 * 1024 * 1024)
    site = Site({"index.html": b"<p>big</p>", "big.bin": big})
    name = _name()
    emulator.faults.add("uploadDeployFile", status=503, times=1)
    published = _publish(emulator, site, name, config=SiteConfig(spa=False))
    assert published.status is DeploymentStatus.READY
    assert _served(emulator, name, "/big.bin").data == big


def test_a_file_over_the_limit_is_refused_before_any_call(emulator: NetlifyEmulator) -> None:
    big = SiteFile("big.bin", "0" * 64, 100 * 1024 * 1024 + 1, "application/octet-stream")
    small = SiteFile("index.html", "1" * 64, 10, "text/html")
    job = dataclasses.replace(_job(Site({}), _name()), files=[small, big], digests=lambda files, *, fresh=None: {})
    with pytest.raises(PlatformError, match="100 MiB"):
        _platform(emulator).publish(job, _credentials())
    assert emulator.requests == []


def test_spa_redirects_and_headers_are_live(emulator: NetlifyEmulator) -> None:
    site = Site({"index.html": b"<p>app</p>", "docs/page.html": b"<p>doc</p>", "assets/app.js": b"x()"})
    name = _name()
    config = SiteConfig(
        headers_text="/*\n  X-Demo: yes\n/assets/*\n  Cache-Control: public, max-age=60\n",
        redirects_text="/old /docs/page 301\n",
    )
    _publish(emulator, site, name, config=config)
    route = _served(emulator, name, "/some/client/route")
    assert route.status == 200
    assert route.data == b"<p>app</p>"
    moved = _served(emulator, name, "/old")
    assert moved.status == 301
    assert moved.headers["Location"].endswith("/docs/page")
    page = _served(emulator, name, "/docs/page")
    assert page.status == 200
    assert page.data == b"<p>doc</p>"
    assert page.headers.get("X-Demo") == "yes"
    asset = _served(emulator, name, "/assets/app.js")
    assert "max-age=60" in asset.headers.get("Cache-Control", "")
    assert asset.headers.get("X-Demo") == "yes"
    # never served as files (on an SPA the fallback answers them, as it does any unknown path)
    assert _served(emulator, name, "/_redirects").data == b"<p>app</p>"
    assert _served(emulator, name, "/_headers").data == b"<p>app</p>"
    assert emulator.file(name, "/_redirects") == b"/old /docs/page 301\n/* /index.html 200\n"


def test_a_site_with_a_404_page_is_not_an_spa(emulator: NetlifyEmulator) -> None:
    site = Site({"index.html": b"<p>home</p>", "404.html": b"<p>missing</p>"})
    name = _name()
    published = _publish(emulator, site, name)
    assert published.uploaded_files == 2  # no _redirects at all
    missing = _served(emulator, name, "/nope")
    assert missing.status == 404
    assert missing.data == b"<p>missing</p>"
    assert _served(emulator, name, "/_redirects").status == 404


def test_quick_deploy_publishes_with_the_service_team(emulator: NetlifyEmulator) -> None:
    site = _site()
    name = _name()
    platform = _platform(emulator)
    published = platform.publish(_job(site, name, team=POOL_TEAM), None)
    assert published.status is DeploymentStatus.READY
    assert emulator.sites(POOL_TEAM) == [name]
    assert platform.site_url(SiteAddress(POOL_TEAM, name), None) == published.url
    assert _served(emulator, name, "/", team=POOL_TEAM).data == site.data["index.html"]


def test_a_token_without_a_team_creates_in_its_first(emulator: NetlifyEmulator) -> None:
    site = _site()
    name = _name()
    job = dataclasses.replace(_job(site, name), address=SiteAddress(None, name))
    published = _platform(emulator).publish(job, _credentials(team=None))
    assert published.status is DeploymentStatus.READY
    assert emulator.sites(TEAM) == [name]
    assert emulator.requests_for("createSite")


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["uploadDeployFile", "createSiteDeploy"])
def test_429_with_reset_headers_is_waited_out(emulator: NetlifyEmulator, route: str) -> None:
    emulator.faults.add(route, status=429, retry_after=1, times=1)
    site = _site()
    name = _name()
    started = time.monotonic()
    published = _publish(emulator, site, name)
    assert time.monotonic() - started >= 0.9
    assert published.status is DeploymentStatus.READY
    limited = [r for r in emulator.requests_for(route) if r.status == 429]
    assert len(limited) == 1


@pytest.mark.parametrize(
    "fault",
    [{"status": 503, "times": 2}, {"reset": True, "times": 1}],
    ids=["503", "reset"],
)
@pytest.mark.parametrize("route", ["getSite", "createSiteInTeam", "createSiteDeploy", "getDeploy", "uploadDeployFile"])
def test_transient_failures_are_retried(emulator: NetlifyEmulator, route: str, fault: dict[str, Any]) -> None:
    emulator.faults.add(route, **fault)
    site = _site()
    name = _name()
    published = _publish(emulator, site, name)
    assert published.status is DeploymentStatus.READY
    assert _served(emulator, name, "/").data == site.data["index.html"]


@pytest.mark.parametrize("fault", [{"status": 502}, {"reset": True}], ids=["502", "reset"])
def test_a_lost_answer_on_a_file_upload_still_ends_ready(emulator: NetlifyEmulator, fault: dict[str, Any]) -> None:
    emulator.faults.add("uploadDeployFile", after=True, times=1, **fault)
    site = _site()
    name = _name()
    published = _publish(emulator, site, name)
    assert published.status is DeploymentStatus.READY
    for path, data in site.data.items():
        assert emulator.file(name, "/" + path) == data


def test_a_lost_answer_on_the_last_upload_still_ends_ready(emulator: NetlifyEmulator) -> None:
    """The retried PUT finds the deploy already complete (422 from Netlify): that is success."""
    emulator.faults.add("uploadDeployFile", status=502, after=True, times=1)
    site = Site({"index.html": b"<p>only</p>"})
    name = _name()
    published = _publish(emulator, site, name, config=SiteConfig(spa=False))
    assert published.status is DeploymentStatus.READY
    assert _served(emulator, name, "/").data == b"<p>only</p>"


def test_a_lost_answer_on_site_creation_finds_the_site(emulator: NetlifyEmulator) -> None:
    emulator.faults.add("createSiteInTeam", status=502, after=True, times=1)
    site = _site()
    name = _name()
    published = _publish(emulator, site, name)
    assert published.status is DeploymentStatus.READY
    assert emulator.sites() == [name]


def test_persistent_failure_ends_with_a_clear_error(emulator: NetlifyEmulator) -> None:
    emulator.faults.add("uploadDeployFile", status=500, times=None)
    with pytest.raises(PlatformError) as failed:
        _publish(emulator, _site(), _name())
    assert "uploading" in failed.value.message
    assert TOKEN not in str(failed.value)


# -- failures -----------------------------------------------------------------------------------


def test_a_deploy_netlify_fails_raises_its_message(emulator: NetlifyEmulator) -> None:
    name = _name()
    emulator.fail_next_deploy(name, "Deploy did not succeed: a post-processing step exploded")
    with pytest.raises(PlatformError) as failed:
        _publish(emulator, _site(), name)
    assert "a post-processing step exploded" in failed.value.message
    assert TOKEN not in str(failed.value)


def test_a_name_held_by_another_account_is_refused_clearly(emulator: NetlifyEmulator) -> None:
    name = _name()
    _publish(emulator, Site({"index.html": b"theirs"}), name, token=OTHER_TOKEN)
    with pytest.raises(PlatformError) as failed:
        _publish(emulator, _site(), name)
    assert name in failed.value.message
    assert "taken" in failed.value.message
    assert TOKEN not in str(failed.value)
    assert emulator.file(name, "/index.html") == b"theirs"


def test_a_bad_token_fails_without_leaking_it(emulator: NetlifyEmulator) -> None:
    with pytest.raises(PlatformError) as failed:
        _publish(emulator, _site(), _name(), token="nfp_wrong_token")
    assert failed.value.status == 401
    assert "nfp_wrong_token" not in str(failed.value)


def test_a_still_processing_deploy_is_left_to_refresh(emulator: NetlifyEmulator) -> None:
    site = _site()
    name = _name()
    api = NetlifyApi(SecretStr(TOKEN), base_url=emulator.api_base, backoff=0.05, retry_after_cap=2.0)
    original = emulator.process_seconds
    emulator.process_seconds = 1.5
    try:
        published = NetlifyDeployer(api, follow_seconds=0.2).publish(
            NetlifyTarget(TEAM, name), site.files(), SiteConfig(), site.read, sha1s=site.sha1s
        )
    finally:
        emulator.process_seconds = original
    assert published.status is DeploymentStatus.BUILDING
    assert published.external_id
    platform = _platform(emulator)
    state = platform.refresh(SiteAddress(TEAM, name), published.external_id, _credentials())
    assert state.status is DeploymentStatus.BUILDING
    deadline = time.monotonic() + 5
    while state.status is DeploymentStatus.BUILDING and time.monotonic() < deadline:
        time.sleep(0.1)
        state = platform.refresh(SiteAddress(TEAM, name), published.external_id, _credentials())
    assert state.status is DeploymentStatus.READY
    assert state.job_status == "ready"


def test_a_deploy_netlify_never_prepares_ends_in_a_clear_error(emulator: NetlifyEmulator) -> None:
    # Over netlify-cli's sync limit (100 files): a deploy Netlify prepares in the background.
    site = Site({f"page{i}.html": f"<p>{i}</p>".encode() for i in range(120)})
    api = NetlifyApi(SecretStr(TOKEN), base_url=emulator.api_base, backoff=0.05, retry_after_cap=2.0)
    original = emulator.prepare_seconds
    emulator.prepare_seconds = 30.0
    try:
        started = time.monotonic()
        with pytest.raises(PlatformError, match=r"did not prepare the deploy within 0\.3 s"):
            NetlifyDeployer(api, prepare_seconds=0.3).publish(
                NetlifyTarget(TEAM, _name()), site.files(), SiteConfig(), site.read, sha1s=site.sha1s
            )
        assert time.monotonic() - started < 5
    finally:
        emulator.prepare_seconds = original
    assert not emulator.requests_for("uploadDeployFile")  # nothing was sent to a deploy that never got ready


def test_a_throttled_status_poll_answers_within_seconds(emulator: NetlifyEmulator) -> None:
    """Refresh runs inside the 10 s status function: a 429 asking for half a minute must not hold
    it (the poll fails, the status route answers from the record, the next poll asks again)."""
    site = _site()
    name = _name()
    platform = _platform(emulator, retry_after_cap_seconds=30.0)  # the production cap
    published = platform.publish(site.job(SiteAddress(POOL_TEAM, name), remember_sha1s=True), None)
    assert published.external_id
    emulator.faults.add("getDeploy", status=429, retry_after=30, times=None)
    started = time.monotonic()
    with pytest.raises(PlatformError):
        platform.refresh(SiteAddress(POOL_TEAM, name), published.external_id, None)
    assert time.monotonic() - started < 6


def test_refresh_reports_a_failed_deploy(emulator: NetlifyEmulator) -> None:
    site = _site()
    name = _name()
    _publish(emulator, site, name)
    emulator.fail_next_deploy(name, "the deploy exploded")
    with pytest.raises(PlatformError):
        _publish(emulator, site, name)
    failed = [d for d in emulator.requests_for("createSiteDeploy") if d.status == 200]
    assert len(failed) == 2
    deploys = [r for r in emulator.requests_for("getDeploy")]
    deploy_id = deploys[-1].path.rsplit("/", 1)[-1]
    state = _platform(emulator).refresh(SiteAddress(TEAM, name), deploy_id, _credentials())
    assert state.status is DeploymentStatus.ERROR
    assert state.error == "the deploy exploded"


# -- teardown and the account -------------------------------------------------------------------


def test_tear_down_then_gone(emulator: NetlifyEmulator) -> None:
    name = _name()
    _publish(emulator, _site(), name)
    platform = _platform(emulator)
    address = SiteAddress(TEAM, name)
    assert platform.tear_down(address, _credentials()) is True
    assert emulator.site(name) is None
    assert emulator.site_url(TEAM, name) is None
    assert platform.tear_down(address, _credentials()) is False


def test_tear_down_leaves_another_accounts_site_alone(emulator: NetlifyEmulator) -> None:
    name = _name()
    _publish(emulator, Site({"index.html": b"theirs"}), name, token=OTHER_TOKEN)
    assert _platform(emulator).tear_down(SiteAddress(TEAM, name), _credentials()) is False
    assert emulator.site(name) is not None


def test_verify_a_good_token(emulator: NetlifyEmulator) -> None:
    platform = _platform(emulator)
    connection = platform.verify(_credentials())
    assert connection.platform is Platform.NETLIFY
    assert connection.account_id == TEAM
    assert connection.account_name == "Adapter Tests"
    personal = platform.verify(_credentials(team=None))
    assert personal.account_id is None
    assert personal.account_name


def test_verify_a_bad_token_or_a_foreign_team(emulator: NetlifyEmulator) -> None:
    platform = _platform(emulator)
    with pytest.raises(PlatformError) as bad:
        platform.verify(_credentials(token="nfp_not_a_token"))
    assert "refused" in bad.value.message
    assert "nfp_not_a_token" not in str(bad.value)
    with pytest.raises(PlatformError, match=OTHER_TEAM):
        platform.verify(_credentials(team=OTHER_TEAM))


def test_stats_lists_the_teams_sites(emulator: NetlifyEmulator) -> None:
    names = sorted(_name() for _ in range(2))
    ours = NetlifyDeployer(NetlifyApi(SecretStr(TOKEN), base_url=emulator.api_base))
    for name in names:
        ours.ensure_site(NetlifyTarget(TEAM, name))
    theirs = NetlifyDeployer(NetlifyApi(SecretStr(OTHER_TOKEN), base_url=emulator.api_base))
    theirs.ensure_site(NetlifyTarget(OTHER_TEAM, _name()))
    stats = _platform(emulator).stats(_credentials())
    assert stats.platform is Platform.NETLIFY
    assert stats.workers is not None
    assert sorted(w.name for w in stats.workers) == names
    assert all(w.modified_on for w in stats.workers)
    personal = _platform(emulator).stats(_credentials(team=None))
    assert sorted(w.name for w in personal.workers or []) == names
