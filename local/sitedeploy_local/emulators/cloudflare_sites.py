"""What a visitor of ``https://{worker}.{subdomain}.workers.dev`` gets from an assets-only Worker.

The emulator serves every deployed site on a loopback port so that a person can open it in a browser
and a test can fetch its bytes back. The rules are those of Cloudflare's asset worker
(``workers-shared``): ``_redirects`` first (a 200 rule rewrites), then the ``html_handling`` intent
(``auto-trailing-slash``, ``force-trailing-slash``, ``drop-trailing-slash``, ``none``, each with its
307 redirects), then ``not_found_handling`` (``single-page-application``, ``404-page``, ``none``),
canonical-path 307s, strong ETags with ``If-None-Match`` → 304, and finally the ``_headers`` rules
on whatever answer comes out. A fidelity bug here would let an adapter ship config that works
locally and breaks on Cloudflare, so the algorithm follows the platform's, branch by branch.

This module also carries the small HTTP plumbing (body reading, quiet logging, abrupt resets) that
the API server in ``cloudflare.py`` shares with the site servers.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sitedeploy_local.emulators.loopback import BackgroundServer

HTML_HANDLING = ("auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none")
NOT_FOUND_HANDLING = ("single-page-application", "404-page", "none")
REDIRECT_STATUSES = (200, 301, 302, 303, 307, 308)
# Cloudflare's limits for the two rule files (Pages and Workers assets share the parser).
MAX_STATIC_REDIRECTS = 2000
MAX_DYNAMIC_REDIRECTS = 100
MAX_HEADER_RULES = 100
MAX_LINE_LENGTH = 2000
CACHE_CONTROL = "public, max-age=0, must-revalidate"
NULL_CONTENT_TYPE = "application/null"


# -- the rule files ---------------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r":([A-Za-z]\w*)")


def _compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Cloudflare's rules matcher: ``*`` is a greedy ``:splat``; ``:name`` matches one path segment
    (one host label in the host part of an ``https://`` rule); the whole string is anchored. A rule
    that does not compile (two splats, a repeated placeholder) is dropped, as there."""
    regex = "(?P<splat>.*)".join(re.escape(piece) for piece in pattern.split("*"))
    if pattern.startswith("https://"):
        scheme_end = len(re.escape("https://"))
        host_end = regex.find("/", scheme_end)
        host_end = len(regex) if host_end < 0 else host_end
        host = _PLACEHOLDER.sub(r"(?P<\1>[^/.]+)", regex[scheme_end:host_end])
        regex = regex[:scheme_end] + host + regex[host_end:]
    regex = _PLACEHOLDER.sub(r"(?P<\1>[^/]+)", regex)
    try:
        return re.compile("^" + regex + "$")
    except re.error:
        return None


def _replace(template: str, groups: Mapping[str, str | None]) -> str:
    """Fill ``:name`` placeholders in one pass; a placeholder without a value stays as written."""

    def fill(found: re.Match[str]) -> str:
        value = groups.get(found.group(1))
        return value if value is not None else found.group(0)

    return _PLACEHOLDER.sub(fill, template)


@dataclass(frozen=True)
class RedirectRule:
    source: str
    target: str
    status: int
    line: int
    pattern: re.Pattern[str] | None  # None: a static rule, matched exactly and before dynamic ones


@dataclass(frozen=True)
class HeaderRule:
    source: str
    line: int
    pattern: re.Pattern[str]
    set: tuple[tuple[str, str], ...]
    unset: tuple[str, ...]


