"""What a visitor of ``https://{branch}.{appId}.amplifyapp.com`` gets from an Amplify manual deploy.

The Amplify emulator serves each branch's last successful deployment on a loopback port of its own,
so that a person can open it in a browser and a test can fetch its bytes back. The serving rules are
Amplify Hosting's, as far as its documentation and observed behaviour go:

- the zip's root is the site's root: ``/`` serves ``index.html``, ``/dir/`` serves
  ``dir/index.html``, and ``/dir`` answers ``301`` to ``/dir/`` when ``dir/index.html`` exists;
  there is no implicit ``.html`` extension (``/about`` does not serve ``about.html``);
- the app's ``customRules`` are tried in order, first match wins: ``<*>`` is a wildcard that may span
  segments, ``<name>`` a placeholder for one segment (both usable in the target), a source written
  ``</regex/>`` is a regular expression searched in the path (the documented SPA rule), and a source
  may carry ``?key=<placeholder>`` query conditions;
- statuses: ``200`` rewrites (even over an existing file), ``301``/``302`` redirect, ``404-200``
  rewrites and ``404`` serves the target with a 404 — those two only when the request does not
  resolve to a file; a rule without status is a ``301`` (the CDK's default);
- rules whose source is a domain (``https://example.com``) never match on loopback; a rewrite to
  another host is a reverse proxy, as on Amplify (loopback origins only: ``loopback.proxy``);
- the app's ``customHeaders`` (Amplify's YAML: ``customHeaders: [{pattern, headers: [{key,
  value}]}]``) go on every answer, whatever its status, whose request path a pattern matches: a
  pattern is a glob on the decoded URL path, ``**`` matching any characters including ``/`` (and
  ``**/`` any number of whole directories, none included), ``*`` any characters but ``/``, anything
  else itself; a pattern that does not start with ``/`` may match at any depth (``*.json`` matches
  ``/a/b/c.json``, ``**/*`` and ``**`` match every path, ``/path/*`` only files directly under
  ``/path/``). Every matching pattern contributes; for the same header name (case-insensitive) the
  later pattern, or the later entry of one pattern, wins, and a custom header replaces the site's
  own (a custom ``Cache-Control`` replaces the default). Framing headers (``Content-Length``,
  ``Transfer-Encoding``, ``Connection``...) are the server's and are never replaced.

Bytes are served exactly as they were in the zip, streamed from disk. Each branch's server
(``branch_site_server``) asks its emulator for the branch's current version and the app's rules on
every request, so a redeploy or a rules change shows at once.
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import yaml

from sitedeploy_local.emulators.loopback import SiteAnswer, SiteServer, proxy

REWRITE_STATUSES = ("200", "301", "302", "404", "404-200")
DEFAULT_RULE_STATUS = "301"


# Fixed table first (the host's mime.types varies between machines), then the stdlib's guess.
_CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".bmp": "image/bmp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".wasm": "application/wasm",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
}
_CHARSET_TYPES = {"application/json", "application/manifest+json", "application/xml", "image/svg+xml"}


def content_type(path: str) -> str:
    """The Content-Type a visitor gets for ``path``; text types carry ``charset=utf-8``."""
    ext = os.path.splitext(path)[1].lower()
    kind = _CONTENT_TYPES.get(ext) or mimetypes.guess_type(f"x{ext}")[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in _CHARSET_TYPES:
        return f"{kind}; charset=utf-8"
    return kind


# -- rewrite and redirect rules ---------------------------------------------------------------------

_TOKEN = re.compile(r"<(\*|[A-Za-z0-9_-]+)>")


@dataclass(frozen=True)
class CompiledRule:
    source: str
    target: str
    status: str
    regex: re.Pattern[str] | None  # None: the rule never matches on loopback (domain source, bad regex)
    is_regex: bool = False
    query: tuple[tuple[str, str], ...] = ()  # (key, literal or "<placeholder>") conditions
    names: Mapping[str, str] = field(default_factory=dict)  # regex group -> placeholder name

    def match(self, path: str, query: Mapping[str, str]) -> dict[str, str] | None:
        """The placeholder values when the rule applies to ``path`` (decoded) and ``query``."""
        if self.regex is None:
            return None
        if self.is_regex:
            return {} if self.regex.search(path) else None
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        values = {self.names[group]: value for group, value in found.groupdict().items() if value is not None}
        for key, expected in self.query:
            if key not in query:
                return None
            placeholder = _TOKEN.fullmatch(expected)
            if placeholder:
                values[placeholder.group(1)] = query[key]
            elif query[key] != expected:
                return None
        return values

    def fill(self, values: Mapping[str, str]) -> str:
        def put(found: re.Match[str]) -> str:
            return values.get(found.group(1), found.group(0))

        return _TOKEN.sub(put, self.target)


def compile_rule(rule: Mapping[str, Any]) -> CompiledRule:
    source = str(rule.get("source") or "")
    target = str(rule.get("target") or "")
    status = str(rule.get("status") or DEFAULT_RULE_STATUS)
    if source.startswith("</") and source.endswith("/>") and len(source) > 4:
        try:
            return CompiledRule(source, target, status, re.compile(source[2:-2]), is_regex=True)
        except re.error:
            return CompiledRule(source, target, status, None)
    if re.match(r"^[a-z][a-z0-9+.-]*://", source, re.IGNORECASE):
        return CompiledRule(source, target, status, None)
    path, _, raw_query = source.partition("?")
    names: dict[str, str] = {}
    pieces: list[str] = []
    last = 0
    for index, found in enumerate(_TOKEN.finditer(path)):
        pieces.append(re.escape(path[last : found.start()]))
        group = f"g{index}"
        names[group] = found.group(1)
        pieces.append(f"(?P<{group}>.*)" if found.group(1) == "*" else f"(?P<{group}>[^/]+)")
        last = found.end()
    pieces.append(re.escape(path[last:]))
    query = tuple(parse_qsl(raw_query, keep_blank_values=True))
    regex = re.compile("".join(pieces), re.DOTALL)
    return CompiledRule(source, target, status, regex, query=query, names=names)


def compile_rules(rules: list[Mapping[str, Any]]) -> tuple[CompiledRule, ...]:
    return tuple(compile_rule(rule) for rule in rules)


# -- custom headers ---------------------------------------------------------------------------------

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls, but tab
# Set by the server from the answer itself: a custom value would break the HTTP framing.
_FRAMING_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "te"}
)
_HEADERS_SHAPE = "customHeaders: [{pattern: '**/*', headers: [{key: 'Name', value: 'value'}]}]"


@dataclass(frozen=True)
class HeaderRule:
    """One entry of an app's customHeaders: the headers to add where ``regex`` matches the path."""

    pattern: str
    regex: re.Pattern[str]
    headers: tuple[tuple[str, str], ...]


