"""The Cloudflare adapter against the emulator over real HTTP: the upload protocol, dedup,
retries, expired and lost tokens, and the limits."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
import urllib3
from pydantic import SecretStr

from sitedeploy.platforms.base import SiteFile
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError
from sitedeploy.platforms.cloudflare.assets import AssetsOptions, CloudflarePublisher, CloudflareTarget
from sitedeploy_local.emulators.cloudflare import CloudflareEmulator
from sitedeploy_local.stack import LocalStack
from tests.sites import Site

ACCOUNT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TOKEN = "adapter-test-token"
SUBDOMAIN = "adapter-tests"


@pytest.fixture
def emulator(stack: LocalStack) -> Iterator[CloudflareEmulator]:
    emulator = stack.cloudflare
    emulator.reset()
    emulator.add_account(ACCOUNT, name="adapter tests", subdomain=SUBDOMAIN)
    emulator.add_token(TOKEN, [ACCOUNT])
    yield emulator
    emulator.faults.clear()


def _publisher(emulator: CloudflareEmulator, token: str = TOKEN) -> CloudflarePublisher:
    return CloudflarePublisher(
        CloudflareApi(SecretStr(token), base_url=emulator.api_base, backoff=0.05, retry_after_cap=2.0)
    )


def _target(name: str | None = None) -> CloudflareTarget:
    return CloudflareTarget(ACCOUNT, name if name is not None else f"t-{uuid.uuid4().hex[:10]}")


def _site() -> Site:
    return Site(
        {
            "index.html": b"<!doctype html><h1>hi</h1>",
            "assets/app.js": b"console.log('hi')",
            "assets/logo.png": os.urandom(5000),
            "fonts/a.woff2": b"wOF2" + os.urandom(3000),
        }
    )


def _served(emulator: CloudflareEmulator, target: CloudflareTarget, path: str) -> urllib3.BaseHTTPResponse:
    base = emulator.site_url(ACCOUNT, target.script_name)
    assert base
    return urllib3.request("GET", base.rstrip("/") + path, redirect=False)


def test_first_deploy_publishes_every_byte(emulator: CloudflareEmulator) -> None:
    site = _site()
    target = _target()
    progress: list[tuple[int, int]] = []
    result = _publisher(emulator).publish(
        target, site.files(), AssetsOptions(), site.read, lambda s, t: progress.append((s, t)), prefetch=site.prefetch
    )
    assert [sorted(paths) for paths in site.prefetched] == [sorted(site.data)]  # told first, then read
    assert result.url == f"https://{target.script_name}.{SUBDOMAIN}.workers.dev"
    assert result.uploaded_files == 4
    assert result.uploaded_bytes == sum(len(d) for d in site.data.values())
    assert progress[-1][0] == progress[-1][1] == result.uploaded_bytes
    script = emulator.script(ACCOUNT, target.script_name)
    assert script is not None
    assert script.subdomain_enabled
    assert script.config["not_found_handling"] == "single-page-application"
    assert script.config["html_handling"] == "auto-trailing-slash"
    for path, data in site.data.items():
        answer = _served(emulator, target, "/" + path if path != "index.html" else "/")
        assert answer.status == 200
        assert answer.data == data
    png = _served(emulator, target, "/assets/logo.png")
    assert png.headers["Content-Type"].startswith("image/png")
    js = _served(emulator, target, "/assets/app.js")
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"


def test_redeploy_with_one_change_uploads_exactly_one_hash(emulator: CloudflareEmulator) -> None:
    site = _site()
    target = _target()
    publisher = _publisher(emulator)
    publisher.publish(target, site.files(), AssetsOptions(), site.read)
    site.data["assets/app.js"] = b"console.log('changed')"
    site.reads.clear()
    result = publisher.publish(target, site.files(), AssetsOptions(), site.read, prefetch=site.prefetch)
    assert site.prefetched == [["assets/app.js"]]  # only what Cloudflare asked for is fetched ahead
    assert result.uploaded_files == 1
    assert result.uploaded_bytes == len(b"console.log('changed')")
    assert site.reads == ["assets/app.js"]
    assert _served(emulator, target, "/assets/app.js").data == b"console.log('changed')"
    unchanged = publisher.publish(target, site.files(), AssetsOptions(), site.read)
    assert unchanged.uploaded_files == 0


def test_same_bytes_under_two_extensions_keep_their_types(emulator: CloudflareEmulator) -> None:
    same = b"body { color: red }"
    site = Site({"index.html": b"<p>x</p>", "a.css": same, "a.txt": same, "b/a.css": same})
    target = _target()
    result = _publisher(emulator).publish(target, site.files(), AssetsOptions(), site.read)
    assert result.uploaded_files == 3  # a.css and b/a.css share one hash
    assert _served(emulator, target, "/a.css").headers["Content-Type"].startswith("text/css")
    assert _served(emulator, target, "/a.txt").headers["Content-Type"].startswith("text/plain")


def test_429_with_retry_after_is_honoured(emulator: CloudflareEmulator) -> None:
    emulator.faults.add("assets-upload", status=429, retry_after=1, times=1)
    site = _site()
    started = time.monotonic()
    result = _publisher(emulator).publish(_target(), site.files(), AssetsOptions(), site.read)
    assert time.monotonic() - started >= 1.0
    assert result.uploaded_files == 4


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "times": 2},
        {"status": 502, "times": 1},
        {"status": 524, "times": 1},
        {"reset": True, "times": 2},
    ],
    ids=["500", "502", "524", "reset"],
)
@pytest.mark.parametrize("route", ["assets-upload-session", "assets-upload", "script-put", "subdomain-post"])
def test_transient_failures_are_retried(emulator: CloudflareEmulator, route: str, fault: dict[str, object]) -> None:
    emulator.faults.add(route, **fault)  # type: ignore[arg-type]
    site = _site()
    target = _target()
    result = _publisher(emulator).publish(target, site.files(), AssetsOptions(), site.read)
    assert result.url.startswith("https://")
    assert _served(emulator, target, "/").data == site.data["index.html"]


def test_persistent_failure_ends_with_the_platforms_message(emulator: CloudflareEmulator) -> None:
    emulator.faults.add("assets-upload", status=500, times=None)
    site = _site()
    with pytest.raises(CloudflareError) as failed:
        _publisher(emulator).publish(_target(), site.files(), AssetsOptions(), site.read)
    assert "uploading assets" in str(failed.value) or "500" in str(failed.value)
    assert TOKEN not in str(failed.value)


def test_expired_upload_jwt_is_recovered_with_a_new_session(stack: LocalStack) -> None:
    emulator = CloudflareEmulator(upload_jwt_ttl=2.0)  # JWT exp has 1 s granularity
    emulator.start()
    try:
        emulator.add_account(ACCOUNT, name="ttl", subdomain=SUBDOMAIN)
        emulator.add_token(TOKEN, [ACCOUNT])
        emulator.faults.add("assets-upload", delay=3.0, times=1)
        site = _site()
        target = _target()
        result = _publisher(emulator).publish(target, site.files(), AssetsOptions(), site.read)
        sessions = [r for r in emulator.requests if r.route == "assets-upload-session"]
        assert len(sessions) >= 2
        assert result.url.endswith(".workers.dev")
        assert _served(emulator, target, "/assets/logo.png").data == site.data["assets/logo.png"]
    finally:
        emulator.stop()


def test_lost_completion_token_is_recovered(emulator: CloudflareEmulator) -> None:
    emulator.faults.add("assets-upload", lose_completion=True, times=1)
    site = _site()
    target = _target()
    result = _publisher(emulator).publish(target, site.files(), AssetsOptions(), site.read)
    sessions = [r for r in emulator.requests if r.route == "assets-upload-session"]
    assert len(sessions) == 2
    assert result.uploaded_files == 4  # nothing uploaded twice
    assert _served(emulator, target, "/").status == 200


def test_file_over_25_mib_is_refused_before_any_call(emulator: CloudflareEmulator) -> None:
    big = SiteFile("big.bin", "0" * 64, 25 * 1024 * 1024 + 1, "application/octet-stream")
    before = len(emulator.requests)
    with pytest.raises(CloudflareError, match="25 MiB"):
        _publisher(emulator).publish(_target(), [big], AssetsOptions(), lambda f: iter(()))
    assert len(emulator.requests) == before


@pytest.mark.parametrize("name", ["Bad_Name", "-lead", "trail-", "a" * 64, ""])
def test_script_name_rules(emulator: CloudflareEmulator, name: str) -> None:
    site = _site()
    with pytest.raises(CloudflareError, match="not a valid Worker name"):
        _publisher(emulator).publish(_target(name), site.files(), AssetsOptions(), site.read)


def test_a_bad_token_fails_clearly(emulator: CloudflareEmulator) -> None:
    site = _site()
    with pytest.raises(CloudflareError) as failed:
        _publisher(emulator, token="wrong-token").publish(_target(), site.files(), AssetsOptions(), site.read)
    assert failed.value.status in {401, 403}
    assert "wrong-token" not in str(failed.value)


def test_headers_redirects_and_404_page_travel_in_the_config(emulator: CloudflareEmulator) -> None:
    site = Site({"index.html": b"<p>home</p>", "404.html": b"<p>missing</p>", "docs/page.html": b"<p>doc</p>"})
    target = _target()
    options = AssetsOptions(headers_text="/*\n  X-Demo: yes\n", redirects_text="/old /docs/page 301\n")
    _publisher(emulator).publish(target, site.files(), options, site.read)
    script = emulator.script(ACCOUNT, target.script_name)
    assert script is not None
    assert script.config["not_found_handling"] == "404-page"
    assert script.config["_headers"] == "/*\n  X-Demo: yes\n"
    assert _served(emulator, target, "/nope").status == 404
    assert _served(emulator, target, "/nope").data == b"<p>missing</p>"
    assert _served(emulator, target, "/docs/page").headers.get("X-Demo") == "yes"
    moved = _served(emulator, target, "/old")
    assert moved.status == 301
    assert moved.headers["Location"].endswith("/docs/page")


def test_delete_treats_gone_as_done(emulator: CloudflareEmulator) -> None:
    site = _site()
    target = _target()
    publisher = _publisher(emulator)
    publisher.publish(target, site.files(), AssetsOptions(), site.read)
    assert publisher.delete(target) is True
    assert emulator.script(ACCOUNT, target.script_name) is None
    assert publisher.delete(target) is False
