"""One site, four platforms, one behaviour: SPA fallback, ``_redirects`` and ``_headers`` answer the
same on Cloudflare, Amplify, Netlify and Vercel.

Each platform spells routing its own way (Cloudflare and Netlify read the two files, Amplify takes
app-wide rules and custom headers, Vercel the deployment's redirects, rewrites and headers); the
service translates. The table below is what a visitor sees, whatever the platform: each row is
requested from every deployed site and must answer alike. Rows stay inside what every platform can
express (conditions, query matching and country rules have no counterpart everywhere)."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import urllib3

from tests.conftest import Api
from tests.helpers import deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e

PLATFORMS = ("cloudflare", "amplify", "netlify", "vercel")
LOGO = b"\x89PNG\r\n\x1a\n" + os.urandom(4096)
FONT = b"wOF2" + os.urandom(2048)

SPA_SITE: dict[str, bytes] = {
    "/index.html": b"<!doctype html><h1>home</h1>",
    "/about/index.html": b"<!doctype html><h1>about</h1>",
    "/assets/logo.png": LOGO,
    "/assets/font.woff2": FONT,
    "/data/users.json": b'{"users": []}',
    "/_redirects": (
        b"# moved pages\n"
        b"/old-about /about/ 301\n"
        b"/docs/* /about/ 302\n"
        b"/go/:name /about/ 302\n"
        b"/api/* /data/users.json 200\n"
        b"/elsewhere https://example.org/landing 302\n"
    ),
    "/_headers": (b"/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n\n/*\n  X-Frame-Options: DENY\n"),
}

# An ordinary site: a 404 page and no index fallback.
PLAIN_SITE: dict[str, bytes] = {
    "/index.html": b"<!doctype html><h1>plain</h1>",
    "/404.html": b"<!doctype html><h1>not here</h1>",
}


@dataclass(frozen=True)
class Row:
    site: str
    path: str
    status: int
    body: bytes | None = None
    location: str | None = None  # the Location's path
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # (name, text the value contains)


TABLE = (
    Row("spa", "/", 200, SPA_SITE["/index.html"], content_type="text/html", headers=(("X-Frame-Options", "DENY"),)),
    Row("spa", "/about/", 200, SPA_SITE["/about/index.html"], content_type="text/html"),
    Row(
        "spa",
        "/assets/logo.png",
        200,
        LOGO,
        content_type="image/png",
        headers=(("Cache-Control", "immutable"), ("X-Frame-Options", "DENY")),
    ),
    Row("spa", "/assets/font.woff2", 200, FONT, content_type="font/woff2", headers=(("Cache-Control", "immutable"),)),
    Row("spa", "/old-about", 301, location="/about/"),
    Row("spa", "/docs/getting/started", 302, location="/about/"),
    Row("spa", "/go/anyone", 302, location="/about/"),
    Row("spa", "/api/users", 200, SPA_SITE["/data/users.json"]),
    # Another origin: a redirect there is fine (a 200 rewrite there, a proxy, is refused by Quick
    # Deploy on every platform: tests/e2e/test_static_only.py).
    Row("spa", "/elsewhere", 302, location="/landing"),
    Row("spa", "/client/side/route", 200, SPA_SITE["/index.html"], content_type="text/html"),
    Row("spa", "/_redirects", 200, SPA_SITE["/index.html"]),  # never served: the SPA answers instead
    Row("plain", "/", 200, PLAIN_SITE["/index.html"]),
    Row("plain", "/nowhere", 404, PLAIN_SITE["/404.html"]),
    Row("plain", "/deep/nowhere/at/all", 404, PLAIN_SITE["/404.html"]),
)


def _deploy_and_wait(api: Api, platform: str, site: dict[str, bytes], project: str) -> str:
    accepted = deploy(api, platform, {"files": inline_files(site), "projectName": project})
    final = wait_terminal(api, accepted["deploymentId"], timeout=90)
    assert final["status"] == "ready", (platform, final)
    assert final.get("localUrl"), (platform, final)
    return str(final["localUrl"]).rstrip("/")


@pytest.fixture
def served(api: Api) -> dict[tuple[str, str], str]:
    """(platform, site) → where it is served, all eight deployed at once."""
    tag = uuid.uuid4().hex[:6]
    jobs = [(p, name, site) for p in PLATFORMS for name, site in (("spa", SPA_SITE), ("plain", PLAIN_SITE))]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        urls = pool.map(lambda job: _deploy_and_wait(api, job[0], job[2], f"parity-{job[1]}-{tag}"), jobs)
        return {(p, name): url for (p, name, _), url in zip(jobs, urls, strict=True)}


def _answer(base: str, path: str, host: str | None = None) -> dict[str, Any]:
    got = urllib3.request("GET", base + path, redirect=False, timeout=10, headers={"Host": host} if host else None)
    return answer_of(got)


def answer_of(got: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    return {
        "status": got.status,
        "body": got.data,
        "location": got.headers.get("Location"),
        "content_type": (got.headers.get("Content-Type") or "").split(";")[0].strip(),
        "headers": got.headers,
    }


def mismatches(row: Row, got: dict[str, Any], where: str) -> list[str]:
    """How an answer differs from its row (nothing: it answers alike)."""
    if got["status"] != row.status:
        return [f"{where}: status {got['status']}, want {row.status}"]
    wrong: list[str] = []
    if row.body is not None and got["body"] != row.body:
        wrong.append(f"{where}: body {got['body'][:60]!r}, want {row.body[:60]!r}")
    if row.location is not None:
        location = urllib3.util.parse_url(got["location"] or "").path
        if location != row.location:
            wrong.append(f"{where}: Location {got['location']!r}, want path {row.location!r}")
    if row.content_type is not None and got["content_type"] != row.content_type:
        wrong.append(f"{where}: Content-Type {got['content_type']!r}, want {row.content_type!r}")
    for name, text in row.headers:
        if text not in (got["headers"].get(name) or ""):
            wrong.append(f"{where}: {name} {got['headers'].get(name)!r} lacks {text!r}")
    return wrong


def test_every_platform_answers_the_table_alike(served: dict[tuple[str, str], str]) -> None:
    wrong: list[str] = []
    for row in TABLE:
        for platform in PLATFORMS:
            got = _answer(served[(platform, row.site)], row.path)
            wrong += mismatches(row, got, f"{platform} {row.site} {row.path}")
    assert not wrong, "\n".join(wrong)
