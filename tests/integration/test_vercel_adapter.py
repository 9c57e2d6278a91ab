"""The Vercel adapter against the emulator over real HTTP: the missing-files protocol, dedup,
routing on the served site, retries (429 by Retry-After and by the body's reset, 503, a lost
answer), failed and canceled deployments, teams, teardown, verify and stats."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import urllib3
from pydantic import SecretStr

from sitedeploy.domain.models import DeploymentStatus, SiteAddress
from sitedeploy.platforms.base import PlatformError, SiteConfig
from sitedeploy.platforms.vercel.api import VercelApi
from sitedeploy.platforms.vercel.credentials import VercelToken
from sitedeploy.platforms.vercel.deploy import VercelDeployer
from sitedeploy.platforms.vercel.platform import VercelPlatform
from sitedeploy.platforms.vercel.routing import vercel_routing
from sitedeploy.settings import Settings
from sitedeploy_local.emulators.vercel import VercelEmulator
from tests.sites import Site

TEAM = "team_adaptertests0001"
TEAM_SLUG = "adapter-tests"
SERVICE_TOKEN = "adapter-service-token"
USER_TOKEN = "adapter-user-token"
OUTSIDER_TOKEN = "adapter-outsider-token"


@pytest.fixture(scope="module")
def running() -> Iterator[VercelEmulator]:
    with VercelEmulator(step_seconds=0.02) as emulator:
        yield emulator


@pytest.fixture
def emulator(running: VercelEmulator) -> Iterator[VercelEmulator]:
    running.reset()
    running.step_seconds = 0.02
    running.add_team(TEAM, TEAM_SLUG)
    running.add_token(SERVICE_TOKEN, user="service", teams=[TEAM])
    running.add_token(USER_TOKEN, user="someone")
    running.add_token(OUTSIDER_TOKEN, user="outsider")
    yield running
    running.faults.clear()
    running.set_rate_limit(None)


class Secret:
    def __init__(self, sections: dict[str, Any]) -> None:
        self.sections = sections

    def section(self, name: str) -> Mapping[str, Any] | None:
        return self.sections.get(name)


def _platform(emulator: VercelEmulator, *, follow_seconds: float = 20.0) -> VercelPlatform:
    settings = Settings(vercel_api_base=emulator.api_base, retry_backoff_seconds=0.05, retry_after_cap_seconds=3.0)
    secret = Secret({"vercel": {"accounts": [{"token": SERVICE_TOKEN, "teamId": TEAM}], "projectPrefix": "sd"}})
    return VercelPlatform(settings, secret, follow_seconds=follow_seconds)


def _site() -> Site:
    same = b"body { color: red }"
    return Site(
        {
            "index.html": b"<!doctype html><h1>hi</h1>",
            "about.html": b"<h1>about</h1>",
            "assets/app.js": b"console.log('hi')",
            "assets/logo.png": os.urandom(5000),
            "fonts/a.woff2": b"wOF2" + os.urandom(3000),
            "a.css": same,
            "copy/a.css": same,  # one content at two paths: uploaded once
        }
    )


def _address(team: str | None = TEAM) -> SiteAddress:
    return SiteAddress(account_id=team, name=f"t-{uuid.uuid4().hex[:10]}")


def _served(emulator: VercelEmulator, address: SiteAddress, path: str) -> urllib3.BaseHTTPResponse:
    base = emulator.site_url(address.account_id or "", address.name)
    assert base, "the project serves no production deployment"
    return urllib3.request("GET", base.rstrip("/") + path, redirect=False)


def _clean(path: str) -> str:
    """The URL Vercel serves a file at with cleanUrls (``x.html`` itself answers 308 to it)."""
    if path == "index.html" or path.endswith("/index.html"):
        return "/" + path.removesuffix("index.html")
    return "/" + path.removesuffix(".html")


def _uploads(emulator: VercelEmulator) -> list[str]:
    return [r.headers["x-vercel-digest"] for r in emulator.requests_for("files-upload") if r.status == 200]


def test_first_publish_uploads_every_content_once_and_serves_every_byte(emulator: VercelEmulator) -> None:
    site = _site()
    address = _address()
    published = _platform(emulator).publish(site.job(address), None)
    assert published.status is DeploymentStatus.READY
    assert published.progress == 100
    assert published.url == f"https://{address.name}.vercel.app"
    assert published.external_id
    assert published.external_id.startswith("dpl_")
    distinct = {d for d in site.data.values()}
    assert published.uploaded_files == len(distinct) == 6
    assert published.uploaded_bytes == sum(len(d) for d in distinct)
    config = [d for d in _uploads(emulator) if d not in {hashlib.sha1(x).hexdigest() for x in distinct}]
    assert len(config) == 1  # and the Build Output's config.json, the service's own
    assert sorted(_uploads(emulator)) == sorted([*(hashlib.sha1(d).hexdigest() for d in distinct), *config])
    assert site.progress[-1] == (published.uploaded_bytes, published.uploaded_bytes)
    creates = emulator.requests_for("deployment-create")
    assert all("prebuilt=1" in r.query for r in creates)
    detection = emulator.detection(published.external_id)
    assert detection is not None
    assert detection.prebuilt
    assert not detection.runs_anything
    assert [r.status for r in creates] == [400, 200]  # missing_files, then the identical POST
    assert creates[0].bytes_in == creates[1].bytes_in
    assert all(f"teamId={TEAM}" in r.query for r in emulator.requests)
    for path, data in site.data.items():
        answer = _served(emulator, address, _clean(path))
        assert answer.status == 200, path
        assert answer.data == data, path
    assert _served(emulator, address, "/assets/logo.png").headers["Content-Type"].startswith("image/png")
    assert _served(emulator, address, "/").data == site.data["index.html"]
    assert emulator.public_url(TEAM, address.name) == published.url


def test_a_site_with_a_public_folder_is_served_from_its_root(emulator: VercelEmulator) -> None:
    """Vercel's "Other" preset would serve ``public/`` as the root: the adapter names ``.``."""
    site = Site({"index.html": b"<h1>root</h1>", "public/robots.txt": b"User-agent: *\n"})
    address = _address()
    _platform(emulator).publish(site.job(address), None)
    assert _served(emulator, address, "/").data == b"<h1>root</h1>"
    assert _served(emulator, address, "/public/robots.txt").data == b"User-agent: *\n"