@dataclass(frozen=True)
class SiteRules:
    """The parsed ``_redirects`` and ``_headers`` of one deployment. Invalid lines are skipped, as
    Cloudflare does, and reported in ``warnings``."""

    redirects: tuple[RedirectRule, ...] = ()
    headers: tuple[HeaderRule, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        redirects_text: str | None,
        headers_text: str | None,
        *,
        html_handling: str = "auto-trailing-slash",
    ) -> SiteRules:
        warnings: list[str] = []
        redirects = _parse_redirects(redirects_text or "", html_handling, warnings)
        headers = _parse_headers(headers_text or "", warnings)
        return cls(redirects=redirects, headers=headers, warnings=tuple(warnings))

    def match_redirect(self, pathname: str) -> tuple[RedirectRule, str] | None:
        """The matching rule (static rules first, then dynamic ones in file order) and its target
        with placeholders filled."""
        for rule in self.redirects:
            if rule.pattern is None and rule.source == pathname:
                return rule, rule.target
        for rule in self.redirects:
            found = rule.pattern.match(pathname) if rule.pattern is not None else None
            if found:
                target = _replace(rule.target, found.groupdict()).strip()
                if not re.match(r"^\w+://", target):
                    target = re.sub(r"/+", "/", target)
                return rule, target
        return None

    def apply_headers(self, pathname: str, host: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Every matching rule in order: ``! Name`` removes, a set replaces the response's own
        header the first time and appends when an earlier rule already set it."""
        out = list(headers)
        set_by_rules: set[str] = set()
        for rule in self.headers:
            test = f"https://{host}{pathname}" if rule.source.startswith("https://") else pathname
            found = rule.pattern.match(test)
            if not found:
                continue
            groups = found.groupdict()
            for name in rule.unset:
                out = [(k, v) for k, v in out if k.lower() != name]
            for name, template in rule.set:
                value = _replace(template, groups)
                if name in set_by_rules:
                    out.append((name, value))
                else:
                    out = [(k, v) for k, v in out if k.lower() != name]
                    out.append((name, value))
                    set_by_rules.add(name)
        return out


_URL = re.compile(r"^https://+(?P<host>[^/]+)/?(?P<path>.*)")
_DYNAMIC = re.compile(r"\*|:[A-Za-z]\w*")


def _parse_redirects(text: str, html_handling: str, warnings: list[str]) -> tuple[RedirectRule, ...]:
    """Cloudflare's ``_redirects`` parser: ``from to [status]``; ``from`` is a path (a missing
    leading slash is added); ``to`` is a path or an https URL; static rules are those before the
    first dynamic one; a rule that would loop through html_handling is ignored."""
    rules: list[RedirectRule] = []
    seen: set[str] = set()
    static_count = dynamic_count = 0
    static_allowed = True
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_LENGTH:
            warnings.append(f"_redirects line {number}: longer than {MAX_LINE_LENGTH} characters")
            continue
        tokens = line.split()
        comment = next((i for i, token in enumerate(tokens) if i >= 2 and token.startswith("#")), None)
        if comment is not None:
            tokens = tokens[:comment]
        if len(tokens) not in (2, 3):
            warnings.append(f"_redirects line {number}: expected 2 or 3 tokens, got {len(tokens)}")
            continue
        source, target = tokens[0], tokens[1]
        if _URL.match(source):
            warnings.append(f"_redirects line {number}: only relative sources are allowed")
            continue
        source = source if source.startswith("/") else f"/{source}"
        dynamic = not static_allowed or _DYNAMIC.search(source) is not None
        if dynamic:
            static_allowed = False
            dynamic_count += 1
            if dynamic_count > MAX_DYNAMIC_REDIRECTS:
                warnings.append(f"_redirects line {number}: more than {MAX_DYNAMIC_REDIRECTS} dynamic rules")
                break
        else:
            static_count += 1
            if static_count > MAX_STATIC_REDIRECTS:
                warnings.append(f"_redirects line {number}: more than {MAX_STATIC_REDIRECTS} static rules")
                continue
        absolute = _URL.match(target) is not None
        if not (absolute or target.startswith("/")):
            warnings.append(f"_redirects line {number}: the target must start with '/' or 'https://'")
            continue
        status = int(tokens[2]) if len(tokens) == 3 and tokens[2].isdigit() else (302 if len(tokens) == 2 else -1)
        if status not in REDIRECT_STATUSES:
            warnings.append(f"_redirects line {number}: status must be one of {REDIRECT_STATUSES}")
            continue
        to_index = re.search(r"/index(\.html)?$", target) is not None
        if not absolute and to_index and (source.endswith("/*") or (source.endswith("/") and html_handling != "none")):
            warnings.append(f"_redirects line {number}: infinite loop through html_handling, ignored")
            continue
        if source in seen:
            warnings.append(f"_redirects line {number}: duplicate rule for {source}, ignored")
            continue
        seen.add(source)
        if status == 200 and absolute:
            warnings.append(f"_redirects line {number}: a 200 rewrite can only point at a relative path")
            continue
        pattern = _compile_pattern(source) if dynamic else None
        if dynamic and pattern is None:
            warnings.append(f"_redirects line {number}: invalid pattern {source}")
            continue
        rules.append(RedirectRule(source=source, target=target, status=status, line=number, pattern=pattern))
    return tuple(rules)


@dataclass
class _HeaderBlock:
    source: str
    line: int
    set: dict[str, str] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)


def _parse_headers(text: str, warnings: list[str]) -> tuple[HeaderRule, ...]:
    """Cloudflare's ``_headers`` parser: a path (or https URL) line opens a rule; ``Name: value``
    lines add to it (repeated names join with ", "); ``! Name`` removes a header."""
    blocks: list[_HeaderBlock] = []
    current: _HeaderBlock | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_LENGTH:
            warnings.append(f"_headers line {number}: longer than {MAX_LINE_LENGTH} characters")
            continue
        if re.match(r"^(\S+://|/)", line):
            if len(blocks) >= MAX_HEADER_RULES:
                warnings.append(f"_headers line {number}: more than {MAX_HEADER_RULES} rules")
                break
            host = _URL.match(line)
            if line.startswith("/") or (host and not re.search(r":\d+$", host.group("host"))):
                current = _HeaderBlock(source=line, line=number)
                blocks.append(current)
            else:
                warnings.append(f"_headers line {number}: a rule is a path or an https URL without port")
                current = None
            continue
        if ":" not in line:
            if current is not None and line.startswith("!") and line[1:].strip():
                current.unset.append(line[1:].strip().lower())
            else:
                warnings.append(f"_headers line {number}: expected 'Name: value' or '! Name' after a path")
            continue
        raw_name, _, raw_value = line.partition(":")
        name, value = raw_name.strip().lower(), raw_value.strip()
        if not name or " " in name or not value or current is None:
            warnings.append(f"_headers line {number}: invalid header line")
            continue
        current.set[name] = f"{current.set[name]}, {value}" if name in current.set else value
    rules: list[HeaderRule] = []
    for block in blocks:
        pattern = _compile_pattern(block.source)
        if not block.set and not block.unset:
            warnings.append(f"_headers line {block.line}: no headers for {block.source}")
        elif pattern is None:
            warnings.append(f"_headers line {block.line}: invalid pattern {block.source}")
        else:
            rules.append(
                HeaderRule(
                    source=block.source,
                    line=block.line,
                    pattern=pattern,
                    set=tuple(block.set.items()),
                    unset=tuple(block.unset),
                )
            )
    return tuple(rules)


# -- resolving a request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAsset:
    """Bytes exactly as uploaded and the part's content type (``application/null``: none)."""

    data: bytes
    content_type: str


