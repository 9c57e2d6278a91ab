"""``sitedeploy deploy DIR``: hash, stage what is missing, deploy by manifest, follow to the end.

Only content the server has not seen is uploaded (it is addressed by sha256), so a redeploy with
one changed file sends one file. The deployment is created from a manifest of path → sha256 after
the blobs are staged; should the server still miss one (a 409 ``blobs_missing``: a staged blob
expired in between, say), the missing ones are staged again and the deployment asked for once more
before giving up. ``Deployment.result`` fills in as the steps go, so that whoever catches an error
or a Ctrl-C can still say which deployment was started."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitedeploy_cli.client import ApiClient, ApiError
from sitedeploy_cli.files import HashedFile, deploy_manifest, hash_files, total_bytes, walk
from sitedeploy_cli.hashcache import HashCache
from sitedeploy_cli.progress import Progress
from sitedeploy_cli.uploads import BlobUploader, plan_uploads

PLATFORMS = ("cloudflare", "amplify", "netlify", "vercel")
AUTH_MODES = ("platform-managed", "user-token")
TERMINAL = frozenset({"ready", "error"})
IN_PROGRESS_ATTEMPTS = 5
FIRST_POLL_SECONDS = 0.1
POLL_BACKOFF = 1.5
# For the first seconds polls stay this quick at most: most sites are ready within them.
QUICK_POLL_SECONDS = 0.25
QUICK_PHASE_SECONDS = 10.0
# Folders build tools write into: a site deployed from ``my-app/dist`` is the project ``my-app``,
# not ``dist`` (projects are the unit of redeploys; every app would otherwise share one site).
BUILD_FOLDER_NAMES = frozenset({"dist", "build", "out", "public", "_site", "www", "site", "output", "html"})


class DeployError(Exception):
    """The deploy did not succeed; ``code`` is machine-readable for ``--json``."""

    def __init__(self, message: str, code: str = "deploy_failed") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def default_project(directory: Path) -> str:
    """The folder's name, or its parent's when the folder is a build tool's output folder."""
    folder = directory.resolve()
    if folder.name.lower() in BUILD_FOLDER_NAMES and folder.parent.name:
        return folder.parent.name
    return folder.name or "site"


@dataclass
class DeployOptions:
    directory: Path
    platform: str = "cloudflare"
    project: str | None = None
    mode: str = "platform-managed"
    spa: bool | None = None
    chat_id: str | None = None
    wait: bool = True
    poll_interval: float = 1.0
    timeout: float = 1800.0
    # Remember file hashes between runs (see hashcache): a redeploy reads only changed files.
    hash_cache: bool = True
    # Publish beside production (which keeps serving what it served) at the chat's preview URL.
    preview: bool = False

    def body(self, manifest: dict[str, str], receipts: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "manifest": manifest,
            "projectName": self.project or default_project(self.directory),
            "authMode": self.mode,
        }
        if receipts:
            body["uploadReceipts"] = receipts
        if self.spa is not None:
            body["spa"] = self.spa
        if self.chat_id:
            body["chatId"] = self.chat_id
        if self.preview:
            body["target"] = "preview"
        return body


