"""What a visitor of ``https://<project>.vercel.app`` gets from the project's production deployment.

The emulator serves every project that has a production deployment on a loopback port of its own
(``ProjectSites``), byte for byte, so that a test can fetch what was deployed and a person can open it
in a browser. The order is the one ``@vercel/routing-utils`` gives a static deployment's routes:

1. ``cleanUrls`` redirects (308: ``/about.html`` → ``/about``, ``/dir/index`` → ``/dir``);
2. ``trailingSlash`` redirects (308, both ways, as configured);
3. ``redirects``, the first match wins (``permanent`` → 308, ``permanent: false`` → 307,
   ``statusCode`` as given, neither → 308);
4. ``headers``: every matching entry's headers are collected (they apply to whatever answer comes
   out of the next steps, a 404 included, and override the defaults);
5. the filesystem: the exact file, ``dir/`` → ``dir/index.html``, and with ``cleanUrls`` ``/about`` →
   ``about.html``;
6. ``rewrites`` (only when no file matched), first match; a rewritten path is looked up in the
   filesystem again and, if nothing is there, the later rewrites are tried on it;
7. nothing: ``/404.html`` with status 404 if the deployment has one, else Vercel's NOT_FOUND page.

Sources match the request's path as received; files are looked up with it percent-decoded.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from sitedeploy.domain.sitefiles import content_type
from sitedeploy_local.emulators.loopback import SiteAnswer, SitePorts, proxy
from sitedeploy_local.emulators.vercel.output import Output
from sitedeploy_local.emulators.vercel.output import resolve as resolve_output
from sitedeploy_local.emulators.vercel.rules import SiteConfig

CACHE_CONTROL = "public, max-age=0, must-revalidate"
CLEAN_URL_SOURCES = (
    re.compile(r"^/(?:(.+)/)?index(?:\.html)?/?$"),
    re.compile(r"^/(.*)\.html/?$"),
)
WELL_KNOWN = re.compile(r"^/\.well-known(?:/.*)?$")
ADD_SLASH = re.compile(r"^/((?:[^/]+/)*[^/\.]+)$")
DROP_SLASH_FROM_FILE = re.compile(r"^/((?:[^/]+/)*[^/]+\.\w+)/$")
DROP_SLASH = re.compile(r"^/(.*)\/$")


@dataclass(frozen=True)
class ServedDeployment:
    """A production deployment as its site serves it: ``files`` maps the path (no leading slash)
    to the SHA-1 of its bytes."""

    id: str
    files: Mapping[str, str]
    config: SiteConfig = field(default_factory=SiteConfig)
    # A prebuilt deployment answers from its Build Output's routes instead.
    output: Output | None = None


FileLookup = Callable[[str], bytes | None]


def _redirect(status: int, location: str, headers: list[tuple[str, str]] | None = None) -> SiteAnswer:
    return SiteAnswer(
        status=status,
        headers=[("Location", location), ("Content-Type", "text/plain"), *(headers or [])],
        body=f"Redirecting to {location} ({status})\n".encode(),
    )


def _fill(location: str, found: re.Match[str]) -> str:
    value = found.group(1) or ""
    filled = location.replace("$1", value)
    return re.sub(r"^/{2,}", "/", filled)


def _with_query(location: str, query: str) -> str:
    if not query or "?" in location:
        return location
    return f"{location}?{query}"


def _builtin_redirect(path: str, config: SiteConfig) -> str | None:
    """Where cleanUrls / trailingSlash send ``path`` (None: nowhere)."""
    if config.clean_urls:
        location = "/$1/" if config.trailing_slash else "/$1"
        for source in CLEAN_URL_SOURCES:
            if found := source.match(path):
                return _fill(location, found)
    if config.trailing_slash is True and not WELL_KNOWN.match(path):
        if found := ADD_SLASH.match(path):
            return _fill("/$1/", found)
        if found := DROP_SLASH_FROM_FILE.match(path):
            return _fill("/$1", found)
    elif config.trailing_slash is False and (found := DROP_SLASH.match(path)):
        return _fill("/$1", found)
    return None


def lookup(path: str, deployment: ServedDeployment) -> str | None:
    """The deployed file a (decoded) path serves, by Vercel's filesystem rules; None: no file."""
    files, clean = deployment.files, bool(deployment.config.clean_urls)
    if path in ("", "/"):
        candidates = ["index.html"]
    else:
        relative = path.lstrip("/")
        if relative.endswith("/"):
            base = relative.rstrip("/")
            candidates = [f"{base}/index.html"] + ([f"{base}.html"] if clean else [])
        else:
            candidates = [relative, f"{relative}/index.html"] + ([f"{relative}.html"] if clean else [])
    return next((candidate for candidate in candidates if candidate in files), None)


def _decode(path: str) -> str:
    return re.sub(r"/+", "/", unquote(path))


