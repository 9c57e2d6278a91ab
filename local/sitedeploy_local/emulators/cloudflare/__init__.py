"""The Cloudflare v4 API for an assets-only Worker, on loopback.

sitedeploy publishes sites to Workers Static Assets. Testing that against the real platform needs an
account, a network and patience, and cannot make the platform misbehave on cue. This emulator speaks
the same wire protocol (what ``wrangler deploy --assets`` and ``wrangler delete`` send; the fidelity
test in ``tests/local/test_cloudflare_emulator.py`` drives the real wrangler against it), with the
platform's envelope, error codes, upload JWTs that expire, content dedup per account and buckets,
and it serves every deployed Worker on a loopback port of its own so that a test can fetch the bytes
back and a person can open the site in a browser. Faults (429 + retry-after, 5xx, 524, resets,
slowness, a lost completion token) are injected per route through ``faults.FaultInjector``.

Modules: ``state`` (accounts, tokens, Workers, versions, upload sessions, assets, and the platform's
rules over them), ``domains`` (zones, Workers Custom Domains, Cloudflare for SaaS custom hostnames,
Workers KV, and what answers a custom hostname), ``api`` (dispatch, envelopes, auth, rate limits,
faults), ``routes`` and ``domain_routes`` (the route table and its handlers), ``sites`` and ``rules``
(what a visitor of a deployed Worker gets: html_handling, not_found_handling, ``_redirects``,
``_headers``), ``errors`` (the envelope's error), ``emulator`` (the lifecycle).
"""

from sitedeploy_local.emulators.cloudflare.api import API_PREFIX, RequestLogEntry
from sitedeploy_local.emulators.cloudflare.emulator import CloudflareEmulator
from sitedeploy_local.emulators.cloudflare.errors import ApiError
from sitedeploy_local.emulators.cloudflare.routes import ROUTE_NAMES, ROUTES
from sitedeploy_local.emulators.cloudflare.state import (
    BUCKET_MAX_BYTES,
    BUCKET_MAX_FILES,
    MAX_ASSET_SIZE,
    MAX_FILES,
    WORKER_LIMIT,
    ScriptState,
    ScriptVersion,
)
from sitedeploy_local.emulators.plumbing import NO_ROUTE

__all__ = [
    "API_PREFIX",
    "BUCKET_MAX_BYTES",
    "BUCKET_MAX_FILES",
    "MAX_ASSET_SIZE",
    "MAX_FILES",
    "NO_ROUTE",
    "ROUTES",
    "ROUTE_NAMES",
    "WORKER_LIMIT",
    "ApiError",
    "CloudflareEmulator",
    "RequestLogEntry",
    "ScriptState",
    "ScriptVersion",
]