def test_a_one_file_change_uploads_exactly_that_file(emulator: VercelEmulator) -> None:
    site = _site()
    address = _address()
    platform = _platform(emulator)
    platform.publish(site.job(address), None)
    # Every content once (copy/a.css is a.css's bytes), fetched ahead of the uploads.
    assert [sorted(paths) for paths in site.prefetched] == [sorted(site.data.keys() - {"copy/a.css"})]
    site.data["assets/app.js"] = b"console.log('changed')"
    site.reads.clear()
    site.prefetched.clear()
    before = len(_uploads(emulator))
    again = platform.publish(site.job(address), None)
    assert again.status is DeploymentStatus.READY
    assert (again.uploaded_files, again.uploaded_bytes) == (1, len(b"console.log('changed')"))
    assert _uploads(emulator)[before:] == [hashlib.sha1(b"console.log('changed')").hexdigest()]
    assert "assets/app.js" in site.reads
    assert site.prefetched == [["assets/app.js"]]  # what Vercel said it lacks, fetched ahead of its upload
    assert _served(emulator, address, "/assets/app.js").data == b"console.log('changed')"
    unchanged = platform.publish(site.job(address), None)
    assert unchanged.uploaded_files == 0
    assert [r.status for r in emulator.requests_for("deployment-create")][-1:] == [200]


def test_content_new_to_the_site_goes_before_the_create_which_then_finds_nothing_missing(
    emulator: VercelEmulator,
) -> None:
    """With the publisher's digest store, what the SHA-1 pass computes (content new to the site) is
    uploaded as it is read, and the create succeeds at once; a redeploy sends only what changed."""
    site = _site()
    address = _address()
    platform = _platform(emulator)
    first = platform.publish(site.job(address, remember_sha1s=True), None)
    assert first.status is DeploymentStatus.READY
    distinct = set(site.data.values())
    assert (first.uploaded_files, first.uploaded_bytes) == (len(distinct), sum(len(d) for d in distinct))
    assert [r.status for r in emulator.requests_for("deployment-create")] == [200]  # nothing was missing
    sent = _uploads(emulator)
    config = [d for d in sent if d not in {hashlib.sha1(x).hexdigest() for x in distinct}]
    assert len(config) == 1  # the Build Output's config.json, sent before the create
    assert sorted(sent) == sorted([*(hashlib.sha1(d).hexdigest() for d in distinct), *config])  # each once
    assert site.prefetched == []  # no missing round to fetch for
    assert site.progress[-1] == (first.uploaded_bytes, first.uploaded_bytes)
    for path, data in site.data.items():
        assert _served(emulator, address, _clean(path)).data == data, path

    site.data["assets/app.js"] = b"console.log('changed')"
    again = platform.publish(site.job(address, remember_sha1s=True), None)
    assert (again.uploaded_files, again.uploaded_bytes) == (1, len(b"console.log('changed')"))
    assert hashlib.sha1(b"console.log('changed')").hexdigest() in _uploads(emulator)[len(sent) :]
    assert len(_uploads(emulator)) == len(sent) + 1  # that file only: the configuration is as it was
    assert [r.status for r in emulator.requests_for("deployment-create")] == [200, 200]
    assert _served(emulator, address, "/assets/app.js").data == b"console.log('changed')"

    before = len(_uploads(emulator))
    unchanged = platform.publish(site.job(address, remember_sha1s=True), None)
    assert (unchanged.uploaded_files, len(_uploads(emulator))) == (0, before)


