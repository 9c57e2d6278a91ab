"""Netlify's API v1 for file-digest deploys of static sites, on loopback.

sitedeploy publishes sites to Netlify with the file-digest deploy protocol: create the site, post
the deploy's ``{path: sha1}`` list, upload only the digests the platform says it lacks, then wait for
the deploy to be ``ready``. This emulator speaks that wire protocol (the fidelity test in
``tests/local/test_netlify_emulator.py`` drives Netlify's own JavaScript client, ``@netlify/api``,
against it), with the platform's JSON errors, global site names, per-account site limits, content
dedup per site, the deploy state machine, rate limits, and it serves every published site on a
loopback port of its own with Netlify's semantics (pretty URLs, ``_redirects``, ``_headers``,
``404.html``). Faults (429 with ``X-RateLimit-Reset``, 5xx, resets, slowness, lost answers) are
injected per route through ``faults.FaultInjector``; ``fail_next_deploy`` makes a deploy end in
``error``. Sites take custom domains (``custom_domain``, ``domain_aliases``), unique across
accounts, with a Let's Encrypt certificate issued once the stack's DNS (``dns``) points them at
Netlify, and are served by Host on ``domains_port`` once covered.

Modules: ``state`` (accounts, tokens, sites, deploys, files and the platform's rules over them),
``domains`` (custom domains and certificates over the state), ``api`` (dispatch, JSON errors, auth,
rate limits, faults), ``routes`` (the route table, named by the platform's OpenAPI operation ids),
``sites`` (what a visitor gets), ``emulator`` (the lifecycle).
"""

from sitedeploy_local.emulators.netlify.api import API_PREFIX, RequestLogEntry
from sitedeploy_local.emulators.netlify.emulator import NetlifyEmulator
from sitedeploy_local.emulators.netlify.routes import ROUTE_NAMES, ROUTES
from sitedeploy_local.emulators.netlify.sites import SiteVersion, parse_headers, parse_redirects
from sitedeploy_local.emulators.netlify.state import SITE_DOMAIN, SITE_LIMIT, ApiError
from sitedeploy_local.emulators.plumbing import NO_ROUTE

__all__ = [
    "API_PREFIX",
    "NO_ROUTE",
    "ROUTES",
    "ROUTE_NAMES",
    "SITE_DOMAIN",
    "SITE_LIMIT",
    "ApiError",
    "NetlifyEmulator",
    "RequestLogEntry",
    "SiteVersion",
    "parse_headers",
    "parse_redirects",
]
