"""Vercel deployments from files, call for call what ``vercel deploy --prebuilt`` does:

1. ``POST /v13/deployments?prebuilt=1`` naming every file (SHA-1, size) as the Build Output API lays
   a prebuilt deployment out (``platforms.vercel.output``: the site under ``.vercel/output/static/``
   and its routing in ``.vercel/output/config.json``), so that Vercel builds, installs and runs
   nothing a tenant sent; Vercel answers 400 ``missing_files`` with the digests the account (or
   team) does not hold yet;
2. upload exactly those, ``POST /v2/files`` with ``x-vercel-digest``, 32 at a time; each body is
   re-readable, so a retried upload sends the same bytes again (in memory up to 2 MiB, else a
   spooled temporary file). Content new to the site goes earlier, while the SHA-1 pass is still
   reading the rest (``EarlyUploads``), so the create of a new site finds nothing missing;
3. repeat the identical POST (a bounded number of rounds), which now creates the deployment;
4. follow ``readyState`` to ``READY`` with the production alias assigned, or ``ERROR`` /
   ``CANCELED``; still building after the bound, the flows go on asking (``refresh``).

The project is created by name on its first deployment, with ``projectSettings`` that say no
framework and an empty build and install command (what turns Vercel's detection off for a
deployment that is not prebuilt: a second guard, never the first)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.observability import logger
from sitedeploy.platforms.base import BuildState, PlatformError, Prefetch, Progress, Published, SiteFile, StreamReader
from sitedeploy.platforms.uploads import resendable, upload_all
from sitedeploy.platforms.vercel.api import UPLOAD_CONCURRENCY, VercelApi, VercelError
from sitedeploy.platforms.vercel.output import CONFIG, config_json, static_path
from sitedeploy.platforms.vercel.routing import VercelRouting

# A body over this is spooled, so what uploads hold stays under ``UPLOAD_CONCURRENCY`` × this.
IN_MEMORY_BYTES = 2 * 1024 * 1024
# Bytes of early uploads held at once: the SHA-1 pass waits for room past it.
EARLY_BYTES = 16 * 1024 * 1024
MISSING_ROUNDS = 3
FOLLOW_SECONDS = 60.0
POLL_FIRST = 0.25
POLL_MAX = 1.0
# No framework and nothing to build or install: an empty command is "none", where null would be
# "detect" (fs-detectors: ``buildCommand === ''`` makes the frontend static).
PROJECT_SETTINGS: dict[str, Any] = {
    "framework": None,
    "buildCommand": "",
    "installCommand": "",
    "outputDirectory": "",
    "devCommand": "",
}
# How far along each readyState is, as the deployment's progress while it builds: uploads took it
# to 90 %, and what follows must not move it back.
_PROGRESS = {"QUEUED": 91, "INITIALIZING": 93, "BUILDING": 95, "READY": 98}


@dataclass(frozen=True)
class Uploaded:
    files: int = 0
    bytes: int = 0


def deployment_url(deployment: Mapping[str, Any], project: str) -> str:
    """The production alias once assigned (what visitors use). Before that, the deployment's own
    URL: the project's usual alias may belong to somebody else (aliases are global, and Vercel
    then gives a team-suffixed one), and the status poll that sees the build end records the
    alias (``BuildState.url``)."""
    alias = deployment.get("alias")
    if isinstance(alias, list) and alias:
        return f"https://{alias[0]}"
    own = deployment.get("url")
    return f"https://{own}" if isinstance(own, str) and own else f"https://{project}.vercel.app"


def map_ready_state(deployment: Mapping[str, Any]) -> BuildState:
    """A deployment as our statuses see it. A production deployment is ready once its alias is
    assigned (before that, the project's URL still serves the previous one)."""
    state = str(deployment.get("readyState") or deployment.get("state") or "QUEUED").upper()
    message = deployment.get("errorMessage")
    code = deployment.get("errorCode")
    if state == "CANCELED":
        reason = f": {message}" if message else ""
        return BuildState(DeploymentStatus.ERROR, 100, f"Vercel deployment canceled{reason}", state)
    if state == "ERROR" or state.endswith("_ERROR"):
        reason = str(message or code or state)
        if code and message and str(code) not in reason:
            reason = f"{reason} ({code})"
        return BuildState(DeploymentStatus.ERROR, 100, f"Vercel deployment failed: {reason}", state)
    if state == "READY":
        alias_error = deployment.get("aliasError")
        if isinstance(alias_error, dict) and alias_error:
            detail = alias_error.get("message") or alias_error.get("code") or "unknown"
            return BuildState(DeploymentStatus.ERROR, 100, f"Vercel could not assign the alias: {detail}", state)
        production = deployment.get("target") == "production"
        if not production or deployment.get("aliasAssigned"):
            alias = deployment.get("alias")
            url = f"https://{alias[0]}" if isinstance(alias, list) and alias else None
            return BuildState(DeploymentStatus.READY, 100, None, state, url=url)
    return BuildState(DeploymentStatus.BUILDING, _PROGRESS.get(state, 91), None, state)


class VercelDeployer:
    def __init__(
        self,
        api: VercelApi,
        *,
        follow_seconds: float = FOLLOW_SECONDS,
        upload_concurrency: int = UPLOAD_CONCURRENCY,
        rounds: int = MISSING_ROUNDS,
    ) -> None:
        self.api = api
        self.follow_seconds = follow_seconds
        self.upload_concurrency = upload_concurrency
        self.rounds = rounds

    # -- the steps ------------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        _, deployment = self.api.call(
            "POST",
            "/v13/deployments",
            query={"prebuilt": "1", "skipAutoDetectionConfirmation": "1"},
            json_body=body,
            what="creating the deployment",
        )
        if not isinstance(deployment, dict) or not deployment.get("id"):
            raise VercelError("creating the deployment answered without a deployment id")
        return deployment

    def upload_file(self, digest: str, site_file: SiteFile, read: StreamReader) -> None:
        with resendable(site_file, read, in_memory=IN_MEMORY_BYTES) as body:
            self.send_file(digest, body, site_file.size, what=f"uploading {site_file.path}")

    def send_file(self, digest: str, body: bytes | IO[bytes], size: int, *, what: str) -> None:
        """``POST /v2/files``: the account or team keeps the bytes by their SHA-1, apart from any
        deployment (a deployment that names the digest later finds it there)."""
        self.api.call(
            "POST",
            "/v2/files",
            body=body,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
                "x-vercel-digest": digest,
            },
            what=what,
        )

    def upload(
        self,
        missing: Sequence[str],
        by_digest: Mapping[str, SiteFile],
        read: StreamReader,
        progress: Progress | None,
        done: Uploaded,
    ) -> Uploaded:
        """Upload each missing digest once, ``upload_concurrency`` at a time; ``done`` is what
        earlier rounds sent (progress counts on from it)."""
        wanted = list(dict.fromkeys(missing))
        unknown = [d for d in wanted if d not in by_digest]
        if unknown:
            raise VercelError(f"Vercel asked for {len(unknown)} file(s) this deployment does not have")
        files, sent = upload_all(
            wanted,
            lambda digest: self.upload_file(digest, by_digest[digest], read),
            lambda digest: by_digest[digest].size,
            concurrency=self.upload_concurrency,
            progress=progress,
            sent_before=(done.files, done.bytes),
            thread_name_prefix="vercel-upload",
        )
        return Uploaded(files, sent)

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        _, deployment = self.api.call("GET", f"/v13/deployments/{deployment_id}", what="reading the deployment")
        if not isinstance(deployment, dict):
            raise VercelError("reading the deployment answered no deployment")
        return deployment

    def follow(self, deployment: dict[str, Any]) -> tuple[dict[str, Any], BuildState]:
        """Poll until the deployment is ready or failed, or the bound passes (then still building).
        A poll that fails after its retries leaves it building: ``refresh`` asks again later."""
        deadline = time.monotonic() + self.follow_seconds
        wait = POLL_FIRST
        state = map_ready_state(deployment)
        while state.status is DeploymentStatus.BUILDING and time.monotonic() < deadline:
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            wait = min(POLL_MAX, wait * 1.5)
            try:
                deployment = self.deployment(str(deployment["id"]))
            except VercelError as exc:
                if not exc.transient:
                    raise
                break
            state = map_ready_state(deployment)
        return deployment, state

    def delete_project(self, name: str) -> bool:
        """Delete the project (its deployments and alias go with it); False when already gone."""
        try:
            self.api.call("DELETE", f"/v9/projects/{quote(name, safe='')}", what="deleting the project")
        except VercelError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # -- custom domains -----------------------------------------------------------------------------

    def add_domain(self, project: str, hostname: str) -> dict[str, Any]:
        _, answer = self.api.call(
            "POST",
            f"/v10/projects/{quote(project, safe='')}/domains",
            json_body={"name": hostname},
            what=f"adding the domain {hostname}",
        )
        return answer if isinstance(answer, dict) else {}

    def project_domain(self, project: str, hostname: str) -> dict[str, Any]:
        _, answer = self.api.call(
            "GET", f"/v9/projects/{quote(project, safe='')}/domains/{hostname}", what=f"reading the domain {hostname}"
        )
        return answer if isinstance(answer, dict) else {}

    def verify_domain(self, project: str, hostname: str) -> bool:
        try:
            self.api.call(
                "POST",
                f"/v9/projects/{quote(project, safe='')}/domains/{hostname}/verify",
                what=f"verifying the domain {hostname}",
            )
        except VercelError as exc:
            if exc.status in (400, 409):  # the TXT record is not there yet
                return False
            raise
        return True

    def domain_config(self, hostname: str) -> dict[str, Any]:
        _, answer = self.api.call("GET", f"/v6/domains/{hostname}/config", what=f"reading {hostname}'s DNS")
        return answer if isinstance(answer, dict) else {}

    def remove_domain(self, project: str, hostname: str) -> None:
        self.api.call(
            "DELETE",
            f"/v9/projects/{quote(project, safe='')}/domains/{hostname}",
            what=f"removing the domain {hostname}",
        )

    def project(self, name: str) -> dict[str, Any] | None:
        try:
            _, project = self.api.call("GET", f"/v9/projects/{quote(name, safe='')}", what="reading the project")
        except VercelError as exc:
            if exc.status == 404:
                return None
            raise
        return project if isinstance(project, dict) else None

    def projects(self, *, pages: int = 10) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        query = {"limit": "100"}
        for _ in range(pages):
            _, page = self.api.call("GET", "/v9/projects", query=query, what="listing projects")
            if not isinstance(page, dict):
                break
            out.extend(p for p in page.get("projects") or [] if isinstance(p, dict))
            pagination = page.get("pagination")
            following = pagination.get("next") if isinstance(pagination, dict) else None
            if not following:
                break
            query = {"limit": "100", "until": str(following)}
        return out

    # -- the whole job --------------------------------------------------------------------------

    def body(
        self,
        project: str,
        files: Sequence[SiteFile],
        digests: Mapping[str, str],
        config: SiteFile,
        *,
        preview: bool = False,
    ) -> dict[str, Any]:
        """The prebuilt deployment: each site file under ``.vercel/output/static/``, and the
        routing as ``config.json`` (no routing in the body: a prebuilt deployment's is its own).
        A preview has no ``target`` (as ``vercel deploy`` without ``--prod`` sends)."""
        listed = [
            {"file": static_path(f.path), "sha": digests[f.sha256], "size": f.size}
            for f in sorted(files, key=lambda f: f.path)
        ]
        body: dict[str, Any] = {
            "name": project,
            "project": project,
            "files": [*listed, {"file": CONFIG, "sha": digests[config.sha256], "size": config.size}],
            "projectSettings": dict(PROJECT_SETTINGS),
        }
        if not preview:
            body["target"] = "production"
        return body

    def alias(self, deployment_id: str, alias: str) -> str | None:
        """Point ``alias`` (a ``*.vercel.app`` name) at the deployment; None when Vercel refuses it
        (aliases are global: another team may hold it)."""
        try:
            _, answer = self.api.call(
                "POST",
                f"/v2/deployments/{deployment_id}/aliases",
                json_body={"alias": alias},
                what="assigning an alias",
            )
        except VercelError as exc:
            if exc.transient:
                raise
            logger.info("preview alias refused", extra={"reason": exc.message})
            return None
        return str(answer.get("alias") or alias) if isinstance(answer, dict) else alias

    def promote(self, project: str, deployment_id: str) -> bool:
        """An earlier production deployment takes the production domain again, with no build
        (``vercel promote``; Vercel's own rollback would stop later deployments from taking it).
        False when Vercel no longer has it; waits for the alias to move, as the CLI does."""
        name = quote(project, safe="")
        try:
            self.api.call("POST", f"/v10/projects/{name}/promote/{deployment_id}", json_body={}, what="promoting")
        except VercelError as exc:
            if exc.status in (400, 404, 410):
                return False
            if exc.status != 409:  # already the production deployment
                raise
        deadline = time.monotonic() + self.follow_seconds
        wait = POLL_FIRST
        while True:
            found = self.project(project)
            request = found.get("lastAliasRequest") if found else None
            status = request.get("jobStatus") if isinstance(request, dict) else "succeeded"
            if status in ("succeeded", "skipped", None):
                return True
            if status == "failed":
                raise VercelError("Vercel could not move the production domain to the deployment")
            if time.monotonic() >= deadline:
                raise VercelError("Vercel did not finish promoting the deployment in time")
            time.sleep(wait)
            wait = min(POLL_MAX, wait * 1.5)

    def publish(
        self,
        project: str,
        files: Sequence[SiteFile],
        digests: Mapping[str, str],
        routing: VercelRouting,
        *,
        read: StreamReader,
        progress: Progress | None = None,
        preview_alias: str | None = None,
        preview: bool = False,
        prefetch: Prefetch | None = None,
        sent: Uploaded | None = None,
        config_new: bool = False,
    ) -> Published:
        """``digests``: sha256 → SHA-1 for every file; ``sent``: what early uploads sent already
        (counted in the result; anything they missed Vercel names missing, and it is sent here);
        ``config_new``: every file was new to the site, so send the configuration first too.
        Raises PlatformError when Vercel fails or cancels the deployment, with its reason. A
        preview leaves production as it is and is served at its own URL, and at
        ``preview_alias`` when Vercel grants it."""
        settings = config_json(routing, [f.path for f in files])
        config = SiteFile(CONFIG, hashlib.sha256(settings).hexdigest(), len(settings), "application/json")
        digests = {**digests, config.sha256: hashlib.sha1(settings, usedforsecurity=False).hexdigest()}
        site_read = read

        def with_config(site_file: SiteFile) -> Iterator[bytes]:
            return iter([settings]) if site_file.sha256 == config.sha256 else site_read(site_file)

        by_digest: dict[str, SiteFile] = {}
        for site_file in [*files, config]:
            by_digest.setdefault(digests[site_file.sha256], site_file)
        body = self.body(project, files, digests, config, preview=preview)
        done = sent or Uploaded()
        if config_new:
            # A site new to this project: its configuration (routes follow the file list) is new
            # too. One small upload here, where the create would fail on it alone.
            self.upload_file(digests[config.sha256], config, with_config)
        deployment: dict[str, Any] | None = None
        for round_number in range(self.rounds + 1):
            try:
                deployment = self.create(body)
                break
            except VercelError as exc:
                if exc.code != "missing_files" or not exc.missing:
                    raise
                if round_number == self.rounds:
                    raise VercelError(
                        f"Vercel still lacks {len(set(exc.missing))} file(s) after {self.rounds} upload rounds",
                        status=exc.status,
                        code=exc.code,
                        missing=exc.missing,
                    ) from None
                # The configuration is ours, not a site file: uploaded, never counted as one.
                config_digest = digests[config.sha256]
                if config_digest in exc.missing:
                    self.upload_file(config_digest, config, with_config)
                site_missing = [d for d in exc.missing if d != config_digest]
                if prefetch:
                    prefetch([by_digest[d] for d in site_missing if d in by_digest])
                done = self.upload(site_missing, by_digest, with_config, progress, done)
        assert deployment is not None
        deployment, state = self.follow(deployment)
        if state.status is DeploymentStatus.ERROR:
            raise PlatformError(state.error or "Vercel deployment failed", code=state.job_status)
        deployment_id = str(deployment["id"])
        preview_url = None
        if preview:
            own = deployment.get("url")
            preview_url = f"https://{own}" if isinstance(own, str) and own else None
            if preview_alias and state.status is DeploymentStatus.READY:
                granted = self.alias(deployment_id, preview_alias)
                preview_url = f"https://{granted}" if granted else preview_url
        return Published(
            status=state.status,
            progress=100 if state.status is DeploymentStatus.READY else state.progress,
            url=deployment_url(deployment, project),
            external_id=deployment_id,
            uploaded_files=done.files,
            uploaded_bytes=done.bytes,
            # A preview cannot be promoted in place (Vercel would build it again): its files are
            # deployed to production instead, which Vercel already holds.
            version_ref=None if preview else deployment_id,
            preview_url=preview_url,
        )