def test_every_upload_at_once_keeps_its_connection(emulator: VercelEmulator, caplog: pytest.LogCaptureFixture) -> None:
    """Uploads go many at a time; a pool smaller than that would open and drop a connection per
    request past its size (urllib3 warns), which against the real API is a TLS handshake each."""
    site = Site({f"assets/f{n}.js": f"console.log({n})".encode() * 50 for n in range(120)})
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        published = _platform(emulator).publish(site.job(_address(), remember_sha1s=True), None)
    assert published.uploaded_files == 120
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_an_early_upload_refused_leaves_the_rest_to_the_create(emulator: VercelEmulator) -> None:
    """Early uploads are best effort: after one fails, no more are tried; the create names what
    Vercel lacks, that goes as before, and no content is stored twice."""
    refused = emulator.faults.add("files-upload", status=400, body={"error": {"code": "bad_request"}}, times=1)
    site = _site()
    address = _address()
    published = _platform(emulator).publish(site.job(address, remember_sha1s=True), None)
    assert published.status is DeploymentStatus.READY
    assert refused.hits == 1
    distinct = set(site.data.values())
    assert published.uploaded_files == len(distinct)
    stored = _uploads(emulator)
    assert len(stored) == len(set(stored)) == len(distinct) + 1  # each content once, and the configuration
    assert [r.status for r in emulator.requests_for("deployment-create")] == [400, 200]  # missing, then ready
    for path, data in site.data.items():
        assert _served(emulator, address, _clean(path)).data == data, path


def test_large_and_binary_files_are_byte_for_byte(emulator: VercelEmulator) -> None:
    big = os.urandom(9 * 1024 * 1024)  # over the in-memory bound: sent from a spooled temporary file
    site = Site({"index.html": b"<p>x</p>", "blob.bin": big, "zero.bin": b"", "nul.dat": b"\x00\xff\x00\x80"})
    address = _address()
    emulator.faults.add("files-upload", status=503, times=1)  # a retry must send the same bytes again
    published = _platform(emulator).publish(site.job(address), None)
    assert published.status is DeploymentStatus.READY
    for path, data in site.data.items():
        assert _served(emulator, address, _clean(path)).data == data, path


def test_spa_redirects_and_headers_on_the_served_site(emulator: VercelEmulator) -> None:
    site = Site({"index.html": b"<div id=app></div>", "about.html": b"<h1>about</h1>", "docs/index.html": b"docs"})
    address = _address()
    config = SiteConfig(
        redirects_text="/old /about 301\n/blog/* /news/:splat 302\n/fr/* /fr 200 Country=fr\n/api/* /docs/ 200\n",
        headers_text="/*\n  X-Frame-Options: DENY\n/about\n  X-About: yes\n",
    )
    _platform(emulator).publish(site.job(address, config), None)
    moved = _served(emulator, address, "/old")
    assert (moved.status, moved.headers["Location"]) == (301, "/about")
    blog = _served(emulator, address, "/blog/2024/post")
    assert (blog.status, blog.headers["Location"]) == (302, "/news/2024/post")
    about = _served(emulator, address, "/about")  # clean URLs
    assert (about.status, about.data) == (200, b"<h1>about</h1>")
    assert about.headers["X-Frame-Options"] == "DENY"
    assert about.headers["X-About"] == "yes"
    assert _served(emulator, address, "/about.html").status == 308
    assert _served(emulator, address, "/api/anything").data == b"docs"
    spa = _served(emulator, address, "/some/client/route")  # an SPA: unknown paths answer index.html
    assert (spa.status, spa.data) == (200, b"<div id=app></div>")
    assert spa.headers["X-Frame-Options"] == "DENY"


