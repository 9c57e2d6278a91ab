"""The Vercel emulator as tests and the local stack use it: the REST API on a loopback port
(``api_base``, what ``VERCEL_API_BASE_URL`` / ``@vercel/client``'s ``apiUrl`` point at), one loopback
site server per project with a production deployment (``site_url``), and the handles to seed it
(``add_team``, ``add_token``, ``set_project_limit``), inspect it (``requests``, ``requests_for``,
``project_names``, ``file``, ``deployment_state``, ``public_url``) and make it misbehave (``faults``,
``set_rate_limit``, ``fail_next_deployment``, ``cancel``, ``step_seconds``).

The layers, each in its own module, build on one another: ``VercelState`` (the data and its rules)
← ``VercelApi`` (HTTP: dispatch, JSON errors, auth, rate limits, faults) ← ``VercelEmulator`` (the
server's lifecycle, ``plumbing.LoopbackEmulator``), with the route table in ``routes``.
"""

from __future__ import annotations

from sitedeploy_local.emulators.plumbing import LoopbackEmulator
from sitedeploy_local.emulators.vercel.api import VercelApi
from sitedeploy_local.emulators.vercel.routes import ROUTES
from sitedeploy_local.emulators.vercel.state import MAX_FILE_BYTES, MAX_FILES, STEP_SECONDS


class VercelEmulator(VercelApi, LoopbackEmulator):
    """A loopback Vercel REST API (``api_base``) plus one loopback site server per served project.

    ``step_seconds``: how long a new deployment stays in each of QUEUED, INITIALIZING and BUILDING
    (an attribute: a test may raise it to keep deployments building); ``rate_limit`` requests per
    token per ``rate_window`` seconds (None: unlimited; also ``set_rate_limit``). ``reset`` forgets
    every project, deployment, file, request, fault rule and rate window; users, teams and tokens
    stay."""

    def __init__(
        self,
        *,
        port: int = 0,
        step_seconds: float = STEP_SECONDS,
        max_files: int = MAX_FILES,
        max_file_bytes: int = MAX_FILE_BYTES,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
    ) -> None:
        super().__init__(
            ROUTES,
            step_seconds=step_seconds,
            max_files=max_files,
            max_file_bytes=max_file_bytes,
            rate_limit=rate_limit,
            rate_window=rate_window,
        )
        self._listen(port, server_version="Vercel", name="vercel-api")