@dataclass(frozen=True)
class SiteVersion:
    """Everything needed to answer a visitor: the deployed manifest and its config."""

    host: str  # "{worker}.{subdomain}.workers.dev"
    manifest: Mapping[str, str]  # "/path" -> asset hash
    html_handling: str = "auto-trailing-slash"
    not_found_handling: str = "none"
    rules: SiteRules = field(default_factory=SiteRules)


@dataclass
class SiteResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    close: bool = False


@dataclass(frozen=True)
class _Intent:
    asset: str | None  # the asset hash to serve
    status: int = 200
    redirect: str | None = None


_Exists = Callable[[str], str | None]


def _serve(asset: str | None, status: int = 200) -> _Intent:
    return _Intent(asset=asset, status=status)


def _safe_redirect(file: str, destination: str, site: SiteVersion, exists: _Exists, skip: bool) -> _Intent | None:
    """Redirect to ``destination`` only when it is not an asset itself and would serve ``file``."""
    if skip or exists(destination):
        return None
    intent = _intent(destination, site, exists, skip_redirects=True)
    if intent is not None and intent.asset is not None and intent.asset == exists(file):
        return _Intent(asset=None, redirect=destination)
    return None


def _not_found(pathname: str, site: SiteVersion, exists: _Exists) -> _Intent | None:
    if site.not_found_handling == "single-page-application":
        found = exists("/index.html")
        return _serve(found) if found else None
    if site.not_found_handling == "404-page":
        cwd = pathname
        while cwd:
            cwd = cwd[: cwd.rfind("/")]
            found = exists(f"{cwd}/404.html")
            if found:
                return _serve(found, 404)
    return None