def test_a_site_with_a_404_page_is_not_an_spa(emulator: VercelEmulator) -> None:
    site = Site({"index.html": b"home", "404.html": b"nothing here"})
    address = _address()
    _platform(emulator).publish(site.job(address), None)
    missing = _served(emulator, address, "/nope")
    assert (missing.status, missing.data) == (404, b"nothing here")


def test_429_with_only_the_bodys_reset_is_waited_out(emulator: VercelEmulator) -> None:
    reset = int(time.time()) + 2
    body: dict[str, object] = {
        "error": {"code": "rate_limited", "message": "slow down", "limit": {"remaining": 0, "reset": reset}}
    }
    emulator.faults.add("deployment-create", status=429, body=body, times=1)
    started = time.monotonic()
    published = _platform(emulator).publish(_site().job(_address()), None)
    assert time.monotonic() - started >= 0.9
    assert published.status is DeploymentStatus.READY
    assert emulator.requests_for("deployment-create")[0].status == 429


def test_429_with_retry_after_is_honoured(emulator: VercelEmulator) -> None:
    emulator.faults.add("files-upload", status=429, retry_after=1, times=1)
    started = time.monotonic()
    published = _platform(emulator).publish(_site().job(_address()), None)
    assert time.monotonic() - started >= 1.0
    assert published.status is DeploymentStatus.READY


def test_the_emulators_rate_limit_is_waited_out(emulator: VercelEmulator) -> None:
    emulator.set_rate_limit(6, window=1.0)
    published = _platform(emulator).publish(_site().job(_address()), None)
    assert published.status is DeploymentStatus.READY
    assert any(r.status == 429 for r in emulator.requests)


@pytest.mark.parametrize("route", ["deployment-create", "files-upload", "deployment-get"])
def test_503_and_resets_are_retried(emulator: VercelEmulator, route: str) -> None:
    emulator.faults.add(route, status=503, times=2)
    emulator.faults.add(route, reset=True, times=1)
    address = _address()
    published = _platform(emulator).publish(_site().job(address), None)
    assert published.status is DeploymentStatus.READY
    assert _served(emulator, address, "/").status == 200


@pytest.mark.parametrize("route", ["files-upload", "deployment-create"])
def test_a_lost_answer_still_ends_ready(emulator: VercelEmulator, route: str) -> None:
    emulator.faults.add(route, status=500, after=True, times=1)  # done, then the answer lost
    emulator.faults.add(route, reset=True, after=True, times=1)
    site = _site()
    address = _address()
    published = _platform(emulator).publish(site.job(address), None)
    assert published.status is DeploymentStatus.READY
    assert _served(emulator, address, "/assets/logo.png").data == site.data["assets/logo.png"]


def test_a_persistent_failure_names_the_call_never_the_token(emulator: VercelEmulator) -> None:
    emulator.faults.add("files-upload", status=500, times=None)
    with pytest.raises(PlatformError) as failed:
        _platform(emulator).publish(_site().job(_address()), None)
    assert "uploading" in failed.value.message
    assert SERVICE_TOKEN not in str(failed.value)
    # The emulator logs what arrived, headers included: the token was sent, and is never kept.
    assert emulator.requests
    assert all(SERVICE_TOKEN not in str(vars(r)) for r in emulator.requests)


def test_a_failed_deployment_raises_with_vercels_message(emulator: VercelEmulator) -> None:
    address = _address()
    emulator.fail_next_deployment(address.name, "Command `build` exited with 1", code="BUILD_FAILED")
    with pytest.raises(PlatformError) as failed:
        _platform(emulator).publish(_site().job(address), None)
    assert "Command `build` exited with 1" in failed.value.message
    assert "BUILD_FAILED" in failed.value.message


