"""The Netlify emulator over real HTTP: auth, sites (global names, site limits, lookup by domain),
the file-digest deploy protocol (async preparing → prepared, dedup per site, the CLI's empty POST
then PUT, uploads with encodeURI-escaped paths), the deploy states through ready and error, the
served sites' Netlify semantics (pretty URLs, ``_redirects``, ``_headers``, 404.html), faults and
rate limits, the request log, and Netlify's own JavaScript client (``@netlify/api``) deploying
against it (the check that the emulator speaks the platform's protocol, not our idea of it)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import urllib3

from sitedeploy_local.emulators.netlify import NO_ROUTE, ROUTE_NAMES, NetlifyEmulator
from tests.local.emulator_http import Answer, ApiClient, fetch_site, install_client, sha1, unique

ACCOUNT = "team-a"
OTHER_ACCOUNT = "team-b"
TOKEN = "netlify-token-a"
OTHER_TOKEN = "netlify-token-b"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + b"\x00\xff\x00"
WOFF2 = b"wOF2\x00\x01\x00\x00" + bytes(reversed(range(256))) * 4
SITE = {
    "/index.html": b"<!doctype html><h1>home</h1>",
    "/about.html": b"<p>about</p>",
    "/docs/index.html": b"<p>docs</p>",
    "/style.css": b"body { color: teal }",
    "/img/logo.png": PNG,
    "/fonts/body.woff2": WOFF2,
}


def encode_uri(path: str) -> str:
    """JavaScript's encodeURI of a deploy path without its leading slash."""
    return quote(path.lstrip("/"), safe="/;,?:@&=+$-_.!~*'()#")