def compile_header_pattern(pattern: str) -> re.Pattern[str]:
    """A customHeaders pattern as a regular expression to ``fullmatch`` a decoded URL path (the
    glob semantics are the module docstring's)."""
    pieces: list[str] = [] if pattern.startswith("/") else ["/", "(?:.*/)?"]
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            piece, index = "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            piece, index = ".*", index + 2
        elif pattern[index] == "*":
            piece, index = "[^/]*", index + 1
        else:
            piece, index = re.escape(pattern[index]), index + 1
        if piece == "(?:.*/)?" and pieces and pieces[-1] == piece:
            continue  # "**/**/" is "**/": no nested optional groups to backtrack through
        pieces.append(piece)
    return re.compile("".join(pieces), re.DOTALL)


def _header_value(value: Any, where: str) -> str:
    # YAML reads an unquoted 300 as a number: Amplify takes it as the text it is.
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{where}.value must be a string (quote it in the YAML).")
    if _HEADER_VALUE_FORBIDDEN.search(value):
        raise ValueError(f"{where}.value must not contain control characters or line breaks.")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{where}.value holds characters that cannot go in an HTTP header.") from None
    return value


def parse_custom_headers(text: str) -> tuple[HeaderRule, ...]:
    """An app's customHeaders YAML, checked and compiled; ValueError says what is wrong (Amplify
    refuses a customHeaders it cannot read). Blank text, or an empty list, means no headers."""
    if not text.strip():
        return ()
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ValueError(f"customHeaders is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(document, dict) or "customHeaders" not in document:
        raise ValueError(f"customHeaders must be YAML of this form: {_HEADERS_SHAPE}")
    unknown = sorted(str(key) for key in document if key != "customHeaders")
    if unknown:
        raise ValueError(f"customHeaders: unknown top-level key(s) {unknown}; only 'customHeaders' is allowed.")
    entries = document["customHeaders"]
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ValueError("customHeaders: 'customHeaders' must be a list of {pattern, headers} entries.")
    rules: list[HeaderRule] = []
    for index, entry in enumerate(entries):
        where = f"customHeaders[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a mapping with 'pattern' and 'headers'.")
        extra = sorted(str(key) for key in entry if key not in ("pattern", "headers"))
        if extra:
            raise ValueError(f"{where}: unknown key(s) {extra}; an entry has 'pattern' and 'headers'.")
        pattern = entry.get("pattern")
        if not isinstance(pattern, str) or not pattern.strip() or _HEADER_VALUE_FORBIDDEN.search(pattern):
            raise ValueError(f"{where}.pattern must be a non-empty string, such as '**/*' or '*.json'.")
        listed = entry.get("headers")
        if not isinstance(listed, list) or not listed:
            raise ValueError(f"{where}.headers must be a non-empty list of {{key, value}}.")
        headers: list[tuple[str, str]] = []
        for number, header in enumerate(listed):
            spot = f"{where}.headers[{number}]"
            if not isinstance(header, dict) or set(header) != {"key", "value"}:
                raise ValueError(f"{spot} must be a mapping with exactly 'key' and 'value'.")
            key = header["key"]
            if not isinstance(key, str) or not _HEADER_NAME.match(key):
                raise ValueError(f"{spot}.key must be an HTTP header name, not {key!r}.")
            headers.append((key, _header_value(header["value"], spot)))
        rules.append(HeaderRule(pattern, compile_header_pattern(pattern), tuple(headers)))
    return tuple(rules)


