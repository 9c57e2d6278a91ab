"""The Vercel emulator over real HTTP: auth and teamId scoping, the files/deployments protocol by
hand, deployment progress, aliases, failures and cancels, projects and their limit, the served sites'
routing semantics, every fault kind, rate limits, the request log, and Vercel's own published client
(``@vercel/client``'s ``createDeployment``) deploying against it (the check that the emulator speaks
the platform's protocol and not just our own idea of it)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3

from sitedeploy_local.emulators.vercel import NO_ROUTE, ROUTE_NAMES, VercelEmulator, compile_source
from tests.local.emulator_http import Answer, ApiClient, fetch_site, install_client, sha1, unique

TEAM, TEAM_SLUG = "team_alpha0000000000000000", "alpha"
OTHER_TEAM, OTHER_SLUG = "team_beta00000000000000000", "beta"
SMALL_TEAM = "team_small0000000000000000"
TOKEN = "vercel-token-alice"
OTHER_TOKEN = "vercel-token-bob"
STEP = 0.02
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + b"\x00\xff\x00"
SETTINGS = {
    "framework": None,
    "buildCommand": None,
    "installCommand": None,
    "outputDirectory": None,
    "devCommand": None,
}


@dataclass
class VercelAnswer(Answer):
    @property
    def code(self) -> str | None:
        return self.body["error"]["code"] if isinstance(self.body, dict) and "error" in self.body else None


class Client(ApiClient[VercelAnswer]):
    def __init__(self, emulator: VercelEmulator, token: str | None = TOKEN, team: str | None = TEAM) -> None:
        super().__init__(VercelAnswer, token)
        self.emulator = emulator
        self.team = team

    def url(self, path: str, query: str) -> str:
        params = [f"teamId={self.team}"] if self.team else []
        if query:
            params.append(query)
        return self.emulator.api_base + path + ("?" + "&".join(params) if params else "")

    def upload(self, data: bytes, digest: str | None = None, header: str = "x-vercel-digest") -> VercelAnswer:
        return self.call(
            "POST",
            "/v2/files",
            body=data,
            headers={header: digest or sha1(data), "Content-Type": "application/octet-stream"},
        )

    def create(self, name: str, files: dict[str, bytes], **extra: Any) -> VercelAnswer:
        body: dict[str, Any] = {
            "name": name,
            "project": name,
            "target": "production",
            "files": [{"file": path, "sha": sha1(data), "size": len(data)} for path, data in files.items()],
            "projectSettings": SETTINGS,
            **extra,
        }
        body = {key: value for key, value in body.items() if value is not None}
        return self.call("POST", "/v13/deployments", json_body=body, query="skipAutoDetectionConfirmation=1")

    def wait(self, deployment_id: str, *, until: tuple[str, ...] = ("READY", "ERROR", "CANCELED")) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            answer = self.call("GET", f"/v13/deployments/{deployment_id}")
            assert answer.status == 200, answer.body
            if answer.body["readyState"] in until:
                return dict(answer.body)
            time.sleep(0.01)
        raise AssertionError(f"{deployment_id} did not reach {until}")

    def deploy(self, name: str, files: dict[str, bytes], **extra: Any) -> dict[str, Any]:
        """The whole protocol: upload, create, wait for READY."""
        for data in {sha1(d): d for d in files.values()}.values():
            assert self.upload(data).status == 200
        created = self.create(name, files, **extra)
        assert created.status == 200, created.body
        return self.wait(created.body["id"])


def fetch(emulator: VercelEmulator, name: str, path: str, method: str = "GET", team: str = TEAM, **kwargs: Any) -> Any:
    return fetch_site(emulator.site_url(team, name), name, path, method, **kwargs)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_instance() -> Iterator[VercelEmulator]:
    emulator = VercelEmulator(step_seconds=STEP)
    emulator.add_team(TEAM, TEAM_SLUG)
    emulator.add_team(OTHER_TEAM, OTHER_SLUG)
    emulator.add_team(SMALL_TEAM, "small", project_limit=2)
    emulator.add_token(TOKEN, user="alice", teams=[TEAM, SMALL_TEAM])
    emulator.add_token(OTHER_TOKEN, user="bob", teams=[OTHER_TEAM])
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(emulator_instance: VercelEmulator) -> Iterator[VercelEmulator]:
    emulator_instance.reset()
    emulator_instance.step_seconds = STEP
    yield emulator_instance
    emulator_instance.faults.clear()
    emulator_instance.set_rate_limit(None)


@pytest.fixture
def client(emulator: VercelEmulator) -> Client:
    return Client(emulator)


SITE = {
    "index.html": b"<!doctype html><title>home</title><h1>home</h1>",
    "about.html": b"<p>about</p>",
    "docs/index.html": b"<p>docs</p>",
    "style.css": b"body { color: #333 }",
    "app.js": b"console.log('hi')",
    "img/logo.png": PNG,
    "data.bin": os.urandom(2048),
}


# -- auth and scoping ---------------------------------------------------------------------------------


def test_auth_and_team_scoping(emulator: VercelEmulator) -> None:
    missing = Client(emulator, token=None).call("GET", "/v2/user")
    assert missing.status == 403
    assert missing.body["error"]["missingToken"] is True
    bad = Client(emulator, token="nope").call("GET", "/v2/user")
    assert bad.status == 403
    assert bad.body == {"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": True}}
    foreign = Client(emulator, team=OTHER_TEAM).call("GET", "/v9/projects")
    assert foreign.status == 403
    assert foreign.body == {"error": {"code": "forbidden", "message": "Not authorized"}}

    user = Client(emulator, team=None).call("GET", "/v2/user")
    assert user.status == 200
    assert {"id", "username", "email", "name"} <= set(user.body["user"])
    assert user.body["user"]["username"] == "alice"
    team = Client(emulator).call("GET", f"/v2/teams/{TEAM}")
    assert (team.status, team.body["id"], team.body["slug"]) == (200, TEAM, TEAM_SLUG)
    assert Client(emulator).call("GET", f"/v2/teams/{OTHER_TEAM}").status == 403
    assert [t["id"] for t in Client(emulator, team=None).call("GET", "/v2/teams").body["teams"]] == sorted(
        [TEAM, SMALL_TEAM]
    )
    unknown = Client(emulator).call("GET", "/v1/nothing")
    assert (unknown.status, unknown.code) == (404, "not_found")


def test_files_are_checked_and_stored_per_team(client: Client, emulator: VercelEmulator) -> None:
    data = b"some bytes \x00\xff"
    wrong = client.upload(data, digest=sha1(b"other"))
    assert (wrong.status, wrong.code) == (400, "invalid_digest")
    assert emulator.file(TEAM, sha1(data)) is None
    no_digest = client.call("POST", "/v2/files", body=data, headers={"Content-Type": "application/octet-stream"})
    assert (no_digest.status, no_digest.code) == (400, "missing_digest")
    stored = client.upload(data)
    assert (stored.status, stored.body) == (200, {})
    assert emulator.file(TEAM, sha1(data)) == data
    assert emulator.file(OTHER_TEAM, sha1(data)) is None
    personal = Client(emulator, team=None).upload(b"personal", header="x-now-digest")  # the client's header
    assert personal.status == 200
    assert emulator.file("alice", sha1(b"personal")) == b"personal"
    assert emulator.file(TEAM, sha1(b"personal")) is None


# -- the deployment protocol ------------------------------------------------------------------------------


def test_missing_files_then_upload_then_the_identical_post(client: Client, emulator: VercelEmulator) -> None:
    name = unique()
    files = {"index.html": b"<h1>x</h1>", "copy.html": b"<h1>x</h1>", "a.css": b"a{}", "b.bin": b"\x00\x01"}
    assert client.upload(b"a{}").status == 200  # already held: not asked for
    first = client.create(name, files)
    assert first.status == 400
    assert first.body["error"]["code"] == "missing_files"
    assert first.body["error"]["missing"] == [sha1(b"<h1>x</h1>"), sha1(b"\x00\x01")]
    assert emulator.project_names(TEAM) == []
    for sha in first.body["error"]["missing"]:
        data = next(d for d in files.values() if sha1(d) == sha)
        assert client.upload(data).status == 200
    second = client.create(name, files)
    assert second.status == 200, second.body
    deployment = second.body
    assert deployment["id"].startswith("dpl_")
    assert deployment["url"].startswith(f"{name}-")
    assert deployment["url"].endswith(".vercel.app")
    assert (deployment["name"], deployment["target"], deployment["readyState"]) == (name, "production", "QUEUED")
    assert (deployment["alias"], deployment["aliasAssigned"]) == ([], False)
    assert deployment["projectId"].startswith("prj_")
    assert isinstance(deployment["createdAt"], int)
    assert deployment["inspectorUrl"]
    assert emulator.project_names(TEAM) == [name]


def test_a_new_project_needs_project_settings(client: Client) -> None:
    name = unique()
    data = b"<p>settings</p>"
    client.upload(data)
    body = {"name": name, "target": "production", "files": [{"file": "index.html", "sha": sha1(data), "size": 15}]}
    refused = client.call("POST", "/v13/deployments", json_body=body)
    assert (refused.status, refused.code) == (400, "missing_project_settings")
    auto = client.call("POST", "/v13/deployments", json_body=body, query="skipAutoDetectionConfirmation=1")
    assert auto.status == 200, auto.body
    again = client.call("POST", "/v13/deployments", json_body=body)  # the project exists now
    assert again.status == 200, again.body


def test_without_an_output_directory_a_public_folder_is_the_root(client: Client) -> None:
    """The "Other" preset's default: ``public/`` when the files have one, else the root; naming
    ``"."`` serves the files as sent."""
    files = {"index.html": b"<p>root</p>", "public/index.html": b"<p>public</p>"}
    default = client.deploy(unique(), files, projectSettings={"framework": None})
    assert fetch(client.emulator, default["name"], "/").data == b"<p>public</p>"
    named = client.deploy(unique(), files, projectSettings={"framework": None, "outputDirectory": "."})
    assert fetch(client.emulator, named["name"], "/").data == b"<p>root</p>"
    assert fetch(client.emulator, named["name"], "/public/").data == b"<p>public</p>"


def test_invalid_deployment_bodies(client: Client) -> None:
    data = b"x"
    client.upload(data)
    leading = client.create(unique(), {"/index.html": data})
    assert leading.status == 400
    bad_name = client.create("Not_A_Valid_Name!", {"index.html": data})
    assert (bad_name.status, bad_name.code) == (400, "invalid_name")
    both = client.create(
        unique(),
        {"index.html": data},
        redirects=[{"source": "/a", "destination": "/b", "permanent": True, "statusCode": 301}],
    )
    assert (both.status, both.code) == (400, "invalid_redirect")
    bad_source = client.create(unique(), {"index.html": data}, rewrites=[{"source": "/(?x)", "destination": "/"}])
    assert (bad_source.status, bad_source.code) == (400, "invalid_rewrite")
    not_json = client.call("POST", "/v13/deployments", body=b"{", headers={"Content-Type": "application/json"})
    assert (not_json.status, not_json.code) == (400, "bad_request")


def test_ready_state_progression_and_alias(client: Client, emulator: VercelEmulator) -> None:
    emulator.step_seconds = 0.5  # each state long enough for a poll on a busy machine to see it
    name = unique()
    client.upload(b"<p>ready</p>")
    created = client.create(name, {"index.html": b"<p>ready</p>"})
    seen = [created.body["readyState"]]
    deadline = time.monotonic() + 5
    while seen[-1] != "READY" and time.monotonic() < deadline:
        state = client.call("GET", f"/v13/deployments/{created.body['id']}").body
        if state["readyState"] != seen[-1]:
            seen.append(state["readyState"])
        if state["readyState"] != "READY":
            assert (state["alias"], state["aliasAssigned"]) == ([], False)
        time.sleep(0.02)
    assert seen == ["QUEUED", "INITIALIZING", "BUILDING", "READY"]
    ready = client.call("GET", f"/v13/deployments/{created.body['id']}").body
    assert ready["alias"] == [f"{name}.vercel.app"]
    assert ready["aliasAssigned"] is True
    by_url = client.call("GET", f"/v13/deployments/{ready['url']}")
    assert by_url.body["id"] == ready["id"]
    assert (
        Client(emulator, token=OTHER_TOKEN, team=OTHER_TEAM).call("GET", f"/v13/deployments/{ready['id']}").status
        == 404
    )
    project = client.call("GET", f"/v9/projects/{name}").body
    assert project["targets"]["production"]["id"] == ready["id"]
    assert project["targets"]["production"]["alias"] == [f"{name}.vercel.app"]
    assert emulator.public_url(TEAM, name) == f"https://{name}.vercel.app"
    assert fetch(emulator, name, "/").data == b"<p>ready</p>"


def test_aliases_are_global_across_teams(client: Client, emulator: VercelEmulator) -> None:
    name = unique()
    first = client.deploy(name, {"index.html": b"alpha"})
    assert first["alias"] == [f"{name}.vercel.app"]
    other = Client(emulator, token=OTHER_TOKEN, team=OTHER_TEAM).deploy(name, {"index.html": b"beta"})
    assert other["alias"] == [f"{name}-{OTHER_SLUG}.vercel.app"]
    again = client.deploy(name, {"index.html": b"alpha 2"})
    assert again["alias"] == [f"{name}.vercel.app"]
    assert fetch(emulator, name, "/").data == b"alpha 2"
    assert fetch(emulator, name, "/", team=OTHER_TEAM).data == b"beta"
    assert emulator.site_url(TEAM, name) != emulator.site_url(OTHER_TEAM, name)
    personal = Client(emulator, team=None).deploy(name, {"index.html": b"personal"})
    assert personal["alias"] == [f"{name}-alice.vercel.app"]  # the personal account's slug is the username
    assert fetch(emulator, name, "/", team="").data == b"personal"


def test_a_failed_deployment_reports_its_error(client: Client, emulator: VercelEmulator) -> None:
    name = unique()
    emulator.fail_next_deployment(name, "Command exited with 1")
    failed = client.deploy(name, {"index.html": b"fails"})
    assert failed["readyState"] == "ERROR"
    assert failed["errorCode"] == "BUILD_FAILED"
    assert failed["errorMessage"] == "Command exited with 1"
    assert failed["errorStep"]
    assert (failed["alias"], failed["aliasAssigned"]) == ([], False)
    assert emulator.site_url(TEAM, name) is None
    assert client.call("GET", f"/v9/projects/{name}").body["targets"]["production"] is None
    assert client.deploy(name, {"index.html": b"works"})["readyState"] == "READY"  # only the next one fails


def test_cancel_by_api_and_by_knob(client: Client, emulator: VercelEmulator) -> None:
    emulator.step_seconds = 30
    name = unique()
    client.upload(b"slow")
    first = client.create(name, {"index.html": b"slow"}).body
    canceled = client.call("PATCH", f"/v12/deployments/{first['id']}/cancel")
    assert canceled.status == 200
    assert canceled.body["readyState"] == "CANCELED"
    assert client.call("GET", f"/v13/deployments/{first['id']}").body["readyState"] == "CANCELED"
    twice = client.call("PATCH", f"/v12/deployments/{first['id']}/cancel")
    assert (twice.status, twice.code) == (400, "deployment_not_cancelable")
    second = client.create(name, {"index.html": b"slow"}).body
    assert emulator.cancel(second["id"]) is True
    assert emulator.cancel(second["id"]) is False
    assert client.call("GET", f"/v13/deployments/{second['id']}").body["readyState"] == "CANCELED"
    assert emulator.site_url(TEAM, name) is None


# -- projects --------------------------------------------------------------------------------------------------


def test_projects_get_list_and_delete(client: Client, emulator: VercelEmulator) -> None:
    old, new = unique("old"), unique("new")
    client.deploy(old, {"index.html": b"old"})
    client.deploy(new, {"index.html": b"new"})
    project = client.call("GET", f"/v9/projects/{new}")
    assert project.status == 200
    assert {"id", "name", "accountId", "updatedAt", "targets"} <= set(project.body)
    assert project.body["accountId"] == TEAM
    assert client.call("GET", f"/v9/projects/{project.body['id']}").body["name"] == new
    assert Client(emulator, token=OTHER_TOKEN, team=OTHER_TEAM).call("GET", f"/v9/projects/{new}").status == 404

    page = client.call("GET", "/v9/projects", query="limit=1").body
    assert [p["name"] for p in page["projects"]] == [new]
    assert page["pagination"]["count"] == 1
    assert isinstance(page["pagination"]["next"], int)
    rest = client.call("GET", "/v9/projects", query=f"limit=1&until={page['pagination']['next']}").body
    assert [p["name"] for p in rest["projects"]] == [old]
    assert rest["pagination"]["next"] is None
    everything = client.call("GET", "/v9/projects", query="limit=100").body
    assert {p["name"] for p in everything["projects"]} == {old, new}

    site = emulator.site_url(TEAM, new)
    assert site is not None
    assert urllib3.request("GET", site, retries=False).data == b"new"
    deleted = client.call("DELETE", f"/v9/projects/{new}")
    assert (deleted.status, deleted.raw) == (204, b"")
    assert emulator.site_url(TEAM, new) is None
    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.request("GET", site, retries=False, timeout=2)
    gone = client.call("GET", f"/v9/projects/{new}")
    assert (gone.status, gone.code) == (404, "not_found")
    assert client.call("DELETE", f"/v9/projects/{new}").status == 404
    assert client.call("GET", f"/v9/projects/{old}").status == 200
    assert emulator.public_url(TEAM, new) is None


def test_the_project_limit(emulator: VercelEmulator) -> None:
    small = Client(emulator, team=SMALL_TEAM)
    first, second = unique(), unique()
    small.deploy(first, {"index.html": b"1"})
    small.deploy(second, {"index.html": b"2"})
    refused = small.create(unique(), {"index.html": b"1"})
    assert (refused.status, refused.code) == (400, "project_limit")
    assert small.deploy(first, {"index.html": b"1 again"})["readyState"] == "READY"  # updating still works
    assert small.call("DELETE", f"/v9/projects/{second}").status == 204
    assert small.create(unique(), {"index.html": b"1"}).status == 200


# -- the served site ---------------------------------------------------------------------------------------------


def test_the_site_is_served_byte_for_byte(client: Client, emulator: VercelEmulator) -> None:
    name = unique()
    client.deploy(name, SITE)
    types = {
        "index.html": "text/html; charset=utf-8",
        "about.html": "text/html; charset=utf-8",
        "docs/index.html": "text/html; charset=utf-8",
        "style.css": "text/css; charset=utf-8",
        "app.js": "text/javascript; charset=utf-8",
        "img/logo.png": "image/png",
        "data.bin": "application/octet-stream",
    }
    for path, data in SITE.items():
        served = fetch(emulator, name, f"/{path}")
        assert served.status == 200, path
        assert served.data == data, path
        assert served.headers["Content-Type"] == types[path], path
    assert fetch(emulator, name, "/").data == SITE["index.html"]
    assert fetch(emulator, name, "/docs").data == SITE["docs/index.html"]
    assert fetch(emulator, name, "/docs/").data == SITE["docs/index.html"]
    assert fetch(emulator, name, "/about").status == 404  # no cleanUrls: the extension is needed
    head = fetch(emulator, name, "/img/logo.png", method="HEAD")
    assert (head.status, head.data, head.headers["Content-Length"]) == (200, b"", str(len(PNG)))
    etag = head.headers["ETag"]
    assert fetch(emulator, name, "/img/logo.png", headers={"If-None-Match": etag}).status == 304
    assert fetch(emulator, name, "/img/logo.png", method="POST").status == 405


def test_clean_urls_and_trailing_slash(client: Client, emulator: VercelEmulator) -> None:
    name = unique()
    client.deploy(name, SITE, cleanUrls=True, trailingSlash=False)
    assert fetch(emulator, name, "/about").data == SITE["about.html"]
    redirect = fetch(emulator, name, "/about.html")
    assert (redirect.status, redirect.headers["Location"]) == (308, "/about")
    assert fetch(emulator, name, "/about.html?x=1").headers["Location"] == "/about?x=1"
    assert fetch(emulator, name, "/docs").data == SITE["docs/index.html"]
    assert fetch(emulator, name, "/docs/index.html").headers["Location"] == "/docs"
    assert fetch(emulator, name, "/index.html").headers["Location"] == "/"
    assert fetch(emulator, name, "/docs/").headers["Location"] == "/docs"
    assert fetch(emulator, name, "/").data == SITE["index.html"]

    slash = unique()
    client.deploy(slash, SITE, cleanUrls=True, trailingSlash=True)
    assert fetch(emulator, slash, "/about").headers["Location"] == "/about/"
    assert fetch(emulator, slash, "/about/").data == SITE["about.html"]
    assert fetch(emulator, slash, "/about.html").headers["Location"] == "/about/"
    assert fetch(emulator, slash, "/style.css").data == SITE["style.css"]
    assert fetch(emulator, slash, "/style.css/").headers["Location"] == "/style.css"


def test_rewrites_apply_only_when_no_file_matches(client: Client, emulator: VercelEmulator) -> None:
    name = unique()
    files = {**SITE, "posts/hello.html": b"<p>hello post</p>"}
    rewrites = [
        {"source": "/blog/:slug", "destination": "/posts/:slug.html"},
        {"source": "/(.*)", "destination": "/index.html"},
    ]
    client.deploy(name, files, rewrites=rewrites)
    assert fetch(emulator, name, "/blog/hello").data == b"<p>hello post</p>"
    spa = fetch(emulator, name, "/some/client/route")
    assert (spa.status, spa.data) == (200, SITE["index.html"])
    assert spa.headers["Content-Type"] == "text/html; charset=utf-8"
    assert fetch(emulator, name, "/style.css").data == SITE["style.css"]  # a file shadows the rewrite
    assert fetch(emulator, name, "/img/logo.png").data == PNG
    assert fetch(emulator, name, "/blog/missing").data == SITE["index.html"]  # falls through to the next rewrite


def test_redirects_with_their_statuses(client: Client, emulator: VercelEmulator) -> None:
    name = unique()
    redirects = [
        {"source": "/temporary", "destination": "/about.html", "permanent": False},
        {"source": "/permanent", "destination": "/about.html", "permanent": True},
        {"source": "/moved", "destination": "https://example.com/elsewhere", "statusCode": 301},
        {"source": "/default", "destination": "/"},
        {"source": "/old/:path*", "destination": "/new/:path*"},
        {"source": "/style.css", "destination": "/app.js", "permanent": False},  # redirects come before files
    ]
    client.deploy(name, SITE, redirects=redirects)
    expected = {
        "/temporary": (307, "/about.html"),
        "/permanent": (308, "/about.html"),
        "/moved": (301, "https://example.com/elsewhere"),
        "/default": (308, "/"),
        "/old/a/b/c": (308, "/new/a/b/c"),
        "/old/a?q=1": (308, "/new/a?q=1"),
        "/style.css": (307, "/app.js"),
    }
    for path, (status, location) in expected.items():
        answer = fetch(emulator, name, path)
        assert (answer.status, answer.headers["Location"]) == (status, location), path


def test_headers_apply_to_files_and_404s(client: Client, emulator: VercelEmulator) -> None:
    name = unique()
    headers = [
        {"source": "/(.*)", "headers": [{"key": "X-Frame-Options", "value": "DENY"}]},
        {"source": "/img/:file", "headers": [{"key": "Cache-Control", "value": "public, max-age=31536000, immutable"}]},
    ]
    client.deploy(name, {**SITE, "404.html": b"<h1>custom 404</h1>"}, headers=headers)
    logo = fetch(emulator, name, "/img/logo.png")
    assert logo.headers["X-Frame-Options"] == "DENY"
    assert logo.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert fetch(emulator, name, "/style.css").headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    missing = fetch(emulator, name, "/nowhere")
    assert (missing.status, missing.data) == (404, b"<h1>custom 404</h1>")
    assert missing.headers["Content-Type"] == "text/html; charset=utf-8"
    assert missing.headers["X-Frame-Options"] == "DENY"

    plain = unique()
    client.deploy(plain, SITE, headers=headers[:1])
    default = fetch(emulator, plain, "/nowhere")
    assert default.status == 404
    assert b"NOT_FOUND" in default.data
    assert default.headers["X-Vercel-Error"] == "NOT_FOUND"
    assert default.headers["X-Frame-Options"] == "DENY"


def test_path_to_regexp_sources_compile_like_routing_utils() -> None:
    # The regular expressions @vercel/routing-utils' sourceToRegex gives for these sources.
    expected = {
        "/:name": r"^(?:\/([^\/]+?))$",
        "/:path*": r"^(?:\/((?:[^\/]+?)(?:\/(?:[^\/]+?))*))?$",
        "/(.*)": r"^(?:\/(.*))$",
        "/blog/:slug*": r"^\/blog(?:\/((?:[^\/]+?)(?:\/(?:[^\/]+?))*))?$",
        "/a/:b+": r"^\/a(?:\/((?:[^\/]+?)(?:\/(?:[^\/]+?))*))$",
        "/x/:id?": r"^\/x(?:\/([^\/]+?))?$",
        "/:id(\\d+)": r"^(?:\/(\d+))$",
        "/api/(.*)": r"^\/api(?:\/(.*))$",
        "/a.:ext": r"^\/a(?:\.([^\/]+?))$",
    }
    for source, regex in expected.items():
        assert compile_source(source).regex.pattern == regex, source
    blog = compile_source("/blog/:slug*").match("/blog/2024/post")
    assert blog is not None
    assert blog.substitute("/posts/:slug*") == "/posts/2024/post"
    assert compile_source("/:path*").match("/") is None
    assert compile_source("/about").match("/about/") is None  # strict


# -- faults, rate limits, the request log ---------------------------------------------------------------------


def test_faults_status_reset_and_lost_answer(client: Client, emulator: VercelEmulator) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        emulator.faults.add("deployments-create", status=500)
    assert "deployment-create" in ROUTE_NAMES
    assert NO_ROUTE in ROUTE_NAMES

    emulator.faults.add("user-get", status=503)
    unavailable = client.call("GET", "/v2/user")
    assert (unavailable.status, unavailable.code) == (503, "service_unavailable")
    assert client.call("GET", "/v2/user").status == 200

    emulator.faults.add("files-upload", reset=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.upload(b"reset")
    assert emulator.file(TEAM, sha1(b"reset")) is None

    emulator.faults.add("files-upload", status=500, after=True)
    lost = client.upload(b"lost answer")
    assert lost.status == 500
    assert emulator.file(TEAM, sha1(b"lost answer")) == b"lost answer"  # it happened all the same
    assert client.upload(b"lost answer").status == 200
    entries = emulator.requests_for("files-upload")
    assert [e.status for e in entries] == [0, 500, 200]
    assert entries[1].fault == "status 500 on files-upload"


def test_rate_limit_and_429_faults(client: Client, emulator: VercelEmulator) -> None:
    emulator.set_rate_limit(2, window=60)
    first = client.call("GET", "/v2/user")
    assert first.status == 200
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert client.call("GET", "/v2/user").status == 200
    limited = client.call("GET", "/v2/user")
    assert (limited.status, limited.code) == (429, "rate_limited")
    limit = limited.body["error"]["limit"]
    now = time.time()
    assert limit["remaining"] == 0
    assert limit["total"] == 2
    assert now + 55 <= limit["reset"] <= now + 62
    assert limited.headers["X-RateLimit-Reset"] == str(limit["reset"])
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert 55 <= int(limited.headers["Retry-After"]) <= 60
    assert Client(emulator, token=OTHER_TOKEN, team=OTHER_TEAM).call("GET", "/v2/user").status == 200  # per token
    emulator.set_rate_limit(None)
    assert client.call("GET", "/v2/user").status == 200

    emulator.faults.add("deployment-get", status=429, retry_after=7)
    injected = client.call("GET", "/v13/deployments/dpl_x")
    assert injected.status == 429
    assert injected.headers["Retry-After"] == "7"
    assert injected.body["error"]["limit"]["reset"] >= int(time.time()) + 6


def test_the_request_log_has_no_tokens(client: Client, emulator: VercelEmulator) -> None:
    client.deploy(unique(), {"index.html": b"log"})
    Client(emulator, token="a-wrong-token").call("GET", "/v2/user")
    routes = [entry.route for entry in emulator.requests]
    assert routes[:2] == ["files-upload", "deployment-create"]
    assert "deployment-get" in routes
    assert all("authorization" not in entry.headers for entry in emulator.requests)
    dump = repr(emulator.requests)
    assert TOKEN not in dump
    assert "a-wrong-token" not in dump
    create = emulator.requests_for("deployment-create")[0]
    assert (create.method, create.path, create.status, create.account_id) == ("POST", "/v13/deployments", 200, TEAM)
    assert f"teamId={TEAM}" in create.query
    assert create.headers["content-type"] == "application/json"


def test_stop_ends_the_api_and_the_sites() -> None:
    emulator = VercelEmulator(step_seconds=0)
    emulator.add_team(TEAM, TEAM_SLUG)
    emulator.add_token(TOKEN, teams=[TEAM])
    emulator.start()
    Client(emulator).deploy(name := unique(), {"index.html": b"x"})
    site, api = emulator.site_url(TEAM, name), emulator.api_base
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 2
    for url in (site, api + "/v2/user"):
        assert url is not None
        with pytest.raises(urllib3.exceptions.HTTPError):
            urllib3.request("GET", url, retries=False, timeout=2)


# -- the official client --------------------------------------------------------------------------------------

DEPLOY_SCRIPT = """
const { createDeployment } = require(process.env.VERCEL_CLIENT);
(async () => {
  const events = [];
  const client = {
    token: process.env.VERCEL_TOKEN, teamId: process.env.VERCEL_TEAM_ID, apiUrl: process.env.VERCEL_API,
    path: process.argv[2], skipAutoDetectionConfirmation: true,
  };
  const options = { name: process.argv[3], target: "production", projectSettings: { framework: null } };
  for await (const event of createDeployment(client, options)) {
    events.push(event.type);
    if (event.type === "error") {
      console.log(JSON.stringify({ events, error: event.payload }));
      process.exit(1);
    }
    if (event.type === "alias-assigned") {
      console.log(JSON.stringify({ events, deployment: event.payload }));
      return;
    }
  }
  console.log(JSON.stringify({ events }));
  process.exit(2);
})();
"""


@pytest.fixture(scope="session")
def vercel_client() -> str:
    """Vercel's own deployment client (``@vercel/client``)."""
    return install_client("install-vercel-client", "@vercel/client")


