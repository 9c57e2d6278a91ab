"""What Vercel makes of a deployment's files: a build, or a prebuilt Build Output, and how the
latter's routes answer a visitor.

**Not prebuilt**, Vercel's zero-config detection (``@vercel/fs-detectors``) decides what runs: a
``package.json`` ``build`` script is built (and the dependencies installed) unless the project's
build command is the empty string; ``api/**/*.{js,mjs,ts,tsx,py,go,rb}`` become Serverless
Functions (their builder installs the dependencies and runs ``vercel-build`` whatever the install
command); a root ``middleware.{js,ts}`` runs at the edge; a ``vercel.json`` among the files is read
as configuration. The emulator runs none of it: it records it (``Detection``), so that a test can
prove that what the service sends is never built or run.

**Prebuilt** (``?prebuilt=1``, the Build Output API v3): only ``.vercel/output`` counts. Its
``static/`` files are served as they are, ``functions/`` would be functions (recorded), and
``config.json`` (``{"version": 3, "routes": [...], "overrides": {...}}``) is the routing, answered
here the way Vercel's proxy does: routes in order, until ``{"handle": "filesystem"}`` redirects
(``headers.Location`` + a 3xx ``status``) and header routes (``continue``); then the filesystem;
then rewrites (``dest``, with ``check``: look in the filesystem again); after ``{"handle":
"error"}``, what answers when nothing did. ``$1``… in a destination or a header are the route's
captures. A ``dest`` on another origin is a reverse proxy (``loopback.proxy``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from sitedeploy.domain.sitefiles import content_type
from sitedeploy_local.emulators.loopback import SiteAnswer, proxy

OUTPUT = ".vercel/output/"
STATIC = f"{OUTPUT}static/"
FUNCTIONS = f"{OUTPUT}functions/"
CONFIG = f"{OUTPUT}config.json"
_FUNCTION_SOURCE = re.compile(r"^api/.+\.(?:js|mjs|cjs|ts|tsx|py|go|rb)$")
_MIDDLEWARE = re.compile(r"^(?:src/)?middleware\.(?:js|ts|mjs)$")


class OutputError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Detection:
    """What Vercel would build and run for a deployment (the emulator runs none of it)."""

    prebuilt: bool
    build: bool = False  # a build command (the package.json's build script) runs
    install: bool = False  # the dependencies are installed
    functions: tuple[str, ...] = ()  # Serverless / Edge Functions
    middleware: bool = False
    config_file: bool = False  # a vercel.json among the files is read as configuration

    @property
    def runs_anything(self) -> bool:
        return self.build or self.install or bool(self.functions) or self.middleware or self.config_file


def detect(files: Mapping[str, str], settings: Mapping[str, Any], read: Callable[[str], bytes | None]) -> Detection:
    """Zero-config detection of a deployment that is not prebuilt."""
    scripts: dict[str, Any] = {}
    package = files.get("package.json")
    if package is not None:
        try:
            parsed = json.loads(read(package) or b"{}")
            scripts = parsed.get("scripts") or {} if isinstance(parsed, dict) else {}
        except ValueError:
            scripts = {}
    build_command = settings.get("buildCommand")
    functions = tuple(sorted(path for path in files if _FUNCTION_SOURCE.match(path)))
    builds = build_command not in ("",) and (bool(build_command) or "build" in scripts)
    return Detection(
        prebuilt=False,
        build=builds,
        install=(builds and settings.get("installCommand") != "") or bool(functions),
        functions=functions,
        middleware=settings.get("framework") != "nextjs" and any(_MIDDLEWARE.match(path) for path in files),
        config_file="vercel.json" in files,
    )


@dataclass(frozen=True)
class Route:
    src: re.Pattern[str] | None = None
    dest: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    status: int | None = None
    keep_going: bool = False  # "continue"
    check: bool = False
    handle: str | None = None


@dataclass(frozen=True)
class Output:
    """A prebuilt deployment: served path → (SHA-1, the file's own path, for its type), and routes."""

    files: dict[str, tuple[str, str]]
    routes: tuple[Route, ...]
    detection: Detection = field(default_factory=lambda: Detection(prebuilt=True))


def _compile(source: str) -> re.Pattern[str]:
    """A route's ``src`` (JavaScript regex syntax) for Python: named groups spelled ``(?<n>``."""
    try:
        return re.compile(re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", source))
    except re.error as exc:
        raise OutputError("invalid_route", f"Invalid route source {source!r}: {exc}") from None


def _route(index: int, raw: Any) -> Route:
    if not isinstance(raw, dict):
        raise OutputError("invalid_route", f"routes[{index}] should be an object")
    if "handle" in raw:
        return Route(handle=str(raw["handle"]))
    source = raw.get("src")
    if not isinstance(source, str):
        raise OutputError("invalid_route", f"routes[{index}].src should be a string")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise OutputError("invalid_route", f"routes[{index}].headers should be an object")
    status = raw.get("status")
    return Route(
        src=_compile(source),
        dest=str(raw["dest"]) if isinstance(raw.get("dest"), str) else None,
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        status=int(status) if isinstance(status, int) else None,
        keep_going=raw.get("continue") is True,
        check=raw.get("check") is True,
    )


def build_output(files: Mapping[str, str], read: Callable[[str], bytes | None]) -> Output:
    """A prebuilt deployment from its uploaded files (path → SHA-1); OutputError when it is not one."""
    config_sha = files.get(CONFIG)
    if config_sha is None:
        raise OutputError("missing_build_output", "A prebuilt deployment needs .vercel/output/config.json")
    try:
        config = json.loads(read(config_sha) or b"")
    except ValueError:
        raise OutputError("invalid_build_output", ".vercel/output/config.json is not JSON") from None
    if not isinstance(config, dict) or config.get("version") != 3:
        raise OutputError("invalid_build_output", '.vercel/output/config.json needs "version": 3')
    raw_routes = config.get("routes") or []
    if not isinstance(raw_routes, list):
        raise OutputError("invalid_build_output", "routes should be an array")
    routes = tuple(_route(i, r) for i, r in enumerate(raw_routes))
    overrides = config.get("overrides") or {}
    served: dict[str, tuple[str, str]] = {}
    for path, sha in files.items():
        if not path.startswith(STATIC):
            continue
        relative = path[len(STATIC) :]
        override = overrides.get(relative) if isinstance(overrides, dict) else None
        served_at = str(override["path"]) if isinstance(override, dict) and override.get("path") else relative
        served[served_at] = (sha, relative)
    functions = tuple(sorted({p[len(FUNCTIONS) :].split("/", 1)[0] for p in files if p.startswith(FUNCTIONS)}))
    return Output(served, routes, Detection(prebuilt=True, functions=functions))


def _substitute(template: str, found: re.Match[str]) -> str:
    def numbered(m: re.Match[str]) -> str:
        index = int(m.group(1))
        return (found.group(index) or "") if index <= (found.re.groups or 0) else ""

    def named(m: re.Match[str]) -> str:
        return found.groupdict().get(m.group(1)) or ""

    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", named, re.sub(r"\$(\d+)", numbered, template))


def _static(output: Output, path: str) -> tuple[str, str] | None:
    relative = path.lstrip("/")
    candidates = ["index.html"] if relative == "" else [relative, f"{relative.rstrip('/')}/index.html"]
    return next((output.files[c] for c in candidates if c in output.files), None)


FileRead = Callable[[str], bytes | None]


def resolve(
    output: Output, read: FileRead, *, method: str, target: str, request_headers: Mapping[str, str]
) -> SiteAnswer:
    """Answer one visitor of a prebuilt deployment (see the module docstring)."""
    split = urlsplit(target)
    path = re.sub(r"/+", "/", unquote(split.path or "/"))
    base = [("X-Vercel-Id", "lcl1::prebuilt"), ("Server", "Vercel")]
    collected: list[tuple[str, str]] = []

    def answer(status: int, found: tuple[str, str], extra: list[tuple[str, str]]) -> SiteAnswer:
        sha, own_path = found
        names = {name.lower() for name, _ in extra}
        defaults = [("Content-Type", content_type(own_path)), ("Cache-Control", "public, max-age=0, must-revalidate")]
        headers = [*base, *[(n, v) for n, v in defaults if n.lower() not in names], *extra]
        return SiteAnswer(status, headers, read(sha) or b"")

    phase = "none"
    routes = list(output.routes)
    index = 0
    while index < len(routes):
        route = routes[index]
        index += 1
        if route.handle is not None:
            if route.handle == "filesystem":
                found = _static(output, path)
                if found is not None:
                    return answer(200, found, collected)
                phase = "rewrite"
            elif route.handle == "error":
                break
            continue
        assert route.src is not None
        matched = route.src.match(path)
        if matched is None:
            continue
        headers = [(k, _substitute(v, matched)) for k, v in route.headers]
        location = next((v for k, v in headers if k.lower() == "location"), None)
        if location is not None and route.status is not None and 300 <= route.status < 400:
            if "?" not in location and split.query:
                location = f"{location}?{split.query}"
            others = [(k, v) for k, v in headers if k.lower() != "location"]
            return SiteAnswer(route.status, [*base, ("Location", location), *collected, *others], b"")
        if route.keep_going:
            collected.extend(headers)
            continue
        if route.dest is not None:
            destination = _substitute(route.dest, matched)
            if urlsplit(destination).scheme:
                proxied = proxy("vercel", method, destination, request_headers)
                return SiteAnswer(proxied.status, [*base, *proxied.headers, *collected], proxied.body)
            path = urlsplit(destination).path or "/"
            if route.check or phase == "rewrite":
                found = _static(output, path)
                if found is not None:
                    return answer(route.status or 200, found, [*collected, *headers])
            continue
        if phase == "none":  # a route with only a source: stop here, and look in the filesystem
            found = _static(output, path)
            if found is not None:
                return answer(200, found, collected)
            break
    for route in routes[index:]:  # the error phase: what answers when nothing did
        if route.src is None or (matched := route.src.match(split.path or "/")) is None or route.dest is None:
            continue
        found = _static(output, _substitute(route.dest, matched))
        if found is not None:
            return answer(route.status or 404, found, collected)
    return SiteAnswer(
        404,
        [*base, ("Content-Type", "text/plain; charset=utf-8"), ("X-Vercel-Error", "NOT_FOUND"), *collected],
        b"The page could not be found\n\nNOT_FOUND\n",
    )