@dataclass
class DeployResult:
    """What ``--json`` prints: the deployment as last seen plus what this run hashed and sent."""

    platform: str
    project_name: str
    files: int = 0
    total_bytes: int = 0
    uploaded_files: int = 0
    uploaded_bytes: int = 0
    already_staged: int = 0
    deployment_id: str | None = None
    status: str | None = None
    url: str | None = None
    local_url: str | None = None
    preview_url: str | None = None
    local_preview_url: str | None = None
    site_id: str | None = None
    status_url: str | None = None
    progress: int | None = None
    error: str | None = None
    seconds: float = 0.0
    # Seconds spent in each step of this run (hash, plan, upload, accept, follow): where the time went.
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def absorb(self, answer: dict[str, Any]) -> None:
        """Take the fields of a 202 or a status answer that the server sent."""
        for key, attr in (
            ("deploymentId", "deployment_id"),
            ("status", "status"),
            ("url", "url"),
            ("localUrl", "local_url"),
            ("previewUrl", "preview_url"),
            ("localPreviewUrl", "local_preview_url"),
            ("siteId", "site_id"),
            ("statusUrl", "status_url"),
            ("progress", "progress"),
            ("error", "error"),
        ):
            if answer.get(key) is not None:
                setattr(self, attr, answer[key])

    def as_json(self) -> dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "status": self.status,
            "url": self.url,
            "localUrl": self.local_url,
            "previewUrl": self.preview_url,
            "localPreviewUrl": self.local_preview_url,
            "files": self.files,
            "totalBytes": self.total_bytes,
            "uploadedFiles": self.uploaded_files,
            "uploadedBytes": self.uploaded_bytes,
            "alreadyStaged": self.already_staged,
            "platform": self.platform,
            "projectName": self.project_name,
            "siteId": self.site_id,
            "statusUrl": self.status_url,
            "progress": self.progress,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "timings": {step: round(seconds, 3) for step, seconds in self.timings.items()},
        }