class EarlyUploads:
    """Contents new to the site, sent to Vercel while the SHA-1 pass is still reading the rest.

    Vercel keeps files by SHA-1 for the whole account or team, apart from any deployment, so a
    file can go before the deployment that names it exists; the create then finds nothing
    missing. Without this, a first deploy reads every file for its SHA-1, creates (400
    ``missing_files``: all of them), and only then starts uploading. Which contents to send early:
    those the pass computed now, new to this site, which are what the team most likely lacks; one
    it holds already (another site's identical file) costs its bytes again, nothing more.

    Best effort: a file whose early upload fails is still named missing by the create and uploaded
    then, so after the first failure no more are tried. Memory is bounded: a reading thread waits
    while ``budget`` bytes are held for uploads in flight (one file may exceed it alone)."""

    def __init__(
        self, deployer: VercelDeployer, progress: Progress | None, total: int, *, budget: int = EARLY_BYTES
    ) -> None:
        self._deployer = deployer
        self._progress = progress
        self._total = total
        self._budget = budget
        self._held = 0
        self._room = threading.Condition()
        self._offered: set[str] = set()
        self._heard: set[str] = set()
        self._failed = False
        self._pool = ThreadPoolExecutor(max(1, deployer.upload_concurrency), thread_name_prefix="vercel-early")
        self.files = 0
        self.bytes = 0

    def __enter__(self) -> EarlyUploads:
        return self

    def __exit__(self, failure: type[BaseException] | None, *_: object) -> None:
        # Uploads in flight finish either way (the create must not race them); after a failed
        # pass, those still queued are dropped: the deployment will not be created.
        self._pool.shutdown(wait=True, cancel_futures=failure is not None)

    @property
    def sent(self) -> Uploaded:
        with self._room:
            return Uploaded(self.files, self.bytes)

    def heard_all(self, files: Sequence[SiteFile]) -> bool:
        """Every content of ``files`` was handed on as new: all of the site is new to it."""
        with self._room:
            return bool(files) and {f.sha256 for f in files} <= self._heard

    @property
    def failed(self) -> bool:
        """An early upload failed: no more are tried."""
        with self._room:
            return self._failed

    def offer(self, sha256: str, digest: str, data: bytes) -> None:
        """A ``FreshDigest``: queue the bytes for upload, waiting for room first."""
        with self._room:
            self._heard.add(sha256)
            if self._failed or digest in self._offered:
                return
            self._offered.add(digest)
            while self._held and self._held + len(data) > self._budget:
                self._room.wait()
            self._held += len(data)
        self._pool.submit(self._send, digest, data)

    def _send(self, digest: str, data: bytes) -> None:
        try:
            with self._room:
                if self._failed:
                    return
            self._deployer.send_file(digest, data, len(data), what="uploading a file early")
            with self._room:
                self.files += 1
                self.bytes += len(data)
                sent = self.bytes
            if self._progress:
                self._progress(sent, self._total)
        except Exception as exc:  # the create names it missing; it is uploaded (and any error raised) then
            with self._room:
                self._failed = True
            logger.info("an early upload failed; the rest wait for the create", extra={"error": type(exc).__name__})
        finally:
            with self._room:
                self._held -= len(data)
                self._room.notify_all()