def test_files_vercel_keeps_asking_for_end_in_a_clear_error_not_a_loop(emulator: VercelEmulator) -> None:
    """Uploads that never take (Vercel asking for the same digests again) stop after a bounded
    number of rounds with a message saying so."""
    api = VercelApi(SecretStr(SERVICE_TOKEN), team_id=TEAM, base_url=emulator.api_base, backoff=0.05)

    class ForgettingDeployer(VercelDeployer):
        def upload_file(self, digest: str, site_file: Any, read: Any) -> None:
            return None  # as if Vercel lost every upload

    site = _site()
    routing = vercel_routing(redirects_text=None, headers_text=None, spa=True, html_handling=None)
    files = site.files()
    digests = {f.sha256: hashlib.sha1(site.data[f.path]).hexdigest() for f in files}
    with pytest.raises(PlatformError, match="still lacks 7 file"):
        ForgettingDeployer(api, rounds=2).publish(_address().name, files, digests, routing, read=site.read)
    assert [r.status for r in emulator.requests_for("deployment-create")] == [400, 400, 400]


def test_a_canceled_deployment_raises_saying_so(emulator: VercelEmulator) -> None:
    emulator.step_seconds = 1.0  # long enough to cancel it while it builds
    api = VercelApi(SecretStr(SERVICE_TOKEN), team_id=TEAM, base_url=emulator.api_base, backoff=0.05)

    class CancelingDeployer(VercelDeployer):
        def create(self, body: dict[str, Any]) -> dict[str, Any]:
            deployment = super().create(body)
            self.api.call("PATCH", f"/v12/deployments/{deployment['id']}/cancel", what="canceling")
            return deployment

    site = _site()
    routing = vercel_routing(redirects_text=None, headers_text=None, spa=True, html_handling=None)
    files = site.files()
    digests = {f.sha256: hashlib.sha1(site.data[f.path]).hexdigest() for f in files}
    with pytest.raises(PlatformError) as failed:
        CancelingDeployer(api, follow_seconds=10).publish("canceled-site", files, digests, routing, read=site.read)
    assert "canceled" in failed.value.message


def test_still_building_after_the_bound_is_building_then_refreshed(emulator: VercelEmulator) -> None:
    emulator.step_seconds = 0.3
    address = _address()
    platform = _platform(emulator, follow_seconds=0.2)
    published = platform.publish(_site().job(address), None)
    assert published.status is DeploymentStatus.BUILDING
    assert 0 < published.progress < 100
    # Before the alias: the deployment's own URL, not a guess at an alias somebody may hold.
    assert published.url.startswith(f"https://{address.name}-")
    assert published.url.endswith(".vercel.app")
    assert published.external_id
    deadline = time.monotonic() + 10
    state = platform.refresh(address, published.external_id, None)
    while state.status is DeploymentStatus.BUILDING and time.monotonic() < deadline:
        time.sleep(0.1)
        state = platform.refresh(address, published.external_id, None)
    assert (state.status, state.progress, state.error) == (DeploymentStatus.READY, 100, None)
    assert state.url == f"https://{address.name}.vercel.app"  # the alias, recorded by the status poll


def test_a_throttled_status_poll_answers_within_seconds(emulator: VercelEmulator) -> None:
    """Refresh runs inside the 10 s status function: a 429 asking for half a minute must not hold
    it (the poll fails, the status route answers from the record, the next poll asks again)."""
    address = _address()
    settings = Settings(vercel_api_base=emulator.api_base, retry_backoff_seconds=0.05, retry_after_cap_seconds=30.0)
    secret = Secret({"vercel": {"accounts": [{"token": SERVICE_TOKEN, "teamId": TEAM}], "projectPrefix": "sd"}})
    platform = VercelPlatform(settings, secret, follow_seconds=20.0)
    published = platform.publish(_site().job(address), None)
    assert published.external_id
    emulator.faults.add("deployment-get", status=429, retry_after=30, times=None)
    started = time.monotonic()
    with pytest.raises(PlatformError):
        platform.refresh(address, published.external_id, None)
    assert time.monotonic() - started < 6


def test_refresh_maps_a_cancel_after_publishing(emulator: VercelEmulator) -> None:
    emulator.step_seconds = 2.0
    address = _address()
    platform = _platform(emulator, follow_seconds=0.0)
    published = platform.publish(_site().job(address), None)
    assert published.status is DeploymentStatus.BUILDING
    assert published.external_id
    assert emulator.cancel(published.external_id)
    state = platform.refresh(address, published.external_id, None)
    assert (state.status, state.error) == (DeploymentStatus.ERROR, "Vercel deployment canceled")