def _auto_trailing_slash(pathname: str, site: SiteVersion, exists: _Exists, skip: bool) -> _Intent | None:
    exact = exists(pathname)
    redirect: _Intent | None
    if pathname.endswith("/index"):
        if exact:
            return _serve(exact)
        if redirect := _safe_redirect(f"{pathname}.html", pathname[: -len("index")], site, exists, skip):
            return redirect
        if redirect := _safe_redirect(
            f"{pathname[: -len('/index')]}.html", pathname[: -len("/index")], site, exists, skip
        ):
            return redirect
    elif pathname.endswith("/index.html"):
        if redirect := _safe_redirect(pathname, pathname[: -len("index.html")], site, exists, skip):
            return redirect
        if redirect := _safe_redirect(
            f"{pathname[: -len('/index.html')]}.html", pathname[: -len("/index.html")], site, exists, skip
        ):
            return redirect
    elif pathname.endswith("/"):
        if found := exists(f"{pathname}index.html"):
            return _serve(found)
        if redirect := _safe_redirect(f"{pathname[:-1]}.html", pathname[:-1], site, exists, skip):
            return redirect
    elif pathname.endswith(".html"):
        stem = pathname[: -len(".html")]
        if redirect := _safe_redirect(pathname, stem, site, exists, skip):
            return redirect
        if redirect := _safe_redirect(f"{stem}/index.html", f"{stem}/", site, exists, skip):
            return redirect
    if exact:
        return _serve(exact)
    if found := exists(f"{pathname}.html"):
        return _serve(found)
    if redirect := _safe_redirect(f"{pathname}/index.html", f"{pathname}/", site, exists, skip):
        return redirect
    return _not_found(pathname, site, exists)


def _force_trailing_slash(pathname: str, site: SiteVersion, exists: _Exists, skip: bool) -> _Intent | None:
    exact = exists(pathname)
    redirect: _Intent | None
    if pathname.endswith("/index"):
        if exact:
            return _serve(exact)
        if redirect := _safe_redirect(f"{pathname}.html", pathname[: -len("index")], site, exists, skip):
            return redirect
        if redirect := _safe_redirect(
            f"{pathname[: -len('/index')]}.html", pathname[: -len("index")], site, exists, skip
        ):
            return redirect
    elif pathname.endswith("/index.html"):
        if redirect := _safe_redirect(pathname, pathname[: -len("index.html")], site, exists, skip):
            return redirect
        if redirect := _safe_redirect(
            f"{pathname[: -len('/index.html')]}.html", pathname[: -len("index.html")], site, exists, skip
        ):
            return redirect
    elif pathname.endswith("/"):
        if found := exists(f"{pathname}index.html"):
            return _serve(found)
        if found := exists(f"{pathname[:-1]}.html"):
            return _serve(found)
    elif pathname.endswith(".html"):
        stem = pathname[: -len(".html")]
        if redirect := _safe_redirect(pathname, f"{stem}/", site, exists, skip):
            return redirect
        if exact:
            return _serve(exact)
        if redirect := _safe_redirect(f"{stem}/index.html", f"{stem}/", site, exists, skip):
            return redirect
    if exact:
        return _serve(exact)
    if redirect := _safe_redirect(f"{pathname}.html", f"{pathname}/", site, exists, skip):
        return redirect
    if redirect := _safe_redirect(f"{pathname}/index.html", f"{pathname}/", site, exists, skip):
        return redirect
    return _not_found(pathname, site, exists)


