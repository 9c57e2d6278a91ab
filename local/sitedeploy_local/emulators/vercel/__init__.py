"""The Vercel REST API for static deployments, on loopback.

sitedeploy publishes sites to Vercel as static deployments. Testing that against the real platform
needs an account, a network and patience, and cannot make the platform misbehave on cue. This
emulator speaks the same wire protocol (what ``@vercel/client``'s ``createDeployment`` sends; the
fidelity test in ``tests/local/test_vercel_emulator.py`` drives the real client against it): bearer
tokens scoped by ``?teamId=``, content-addressed files per account (``POST /v2/files`` with
``x-vercel-digest``/``x-now-digest``), ``POST /v13/deployments`` answering ``missing_files`` until
they are uploaded, deployments that go QUEUED → INITIALIZING → BUILDING → READY with a global
``*.vercel.app`` alias, projects with a limit, and every project's production deployment served on a
loopback port of its own with Vercel's routing (cleanUrls, trailingSlash, redirects, rewrites,
headers, 404.html). Faults (429 with the platform's ``limit`` body and headers, 5xx, resets, lost
answers, slowness) are injected per route through ``faults.FaultInjector``.

Modules: ``state`` (users, teams, tokens, files, projects, deployments, aliases, and the platform's
rules over them), ``api`` (dispatch, JSON errors, auth, rate limits, faults), ``routes`` (the route
table and its handlers), ``rules`` (path-to-regexp sources and the routing configuration), ``sites``
(what a visitor gets), ``emulator`` (the lifecycle).
"""

from sitedeploy_local.emulators.plumbing import NO_ROUTE
from sitedeploy_local.emulators.vercel.api import RequestLogEntry
from sitedeploy_local.emulators.vercel.emulator import VercelEmulator
from sitedeploy_local.emulators.vercel.routes import ROUTE_NAMES, ROUTES
from sitedeploy_local.emulators.vercel.rules import RuleError, SiteConfig, compile_source
from sitedeploy_local.emulators.vercel.state import (
    MAX_FILE_BYTES,
    MAX_FILES,
    PROJECT_LIMIT,
    STEP_SECONDS,
    VercelError,
)

__all__ = [
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "NO_ROUTE",
    "PROJECT_LIMIT",
    "ROUTES",
    "ROUTE_NAMES",
    "STEP_SECONDS",
    "RequestLogEntry",
    "RuleError",
    "SiteConfig",
    "VercelEmulator",
    "VercelError",
    "compile_source",
]
