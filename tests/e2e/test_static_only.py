"""Quick Deploy runs nothing of a tenant's and proxies nothing (#20), on the local stack.

A tenant's upload may carry a ``package.json`` with a build script, ``api/`` functions, a
``middleware.js``, a ``vercel.json`` and a ``netlify.toml``: each platform would build, run or
obey them. The emulators model that danger (Vercel's zero-config detection, Netlify's functions
and configuration files) and record it; these tests prove it never happens, and that the files are
served as the plain files they are. A ``_redirects`` 200 rule to another origin is a reverse proxy
on Netlify, Vercel and Amplify (the emulators proxy it, to a loopback server of the test's): Quick
Deploy refuses it on all four platforms, writing nothing, while a user's own account behaves as the
platform does."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3

from sitedeploy_local.emulators.loopback import PROXIED
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e

PLATFORMS = ("cloudflare", "amplify", "netlify", "vercel")
TENANT_CODE: dict[str, bytes] = {
    "/index.html": b"<!doctype html><h1>static</h1>",
    "/package.json": b'{"name": "x", "scripts": {"build": "node steal-secrets.js", "vercel-build": "node x.js"}}',
    "/api/hello.js": b"export default function handler(req, res) { res.send(process.env) }",
    "/middleware.js": b"export function middleware() { return new Response('owned') }",
    "/vercel.json": b'{"rewrites": [{"source": "/(.*)", "destination": "https://example.org/$1"}]}',
    "/netlify.toml": b'[[redirects]]\nfrom = "/*"\nto = "https://example.org/:splat"\nstatus = 200\n',
}


class _Origin(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        _Origin.seen.append(self.path)
        body = b"from the other origin"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(autouse=True)
def _no_proxied_yet() -> None:
    """The emulators' record of proxied requests is one list per process: each test starts it
    empty (a worker that ran the user-token test first left its three proxies there)."""
    PROXIED.clear()


@pytest.fixture
def origin() -> Iterator[str]:
    """Another origin on loopback: what a proxying rule would send visitors' requests to."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Origin.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _record(stack: LocalStack, deployment_id: str) -> dict[str, Any]:
    answer = stack.moto.client("dynamodb").get_item(
        TableName=stack.resource("DeploymentsTable"),
        Key={"pk": {"S": f"DEPLOYMENT#{deployment_id}"}, "sk": {"S": "META"}},
        ConsistentRead=True,
    )
    return {k: next(iter(v.values())) for k, v in answer["Item"].items()}


def _get(url: str, path: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url.rstrip("/") + path, redirect=False, timeout=10)


def test_tenant_code_is_never_built_or_run_and_is_served_as_files(api: Api, stack: LocalStack) -> None:
    tag = uuid.uuid4().hex[:6]
    finals = {}
    for platform in PLATFORMS:
        answer = deploy(api, platform, {"files": inline_files(TENANT_CODE), "projectName": f"code-{tag}"})
        finals[platform] = wait_terminal(api, answer["deploymentId"], timeout=90)
        assert finals[platform]["status"] == "ready", finals[platform]

    vercel = _record(stack, finals["vercel"]["deploymentId"])
    detection = stack.vercel.detection(vercel["externalId"])
    assert detection is not None
    assert detection.prebuilt
    assert (detection.build, detection.install, detection.functions, detection.middleware) == (False, False, (), False)
    assert not detection.config_file
    netlify = _record(stack, finals["netlify"]["deploymentId"])
    assert stack.netlify.runs(netlify["externalId"]) == ()
    amplify = _record(stack, finals["amplify"]["deploymentId"])
    job = stack.amplify.job(amplify["accountId"], amplify["externalName"], amplify["externalId"])
    assert job is not None
    assert [s["stepName"] for s in job["steps"] if "BUILD" in s["stepName"].upper()] == []

    for platform in PLATFORMS:  # what a tenant sent is served as it was sent: nothing ran it
        url = finals[platform]["localUrl"]
        for path in ("/api/hello.js", "/middleware.js", "/package.json"):
            served = _get(url, path)
            assert (served.status, served.data) == (200, TENANT_CODE[path]), (platform, path)
        assert _get(url, "/").data == TENANT_CODE["/index.html"]
    # On Netlify a netlify.toml would configure the site (here: proxy everything): never sent.
    assert stack.netlify.file(netlify["externalName"], "/netlify.toml") is None
    assert PROXIED == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_quick_deploy_proxy_rule_is_refused_and_nothing_is_written(
    api: Api, stack: LocalStack, origin: str, platform: str
) -> None:
    before = stack.moto.client("dynamodb").scan(TableName=stack.resource("DeploymentsTable"), Select="COUNT")["Count"]
    redirects = f"/moved https://example.org/new 301\n/api/* {origin}/:splat 200\n"
    body = {"files": {"index.html": "x", "_redirects": redirects}, "projectName": "proxy"}
    status, answer, _ = api.request("POST", f"/deployments/{platform}", body=body)
    assert status == 400, answer
    assert answer["code"] == "proxy_refused"
    assert answer["line"] == 2
    assert origin in answer["error"]
    assert "301" in answer["error"]  # what to do instead
    after = stack.moto.client("dynamodb").scan(TableName=stack.resource("DeploymentsTable"), Select="COUNT")["Count"]
    assert after == before
    assert _Origin.seen == []


USER = {
    "cloudflare": {"token": "static-only-cf-token", "accountId": "5a" * 16},
    "netlify": {"token": "static-only-netlify-token", "accountSlug": "static-only-team"},
    "vercel": {"token": "static-only-vercel-token", "teamId": "team_staticonly"},
    "amplify": {"accessKeyId": "AKIASTATICONLY000001", "secretAccessKey": "static-only-secret", "region": "us-east-1"},
}


@pytest.fixture
def own_accounts(stack: LocalStack) -> None:
    stack.cloudflare.add_account(USER["cloudflare"]["accountId"], name="Own", subdomain="static-only")
    stack.cloudflare.add_token(USER["cloudflare"]["token"], [USER["cloudflare"]["accountId"]])
    stack.netlify.add_account(USER["netlify"]["accountSlug"], name="Own team")
    stack.netlify.add_token(USER["netlify"]["token"], [USER["netlify"]["accountSlug"]])
    stack.vercel.add_team(USER["vercel"]["teamId"], "static-only", name="Own team")
    stack.vercel.add_token(USER["vercel"]["token"], user="static-only", teams=[USER["vercel"]["teamId"]])


@pytest.mark.usefixtures("own_accounts")
def test_on_the_users_own_account_the_platform_behaves_as_it_does(api: Api, origin: str) -> None:
    """User-token mode keeps what the user's own platform allows: Netlify, Vercel and Amplify proxy
    a 200 rule to another origin; Cloudflare's static assets only rewrite within the site."""
    redirects = f"/api/* {origin}/:splat 200\n"
    files = {"index.html": "own", "about.html": "about", "_redirects": redirects}
    for platform in PLATFORMS:
        body = {
            "files": files,
            "projectName": f"own-{uuid.uuid4().hex[:6]}",
            "authMode": "user-token",
            **USER[platform],
        }
        final = wait_terminal(api, deploy(api, platform, body)["deploymentId"], timeout=90)
        assert final["status"] == "ready", (platform, final)
        answer = _get(final["localUrl"], "/api/ping")
        if platform == "cloudflare":
            assert answer.data != b"from the other origin"
        else:
            assert (answer.status, answer.data) == (200, b"from the other origin"), platform
    assert _Origin.seen == ["/ping", "/ping", "/ping"]
    assert sorted(via for via, _, _ in PROXIED) == ["amplify", "netlify", "vercel"]