def test_the_official_client_deploys_against_the_emulator(
    vercel_client: str, emulator: VercelEmulator, tmp_path: Path
) -> None:
    script = tmp_path / "deploy.js"
    script.write_text(DEPLOY_SCRIPT)
    site = tmp_path / "site"
    (site / "img").mkdir(parents=True)
    (site / "index.html").write_bytes(b"<!doctype html><h1>official client</h1>")
    (site / "img" / "logo.png").write_bytes(PNG)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "VERCEL_CLIENT": vercel_client,
        "VERCEL_TOKEN": TOKEN,
        "VERCEL_TEAM_ID": TEAM,
        "VERCEL_API": emulator.api_base,
    }

    def deploy(folder: Path, name: str) -> dict[str, Any]:
        done = subprocess.run(
            ["node", str(script), str(folder), name], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    name = unique("official")
    result = deploy(site, name)
    assert result["events"][-2:] == ["ready", "alias-assigned"]
    assert "file-uploaded" in result["events"]
    assert result["deployment"]["alias"] == [f"{name}.vercel.app"]
    routes = [entry.route for entry in emulator.requests]
    assert routes[:4] == ["deployment-create", "files-upload", "files-upload", "deployment-create"]
    assert [e.status for e in emulator.requests_for("deployment-create")] == [400, 200]
    uploads = emulator.requests_for("files-upload")
    assert all("x-now-digest" in entry.headers and f"teamId={TEAM}" in entry.query for entry in uploads)
    assert fetch(emulator, name, "/img/logo.png").data == PNG
    assert fetch(emulator, name, "/img/logo.png").headers["Content-Type"] == "image/png"
    assert fetch(emulator, name, "/").data == b"<!doctype html><h1>official client</h1>"

    # An all-HTML folder is sent inline (base64 in the deployment body): no upload at all.
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "index.html").write_bytes(b"<p>inline</p>")
    emulator.requests.clear()
    inline = unique("inline")
    assert deploy(pages, inline)["events"][-1] == "alias-assigned"
    assert emulator.requests_for("files-upload") == []
    assert fetch(emulator, inline, "/").data == b"<p>inline</p>"