def custom_headers_for(rules: tuple[HeaderRule, ...], path: str) -> list[tuple[str, str]]:
    """The custom headers an answer for ``path`` (decoded) carries: every matching pattern's, the
    later one winning for the same name."""
    chosen: dict[str, tuple[str, str]] = {}
    for rule in rules:
        if rule.regex.fullmatch(path) is None:
            continue
        for key, value in rule.headers:
            chosen.pop(key.lower(), None)
            chosen[key.lower()] = (key, value)
    return [pair for name, pair in chosen.items() if name not in _FRAMING_HEADERS]


def with_custom_headers(answer: SiteAnswer, rules: tuple[HeaderRule, ...], target: str) -> SiteAnswer:
    """``answer`` with the custom headers of the request ``target`` in place of its own."""
    if not rules:
        return answer
    path = unquote(urlsplit(target).path or "/", errors="replace")
    extra = custom_headers_for(rules, path if path.startswith("/") else f"/{path}")
    if not extra:
        return answer
    names = {key.lower() for key, _ in extra}
    kept = [(key, value) for key, value in answer.headers if key.lower() not in names]
    return replace(answer, headers=[*kept, *extra])


# -- resolving a request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteVersion:
    """One successful deployment: its extracted files (POSIX paths relative to ``root``)."""

    root: Path
    files: frozenset[str]
    job_id: str
    total_bytes: int = 0

    def file(self, relative: str) -> Path | None:
        return self.root / relative if relative in self.files else None

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