def _drop_trailing_slash(pathname: str, site: SiteVersion, exists: _Exists, skip: bool) -> _Intent | None:
    exact = exists(pathname)
    redirect: _Intent | None
    if pathname.endswith("/index"):
        if exact:
            return _serve(exact)
        if pathname == "/index":
            if redirect := _safe_redirect("/index.html", "/", site, exists, skip):
                return redirect
        elif (
            redirect := _safe_redirect(
                f"{pathname[: -len('/index')]}.html", pathname[: -len("/index")], site, exists, skip
            )
        ) or (redirect := _safe_redirect(f"{pathname}.html", pathname[: -len("/index")], site, exists, skip)):
            return redirect
    elif pathname == "/":
        if found := exists("/index.html"):
            return _serve(found)
    elif pathname.endswith("/index.html"):
        if pathname == "/index.html":
            if redirect := _safe_redirect("/index.html", "/", site, exists, skip):
                return redirect
        elif redirect := _safe_redirect(pathname, pathname[: -len("/index.html")], site, exists, skip):
            return redirect
        elif exact:
            return _serve(exact)
        elif redirect := _safe_redirect(
            f"{pathname[: -len('/index.html')]}.html", pathname[: -len("/index.html")], site, exists, skip
        ):
            return redirect
    elif pathname.endswith("/"):
        if redirect := _safe_redirect(f"{pathname[:-1]}.html", pathname[:-1], site, exists, skip):
            return redirect
        if redirect := _safe_redirect(f"{pathname}index.html", pathname[:-1], site, exists, skip):
            return redirect
    elif pathname.endswith(".html"):
        stem = pathname[: -len(".html")]
        if redirect := _safe_redirect(pathname, stem, site, exists, skip):
            return redirect
        if redirect := _safe_redirect(f"{stem}/index.html", stem, site, exists, skip):
            return redirect
    if exact:
        return _serve(exact)
    if found := exists(f"{pathname}.html"):
        return _serve(found)
    if found := exists(f"{pathname}/index.html"):
        return _serve(found)
    return _not_found(pathname, site, exists)


def _intent(pathname: str, site: SiteVersion, exists: _Exists, *, skip_redirects: bool = False) -> _Intent | None:
    if site.html_handling == "none":
        exact = exists(pathname)
        return _serve(exact) if exact else _not_found(pathname, site, exists)
    if site.html_handling == "force-trailing-slash":
        return _force_trailing_slash(pathname, site, exists, skip_redirects)
    if site.html_handling == "drop-trailing-slash":
        return _drop_trailing_slash(pathname, site, exists, skip_redirects)
    return _auto_trailing_slash(pathname, site, exists, skip_redirects)


def decode_path(pathname: str) -> str:
    """``decodeURIComponent`` per segment (a segment that does not decode stays as it is), then
    runs of slashes collapse, as the asset worker does before looking a path up."""
    segments = []
    for segment in pathname.split("/"):
        try:
            segments.append(unquote(segment, errors="strict"))
        except UnicodeDecodeError:
            segments.append(segment)
    return re.sub(r"/+", "/", "/".join(segments))


def encode_path(pathname: str) -> str:
    """``encodeURIComponent`` per segment: the canonical form an asset is served at."""
    return "/".join(quote(segment, safe="!~*'()") for segment in pathname.split("/"))


def _redirect(status: int, location: str) -> SiteResponse:
    return SiteResponse(status=status, headers=[("Location", location)])