# -- previews, promote, aliases -----------------------------------------------------------------------


def test_a_projects_first_deployment_takes_production_whatever_its_target(
    client: Client, emulator: VercelEmulator
) -> None:
    """Vercel's rule, and the danger a preview-first deployment would meet."""
    name = unique()
    first = client.deploy(name, {"index.html": b"first, a preview"}, target=None)
    assert first["target"] is None
    assert first["alias"] == [f"{name}.vercel.app"]
    assert fetch(emulator, name, "/").data == b"first, a preview"


def test_a_preview_leaves_production_and_is_served_at_its_own_url_and_alias(
    client: Client, emulator: VercelEmulator
) -> None:
    name = unique()
    client.deploy(name, {"index.html": b"live"})
    preview = client.deploy(name, {"index.html": b"preview"}, target=None)
    assert preview["alias"] == []
    assert fetch(emulator, name, "/").data == b"live"
    own = emulator.preview_url(f"https://{preview['url']}")
    assert own is not None
    assert urllib3.request("GET", own, timeout=5).data == b"preview"
    alias = f"{name}-chat1.vercel.app"
    assigned = client.call("POST", f"/v2/deployments/{preview['id']}/aliases", json_body={"alias": alias})
    assert (assigned.status, assigned.body["alias"]) == (200, alias)
    served = emulator.preview_url(f"https://{alias}")
    assert served is not None
    assert urllib3.request("GET", served, timeout=5).data == b"preview"
    newer = client.deploy(name, {"index.html": b"preview 2"}, target=None)
    moved = client.call("POST", f"/v2/deployments/{newer['id']}/aliases", json_body={"alias": alias})
    assert moved.body["oldDeploymentId"] == preview["id"]
    assert urllib3.request("GET", emulator.preview_url(f"https://{alias}") or "", timeout=5).data == b"preview 2"
    taken = Client(emulator, token=OTHER_TOKEN, team=OTHER_TEAM)
    other = taken.deploy(unique(), {"index.html": b"x"})
    refused = taken.call("POST", f"/v2/deployments/{other['id']}/aliases", json_body={"alias": alias})
    assert (refused.status, refused.code) == (403, "alias_in_use")


def test_promote_moves_production_to_a_ready_production_deployment_not_a_preview(
    client: Client, emulator: VercelEmulator
) -> None:
    name = unique()
    one = client.deploy(name, {"index.html": b"one"})
    client.deploy(name, {"index.html": b"two"})
    preview = client.deploy(name, {"index.html": b"preview"}, target=None)
    assert fetch(emulator, name, "/").data == b"two"
    promoted = client.call("POST", f"/v10/projects/{name}/promote/{one['id']}", json_body={})
    assert promoted.status == 201
    assert fetch(emulator, name, "/").data == b"one"
    project = client.call("GET", f"/v9/projects/{name}").body
    assert project["lastAliasRequest"]["jobStatus"] == "succeeded"
    assert project["targets"]["production"]["id"] == one["id"]
    refused = client.call("POST", f"/v10/projects/{name}/promote/{preview['id']}", json_body={})
    assert refused.status == 400
    assert fetch(emulator, name, "/").data == b"one"