def test_a_users_token_in_a_team_and_in_its_personal_account(emulator: VercelEmulator) -> None:
    platform = _platform(emulator)
    in_team = VercelToken.model_validate({"token": SERVICE_TOKEN, "teamId": TEAM})
    address = _address(TEAM)
    published = platform.publish(_site().job(address), in_team)
    assert published.status is DeploymentStatus.READY
    assert address.name in emulator.project_names(TEAM)
    personal = VercelToken.model_validate({"token": USER_TOKEN})
    mine = _address(None)
    platform.publish(_site().job(mine), personal)
    assert mine.name in emulator.project_names("someone")
    assert mine.name not in emulator.project_names(TEAM)
    outsider = VercelToken.model_validate({"token": OUTSIDER_TOKEN, "teamId": TEAM})
    with pytest.raises(PlatformError) as refused:
        platform.publish(_site().job(_address(TEAM)), outsider)
    assert refused.value.status == 403
    assert OUTSIDER_TOKEN not in str(refused.value)


def test_site_url_once_the_project_serves(emulator: VercelEmulator) -> None:
    platform = _platform(emulator)
    address = _address()
    assert platform.site_url(address, None) is None
    platform.publish(_site().job(address), None)
    assert platform.site_url(address, None) == f"https://{address.name}.vercel.app"


def test_tear_down_then_again(emulator: VercelEmulator) -> None:
    platform = _platform(emulator)
    address = _address()
    platform.publish(_site().job(address), None)
    assert emulator.site_url(TEAM, address.name)
    assert platform.tear_down(address, None) is True
    assert emulator.site_url(TEAM, address.name) is None
    assert platform.tear_down(address, None) is False


def test_verify_good_and_bad_tokens(emulator: VercelEmulator) -> None:
    platform = _platform(emulator)
    team = platform.verify(VercelToken.model_validate({"token": SERVICE_TOKEN, "teamId": TEAM}))
    assert (team.account_id, team.account_name) == (TEAM, TEAM_SLUG)
    personal = platform.verify(VercelToken.model_validate({"token": USER_TOKEN}))
    assert personal.account_name == "someone"
    assert personal.account_id
    with pytest.raises(PlatformError) as bad:
        platform.verify(VercelToken.model_validate({"token": "not-a-token"}))
    assert "not-a-token" not in str(bad.value)
    with pytest.raises(PlatformError):
        platform.verify(VercelToken.model_validate({"token": OUTSIDER_TOKEN, "teamId": TEAM}))


def test_stats_lists_the_projects(emulator: VercelEmulator) -> None:
    platform = _platform(emulator)
    names = []
    for _ in range(2):
        address = _address()
        platform.publish(_site().job(address), None)
        names.append(address.name)
    stats = platform.stats(VercelToken.model_validate({"token": SERVICE_TOKEN, "teamId": TEAM}))
    assert sorted(w.name for w in stats.workers or []) == sorted(names)
    assert all(w.modified_on and w.modified_on.endswith("Z") for w in stats.workers or [])
    empty = platform.stats(VercelToken.model_validate({"token": USER_TOKEN}))
    assert empty.workers == []


def test_parallel_publishes_of_two_sites(emulator: VercelEmulator) -> None:
    platform = _platform(emulator)
    results: list[DeploymentStatus] = []
    addresses = [_address(), _address()]

    def run(address: SiteAddress) -> None:
        results.append(platform.publish(_site().job(address), None).status)

    threads = [threading.Thread(target=run, args=(a,)) for a in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [DeploymentStatus.READY, DeploymentStatus.READY]


def test_attaching_a_domain_again_is_where_it_stands_and_another_project_is_refused(
    emulator: VercelEmulator,
) -> None:
    """An attach whose answer was lost is finished by the refresher's attach: Vercel's 400
    ``domain_already_in_project`` is then where the domain stands, not a refusal."""
    platform = _platform(emulator)
    mine, theirs = _address(), _address()
    platform.publish(_site().job(mine), None)
    platform.publish(_site().job(theirs), None)
    hostname = f"www.{uuid.uuid4().hex[:8]}.example"
    first = platform.attach_domain(mine, hostname, None)
    again = platform.attach_domain(mine, hostname, None)
    assert again.status is first.status
    assert again.records == first.records
    adds = [r.status for r in emulator.requests_for("project-domains-add")]
    assert adds == [200, 400]
    with pytest.raises(PlatformError) as refused:
        platform.attach_domain(theirs, hostname, None)
    assert refused.value.status == 409
