"""A site as Vercel's Build Output API (v3) lays a *prebuilt* deployment out: what ``vercel deploy
--prebuilt`` uploads, and the only shape in which Vercel builds, installs and runs nothing.

An ordinary deployment is built by Vercel: its zero-config detection turns ``api/*`` into Serverless
Functions (installing and running the ``package.json``'s ``vercel-build`` script for them, whatever
the project's install command), runs a root ``middleware.js`` at the edge, and reads a
``vercel.json`` among the files as configuration that wins over the project's. A tenant's files
must never be any of that. In a prebuilt deployment (``POST /v13/deployments?prebuilt=1``, as the
CLI sends it) only ``.vercel/output`` counts: every site file goes under ``.vercel/output/static/``,
where "neither their contents, nor their file name or extension will be modified in any way"
(Build Output API, Primitives), so ``api/hello.js`` is served as the bytes of ``api/hello.js``;
there are no ``functions/``; and the routing is ``.vercel/output/config.json``, written here.

``routes`` follow ``@vercel/routing-utils``' ``getTransformedRoutes`` (what ``vercel build`` makes
of a ``vercel.json``): clean-URL redirects, trailing-slash redirects, the redirects, the headers
(``continue``), ``{"handle": "filesystem"}``, the rewrites (``check``), then, when the site has a
``404.html``, ``{"handle": "error"}`` and the 404 page. With clean URLs each ``*.html`` file is also
served without its suffix (``overrides``), as the Build Output API asks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from sitedeploy.platforms.vercel.routing import VercelRouting

OUTPUT = ".vercel/output"
STATIC = f"{OUTPUT}/static/"
CONFIG = f"{OUTPUT}/config.json"
REDIRECT_STATUS = 308  # what routing-utils gives the clean-URL and trailing-slash redirects
_PARAMETER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)(\*?)")


def static_path(path: str) -> str:
    """Where a site file goes in the upload: ``index.html`` → ``.vercel/output/static/index.html``."""
    return STATIC + path.lstrip("/")


def source_regex(source: str) -> tuple[str, list[str]]:
    """A source of ours (literal segments, ``/:name``, a final ``/:splat*``, ``/(.*)``) as
    path-to-regexp 6 compiles it with ``{strict: true, sensitive: true, delimiter: "/"}`` (what
    routing-utils' ``sourceToRegex`` makes a route's ``src`` of), and its parameters' names in
    order (an unnamed group counts as one)."""
    names: list[str] = []
    out = "^"
    for token in _TOKEN.finditer(source):
        literal, name, star, group = token.group("literal", "name", "star", "group")
        if literal is not None:
            out += re.sub(r"([.+*?=^!:${}()\[\]|/\\])", r"\\\1", literal)
        elif group is not None:
            names.append(str(len(names)))
            out += "(?:\\/(.*))" if token.group("slash") else "(.*)"
        else:
            names.append(name)
            if star:
                out += "(?:\\/((?:[^\\/#\\?]+?)(?:\\/(?:[^\\/#\\?]+?))*))?"
            else:
                out += "(?:\\/([^\\/#\\?]+?))"
    return out + "$", names


_TOKEN = re.compile(
    r"(?P<slash>/)?(?:(?P<group>\(\.\*\))|:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<star>\*?))|(?P<literal>[^/:(]+|/|[:(])"
)


def _destination(template: str, names: list[str]) -> str:
    """``:name`` → ``$1``… by the parameter's place (routing-utils' ``replaceSegments``)."""
    places = {name: index + 1 for index, name in enumerate(names)}
    return _PARAMETER.sub(lambda f: f"${places[f.group(1)]}" if f.group(1) in places else f.group(0), template)


def routes(routing: VercelRouting, paths: Iterable[str]) -> list[dict[str, Any]]:
    """The routes of ``config.json`` for this routing and these site paths (no leading slash)."""
    out: list[dict[str, Any]] = []
    location = "/$1/" if routing.trailing_slash else "/$1"
    if routing.clean_urls:
        out.append({"src": "^/(?:(.+)/)?index(?:\\.html)?/?$", "headers": {"Location": location}, "status": 308})
        out.append({"src": "^/(.*)\\.html/?$", "headers": {"Location": location}, "status": 308})
    if routing.trailing_slash is True:
        out.append({"src": "^/\\.well-known(?:/.*)?$"})
        out.append({"src": "^/((?:[^/]+/)*[^/\\.]+)$", "headers": {"Location": "/$1/"}, "status": REDIRECT_STATUS})
        out.append({"src": "^/((?:[^/]+/)*[^/]+\\.\\w+)/$", "headers": {"Location": "/$1"}, "status": REDIRECT_STATUS})
    elif routing.trailing_slash is False:
        out.append({"src": "^/(.*)\\/$", "headers": {"Location": "/$1"}, "status": REDIRECT_STATUS})
    for redirect in routing.redirects:
        src, names = source_regex(str(redirect["source"]))
        destination = _destination(str(redirect["destination"]), names)
        out.append({"src": src, "headers": {"Location": destination}, "status": int(redirect["statusCode"])})
    for block in routing.headers:
        src, _ = source_regex(str(block["source"]))
        out.append({"src": src, "headers": {kv["key"]: kv["value"] for kv in block["headers"]}, "continue": True})
    out.append({"handle": "filesystem"})
    for rewrite in routing.rewrites:
        src, names = source_regex(str(rewrite["source"]))
        out.append({"src": src, "dest": _destination(str(rewrite["destination"]), names), "check": True})
    if "404.html" in set(paths):
        out.append({"handle": "error"})
        out.append({"status": 404, "src": "^/(.*)$", "dest": "/404.html"})
    return out


def overrides(routing: VercelRouting, paths: Iterable[str]) -> dict[str, dict[str, str]]:
    """With clean URLs, ``about.html`` is served at ``/about`` (and ``docs/intro.html`` at
    ``/docs/intro``); index files are served at their folder already."""
    if not routing.clean_urls:
        return {}
    return {
        path: {"path": path[: -len(".html")]}
        for path in sorted(paths)
        if path.endswith(".html") and path != "404.html" and not (path == "index.html" or path.endswith("/index.html"))
    }


def config_json(routing: VercelRouting, paths: Iterable[str]) -> bytes:
    """``.vercel/output/config.json``: the Build Output API's version 3, our routes and overrides."""
    listed = [p.lstrip("/") for p in paths]
    body: dict[str, Any] = {"version": 3, "routes": routes(routing, listed)}
    mapped = overrides(routing, listed)
    if mapped:
        body["overrides"] = mapped
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