class Deployment:
    """One run of ``sitedeploy deploy``."""

    def __init__(
        self,
        client: ApiClient,
        options: DeployOptions,
        progress: Progress,
        *,
        cancel: threading.Event | None = None,
        uploader: BlobUploader | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.options = options
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.uploader = uploader or BlobUploader(cancel=self.cancel, on_retry=progress.message)
        self.sleep = sleep
        # One key for every attempt at creating this run's deployment: the server answers a repeat
        # with the first answer instead of starting a second deployment, so the POST can be retried.
        self.idempotency_key = f"cli-{uuid.uuid4().hex}"
        self.result = DeployResult(
            platform=options.platform, project_name=options.project or default_project(options.directory)
        )
        self.receipts: list[str] = []

    def run(self) -> DeployResult:
        """Every step; raises DeployError (or FolderError, UploadError, ApiError) when one fails."""
        started = time.monotonic()
        try:
            with self._timed("hash"):
                hashed = self.hash_folder()
            self.result.already_staged = self.stage(hashed)
            with self._timed("accept"):
                self.create(hashed)
            if self.options.wait:
                with self._timed("follow"):
                    self.follow()
        finally:
            self.result.seconds = time.monotonic() - started
        if self.result.status == "error":
            raise DeployError(
                f"deployment {self.result.deployment_id} failed: {self.result.error or 'no reason given'}",
                "deployment_error",
            )
        return self.result

    @contextmanager
    def _timed(self, step: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.result.timings[step] = self.result.timings.get(step, 0.0) + time.monotonic() - began

    def hash_folder(self) -> list[HashedFile]:
        files = walk(self.options.directory)
        cache = HashCache(self.options.directory) if self.options.hash_cache else None
        with self.progress.bar("hashing", len(files), "files") as bar:
            hashed = hash_files(files, on_file=lambda _: bar.advance(), cancel=self.cancel, cache=cache)
        self.result.files = len(hashed)
        self.result.total_bytes = total_bytes(hashed)
        return hashed

    def stage(self, files: list[HashedFile]) -> int:
        """Ask which blobs are missing and upload those; returns how many the server had already."""
        with self._timed("plan"):
            plan = plan_uploads(self.client, files, cancel=self.cancel)
        # Every call's receipts are kept, a second staging's beside the first's (see ``create``).
        self.receipts = sorted({*self.receipts, *plan.receipts})
        if plan.empty:
            return plan.already_staged
        with self._timed("upload"), self.progress.bar("uploading", plan.total_bytes, "bytes") as bar:
            count, size = self.uploader.upload_all(plan, files, bar.advance)
        self.result.uploaded_files += count
        self.result.uploaded_bytes += size
        return plan.already_staged

    def create(self, files: list[HashedFile]) -> None:
        manifest = deploy_manifest(files)
        try:
            accepted = self._post_deployment(self.options.body(manifest, self.receipts))
        except ApiError as exc:
            missing = _missing_blobs(exc)
            if missing is None:
                raise
            self.progress.message(f"the server is missing {len(missing)} blob(s); uploading them again")
            wanted = set(missing)
            self.stage([f for f in files if f.sha256 in wanted] or files)
            # With the first receipts and the new: the members of packs that did arrive are known
            # to the server only from the first ones until a publish has verified them, so a retry
            # without them is refused again for every file that went up in a pack.
            body = self.options.body(manifest, self.receipts)
            try:
                accepted = self._post_deployment(body)
            except ApiError as again:
                still = _missing_blobs(again)
                if still is None:
                    raise
                names = sorted(f.path for f in files if f.sha256 in set(still))
                example = f" (e.g. {names[0]})" if names else ""
                raise DeployError(
                    f"the server still misses {len(still) or 'some'} uploaded file(s){example} after they were "
                    "staged again; try again later",
                    "blobs_missing",
                ) from None
        self.result.absorb(accepted)

    def _post_deployment(self, body: dict[str, Any]) -> Any:
        """POST with the run's Idempotency-Key; wait out a first attempt the server is still on."""
        path = f"/deployments/{self.options.platform}"
        headers = {"Idempotency-Key": self.idempotency_key}
        for attempt in range(IN_PROGRESS_ATTEMPTS):
            try:
                return self.client.request("POST", path, body=body, headers=headers, idempotent=True)
            except ApiError as exc:
                if exc.code != "idempotency_in_progress" or attempt == IN_PROGRESS_ATTEMPTS - 1:
                    raise
                self.sleep(1.0)
        raise AssertionError("unreachable")

    def follow(self) -> None:
        """Poll the status until it is terminal, showing the status and the server's progress %.

        Polls start quick and slow down (to ``poll_interval``, but no slower than
        QUICK_POLL_SECONDS for the first QUICK_PHASE_SECONDS), and quicken again whenever the
        status moves: a small site is ready a few hundred milliseconds after it is accepted, and a
        fixed one-second poll would sleep through most of that moment. A poll is one read."""
        deployment_id = self.result.deployment_id
        started = time.monotonic()
        deadline = started + self.options.timeout
        delay = min(FIRST_POLL_SECONDS, self.options.poll_interval)
        seen: tuple[object, object] | None = None
        with self.progress.bar("publishing", 100, "percent") as bar:
            while True:
                answer = self.client.request("GET", f"/deployments/{deployment_id}")
                self.result.absorb(answer)
                bar.update(int(answer.get("progress") or 0), note=str(answer.get("status")))
                if answer.get("status") in TERMINAL:
                    return
                moved = (answer.get("status"), answer.get("progress"))
                if moved != seen:
                    seen = moved
                    delay = min(FIRST_POLL_SECONDS, self.options.poll_interval)
                if time.monotonic() >= deadline:
                    raise DeployError(
                        f"deployment {deployment_id} is still {answer.get('status')} after {self.options.timeout:g}s; "
                        f"follow it with `sitedeploy status {deployment_id}`",
                        "timeout",
                    )
                self.sleep(delay)
                slowest = self.options.poll_interval
                if time.monotonic() - started < QUICK_PHASE_SECONDS:
                    slowest = min(slowest, QUICK_POLL_SECONDS)
                delay = min(slowest, delay * POLL_BACKOFF)


def _missing_blobs(exc: ApiError) -> list[str] | None:
    """The ``missing`` hashes of a 409 ``blobs_missing``; None for any other error."""
    if exc.status != 409 or exc.code != "blobs_missing":
        return None
    missing = exc.payload.get("missing") if isinstance(exc.payload, dict) else None
    return [str(m) for m in missing] if isinstance(missing, list) else []