class Client(ApiClient[Answer]):
    def __init__(self, emulator: NetlifyEmulator, token: str | None = TOKEN) -> None:
        super().__init__(Answer, token)
        self.emulator = emulator

    def url(self, path: str, query: str) -> str:
        return self.emulator.api_base + path + (f"?{query}" if query else "")

    def create_site(self, name: str, account: str = ACCOUNT) -> dict[str, Any]:
        answer = self.call("POST", f"/{account}/sites", json_body={"name": name})
        assert answer.status == 201, answer.body
        return dict(answer.body)

    def start_deploy(self, site_id: str, files: dict[str, bytes], *, is_async: bool = True) -> dict[str, Any]:
        digests = {path: sha1(data) for path, data in files.items()}
        answer = self.call(
            "POST", f"/sites/{site_id}/deploys", json_body={"files": digests, "async": is_async, "draft": False}
        )
        assert answer.status == 200, answer.body
        return dict(answer.body)

    def get_deploy(self, deploy_id: str) -> dict[str, Any]:
        answer = self.call("GET", f"/deploys/{deploy_id}")
        assert answer.status == 200, answer.body
        return dict(answer.body)

    def wait(self, deploy_id: str, states: set[str], timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            deploy = self.get_deploy(deploy_id)
            if deploy["state"] in states or time.monotonic() > deadline:
                assert deploy["state"] in states, deploy
                return deploy
            time.sleep(0.01)

    def upload(self, deploy_id: str, path: str, data: bytes) -> Answer:
        return self.call(
            "PUT",
            f"/deploys/{deploy_id}/files/{encode_uri(path)}",
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def publish(self, name: str, files: dict[str, bytes], *, site_id: str | None = None) -> dict[str, Any]:
        """The whole protocol; returns the final deploy."""
        site_id = site_id or self.create_site(name)["id"]
        deploy = self.start_deploy(site_id, files)
        deploy = self.wait(deploy["id"], {"prepared", "processing", "ready", "error"})
        by_digest = {sha1(data): (path, data) for path, data in files.items()}
        for digest in deploy["required"]:
            path, data = by_digest[digest]
            answer = self.upload(deploy["id"], path, data)
            assert answer.status == 200, answer.body
        return self.wait(deploy["id"], {"ready", "error"})


def fetch(emulator: NetlifyEmulator, name: str, path: str, **kwargs: Any) -> Any:
    return fetch_site(emulator.site_url(ACCOUNT, name), name, path, **kwargs)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_instance() -> Iterator[NetlifyEmulator]:
    emulator = NetlifyEmulator(prepare_seconds=0.05, process_seconds=0.05)
    emulator.add_account(ACCOUNT, "Team A")
    emulator.add_account(OTHER_ACCOUNT, "Team B", site_limit=2)
    emulator.add_token(TOKEN, [ACCOUNT], user_slug="alice")
    emulator.add_token(OTHER_TOKEN, [OTHER_ACCOUNT])
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(emulator_instance: NetlifyEmulator) -> Iterator[NetlifyEmulator]:
    emulator_instance.reset()
    yield emulator_instance
    emulator_instance.faults.clear()
    emulator_instance.set_rate_limit(None)
    emulator_instance.deploys_per_minute = None


@pytest.fixture
def client(emulator: NetlifyEmulator) -> Client:
    return Client(emulator)


# -- auth, user, accounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_unknown_or_missing_token_is_401(emulator: NetlifyEmulator, token: str | None) -> None:
    answer = Client(emulator, token=token).call("GET", "/sites")
    assert answer.status == 401
    assert answer.body["code"] == 401
    assert answer.body["message"].startswith("Access Denied")


def test_user_and_accounts(client: Client) -> None:
    user = client.call("GET", "/user")
    assert user.status == 200
    assert {"id", "uid", "full_name", "email", "slug"} <= set(user.body)
    assert user.body["slug"] == "alice"
    accounts = client.call("GET", "/accounts")
    assert accounts.status == 200
    assert [(a["slug"], a["name"]) for a in accounts.body] == [(ACCOUNT, "Team A")]
    assert {"id", "slug", "name", "type_name"} <= set(accounts.body[0])


def test_unknown_route_is_a_json_404(client: Client) -> None:
    answer = client.call("GET", "/nothing/here/at/all")
    assert (answer.status, answer.body) == (404, {"code": 404, "message": "Not Found"})


# -- sites ------------------------------------------------------------------------------------------------


def test_site_create_lookup_list_and_delete(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("site")
    site = client.create_site(name)
    assert site["id"] == site["site_id"]
    assert site["name"] == name
    assert site["url"] == f"http://{name}.netlify.app"
    assert site["ssl_url"] == f"https://{name}.netlify.app"
    assert site["account_slug"] == ACCOUNT
    assert site["state"] == "current"
    assert site["published_deploy"] is None
    assert {"admin_url", "created_at", "updated_at"} <= set(site)
    by_id = client.call("GET", f"/sites/{site['id']}")
    by_domain = client.call("GET", f"/sites/{name}.netlify.app")
    assert by_id.status == by_domain.status == 200
    assert by_id.body["id"] == by_domain.body["id"] == site["id"]
    assert client.call("GET", f"/sites/{name}").status == 404  # a bare name is not a site id
    listed = client.call("GET", "/sites?filter=all&page=1&per_page=100")
    assert [s["name"] for s in listed.body] == [name]
    assert [s["name"] for s in client.call("GET", f"/{ACCOUNT}/sites?page=1&per_page=100").body] == [name]
    assert client.call("GET", "/sites?page=2&per_page=100").body == []
    deleted = client.call("DELETE", f"/sites/{site['id']}")
    assert (deleted.status, deleted.raw) == (204, b"")
    gone = client.call("GET", f"/sites/{site['id']}")
    assert (gone.status, gone.body) == (404, {"code": 404, "message": "Not Found"})
    assert client.call("DELETE", f"/sites/{site['id']}").status == 404
    assert emulator.site(name) is None


def test_post_sites_uses_the_tokens_first_account(client: Client) -> None:
    answer = client.call("POST", "/sites", json_body={"name": unique("first")})
    assert answer.status == 201
    assert answer.body["account_slug"] == ACCOUNT


def test_site_names_are_global(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("taken")
    client.create_site(name)
    other = Client(emulator, token=OTHER_TOKEN)
    answer = other.call("POST", f"/{OTHER_ACCOUNT}/sites", json_body={"name": name})
    assert answer.status == 422
    assert answer.body == {"code": 422, "message": "Validation Failed", "errors": {"subdomain": ["must be unique"]}}
    # and the other account cannot see the site
    assert other.call("GET", f"/sites/{name}.netlify.app").status == 404


def test_site_limit(emulator: NetlifyEmulator) -> None:
    other = Client(emulator, token=OTHER_TOKEN)
    first = other.create_site(unique("one"), OTHER_ACCOUNT)
    other.create_site(unique("two"), OTHER_ACCOUNT)
    answer = other.call("POST", f"/{OTHER_ACCOUNT}/sites", json_body={"name": unique("three")})
    assert answer.status == 422
    assert answer.body["code"] == 422
    assert "site limit" in answer.body["message"]
    assert other.call("DELETE", f"/sites/{first['id']}").status == 204
    assert other.call("POST", f"/{OTHER_ACCOUNT}/sites", json_body={"name": unique("three")}).status == 201


def test_an_account_the_token_does_not_hold_is_404(client: Client) -> None:
    assert client.call("POST", f"/{OTHER_ACCOUNT}/sites", json_body={"name": unique()}).status == 404
    assert client.call("GET", f"/{OTHER_ACCOUNT}/sites").status == 404


def test_invalid_site_name_is_422(client: Client) -> None:
    answer = client.call("POST", f"/{ACCOUNT}/sites", json_body={"name": "Not A Name"})
    assert answer.status == 422
    assert answer.body["errors"] == {"subdomain": ["is invalid"]}


# -- deploys ----------------------------------------------------------------------------------------------


def test_async_deploy_prepares_then_requires_distinct_missing_digests(
    client: Client, emulator: NetlifyEmulator
) -> None:
    name = unique("deploy")
    site = client.create_site(name)
    files = {**SITE, "/copy.css": SITE["/style.css"]}  # the same bytes twice: one digest
    deploy = client.start_deploy(site["id"], files)
    assert deploy["state"] == "preparing"
    assert deploy["required"] == []
    assert {"id", "site_id", "required_functions", "error_message", "ssl_url", "deploy_ssl_url", "url"} <= set(deploy)
    assert {"created_at", "updated_at", "title"} <= set(deploy)
    assert deploy["site_id"] == site["id"]
    prepared = client.wait(deploy["id"], {"prepared"})
    assert sorted(prepared["required"]) == sorted({sha1(data) for data in files.values()})
    assert len(prepared["required"]) == len(files) - 1
    assert emulator.site_url(ACCOUNT, name) is None  # nothing is live yet
    states = []
    by_digest = {sha1(data): (path, data) for path, data in files.items()}
    for digest in prepared["required"]:
        assert client.upload(deploy["id"], *by_digest[digest]).status == 200
        states.append(client.get_deploy(deploy["id"])["state"])
    assert states[:-1] == ["uploading"] * (len(states) - 1)
    assert states[-1] in {"uploaded", "processing", "ready"}
    ready = client.wait(deploy["id"], {"ready"})
    assert ready["error_message"] is None
    assert ready["ssl_url"] == f"https://{name}.netlify.app"
    assert ready["deploy_ssl_url"] == f"https://{deploy['id']}--{name}.netlify.app"
    live = client.call("GET", f"/sites/{site['id']}").body
    assert live["published_deploy"]["id"] == deploy["id"]
    via_site = client.call("GET", f"/sites/{site['id']}/deploys/{deploy['id']}")
    assert via_site.status == 200
    assert via_site.body["state"] == "ready"


def test_states_are_seen_in_order(client: Client, emulator: NetlifyEmulator) -> None:
    # Phases long enough that a poll on a busy machine sees each one (at the module's 0.05 s,
    # ``uploaded`` lasts 25 ms).
    emulator.prepare_seconds, emulator.process_seconds = 0.5, 1.0
    try:
        site = client.create_site(unique("states"))
        deploy = client.start_deploy(site["id"], {"/index.html": b"x"})
        seen = [deploy["state"]]
        while seen[-1] != "prepared":
            state = client.get_deploy(deploy["id"])["state"]
            if state != seen[-1]:
                seen.append(state)
            time.sleep(0.02)
        assert client.upload(deploy["id"], "/index.html", b"x").status == 200
        while seen[-1] != "ready":
            state = client.get_deploy(deploy["id"])["state"]
            if state != seen[-1]:
                seen.append(state)
            time.sleep(0.02)
    finally:
        emulator.prepare_seconds, emulator.process_seconds = 0.05, 0.05
    assert seen == ["preparing", "prepared", "uploaded", "processing", "ready"]


def test_sync_deploy_is_prepared_at_once(client: Client) -> None:
    site = client.create_site(unique("sync"))
    deploy = client.start_deploy(site["id"], {"/index.html": b"sync"}, is_async=False)
    assert deploy["state"] == "prepared"
    assert deploy["required"] == [sha1(b"sync")]


def test_redeploy_requires_only_the_changed_digest(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("redeploy")
    first = client.publish(name, SITE)
    assert first["state"] == "ready"
    site_id = first["site_id"]
    changed = {**SITE, "/style.css": b"body { color: crimson }"}
    deploy = client.start_deploy(site_id, changed)
    prepared = client.wait(deploy["id"], {"prepared"})
    assert prepared["required"] == [sha1(b"body { color: crimson }")]
    # until it is uploaded the old deploy stays live
    assert fetch(emulator, name, "/style.css").data == SITE["/style.css"]
    assert client.upload(deploy["id"], "/style.css", changed["/style.css"]).status == 200
    client.wait(deploy["id"], {"ready"})
    assert fetch(emulator, name, "/style.css").data == b"body { color: crimson }"
    # dedup is per site: another site uploads everything
    other = client.create_site(unique("fresh"))
    fresh = client.wait(client.start_deploy(other["id"], SITE)["id"], {"prepared"})
    assert len(fresh["required"]) == len(SITE)


def test_a_deploy_with_nothing_required_goes_straight_to_processing(client: Client) -> None:
    name = unique("same")
    first = client.publish(name, SITE)
    again = client.start_deploy(first["site_id"], SITE, is_async=False)
    assert again["required"] == []
    assert again["state"] == "processing"
    assert client.wait(again["id"], {"ready"})["state"] == "ready"


def test_cli_style_empty_post_then_put_of_digests(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("cli")
    site = client.create_site(name)
    created = client.call("POST", f"/sites/{site['id']}/deploys", json_body={})
    assert created.status == 200
    assert created.body["state"] == "new"
    # netlify-cli sends the paths without their leading slash
    digests = {"index.html": sha1(b"<p>cli</p>")}
    updated = client.call(
        "PUT", f"/sites/{site['id']}/deploys/{created.body['id']}", json_body={"files": digests, "async": True}
    )
    assert updated.status == 200
    assert updated.body["state"] == "preparing"
    prepared = client.wait(created.body["id"], {"prepared"})
    assert prepared["required"] == [sha1(b"<p>cli</p>")]
    assert client.upload(created.body["id"], "index.html", b"<p>cli</p>").status == 200
    client.wait(created.body["id"], {"ready"})
    assert fetch(emulator, name, "/").data == b"<p>cli</p>"


def test_file_upload_paths_digests_and_states(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("paths")
    files = {"/a b/ü ñ.txt": b"unicode and spaces", "/x+y (1).txt": b"plus and parens", "/index.html": b"i"}
    site = client.create_site(name)
    deploy = client.start_deploy(site["id"], files)
    early = client.upload(deploy["id"], "/index.html", b"i")
    assert early.status == 422  # still preparing
    client.wait(deploy["id"], {"prepared"})
    wrong = client.upload(deploy["id"], "/index.html", b"not the listed bytes")
    assert wrong.status == 422
    assert wrong.body["code"] == 422
    unknown = client.upload(deploy["id"], "/not-listed.txt", b"i")
    assert (unknown.status, unknown.body) == (404, {"code": 404, "message": "Not Found"})
    for path, data in files.items():
        answer = client.upload(deploy["id"], path, data)
        assert answer.status == 200, answer.body
        assert answer.body["path"] == path
        assert answer.body["sha"] == answer.body["id"] == sha1(data)
        assert answer.body["size"] == len(data)
        assert answer.body["mime_type"] == "text/plain" if path.endswith(".txt") else "text/html"
    client.wait(deploy["id"], {"ready"})
    assert fetch(emulator, name, "/a%20b/%C3%BC%20%C3%B1.txt").data == b"unicode and spaces"
    assert fetch(emulator, name, "/x+y%20(1).txt").data == b"plus and parens"
    late = client.upload(deploy["id"], "/index.html", b"i")
    assert late.status == 422  # the deploy is ready


def test_deploy_validation(client: Client) -> None:
    site = client.create_site(unique("valid"))
    bad_digest = client.call("POST", f"/sites/{site['id']}/deploys", json_body={"files": {"/a": "nothex"}})
    assert bad_digest.status == 422
    not_json = client.call("POST", f"/sites/{site['id']}/deploys", body=b"{", headers={"Content-Type": "x"})
    assert not_json.status == 400
    assert client.call("POST", "/sites/no-such-site/deploys", json_body={}).status == 404
    assert client.call("GET", "/deploys/000000000000000000000000").status == 404
    other = Client(client.emulator, token=OTHER_TOKEN)
    deploy = client.start_deploy(site["id"], {"/a.txt": b"a"})
    assert other.call("GET", f"/deploys/{deploy['id']}").status == 404


def test_fail_next_deploy_ends_in_error(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("fails")
    site = client.create_site(name)
    emulator.fail_next_deploy(name, "Build script returned non-zero exit code: 2")
    failed = client.publish(name, {"/index.html": b"x"}, site_id=site["id"])
    assert failed["state"] == "error"
    assert failed["error_message"] == "Build script returned non-zero exit code: 2"
    assert emulator.site_url(ACCOUNT, name) is None
    assert client.call("GET", f"/sites/{site['id']}").body["published_deploy"] is None
    recovered = client.publish(name, {"/index.html": b"x"}, site_id=site["id"])  # only the next one fails
    assert recovered["state"] == "ready"
    assert fetch(emulator, name, "/").data == b"x"


# -- the served site ---------------------------------------------------------------------------------------


def test_served_bytes_and_content_types(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("bytes")
    client.publish(name, SITE)
    for path, data in SITE.items():
        answer = fetch(emulator, name, path)
        assert (answer.status, answer.data) == (200, data), path
    assert fetch(emulator, name, "/img/logo.png").headers["Content-Type"] == "image/png"
    assert fetch(emulator, name, "/fonts/body.woff2").headers["Content-Type"] == "font/woff2"
    assert fetch(emulator, name, "/style.css").headers["Content-Type"] == "text/css; charset=utf-8"
    assert fetch(emulator, name, "/").headers["Content-Type"] == "text/html; charset=utf-8"
    etag = fetch(emulator, name, "/style.css").headers["ETag"]
    assert fetch(emulator, name, "/style.css", headers={"If-None-Match": etag}).status == 304
    assert emulator.file(name, "/img/logo.png") == PNG


def test_pretty_urls(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("pretty")
    client.publish(name, SITE)
    assert fetch(emulator, name, "/").data == SITE["/index.html"]
    assert fetch(emulator, name, "/about").data == SITE["/about.html"]
    assert fetch(emulator, name, "/docs").data == SITE["/docs/index.html"]
    assert fetch(emulator, name, "/docs/").data == SITE["/docs/index.html"]
    assert fetch(emulator, name, "/missing").status == 404


def test_404_pages(client: Client, emulator: NetlifyEmulator) -> None:
    plain = unique("plain")
    client.publish(plain, {"/index.html": b"home"})
    answer = fetch(emulator, plain, "/nope")
    assert answer.status == 404
    assert b"Page not found" in answer.data
    custom = unique("custom")
    client.publish(custom, {"/index.html": b"home", "/404.html": b"<h1>custom 404</h1>"})
    answer = fetch(emulator, custom, "/nope/deeper")
    assert (answer.status, answer.data) == (404, b"<h1>custom 404</h1>")


REDIRECTS = b"""# comments and blank lines are skipped

/old            /about
/temp           /about          302
/blog/*         /news/:splat    301
/shop/:item/buy /cart/:item     302
/app/*          /index.html     200
/gone           /custom-404.html 404
/about          /elsewhere      301
/style.css      /forced.css     200!
/outside        https://example.com/x 301
/*              /index.html     200
"""


def test_redirects(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("redir")
    files = {**SITE, "/custom-404.html": b"<p>gone</p>", "/forced.css": b"forced", "/_redirects": REDIRECTS}
    client.publish(name, files)

    def location(path: str) -> tuple[int, str | None]:
        answer = fetch(emulator, name, path)
        return answer.status, answer.headers.get("Location")

    assert location("/old") == (301, "/about")  # 301 is the default
    assert location("/old/") == (301, "/about")  # trailing slashes do not matter
    assert location("/old?x=1") == (301, "/about?x=1")
    assert location("/temp") == (302, "/about")
    assert location("/blog/2024/post") == (301, "/news/2024/post")
    assert location("/shop/hat/buy") == (302, "/cart/hat")
    assert location("/outside") == (301, "https://example.com/x")
    rewritten = fetch(emulator, name, "/app/some/route")
    assert (rewritten.status, rewritten.data, rewritten.headers.get("Location")) == (200, SITE["/index.html"], None)
    gone = fetch(emulator, name, "/gone")
    assert (gone.status, gone.data) == (404, b"<p>gone</p>")
    # shadowing: /about exists (about.html), so its rule does not apply; a forced rule does
    assert fetch(emulator, name, "/about").data == SITE["/about.html"]
    assert fetch(emulator, name, "/style.css").data == b"forced"
    # the final catch-all rewrite: an SPA fallback
    assert fetch(emulator, name, "/anything/else").data == SITE["/index.html"]
    # the rule files themselves are not served
    assert fetch(emulator, name, "/_redirects").data == SITE["/index.html"]  # the catch-all, not the file


def test_rule_files_are_not_served(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("hidden")
    client.publish(name, {"/index.html": b"i", "/_redirects": b"/a /b\n", "/_headers": b"/*\n  X-A: b\n"})
    assert fetch(emulator, name, "/_redirects").status == 404
    assert fetch(emulator, name, "/_headers").status == 404


def test_headers(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("headers")
    rules = b"""/*
  X-Frame-Options: DENY
  X-Everywhere: yes
/img/*
  Cache-Control: public, max-age=31536000, immutable
# a comment
/about
  X-About: only here
"""
    client.publish(name, {**SITE, "/_headers": rules})
    logo = fetch(emulator, name, "/img/logo.png")
    assert logo.headers["X-Frame-Options"] == "DENY"
    assert "max-age=31536000" in logo.headers["Cache-Control"]
    about = fetch(emulator, name, "/about")
    assert (about.headers["X-About"], about.headers["X-Everywhere"]) == ("only here", "yes")
    assert "X-About" not in fetch(emulator, name, "/").headers
    assert fetch(emulator, name, "/missing").headers["X-Everywhere"] == "yes"


def test_delete_stops_serving(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("stop")
    deploy = client.publish(name, {"/index.html": b"bye"})
    url = emulator.site_url(ACCOUNT, name)
    assert url is not None
    assert client.call("DELETE", f"/sites/{deploy['site_id']}").status == 204
    assert emulator.site_url(ACCOUNT, name) is None
    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.request("GET", url, retries=False, timeout=2)


# -- faults, rate limits, the request log -------------------------------------------------------------------


def test_fault_status_has_no_effect(client: Client, emulator: NetlifyEmulator) -> None:
    emulator.faults.add("createSiteInTeam", status=503)
    name = unique("fault")
    answer = client.call("POST", f"/{ACCOUNT}/sites", json_body={"name": name})
    assert (answer.status, answer.body) == (503, {"code": 503, "message": "Service Unavailable"})
    assert emulator.site(name) is None
    assert client.create_site(name)["name"] == name


def test_fault_reset_drops_the_connection(client: Client, emulator: NetlifyEmulator) -> None:
    emulator.faults.add("getCurrentUser", reset=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.call("GET", "/user")
    assert client.call("GET", "/user").status == 200
    assert [e.status for e in emulator.requests_for("getCurrentUser")] == [0, 200]


def test_lost_answer_after_the_upload_happened(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("lost")
    site = client.create_site(name)
    deploy = client.wait(client.start_deploy(site["id"], {"/index.html": b"lost"})["id"], {"prepared"})
    emulator.faults.add("uploadDeployFile", status=502, after=True)
    assert client.upload(deploy["id"], "/index.html", b"lost").status == 502
    assert client.wait(deploy["id"], {"ready"})["state"] == "ready"  # it happened anyway
    assert fetch(emulator, name, "/").data == b"lost"


def test_fault_429_carries_rate_limit_headers(client: Client, emulator: NetlifyEmulator) -> None:
    emulator.faults.add("listSites", status=429, retry_after=2)
    answer = client.call("GET", "/sites")
    assert answer.status == 429
    assert answer.body["code"] == 429
    assert answer.headers["Retry-After"] == "2"
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert int(answer.headers["X-RateLimit-Reset"]) >= int(time.time()) + 1


def test_fault_routes_are_checked(emulator: NetlifyEmulator) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        emulator.faults.add("uploadFile", status=500)
    assert NO_ROUTE in ROUTE_NAMES
    assert {"createSite", "createSiteInTeam", "getSite", "deleteSite", "createSiteDeploy", "updateSiteDeploy"} <= set(
        ROUTE_NAMES
    )


def test_rate_limit_per_token(client: Client, emulator: NetlifyEmulator) -> None:
    emulator.set_rate_limit(2, window=30.0)
    first = client.call("GET", "/user")
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert client.call("GET", "/user").status == 200
    limited = client.call("GET", "/user")
    assert limited.status == 429
    assert limited.body["code"] == 429
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert int(limited.headers["X-RateLimit-Reset"]) > int(time.time())
    assert Client(emulator, token=OTHER_TOKEN).call("GET", "/user").status == 200  # per token
    emulator.set_rate_limit(None)
    assert client.call("GET", "/user").status == 200


def test_deploys_per_minute_per_site(client: Client, emulator: NetlifyEmulator) -> None:
    emulator.deploys_per_minute = 2
    site = client.create_site(unique("busy"))
    for _ in range(2):
        client.start_deploy(site["id"], {"/index.html": b"x"})
    limited = client.call("POST", f"/sites/{site['id']}/deploys", json_body={"files": {}, "async": True})
    assert limited.status == 429
    assert "deploys per minute" in limited.body["message"]
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert int(limited.headers["Retry-After"]) >= 1
    other = client.create_site(unique("calm"))
    assert client.call("POST", f"/sites/{other['id']}/deploys", json_body={}).status == 200


def test_request_log_never_holds_a_token(client: Client, emulator: NetlifyEmulator) -> None:
    client.publish(unique("log"), {"/index.html": b"log"})
    routes = [entry.route for entry in emulator.requests]
    assert routes[:2] == ["createSiteInTeam", "createSiteDeploy"]
    assert "uploadDeployFile" in routes
    upload = emulator.requests_for("uploadDeployFile")[0]
    assert (upload.method, upload.status, upload.bytes_in) == ("PUT", 200, 3)
    assert upload.headers["content-type"] == "application/octet-stream"
    assert all("authorization" not in entry.headers for entry in emulator.requests)
    assert TOKEN not in repr(emulator.requests)
    emulator.reset()
    assert emulator.requests == []


# -- Netlify's own JavaScript client ---------------------------------------------------------------------------

CLIENT_SCRIPT = r"""
// Drives Netlify's own API client (@netlify/api) against the emulator; prints a JSON report.
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
const input = JSON.parse(process.argv[2])
const { NetlifyAPI } = await import(input.client + '/lib/index.js')
const api = new NetlifyAPI(input.token, { scheme: input.scheme, host: input.host, pathPrefix: input.pathPrefix })
const report = { states: [], uploaded: [] }
const files = Object.fromEntries(Object.entries(input.files).map(([p, b64]) => [p, Buffer.from(b64, 'base64')]))
const digests = Object.fromEntries(
  Object.entries(files).map(([p, data]) => [p, createHash('sha1').update(data).digest('hex')]))
const pathBySha = Object.fromEntries(Object.entries(digests).map(([p, sha]) => [sha, p]))
report.user = (await api.getCurrentUser()).slug
const site = await api.createSite({ body: { name: input.name } })
report.site = { id: site.id, name: site.name, ssl_url: site.ssl_url }
let deploy = await api.createSiteDeploy({
  siteId: site.id, title: 'official client', body: { files: digests, async: true } })
report.states.push(deploy.state)
const waitFor = async (wanted, get) => {
  for (let i = 0; i < 500; i++) {
    deploy = await get()
    if (report.states.at(-1) !== deploy.state) report.states.push(deploy.state)
    if (wanted.includes(deploy.state)) return deploy
    await sleep(10)
  }
  throw new Error(`deploy stuck in ${deploy.state}`)
}
await waitFor(['prepared', 'ready', 'error'], () => api.getDeploy({ deployId: deploy.id }))
report.required = deploy.required
for (const sha of deploy.required) {
  const path = pathBySha[sha]
  const body = files[path]
  const uploaded = await api.uploadDeployFile({
    deployId: deploy.id, path: encodeURI(path.slice(1)), body, size: body.length })
  report.uploaded.push(uploaded.path)
}
await waitFor(['ready', 'error'], () => api.getSiteDeploy({ siteId: site.id, deployId: deploy.id }))
report.deploy_id = deploy.id
report.published = (await api.getSite({ siteId: `${input.name}.netlify.app` })).published_deploy.id
if (input.stopBeforeDelete) {
  console.log(JSON.stringify(report))
  await new Promise((resolve) => process.stdin.once('data', resolve))
}
report.deleted = await api.deleteSite({ siteId: site.id })
try { await api.getSite({ siteId: site.id }) } catch (error) { report.after_delete = error.status }
console.log(JSON.stringify(report))
"""


@pytest.fixture(scope="session")
def netlify_client() -> str:
    """Netlify's own API client (``@netlify/api``)."""
    return install_client("install-netlify-client", "@netlify/api")


def test_official_client_deploys_and_deletes(netlify_client: str, emulator: NetlifyEmulator, tmp_path: Path) -> None:
    script = tmp_path / "client.mjs"
    script.write_text(CLIENT_SCRIPT)
    name = unique("official")
    files = {**SITE, "/a b/ü.txt": b"unicode path", "/copy.css": SITE["/style.css"]}
    scheme, _, rest = emulator.api_base.partition("://")
    host, _, prefix = rest.partition("/")
    request = {
        "client": netlify_client,
        "token": TOKEN,
        "scheme": scheme,
        "host": host,
        "pathPrefix": "/" + prefix,
        "name": name,
        "files": {path: base64.b64encode(data).decode() for path, data in files.items()},
        "stopBeforeDelete": True,
    }
    process = subprocess.Popen(
        ["node", str(script), json.dumps(request)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first, process.communicate(timeout=30)[1]
        report = json.loads(first)
        assert report["user"] == "alice"
        assert report["site"]["ssl_url"] == f"https://{name}.netlify.app"
        assert report["states"][0] == "preparing"
        assert report["states"][-1] == "ready"
        assert sorted(report["required"]) == sorted({sha1(data) for data in files.values()})
        assert len(report["uploaded"]) == len(files) - 1  # the same bytes twice are uploaded once
        assert set(report["uploaded"]) <= set(files)
        assert report["published"] == report["deploy_id"]
        # what the official client uploaded is served byte for byte, while the site still exists
        for path, data in files.items():
            answer = fetch(emulator, name, quote(path))
            assert (answer.status, answer.data) == (200, data), path
        assert fetch(emulator, name, "/fonts/body.woff2").headers["Content-Type"] == "font/woff2"
        rest_of_it, errors = process.communicate("go\n", timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    final = json.loads(rest_of_it.strip().splitlines()[-1])
    assert final["deleted"] == ""  # 204: the client returns the empty text body
    assert final["after_delete"] == 404
    assert emulator.site(name) is None
    uploads = emulator.requests_for("uploadDeployFile")
    assert {entry.query.split("=")[0] for entry in uploads} == {"size"}  # the client adds ?size=
    assert all(entry.headers["user-agent"] == "netlify/js-client" for entry in uploads)


def test_stop_frees_every_port() -> None:
    with NetlifyEmulator(process_seconds=0.0, prepare_seconds=0.0) as own:
        own.add_account(ACCOUNT)
        own.add_token(TOKEN, [ACCOUNT])
        Client(own).publish("stopping", {"/index.html": b"up"})
        site = own.site_url(ACCOUNT, "stopping")
        api = own.api_base
        assert site is not None
        assert urllib3.request("GET", site, retries=False).data == b"up"
    for url in (site, api + "/user"):
        with pytest.raises(urllib3.exceptions.HTTPError):
            urllib3.request("GET", url, retries=False, timeout=2)
    assert own.site_url(ACCOUNT, "stopping") is None  # a stopped emulator opens no new port


DRAFT_SCRIPT = r"""
// @netlify/api: a production deploy, a draft with a branch alias (what `netlify deploy --draft --alias`
// creates), then restoreSiteDeploy publishing the draft; prints a JSON report.
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
const input = JSON.parse(process.argv[2])
const { NetlifyAPI } = await import(input.client + '/lib/index.js')
const api = new NetlifyAPI(input.token, { scheme: input.scheme, host: input.host, pathPrefix: input.pathPrefix })
const site = await api.createSite({ body: { name: input.name } })
const deployOf = async (text, extra) => {
  const body = Buffer.from(text)
  const sha = createHash('sha1').update(body).digest('hex')
  let deploy = await api.createSiteDeploy({
    siteId: site.id, body: { files: { '/index.html': sha }, async: true, ...extra } })
  for (let i = 0; i < 500 && !['prepared', 'ready'].includes(deploy.state); i++) {
    await sleep(10); deploy = await api.getDeploy({ deployId: deploy.id })
  }
  if (deploy.required.length) {
    await api.uploadDeployFile({ deployId: deploy.id, path: 'index.html', body, size: body.length })
  }
  for (let i = 0; i < 500 && deploy.state !== 'ready'; i++) {
    await sleep(10); deploy = await api.getDeploy({ deployId: deploy.id })
  }
  return deploy
}
const live = await deployOf('<h1>live</h1>', {})
const draft = await deployOf('<h1>draft</h1>', { draft: true, branch: 'chat1' })
const report = { live: live.id, draft: draft.id, draftFlag: draft.draft, deployUrl: draft.deploy_ssl_url }
report.publishedBefore = (await api.getSite({ siteId: site.id })).published_deploy.id
const restored = await api.restoreSiteDeploy({ siteId: site.id, deployId: draft.id })
report.restored = restored.id
report.publishedAfter = (await api.getSite({ siteId: site.id })).published_deploy.id
console.log(JSON.stringify(report))
"""


def test_official_client_drafts_an_aliased_deploy_and_restores_it(
    netlify_client: str, emulator: NetlifyEmulator, tmp_path: Path
) -> None:
    script = tmp_path / "draft.mjs"
    script.write_text(DRAFT_SCRIPT)
    name = unique("drafts")
    scheme, _, rest = emulator.api_base.partition("://")
    host, _, prefix = rest.partition("/")
    request = {
        "client": netlify_client,
        "token": TOKEN,
        "scheme": scheme,
        "host": host,
        "pathPrefix": "/" + prefix,
        "name": name,
    }
    done = subprocess.run(
        ["node", str(script), json.dumps(request)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["draftFlag"] is True
    assert report["publishedBefore"] == report["live"]  # a draft publishes nothing
    assert report["deployUrl"] == f"https://{report['draft']}--{name}.netlify.app"
    alias = emulator.preview_url(f"https://chat1--{name}.netlify.app")
    assert alias is not None
    assert urllib3.request("GET", alias, timeout=5).data == b"<h1>draft</h1>"
    own = emulator.preview_url(report["deployUrl"])
    assert own is not None
    assert urllib3.request("GET", own, timeout=5).data == b"<h1>draft</h1>"
    assert report["restored"] == report["draft"]
    assert report["publishedAfter"] == report["draft"]
    assert fetch(emulator, name, "/").data == b"<h1>draft</h1>"


# -- custom domains and their certificates --------------------------------------------------------------


def _hostname(label: str = "www") -> str:
    return f"{label}.{unique('dom')}.example"


def _patch(client: Client, site_id: str, body: dict[str, Any]) -> Answer:
    return client.call("PATCH", f"/sites/{site_id}", json_body=body)


def _by_host(emulator: NetlifyEmulator, host: str) -> Any:
    return urllib3.request(
        "GET", f"http://127.0.0.1:{emulator.domains_port}/", headers={"Host": host}, retries=False, timeout=5
    )


def _until_issued(client: Client, site_id: str, hostname: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.call("GET", f"/sites/{site_id}/ssl")
        if answer.status == 200 and answer.body["state"] == "issued" and hostname in answer.body["domains"]:
            return dict(answer.body)
        assert time.monotonic() < deadline, answer.body
        time.sleep(0.05)


def test_domain_fields_are_set_replaced_and_shown(client: Client) -> None:
    site = client.create_site(unique("doms"))
    assert (site["custom_domain"], site["domain_aliases"]) == (None, [])
    primary, alias, other = _hostname("www"), _hostname("blog"), _hostname("docs")
    answer = _patch(client, site["id"], {"custom_domain": primary.upper() + ".", "domain_aliases": [alias, alias]})
    assert answer.status == 200, answer.body
    assert (answer.body["custom_domain"], answer.body["domain_aliases"]) == (primary, [alias])
    # domain_aliases replaces the whole list (read-modify-write is the client's job)
    replaced = _patch(client, site["id"], {"domain_aliases": [other]})
    assert (replaced.body["custom_domain"], replaced.body["domain_aliases"]) == (primary, [other])
    shown = client.call("GET", f"/sites/{site['id']}").body
    assert (shown["custom_domain"], shown["domain_aliases"]) == (primary, [other])
    cleared = _patch(client, site["id"], {"custom_domain": None, "domain_aliases": []})
    assert (cleared.body["custom_domain"], cleared.body["domain_aliases"]) == (None, [])
    invalid: list[tuple[dict[str, Any], str]] = [
        ({"domain_aliases": ["not a host"]}, "domain_aliases"),
        ({"domain_aliases": "www.example.com"}, "domain_aliases"),
        ({"custom_domain": "someone.netlify.app"}, "custom_domain"),
    ]
    for body, field_name in invalid:
        refused = _patch(client, site["id"], body)
        assert refused.status == 422, body
        assert list(refused.body["errors"]) == [field_name]
    assert _patch(client, "no-such-site", {"domain_aliases": []}).status == 404


def test_a_hostname_belongs_to_one_site_across_accounts(client: Client, emulator: NetlifyEmulator) -> None:
    hostname = _hostname()
    mine = client.create_site(unique("holder"))
    assert _patch(client, mine["id"], {"domain_aliases": [hostname]}).status == 200
    sibling = client.create_site(unique("sibling"))
    same_account = _patch(client, sibling["id"], {"custom_domain": hostname})
    assert same_account.status == 422
    assert same_account.body["errors"] == {"custom_domain": ["must be unique"]}
    other = Client(emulator, token=OTHER_TOKEN)
    theirs = other.create_site(unique("theirs"), OTHER_ACCOUNT)
    refused = _patch(other, theirs["id"], {"domain_aliases": [hostname]})
    assert (refused.status, refused.body["errors"]) == (422, {"domain_aliases": ["must be unique"]})
    assert _patch(client, mine["id"], {"domain_aliases": []}).status == 200  # given back
    assert _patch(other, theirs["id"], {"domain_aliases": [hostname]}).status == 200


def test_another_accounts_apex_needs_the_txt_proof(client: Client, emulator: NetlifyEmulator) -> None:
    held = _hostname("www")
    apex = held.split(".", 1)[1]
    mine = client.create_site(unique("apexheld"))
    assert _patch(client, mine["id"], {"domain_aliases": [held]}).status == 200
    assert _patch(client, mine["id"], {"domain_aliases": [held, f"shop.{apex}"]}).status == 200  # same account
    other = Client(emulator, token=OTHER_TOKEN)
    theirs = other.create_site(unique("apexwant"), OTHER_ACCOUNT)
    wanted = f"blog.{apex}"
    refused = _patch(other, theirs["id"], {"domain_aliases": [wanted]})
    assert refused.status == 422
    assert f"netlify-challenge.{wanted}" in refused.body["errors"]["domain_aliases"][0]
    assert _patch(other, theirs["id"], {"domain_aliases": [wanted], "txt_record_value": "proof-1"}).status == 422
    emulator.dns.add(f"netlify-challenge.{wanted}", "TXT", "proof-1")
    assert _patch(other, theirs["id"], {"domain_aliases": [wanted], "txt_record_value": "wrong"}).status == 422
    accepted = _patch(other, theirs["id"], {"domain_aliases": [wanted], "txt_record_value": "proof-1"})
    assert (accepted.status, accepted.body["domain_aliases"]) == (200, [wanted])


def test_the_certificate_is_refused_while_the_dns_is_wrong_then_issued(
    client: Client, emulator: NetlifyEmulator
) -> None:
    name = unique("certs")
    site = client.create_site(name)
    none = client.call("POST", f"/sites/{site['id']}/ssl")
    assert (none.status, none.body["message"]) == (422, "No custom domain configured")
    subdomain, apex = _hostname("www"), unique("apex") + ".example"
    assert _patch(client, site["id"], {"domain_aliases": [subdomain, apex]}).status == 200
    assert client.call("GET", f"/sites/{site['id']}/ssl").status == 404
    bad = client.call("POST", f"/sites/{site['id']}/ssl")
    assert (bad.status, bad.body) == (422, {"code": 422, "message": "bad dns for custom domain"})
    emulator.dns.add(subdomain, "CNAME", "someone-else.netlify.app")  # another site's name
    emulator.dns.add(apex, "A", "75.2.60.5")
    assert client.call("POST", f"/sites/{site['id']}/ssl").status == 422
    emulator.dns.remove(subdomain)
    emulator.dns.add(subdomain, "CNAME", f"{name}.netlify.app.")
    ordered = client.call("POST", f"/sites/{site['id']}/ssl")
    assert ordered.status == 200, ordered.body
    assert ordered.body["state"] in {"pending", "issued"}
    issued = _until_issued(client, site["id"], subdomain)
    assert sorted(issued["domains"]) == sorted([subdomain, apex])
    assert {"created_at", "updated_at", "expires_at"} <= set(issued)
    assert emulator.certificate(name) == issued
    custom = client.call("POST", f"/sites/{site['id']}/ssl", query="certificate=PEM&key=PEM")
    assert custom.status == 422


def test_a_custom_domain_is_served_by_host_once_covered_until_removed(
    client: Client, emulator: NetlifyEmulator
) -> None:
    name = unique("hosted")
    deploy = client.publish(name, {"/index.html": b"<h1>on my domain</h1>", "/about.html": b"about"})
    site_id = deploy["site_id"]
    hostname = _hostname()
    assert _by_host(emulator, hostname).status == 404  # not a domain of any site
    assert _patch(client, site_id, {"domain_aliases": [hostname]}).status == 200
    assert _by_host(emulator, hostname).status == 404  # no certificate yet
    emulator.dns.add(hostname, "CNAME", f"{name}.netlify.app")
    _until_issued(client, site_id, hostname)
    served = _by_host(emulator, hostname)
    assert (served.status, served.data) == (200, b"<h1>on my domain</h1>")
    assert (
        urllib3.request(
            "GET", f"http://127.0.0.1:{emulator.domains_port}/about", headers={"Host": f"{hostname.upper()}:443"}
        ).data
        == b"about"
    )
    assert _patch(client, site_id, {"domain_aliases": []}).status == 200
    assert _by_host(emulator, hostname).status == 404
    assert client.call("GET", f"/sites/{site_id}/ssl").status == 404


def test_deleting_a_site_or_resetting_frees_its_domains(client: Client, emulator: NetlifyEmulator) -> None:
    name = unique("freed")
    deploy = client.publish(name, {"/index.html": b"gone soon"})
    hostname = _hostname()
    assert _patch(client, deploy["site_id"], {"domain_aliases": [hostname]}).status == 200
    emulator.dns.add(hostname, "CNAME", f"{name}.netlify.app")
    _until_issued(client, deploy["site_id"], hostname)
    assert client.call("DELETE", f"/sites/{deploy['site_id']}").status == 204
    assert _by_host(emulator, hostname).status == 404
    other = Client(emulator, token=OTHER_TOKEN)
    theirs = other.create_site(unique("next"), OTHER_ACCOUNT)
    assert _patch(other, theirs["id"], {"domain_aliases": [hostname]}).status == 200
    emulator.reset()
    again = client.create_site(unique("after"))
    assert _patch(client, again["id"], {"domain_aliases": [hostname]}).status == 200


def test_fail_next_deploy_times_fails_that_many_then_none(client: Client, emulator: NetlifyEmulator) -> None:
    """A failure set for two deploys covers a client that creates the deploy again after a lost
    answer (the e2e fault test relies on it), and then stops."""
    name = unique("fails-twice")
    site = client.create_site(name)
    emulator.fail_next_deploy(name, "Build failed", times=2)
    states = [client.publish(name, {"/index.html": b"x"}, site_id=site["id"])["state"] for _ in range(3)]
    assert states == ["error", "error", "ready"]
