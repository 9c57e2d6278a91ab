"""The Netlify emulator as tests and the local stack use it: the API v1 on a loopback port
(``api_base``), one loopback site server per published site (``site_url``), custom domains by
Host (``domains_port``), and the handles to seed it (``add_account``, ``add_token``,
``set_site_limit``), inspect it (``site``, ``deploy``, ``file``, ``certificate``, ``requests``,
``requests_for``) and make it misbehave (``faults``, ``set_rate_limit``, ``fail_next_deploy``,
``deploys_per_minute``).

The layers, each in its own module, build on one another: ``NetlifyState`` (the data and its rules)
← ``NetlifyDomains`` (custom domains and certificates) ← ``NetlifyApi`` (HTTP: dispatch, JSON
errors, auth, rate limits, faults) ← ``NetlifyEmulator`` (the server's lifecycle,
``plumbing.LoopbackEmulator``), with the route table in ``routes``.
"""

from __future__ import annotations

from sitedeploy_local.emulators.netlify.api import API_PREFIX, NetlifyApi
from sitedeploy_local.emulators.netlify.routes import ROUTES
from sitedeploy_local.emulators.plumbing import LoopbackEmulator


class NetlifyEmulator(NetlifyApi, LoopbackEmulator):
    """A loopback Netlify API (``api_base``) plus one loopback site server per published site.

    Knobs: ``prepare_seconds`` (how long an ``async`` deploy stays ``preparing``),
    ``process_seconds`` (from the last upload to ``ready``), ``deploys_per_minute`` (per site, the
    platform's deploy rate limit; None: unlimited), ``rate_limit``/``rate_window`` (requests per
    token; also ``set_rate_limit``), ``certificate_seconds`` (from a custom domain's DNS pointing
    at Netlify to its certificate), ``dns`` (what custom domains are checked against: the stack
    shares one). Custom domains with a certificate answer on ``domains_port`` by Host; a site's
    certificate is ``certificate(site)``. ``reset`` forgets every site, deploy, file, custom
    domain, request and fault rule; accounts, users and tokens (and the knobs) stay."""

    api_prefix = API_PREFIX

    def __init__(
        self,
        *,
        port: int = 0,
        prepare_seconds: float = 0.05,
        process_seconds: float = 0.05,
        deploys_per_minute: int | None = None,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
    ) -> None:
        super().__init__(
            ROUTES,
            prepare_seconds=prepare_seconds,
            process_seconds=process_seconds,
            deploys_per_minute=deploys_per_minute,
            rate_limit=rate_limit,
            rate_window=rate_window,
        )
        self._listen(port, server_version="Netlify", name="netlify-api")
