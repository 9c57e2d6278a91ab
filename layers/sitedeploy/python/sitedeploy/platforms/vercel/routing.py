"""A site's routing as the configuration a Vercel deployment carries in its body (what the CLI
reads from ``vercel.json`` and sends): ``redirects``, ``rewrites``, ``headers``, ``cleanUrls`` and
``trailingSlash``. Nothing is uploaded as a ``vercel.json`` file: the body is the configuration,
and the site's files stay exactly the site's files.

Translation (Netlify / Cloudflare ``_redirects`` → Vercel's path-to-regexp):
- ``/from /to [3xx][!]`` → ``redirects`` ``{"source", "destination", "statusCode"}`` (301 when no
  status). Vercel applies redirects before the filesystem, so a redirect always wins over a file
  (on Netlify only with ``!``; a redirect's source is rarely also a file).
- ``/from /to 200[!]`` → ``rewrites`` ``{"source", "destination"}`` (a rewrite to an absolute URL is
  Vercel's proxy, as Netlify's is). Vercel rewrites only paths no file answers, as Netlify does
  without ``!``.
- ``*`` (at the end, after ``/``) → ``:splat*``; ``:splat`` and ``:name`` in the destination are
  substituted by Vercel from the source's parameters of that name.
- Skipped (counted, no Vercel counterpart): 404 and other statuses, conditions (``Country=``,
  ``Role=``…), query matching, a ``*`` not at the end of a segment, regex characters in a source,
  lines that are not ``from to [status]``.
- ``_headers``: a path line (``*`` → ``(.*)``, any depth) and its indented ``Name: value`` lines →
  ``{"source", "headers": [{"key", "value"}]}``; Vercel applies every matching entry. ``! Name``
  (detach) has no counterpart and is skipped, as is a name that is not an HTTP token.
- last, a single-page app's fallback: ``/(.*)`` → ``/index.html`` (only paths no file answers).
- ``cleanUrls`` unless html handling is ``none``; ``trailingSlash`` true / false for force / drop."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sitedeploy.domain.sitefiles import redirect_lines

SPA_REWRITE: dict[str, str] = {"source": "/(.*)", "destination": "/index.html"}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
_REGEX_CHARACTERS = re.compile(r"[(){}+?\[\]\\]")
# An HTTP token (RFC 9110): what Vercel accepts as a header name ("! Name", a detach, is not one).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class VercelRouting:
    redirects: tuple[dict[str, Any], ...] = ()
    rewrites: tuple[dict[str, str], ...] = ()
    headers: tuple[dict[str, Any], ...] = ()
    clean_urls: bool = True
    trailing_slash: bool | None = None
    # Lines with no Vercel counterpart (logged as a count only: they may carry anything).
    skipped: tuple[str, ...] = field(default=(), compare=False)

    def body(self) -> dict[str, Any]:
        """The deployment body's configuration fields (empty lists are left out)."""
        out: dict[str, Any] = {"cleanUrls": self.clean_urls}
        if self.trailing_slash is not None:
            out["trailingSlash"] = self.trailing_slash
        if self.redirects:
            out["redirects"] = [dict(r) for r in self.redirects]
        if self.rewrites:
            out["rewrites"] = [dict(r) for r in self.rewrites]
        if self.headers:
            out["headers"] = [
                {"source": h["source"], "headers": [dict(kv) for kv in h["headers"]]} for h in self.headers
            ]
        return out


def _source(path: str) -> str | None:
    """A Netlify source path in path-to-regexp, or None when it cannot be said there."""
    if _REGEX_CHARACTERS.search(path):
        return None
    if "*" in path:
        if path.count("*") > 1 or not path.endswith("/*"):
            return None
        path = path[:-1] + ":splat*"
    return path


def _destination(path: str) -> str | None:
    if "*" in path and not path.startswith(("http://", "https://")):
        return None
    return path


def redirect_rules(text: str | None) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[str]]:
    """(redirects, rewrites, skipped lines), in the file's order."""
    redirects: list[dict[str, Any]] = []
    rewrites: list[dict[str, str]] = []
    skipped: list[str] = []
    for line in redirect_lines(text):
        if not line.usable or not line.status.isdigit() or not line.source.startswith("/"):
            skipped.append(line.raw)
            continue
        status = int(line.status)
        source, destination = _source(line.source), _destination(line.target)
        if source is None or destination is None or (status != 200 and status not in REDIRECT_STATUSES):
            skipped.append(line.raw)
            continue
        if status == 200:
            rewrites.append({"source": source, "destination": destination})
        else:
            redirects.append({"source": source, "destination": destination, "statusCode": status})
    return redirects, rewrites, skipped


def header_rules(text: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """(header entries, skipped lines): ``{"source", "headers": [{"key", "value"}]}`` per path block."""
    blocks: list[dict[str, Any]] = []
    skipped: list[str] = []
    current: dict[str, Any] | None = None
    for raw in (text or "").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not raw[0].isspace():
            pattern = raw.strip()
            if _REGEX_CHARACTERS.search(pattern) or not pattern.startswith("/"):
                current = None
                skipped.append(pattern)
                continue
            current = {"source": pattern.replace("*", "(.*)"), "headers": []}
            blocks.append(current)
            continue
        name, sep, value = raw.strip().partition(":")
        name = name.strip()
        if current is None or not sep or name.startswith("!") or not _HEADER_NAME.fullmatch(name):
            skipped.append(raw.strip())
            continue
        current["headers"].append({"key": name, "value": value.strip()})
    return [b for b in blocks if b["headers"]], skipped


def vercel_routing(
    *, redirects_text: str | None, headers_text: str | None, spa: bool, html_handling: str | None
) -> VercelRouting:
    """The deployment's configuration. ``spa`` is ``SiteConfig.single_page_app(paths)``: the one
    SPA decision every platform shares."""
    redirects, rewrites, skipped = redirect_rules(redirects_text)
    headers, skipped_headers = header_rules(headers_text)
    if spa:
        rewrites.append(dict(SPA_REWRITE))
    trailing = {"force-trailing-slash": True, "drop-trailing-slash": False}.get(html_handling or "")
    return VercelRouting(
        redirects=tuple(redirects),
        rewrites=tuple(rewrites),
        headers=tuple(headers),
        clean_urls=html_handling != "none",
        trailing_slash=trailing,
        skipped=tuple(skipped + skipped_headers),
    )