def not_found_page(request_id: str) -> bytes:
    return f"The page could not be found\n\nNOT_FOUND\n\n{request_id}\n".encode()


def _merge(defaults: list[tuple[str, str]], custom: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The configured headers win over the defaults of the same name (compared without case)."""
    names = {name.lower() for name, _ in custom}
    return [(n, v) for n, v in defaults if n.lower() not in names] + custom


def resolve(
    deployment: ServedDeployment, read: FileLookup, *, method: str, target: str, request_headers: Mapping[str, str]
) -> SiteAnswer:
    """Answer one visitor request the way Vercel serves a static production deployment."""
    if deployment.output is not None:
        return resolve_output(deployment.output, read, method=method, target=target, request_headers=request_headers)
    split = urlsplit(target)
    path = split.path or "/"
    config = deployment.config
    request_id = f"lcl1::{secrets.token_hex(6)}"
    base_headers = [("X-Vercel-Id", request_id)]

    builtin = _builtin_redirect(path, config)
    if builtin is not None:
        return _redirect(308, _with_query(builtin, split.query), base_headers)
    for rule in config.redirects:
        if (matched := rule.pattern.match(path)) is not None:
            location = _with_query(matched.substitute(rule.destination), split.query)
            return _redirect(rule.status, location, base_headers)

    custom: list[tuple[str, str]] = []
    for header_rule in config.headers:
        if (matched := header_rule.pattern.match(path)) is not None:
            custom.extend((key, matched.substitute(value)) for key, value in header_rule.headers)

    served = lookup(_decode(path), deployment)
    current = path
    if served is None:
        for rewrite in config.rewrites:
            if (matched := rewrite.pattern.match(current)) is None:
                continue
            destination = matched.substitute(rewrite.destination)
            if urlsplit(destination).scheme:  # an external rewrite is a reverse proxy, as on Vercel
                proxied = proxy("vercel", method, _with_query(destination, split.query), request_headers)
                return SiteAnswer(proxied.status, _merge([*base_headers, *proxied.headers], custom), proxied.body)
            current = urlsplit(destination).path or "/"
            served = lookup(_decode(current), deployment)
            if served is not None:
                break

    if served is None:
        page = deployment.files.get("404.html")
        data = read(page) if page else None
        if data is not None:
            defaults = [*base_headers, ("Content-Type", content_type("404.html")), ("Cache-Control", CACHE_CONTROL)]
            return SiteAnswer(404, _merge(defaults, custom), data)
        defaults = [
            *base_headers,
            ("Content-Type", "text/plain; charset=utf-8"),
            ("X-Vercel-Error", "NOT_FOUND"),
            ("Cache-Control", "public, max-age=0, must-revalidate"),
        ]
        return SiteAnswer(404, _merge(defaults, custom), not_found_page(request_id))
    if method not in ("GET", "HEAD"):
        return SiteAnswer(405, _merge([*base_headers, ("Allow", "GET, HEAD")], custom))
    sha = deployment.files[served]
    data = read(sha)
    if data is None:  # the deployment names bytes the account no longer holds
        return SiteAnswer(500, base_headers)
    etag = f'"{hashlib.sha1(f"{deployment.id}:{sha}".encode()).hexdigest()}"'  # noqa: S324 (a cache validator)
    defaults = [
        *base_headers,
        ("Content-Type", content_type(served)),
        ("Cache-Control", CACHE_CONTROL),
        ("ETag", etag),
        ("X-Vercel-Cache", "MISS"),
    ]
    headers = _merge(defaults, custom)
    if request_headers.get("if-none-match", "") in (etag, f"W/{etag}"):
        return SiteAnswer(304, headers)
    return SiteAnswer(200, headers, data)


# -- one loopback port per project ----------------------------------------------------------------------


ProjectKey = tuple[str, str]  # (account id, project id)


@dataclass(frozen=True)
class Visit:
    """What a visitor of a project finds: its production deployment and the account's files."""

    deployment: ServedDeployment
    read: FileLookup


NOT_DEPLOYED = b"The deployment could not be found on Vercel.\n\nDEPLOYMENT_NOT_FOUND\n"


class ProjectSites(SitePorts[ProjectKey, Visit]):
    """Every served project's own loopback port (``SitePorts``), answering from its production
    deployment; a deleted project answers DEPLOYMENT_NOT_FOUND."""

    server_version = "Vercel"

    def _respond(self, found: Visit, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        return resolve(found.deployment, found.read, method=method, target=target, request_headers=headers)

    def _gone(self) -> SiteAnswer:
        return SiteAnswer(
            404,
            [("Content-Type", "text/plain; charset=utf-8"), ("X-Vercel-Error", "DEPLOYMENT_NOT_FOUND")],
            NOT_DEPLOYED,
            close=True,
        )
