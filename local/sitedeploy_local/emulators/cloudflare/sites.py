"""What a visitor of ``https://{worker}.{subdomain}.workers.dev`` gets from an assets-only Worker.

The emulator serves every deployed Worker on a loopback port of its own (``WorkerSites``) so that a
person can open it in a browser and a test can fetch its bytes back. The rules are those of
Cloudflare's asset worker (``workers-shared``): ``_redirects`` first (a 200 rule rewrites), then the
``html_handling`` intent (``auto-trailing-slash``, ``force-trailing-slash``, ``drop-trailing-slash``,
``none``, each with its 307 redirects), then ``not_found_handling`` (``single-page-application``,
``404-page``, ``none``), canonical-path 307s, strong ETags with ``If-None-Match`` → 304, and finally
the ``_headers`` rules on whatever answer comes out. A fidelity bug here would let an adapter ship
config that works locally and breaks on Cloudflare, so the algorithm follows the platform's, branch
by branch. The rule files themselves are parsed in ``rules``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from sitedeploy_local.emulators.cloudflare.rules import SiteRules
from sitedeploy_local.emulators.loopback import SiteAnswer, SitePorts

HTML_HANDLING = ("auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none")
NOT_FOUND_HANDLING = ("single-page-application", "404-page", "none")
CACHE_CONTROL = "public, max-age=0, must-revalidate"
NULL_CONTENT_TYPE = "application/null"


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


AssetLookup = Callable[[str], StoredAsset | None]


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


def _redirect(status: int, location: str) -> SiteAnswer:
    return SiteAnswer(status=status, headers=[("Location", location)])


def resolve(
    site: SiteVersion,
    assets: AssetLookup,
    *,
    method: str,
    target: str,
    request_headers: Mapping[str, str],
) -> SiteAnswer:
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
        return _finish(site, request_pathname, SiteAnswer(status=404))
    if method not in ("GET", "HEAD"):
        return _finish(site, request_pathname, SiteAnswer(status=405))
    destination = encode_path(intent.redirect if intent.redirect is not None else decoded)
    if intent.redirect is not None or (destination != pathname and intent.asset is not None):
        return _finish(site, request_pathname, _redirect(307, destination + search))
    stored = assets(intent.asset) if intent.asset is not None else None
    if stored is None:  # the manifest names an asset the account does not hold
        return _finish(site, request_pathname, SiteAnswer(status=500))
    etag = f'"{intent.asset}"'
    headers = [("ETag", etag)]
    if stored.content_type and stored.content_type != NULL_CONTENT_TYPE:
        headers.append(("Content-Type", stored.content_type))
    if "authorization" not in request_headers and "range" not in request_headers:
        headers.append(("Cache-Control", CACHE_CONTROL))
    if request_headers.get("if-none-match", "") in (etag, f"W/{etag}"):
        return _finish(site, request_pathname, SiteAnswer(status=304, headers=headers))
    return _finish(site, request_pathname, SiteAnswer(status=intent.status, headers=headers, body=stored.data))


def _finish(site: SiteVersion, request_pathname: str, response: SiteAnswer) -> SiteAnswer:
    response.headers = site.rules.apply_headers(request_pathname, site.host, response.headers)
    return response


NOTHING_HERE = (
    b"<!DOCTYPE html><html><head><title>There is nothing here yet</title></head><body>"
    b"<h1>There is nothing here yet</h1><p>No Worker is deployed and enabled on this workers.dev "
    b"address.</p></body></html>"
)


def nothing_here() -> SiteAnswer:
    """What a workers.dev address without an enabled Worker answers."""
    return SiteAnswer(status=404, headers=[("Content-Type", "text/html; charset=utf-8")], body=NOTHING_HERE)


# -- one loopback port per Worker ---------------------------------------------------------------------


WorkerKey = tuple[str, str]  # (account id, Worker name)


@dataclass(frozen=True)
class Visit:
    """What a visitor of a deployed Worker finds: its active version (None while its workers.dev
    subdomain is not enabled) and the account's assets."""

    site: SiteVersion | None
    assets: AssetLookup


class WorkerSites(SitePorts[WorkerKey, Visit]):
    """Every deployed Worker's own loopback port (``SitePorts``): a Worker whose workers.dev
    subdomain is not enabled answers "nothing here", as does a Worker that is gone."""

    server_version = "cloudflare"
    truncated_ok = True

    def _respond(self, found: Visit, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        if found.site is None:
            return nothing_here()
        return resolve(found.site, found.assets, method=method, target=target, request_headers=headers)

    def _gone(self) -> SiteAnswer:
        answer = nothing_here()
        answer.close = True
        return answer
