"""The Cloudflare emulator as tests and the local stack use it: the v4 API on a loopback port
(``api_base``), one loopback site server per deployed Worker (``site_url``), and the handles to
seed it (``add_account``, ``add_token``, ``set_worker_limit``: the Workers an account may hold,
500 by default; ``add_zone``: a domain of an account), inspect it (``script``, ``asset``,
``requests``, ``requests_for``) and make it misbehave (``faults``). Custom domains answer by Host
on ``domains_port``, and through the zone's routes on ``dispatch_port``.

The layers, each in its own module, build on one another: ``CloudflareState`` (the data and its
rules) ← ``CloudflareApi`` (HTTP: dispatch, envelopes, auth, rate limits, faults) ←
``CloudflareEmulator`` (the server's lifecycle, ``plumbing.LoopbackEmulator``), with the route
table in ``routes``.
"""

from __future__ import annotations

from sitedeploy_local.emulators.cloudflare.api import API_PREFIX, CloudflareApi
from sitedeploy_local.emulators.cloudflare.routes import ROUTES
from sitedeploy_local.emulators.cloudflare.state import BUCKET_MAX_BYTES, BUCKET_MAX_FILES, MAX_FILES, CloudflareState
from sitedeploy_local.emulators.plumbing import LoopbackEmulator


class CloudflareEmulator(CloudflareApi, LoopbackEmulator):
    """A loopback Cloudflare API (``api_base``) plus one loopback site server per deployed Worker.
    ``reset`` forgets every Worker, asset, upload session, request and fault rule; accounts and
    tokens stay."""

    api_prefix = API_PREFIX

    def __init__(
        self,
        *,
        port: int = 0,
        upload_jwt_ttl: float = 3600.0,
        completion_jwt_ttl: float = 3600.0,
        max_files: int = MAX_FILES,
        bucket_max_files: int = BUCKET_MAX_FILES,
        bucket_max_bytes: int = BUCKET_MAX_BYTES,
        rate_limit: int | None = None,
        rate_window: float = 300.0,
    ) -> None:
        super().__init__(
            ROUTES,
            upload_jwt_ttl=upload_jwt_ttl,
            completion_jwt_ttl=completion_jwt_ttl,
            max_files=max_files,
            bucket_max_files=bucket_max_files,
            bucket_max_bytes=bucket_max_bytes,
            rate_limit=rate_limit,
            rate_window=rate_window,
        )
        self._listen(port, server_version="cloudflare", name="cloudflare-api")

    def stop(self) -> None:
        server, self._dispatch_server = self._dispatch_server, None
        if server is not None:
            server.stop()
        super().stop()

    def forget_workers(self) -> None:
        """Forget every Worker, asset and upload session; accounts, tokens, fault rules and the
        request log stay."""
        for site in CloudflareState._forget(self):
            site.stop()
