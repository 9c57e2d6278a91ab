"""The Amplify emulator as tests and the local stack use it: the Amplify Hosting API on a loopback
port (``endpoint_url``, or ``environment`` for a boto3 process), each branch's deployed site on a
loopback port of its own (``site_url``), and the handles to seed it (``create_app_directly``),
inspect it (``app``, ``branch``, ``job``, ``domain_association``, ``requests``, ``running_jobs``,
``waiting_jobs``, ``max_running_seen``) and make it misbehave (``faults``, ``job_faults``,
``fail_next_job``, ``fail_domain``, ``require_access_keys``). Custom domains are served by Host on
``domains_port`` once the DNS (``dns``, the stack's) holds their records (see ``domains``).

Quotas, each a constructor keyword (small numbers make tests fast): ``max_apps`` (25 apps per
region), ``max_branches_per_app`` (50), ``max_concurrent_jobs`` (None: unlimited; Amplify's quota is
5, and jobs beyond it wait PENDING rather than fail; also settable later as an attribute). The
domain quotas and timings are attributes (``max_domains_per_app``, ``max_subdomains_per_domain``,
``creating_seconds``, ``certificate_seconds``, ``domain_deadline_seconds``).

The layers, each in its own module, build on one another: ``AmplifyState`` (the data and its
rules) ← ``AmplifyApi`` (HTTP: dispatch, errors, access keys, faults, the zip and log doors) ←
``AmplifyEmulator`` (the server's lifecycle and its working directory), with the operations' route
table in ``routes``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sitedeploy_local.emulators.amplify.api import AmplifyApi
from sitedeploy_local.emulators.amplify.jobs import discard
from sitedeploy_local.emulators.amplify.routes import ROUTES
from sitedeploy_local.emulators.loopback import BackgroundServer, handler_class
from sitedeploy_local.emulators.plumbing import Lifecycle
from sitedeploy_local.ports import HOST


class AmplifyEmulator(AmplifyApi, Lifecycle):
    """The Amplify Hosting API on loopback, and every branch's deployed site on a port of its own.

    Only ``with`` is shared with the other emulators (``Lifecycle``): its API server is made anew by
    each ``start`` (with a fresh working directory), so it has no port before then, and ``stop``
    also ends the job threads and removes the working directory."""

    def __init__(
        self,
        *,
        port: int = 0,
        job_step_seconds: float = 0.4,
        branch_delete_seconds: float = 2.0,
        max_branches_per_app: int = 50,
        max_apps: int = 25,
        region: str = "us-east-1",
        require_access_keys: set[str] | None = None,
        job_cancel_seconds: float | None = None,
        max_concurrent_jobs: int | None = None,
    ) -> None:
        super().__init__(
            ROUTES,
            job_step_seconds=job_step_seconds,
            branch_delete_seconds=branch_delete_seconds,
            max_branches_per_app=max_branches_per_app,
            max_apps=max_apps,
            region=region,
            require_access_keys=require_access_keys,
            job_cancel_seconds=job_cancel_seconds,
            max_concurrent_jobs=max_concurrent_jobs,
        )
        self._port = port
        self._server: BackgroundServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        self._workdir = Path(tempfile.mkdtemp(prefix="amplify-emulator-"))
        (self._workdir / "zips").mkdir()
        (self._workdir / "sites").mkdir()
        self._server = BackgroundServer(handler_class("Server", self._handle), port=self._port, name="amplify-api")
        self._server.start()

    def stop(self) -> None:
        with self._lock:
            servers = [b.server for a in self._apps.values() for b in a.branches.values() if b.server]
            for app in self._apps.values():
                for branch in app.branches.values():
                    branch.server = None
                    for job in branch.jobs.values():
                        job.orphaned = True
        for server in servers:
            server.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._stop_hosts()
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Amplify emulator is not started")
        return self._server.port

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def environment(self) -> dict[str, str]:
        """What a boto3 process needs to reach this emulator."""
        return {"AWS_ENDPOINT_URL_AMPLIFY": self.endpoint_url}

    def delete_apps(self, name_prefix: str) -> int:
        """Delete the apps whose name starts with ``name_prefix`` (as DeleteApp does: their
        branches and served sites go too); returns how many. Other apps, faults and the request
        log stay."""
        with self._lock:
            doomed = [app for app in self._apps.values() if str(app.data.get("name", "")).startswith(name_prefix)]
            servers = [b.server for app in doomed for b in app.branches.values() if b.server is not None]
            versions = [v for app in doomed for b in app.branches.values() for v in (b.site, b.previous)]
            for app in doomed:
                for branch in app.branches.values():
                    self._orphan(branch)
                del self._apps[app.app_id]
                self._drop_domains(app.app_id)
            self._deleting = {k: v for k, v in self._deleting.items() if k[0] in self._apps}
        for server in servers:
            server.stop()
        for version in versions:
            discard(version)
        return len(doomed)

    def reset(self) -> None:
        """Forget branches, jobs, faults, the request log and served sites; apps stay."""
        servers, versions = self._forget()
        for server in servers:
            server.stop()
        for version in versions:
            discard(version)
