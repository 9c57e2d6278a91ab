"""What a visitor of ``https://NAME.netlify.app`` gets from a site's published deploy.

The emulator serves every published site on a loopback port of its own (``NetlifySites``) so that a
person can open it in a browser and a test can fetch its bytes back. The rules are Netlify's for a
static deploy:

1. the file at the path, else a pretty URL (``/about`` → ``about.html``, ``/dir`` and ``/dir/`` →
   ``dir/index.html``); ``_redirects`` and ``_headers`` themselves are never served;
2. ``_redirects`` rules (``from to [status][!]``), tried in order, the first match wins; a rule
   applies only when no file matched (shadowing) unless its status carries ``!``; status 301 by
   default, 200 rewrites, 404 (or another 4xx) serves the destination with that status; ``*``
   splats into ``:splat`` and ``:name`` placeholders bind one segment; trailing slashes do not
   matter to a rule;
3. nothing matched: ``/404.html`` with status 404 when the deploy has one, else Netlify's plain
   "Page not found";
4. ``_headers``: every block whose path pattern matches the request path adds its headers.

A 200 rule to another origin (``https://…``) is a reverse proxy, as on Netlify: the emulator fetches
it (loopback origins only; see ``loopback.proxy``). Rules it cannot honour (country, language, role
or cookie conditions) never match, so that they fall through to what a local visitor would get
without them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from sitedeploy.domain.sitefiles import content_type
from sitedeploy_local.emulators.loopback import SiteAnswer, SitePorts, proxy

REDIRECTS_PATH = "/_redirects"
HEADERS_PATH = "/_headers"
HIDDEN = frozenset({REDIRECTS_PATH, HEADERS_PATH})
CACHE_CONTROL = "public,max-age=0,must-revalidate"
NOT_FOUND_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Page not found</title></head><body>"
    b"<h1>Page not found</h1><p>Looks like you've followed a broken link or entered a URL that doesn't "
    b"exist on this site.</p></body></html>"
)
_STATUS = re.compile(r"^(\d{3})(!?)$")


# -- the rule files ----------------------------------------------------------------------------------


def _pattern(path: str, *, splat_anywhere: bool) -> re.Pattern[str]:
    """A path pattern as a regular expression: ``:name`` binds one segment, ``*`` the rest (a
    trailing ``/*`` also matches the bare directory)."""
    pieces: list[str] = []
    index = 0
    while index < len(path):
        if path.startswith("/*", index) and index + 2 == len(path):
            pieces.append("(?:/(?P<splat>.*))?")
            index += 2
        elif path[index] == "*" and (splat_anywhere or index + 1 == len(path)):
            pieces.append("(?P<splat>.*)")
            index += 1
        elif path[index] == ":" and index + 1 < len(path) and (path[index + 1].isalpha() or path[index + 1] == "_"):
            found = re.match(r"[A-Za-z_]\w*", path[index + 1 :])
            assert found is not None
            name = found.group(0)
            if name == "splat":
                pieces.append("(?P<splat>[^/]+)")
            elif f"(?P<{name}>" in "".join(pieces):
                pieces.append(f"(?P={name})")
            else:
                pieces.append(f"(?P<{name}>[^/]+)")
            index += 1 + len(name)
        else:
            pieces.append(re.escape(path[index]))
            index += 1
    return re.compile("^" + "".join(pieces) + "$", re.DOTALL)


def _without_trailing_slash(path: str) -> str:
    return path.rstrip("/") or "/"


@dataclass(frozen=True)
class RedirectRule:
    source: str
    destination: str
    status: int
    force: bool
    pattern: re.Pattern[str]
    query: tuple[tuple[str, str], ...] = ()  # ("id", ":id") query parameters the rule requires
    conditions: tuple[str, ...] = ()  # Country=..., Role=...: never met locally

    def match(self, path: str, query: Mapping[str, str]) -> dict[str, str] | None:
        if self.conditions:
            return None
        found = self.pattern.match(_without_trailing_slash(path))
        if found is None:
            return None
        bound = {key: value or "" for key, value in found.groupdict().items()}
        for key, value in self.query:
            if key not in query:
                return None
            if value.startswith(":"):
                bound[value[1:]] = query[key]
            elif query[key] != value:
                return None
        return bound

    def target(self, bound: Mapping[str, str]) -> str:
        """The destination with ``:splat`` and the placeholders filled in (longest names first,
        so that ``:id`` does not eat the start of ``:identifier``)."""
        result = self.destination
        for key in sorted(bound, key=len, reverse=True):
            result = result.replace(f":{key}", bound[key])
        return result


def parse_redirects(text: str) -> list[RedirectRule]:
    """Netlify's ``_redirects``: one rule a line, ``from [query=:param ...] to [status][!]
    [conditions]``; blank lines and ``#`` comments are skipped, and so is a line that is not a rule
    (Netlify's deploy would report it; the emulator serves without it)."""
    rules: list[RedirectRule] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) < 2:
            continue
        source, rest = tokens[0], tokens[1:]
        if not source.startswith("/"):
            continue  # domain-level rules (https://host/...) are not emulated
        query: list[tuple[str, str]] = []
        while rest and "=" in rest[0] and not rest[0].startswith(("/", "http://", "https://")):
            key, _, value = rest.pop(0).partition("=")
            query.append((key, value))
        if not rest:
            continue
        destination, rest = rest[0], rest[1:]
        status, force = 301, False
        if rest:
            found = _STATUS.match(rest[0])
            if found:
                status, force = int(found.group(1)), bool(found.group(2))
                rest = rest[1:]
        rules.append(
            RedirectRule(
                source=source,
                destination=destination,
                status=status,
                force=force,
                pattern=_pattern(_without_trailing_slash(source), splat_anywhere=False),
                query=tuple(query),
                conditions=tuple(rest),
            )
        )
    return rules


@dataclass(frozen=True)
class HeaderRule:
    source: str
    pattern: re.Pattern[str]
    headers: tuple[tuple[str, str], ...]


def parse_headers(text: str) -> list[HeaderRule]:
    """Netlify's ``_headers``: a path pattern on a line of its own, then its ``Name: value`` lines
    indented; ``#`` comments are skipped."""
    rules: list[HeaderRule] = []
    source: str | None = None
    headers: list[tuple[str, str]] = []

    def close() -> None:
        if source is not None and headers:
            rules.append(HeaderRule(source, _pattern(source, splat_anywhere=True), tuple(headers)))

    for raw in text.splitlines():
        if not raw.strip() or raw.strip().startswith("#"):
            continue
        if not raw[0].isspace():
            close()
            source, headers = raw.strip(), []
            continue
        name, colon, value = raw.strip().partition(":")
        if source is not None and colon and name.strip():
            headers.append((name.strip(), value.strip()))
    close()
    return rules


# -- a published deploy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteVersion:
    """Everything needed to answer a visitor: the deploy's files and bytes, and its rules."""

    host: str  # NAME.netlify.app
    files: Mapping[str, str]  # "/path" -> sha1
    blobs: Mapping[str, bytes]  # sha1 -> bytes
    redirects: tuple[RedirectRule, ...] = ()
    header_rules: tuple[HeaderRule, ...] = ()

    @classmethod
    def build(cls, host: str, files: Mapping[str, str], blobs: Mapping[str, bytes]) -> SiteVersion:
        def text(path: str) -> str:
            digest = files.get(path)
            data = blobs.get(digest, b"") if digest else b""
            return data.decode("utf-8", "replace")

        return cls(
            host=host,
            files=dict(files),
            blobs=dict(blobs),
            redirects=tuple(parse_redirects(text(REDIRECTS_PATH))),
            header_rules=tuple(parse_headers(text(HEADERS_PATH))),
        )

    def exists(self, path: str) -> bool:
        return path in self.files and path not in HIDDEN

    def static(self, path: str) -> str | None:
        """The file a path serves without any rule: exact, then the pretty URL forms."""
        if path != "/" and not path.endswith("/") and self.exists(path):
            return path
        if path.endswith("/"):
            candidates = [f"{path}index.html"]
            if path != "/":
                candidates.append(f"{path[:-1]}.html")
        else:
            candidates = [f"{path}.html", f"{path}/index.html"]
        return next((c for c in candidates if self.exists(c)), None)


@dataclass
class _Outcome:
    status: int
    file: str | None = None  # the file whose bytes answer
    location: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    proxy: str | None = None  # another origin, fetched as a reverse proxy


def decode_path(raw: str) -> str:
    """The request path as the site's files are named: percent-decoded, runs of slashes collapsed."""
    return re.sub(r"/+", "/", unquote(raw or "/")) or "/"


def _query(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in raw.split("&") if raw else []:
        key, _, value = pair.partition("=")
        found.setdefault(unquote(key), unquote(value))
    return found


def _route(version: SiteVersion, path: str, raw_query: str) -> _Outcome:
    static = version.static(path)
    query = _query(raw_query)
    for rule in version.redirects:
        if static is not None and not rule.force:
            continue
        bound = rule.match(path, query)
        if bound is None:
            continue
        destination = rule.target(bound)
        if 300 <= rule.status < 400:
            if "?" not in destination and raw_query and not rule.query:
                destination = f"{destination}?{raw_query}"
            return _Outcome(rule.status, location=destination)
        if destination.startswith(("http://", "https://")):
            return _Outcome(rule.status, proxy=destination)  # Netlify proxies to the other origin
        target = version.static(decode_path(urlsplit(destination).path))
        if target is None:
            continue  # a rewrite to nothing: Netlify tries the next rule
        return _Outcome(rule.status, file=target)
    if static is not None:
        return _Outcome(200, file=static)
    if version.exists("/404.html"):
        return _Outcome(404, file="/404.html")
    return _Outcome(404)


def resolve(version: SiteVersion, *, method: str, target: str, request_headers: Mapping[str, str]) -> SiteAnswer:
    """Answer one visitor request the way Netlify's CDN does for a static deploy."""
    split = urlsplit(target)
    path = decode_path(split.path)
    outcome = _route(version, path, split.query)
    if outcome.proxy is not None:
        return proxy("netlify", method, outcome.proxy, request_headers)
    headers: list[tuple[str, str]] = [("Server", "Netlify"), ("X-Nf-Request-Id", secrets.token_hex(13).upper())]
    body = b""
    if outcome.location is not None:
        headers += [("Location", outcome.location), ("Content-Type", "text/plain; charset=utf-8")]
        body = f"Redirecting to {outcome.location}".encode()
    elif outcome.file is not None:
        digest = version.files[outcome.file]
        etag = f'"{digest}-ssl"'
        headers += [
            ("Content-Type", content_type(outcome.file)),
            ("Cache-Control", CACHE_CONTROL),
            ("ETag", etag),
        ]
        if outcome.status == 200 and request_headers.get("if-none-match", "") in (etag, f"W/{etag}"):
            return SiteAnswer(304, _with_rules(version, path, headers))
        body = version.blobs.get(digest, b"")
    else:
        headers += [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "private, max-age=0")]
        body = NOT_FOUND_PAGE
    if method not in ("GET", "HEAD") and outcome.location is None and outcome.file is not None:
        return SiteAnswer(405, _with_rules(version, path, [("Allow", "GET, HEAD")]))
    return SiteAnswer(outcome.status, _with_rules(version, path, headers), body)


def _with_rules(version: SiteVersion, path: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    for rule in version.header_rules:
        if rule.pattern.match(path):
            headers = [*headers, *rule.headers]
    return headers


# -- one loopback port per published site ------------------------------------------------------------------


class NetlifySites(SitePorts[str, SiteVersion]):
    """Every published site's own loopback port (``SitePorts``, by site id), answering from its
    published deploy; a deleted site answers Netlify's plain 404."""

    server_version = "Netlify"

    def _respond(self, found: SiteVersion, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        return resolve(found, method=method, target=target, request_headers=headers)

    def _gone(self) -> SiteAnswer:
        return SiteAnswer(
            404,
            [("Content-Type", "text/plain; charset=utf-8"), ("Server", "Netlify")],
            b"Not Found - Request ID: local",
            close=True,
        )