NOT_FOUND_PAGE = b"".join(
    (
        b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>",
        b"<body><h1>404 Not Found</h1></body></html>",
    )
)


def _not_found() -> SiteAnswer:
    return SiteAnswer(404, [("Content-Type", "text/html; charset=utf-8")], NOT_FOUND_PAGE)


def _locate(version: SiteVersion, path: str) -> tuple[str, str] | None:
    """("file", relative path) or ("redirect", path with a trailing slash) or None."""
    relative = path.lstrip("/")
    if path.endswith("/") or not relative:
        index = f"{relative}index.html"
        return ("file", index) if index in version.files else None
    if relative in version.files:
        return ("file", relative)
    if f"{relative}/index.html" in version.files:
        return ("redirect", f"{path}/")
    return None


def _serve_file(version: SiteVersion, relative: str, status: int = 200) -> SiteAnswer:
    try:
        stream = (version.root / relative).open("rb")
    except OSError:  # the version was retired while this request ran
        return _not_found()
    size = os.fstat(stream.fileno()).st_size
    headers = [
        ("Content-Type", content_type(relative)),
        ("Content-Length", str(size)),
        ("ETag", f'"{version.job_id}-{size}-{zlib.crc32(relative.encode()):08x}"'),
        ("Cache-Control", "public, max-age=0, must-revalidate"),
    ]
    return SiteAnswer(status, headers, stream=stream)


def _redirect(status: int, location: str) -> SiteAnswer:
    return SiteAnswer(status, [("Location", location), ("Content-Type", "text/html; charset=utf-8")])


def resolve(version: SiteVersion, rules: tuple[CompiledRule, ...], method: str, target: str) -> SiteAnswer:
    """Answer one visitor request the way Amplify Hosting does (see the module docstring)."""
    if method not in ("GET", "HEAD"):
        return SiteAnswer(405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain; charset=utf-8")], b"")
    split = urlsplit(target)
    path = unquote(split.path or "/", errors="replace")
    if not path.startswith("/"):
        path = f"/{path}"
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    here = _locate(version, path)
    for rule in rules:
        values = rule.match(path, query)
        if values is None:
            continue
        if rule.status in ("404", "404-200") and here is not None:
            continue
        destination = rule.fill(values)
        if rule.status in ("301", "302"):
            if "?" not in destination and split.query:
                destination = f"{destination}?{split.query}"
            return _redirect(int(rule.status), destination)
        if re.match(r"^[a-z][a-z0-9+.-]*://", destination, re.IGNORECASE):
            return proxy("amplify", method, destination, {})  # a 200 to another host: a reverse proxy
        status = 404 if rule.status == "404" else 200
        located = _locate(version, unquote(urlsplit(destination).path or "/"))
        if located is None or located[0] != "file":
            return _not_found()
        return _serve_file(version, located[1], status)
    if here is None:
        return _not_found()
    kind, value = here
    if kind == "redirect":
        location = quote(value, safe="/!$&'()*+,;=:@-._~")
        return _redirect(301, f"{location}?{split.query}" if split.query else location)
    return _serve_file(version, value)


# -- one loopback port per branch ---------------------------------------------------------------------


class Served(NamedTuple):
    """What a branch serves at the moment: its current version, and its app's rules and headers."""

    version: SiteVersion
    rules: tuple[CompiledRule, ...]
    headers: tuple[HeaderRule, ...] = ()


# What a branch's site server asks the emulator on every request (None: the branch is gone), so a
# redeploy or a change of rules or headers shows at once.
SiteLookup = Callable[[], Served | None]


def branch_site_server(name: str, lookup: SiteLookup) -> SiteServer:
    """One branch's own loopback port (not started)."""

    def respond(method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        current = lookup()
        if current is None:
            return _not_found()
        answer = resolve(current.version, current.rules, method, target)
        return with_custom_headers(answer, current.headers, target)

    return SiteServer(respond, name=f"amplify-site-{name}", server_version="AmazonS3")