def resolve(
    site: SiteVersion,
    assets: Callable[[str], StoredAsset | None],
    *,
    method: str,
    target: str,
    request_headers: Mapping[str, str],
) -> SiteResponse:
    """Answer one visitor request the way Cloudflare's asset worker does."""
    split = urlsplit(target)
    pathname = split.path or "/"
    search = f"?{split.query}" if split.query else ""
    request_pathname = pathname
    matched = site.rules.match_redirect(pathname)
    if matched is not None:
        rule, destination = matched
        dest = urlsplit(destination)
        if rule.status == 200:
            pathname = dest.path or "/"
        else:
            query = f"?{dest.query}" if dest.query else search
            fragment = f"#{dest.fragment}" if dest.fragment else ""
            if dest.netloc and dest.netloc != site.host:
                location = f"{dest.scheme}://{dest.netloc}{dest.path or '/'}{query}{fragment}"
            else:
                location = f"{dest.path or '/'}{query}{fragment}"
            return _finish(site, request_pathname, _redirect(rule.status, location))

    decoded = decode_path(pathname)
    manifest = site.manifest
    intent = _intent(decoded, site, manifest.get)
    if intent is None:
        return _finish(site, request_pathname, SiteResponse(status=404))
    if method not in ("GET", "HEAD"):
        return _finish(site, request_pathname, SiteResponse(status=405))
    destination = encode_path(intent.redirect if intent.redirect is not None else decoded)
    if intent.redirect is not None or (destination != pathname and intent.asset is not None):
        return _finish(site, request_pathname, _redirect(307, destination + search))
    stored = assets(intent.asset) if intent.asset is not None else None
    if stored is None:  # the manifest names an asset the account does not hold
        return _finish(site, request_pathname, SiteResponse(status=500))
    etag = f'"{intent.asset}"'
    headers = [("ETag", etag)]
    if stored.content_type and stored.content_type != NULL_CONTENT_TYPE:
        headers.append(("Content-Type", stored.content_type))
    if "authorization" not in request_headers and "range" not in request_headers:
        headers.append(("Cache-Control", CACHE_CONTROL))
    if request_headers.get("if-none-match", "") in (etag, f"W/{etag}"):
        return _finish(site, request_pathname, SiteResponse(status=304, headers=headers))
    return _finish(site, request_pathname, SiteResponse(status=intent.status, headers=headers, body=stored.data))


def _finish(site: SiteVersion, request_pathname: str, response: SiteResponse) -> SiteResponse:
    response.headers = site.rules.apply_headers(request_pathname, site.host, response.headers)
    return response


# -- HTTP plumbing ----------------------------------------------------------------------------------


class RequestTooLarge(Exception):
    pass


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that never logs to stderr and reads bodies safely."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stalls
    timeout = 60  # an idle keep-alive connection is dropped after this many seconds

    def log_message(self, format: str, *args: Any) -> None:
        return

    def version_string(self) -> str:
        return self.server_version

    def read_body(self, limit: int) -> bytes:
        """The whole request body (Content-Length or chunked); RequestTooLarge past ``limit``."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > limit:
                    self.close_connection = True
                    raise RequestTooLarge(str(total))
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self.close_connection = True
            raise RequestTooLarge(str(length))
        return self.rfile.read(length) if length else b""

    def send_all(self, status: int, headers: Iterable[tuple[str, str]], body: bytes, *, close: bool = False) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def reset_connection(self) -> None:
        """Drop the connection without an answer: SO_LINGER 0 makes the close send a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


NOTHING_HERE = (
    b"<!DOCTYPE html><html><head><title>There is nothing here yet</title></head><body>"
    b"<h1>There is nothing here yet</h1><p>No Worker is deployed and enabled on this workers.dev "
    b"address.</p></body></html>"
)


def nothing_here() -> SiteResponse:
    """What a workers.dev address without an enabled Worker answers."""
    return SiteResponse(status=404, headers=[("Content-Type", "text/html; charset=utf-8")], body=NOTHING_HERE)


SiteResponder = Callable[["SiteServer", str, str, Mapping[str, str]], SiteResponse]


class SiteServer(BackgroundServer):
    """One deployed Worker's own loopback port; ``respond`` looks the Worker up on every request,
    so a redeploy shows at once and a deleted Worker stops answering even on open connections."""

    def __init__(self, key: tuple[str, str], respond: SiteResponder) -> None:
        self.key = key
        site = self

        class Handler(QuietHandler):
            server_version = "cloudflare"

            def _dispatch(self) -> None:
                try:
                    self.read_body(16 * 1024 * 1024)
                except (RequestTooLarge, ValueError):
                    self.send_all(413, [], b"", close=True)
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                response = respond(site, self.command.upper(), self.path, headers)
                self.send_all(response.status, response.headers, response.body, close=response.close)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

        super().__init__(Handler, name=f"cloudflare-site-{key[1]}")
