"""AWS Amplify Hosting, manual deploys: what the Amplify CLI does for a zip, call for call.

1. ensure the branch (a DNS label; a branch still being deleted refuses re-creation for a while);
2. stop unfinished jobs (one unfinished job per branch), then ``create_deployment`` → jobId and a
   presigned ``zipUploadUrl``;
3. zip the files at the root of the archive (a folder prefix makes Amplify serve 404s), in memory
   up to ``ZIP_MEMORY_BYTES`` and spooled to /tmp past it, so memory stays bounded, DEFLATE for text
   and STORE for what is compressed already;
4. HTTP PUT the zip, ``start_deployment``, and let ``get_job`` tell the rest;
5. the site is ``https://{branch display name}.{app default domain}``.

Anything that fails after ``create_deployment`` stops that job, so the branch is not left blocked."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import urllib3
from botocore.exceptions import BotoCoreError, ClientError

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.domain.naming import is_valid_label
from sitedeploy.domain.sitefiles import is_compressible
from sitedeploy.platforms.amplify.client import AmplifyError
from sitedeploy.platforms.amplify.client import amplify_error as _error
from sitedeploy.platforms.amplify.routing import RoutingProfile
from sitedeploy.platforms.base import BuildState, Progress, PublishResult, SiteFile, StreamReader, retry_policy
from sitedeploy.platforms.readahead import read_ahead

UNFINISHED = frozenset({"CREATED", "PENDING", "PROVISIONING", "RUNNING", "CANCELLING"})
FINAL = frozenset({"SUCCEED", "FAILED", "CANCELLED"})
DEFAULT_ZIP_LIMIT = 5 * 1024**3
BRANCH_DELETING_WAIT_SECONDS = 240.0
JOB_STOP_WAIT_SECONDS = 120.0
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same site makes the same zip
# The zip only carries the site to Amplify, inside AWS, where bytes are cheap and a Lambda's CPU is
# not: zlib's level 1 takes about a third of the default level's time, for text about a quarter
# larger (a 50 MB site: 0.4 s of the publisher's zip time on the benchmark's text, more on real JS).
ZIP_LEVEL = 1
# A zip up to this size is built and sent from memory, never written to /tmp and read back; a larger
# one rolls over to a file, so memory stays bounded whatever the site's size.
ZIP_MEMORY_BYTES = 32 * 1024 * 1024


class _ZipAbandoned(Exception):
    """The publish failed before the zip was needed: its builder stops reading."""


def _discard(zipping: Future[tuple[IO[bytes], int]]) -> None:
    """Wait for an abandoned zip's builder to stop, and drop what it made."""
    try:
        zipped, _ = zipping.result()
    except BaseException:  # the publish's own error is the one to raise
        return
    zipped.close()


@dataclass(frozen=True)
class AmplifyTarget:
    app_id: str
    branch: str


def map_job(summary: dict[str, Any], steps: list[dict[str, Any]]) -> BuildState:
    """Amplify's job status → ours. Only SUCCEED, FAILED and CANCELLED are final."""
    status = str(summary.get("status", "PENDING"))
    if status == "SUCCEED":
        return BuildState(DeploymentStatus.READY, 100, None, status)
    if status in {"FAILED", "CANCELLED"}:
        reasons = [
            f"{step.get('stepName', 'step')}: {step['statusReason']}"
            for step in steps
            if step.get("statusReason") and step.get("status") in {"FAILED", "CANCELLED"}
        ] or [str(step["statusReason"]) for step in steps if step.get("statusReason")]
        default = "the Amplify job was cancelled" if status == "CANCELLED" else "the Amplify job failed"
        return BuildState(DeploymentStatus.ERROR, 100, "; ".join(reasons) or default, status)
    done_steps = sum(1 for step in steps if step.get("status") == "SUCCEED")
    base = {"CREATED": 60, "PENDING": 65, "PROVISIONING": 70, "RUNNING": 75, "CANCELLING": 90}.get(status, 60)
    return BuildState(DeploymentStatus.BUILDING, min(95, base + 10 * done_steps), None, status)


def build_zip(files: list[SiteFile], read: StreamReader, spool_dir: str | None = None) -> tuple[IO[bytes], int]:
    """The site as a zip with its files at the root, ready to send: (the zip, its size). In memory
    up to ``ZIP_MEMORY_BYTES``, in a file under ``spool_dir`` past it; the caller closes it (which
    removes the file)."""
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - handed to the caller
        max_size=ZIP_MEMORY_BYTES, prefix="site-", suffix=".zip", dir=spool_dir
    )
    try:
        with zipfile.ZipFile(spooled, "w", allowZip64=True) as archive:
            for site_file, chunks in read_ahead(sorted(files, key=lambda f: f.path), read):
                info = zipfile.ZipInfo(site_file.path, date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED if is_compressible(site_file.path) else zipfile.ZIP_STORED
                if sys.version_info >= (3, 13):
                    info.compress_level = ZIP_LEVEL
                else:
                    info._compresslevel = ZIP_LEVEL  # type: ignore[attr-defined]  # its name before 3.13
                info.external_attr = 0o644 << 16
                info.file_size = site_file.size
                with archive.open(info, "w", force_zip64=site_file.size > 2**31) as out:
                    for chunk in chunks:
                        out.write(chunk)
        size = spooled.tell()
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    return spooled, size


class AmplifyPublisher:
    def __init__(
        self,
        client: Any,
        *,
        backoff: float = 1.0,
        retry_after_cap: float = 30.0,
        branch_wait_seconds: float = BRANCH_DELETING_WAIT_SECONDS,
        spool_dir: str | None = None,
        zip_limit: int = DEFAULT_ZIP_LIMIT,
    ) -> None:
        self.client = client
        self._backoff = backoff
        self._branch_wait = branch_wait_seconds
        self._spool_dir = spool_dir
        self._zip_limit = zip_limit
        self._http = urllib3.PoolManager(
            retries=retry_policy(attempts=5, backoff=backoff, retry_after_cap=retry_after_cap),
            timeout=urllib3.Timeout(connect=10.0, read=300.0),
        )

    # -- the steps ------------------------------------------------------------------------------

    def app(self, app_id: str) -> dict[str, Any]:
        try:
            return dict(self.client.get_app(appId=app_id)["app"])
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "reading the Amplify app") from None

    def create_app(
        self, name: str, routing: RoutingProfile | None = None, tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A new app, with its app-wide routing set from the start when given."""
        settings: dict[str, Any] = {}
        if routing is not None:
            settings["customRules"] = routing.custom_rules
            if routing.custom_headers:
                settings["customHeaders"] = routing.custom_headers
        if tags:
            settings["tags"] = tags
        try:
            return dict(self.client.create_app(name=name[:255], platform="WEB", **settings)["app"])
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "creating the Amplify app") from None

    def branches(self, app_id: str) -> list[dict[str, Any]]:
        """Every branch of the app, every page."""
        try:
            pages = self.client.get_paginator("list_branches").paginate(appId=app_id)
            return [dict(b) for page in pages for b in page.get("branches", [])]
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "listing the app's branches") from None

    def apps(self) -> list[dict[str, Any]]:
        """Every app of the account in the client's region, every page."""
        try:
            pages = self.client.get_paginator("list_apps").paginate()
            return [dict(a) for page in pages for a in page.get("apps", [])]
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "listing the apps") from None

    def delete_app(self, app_id: str) -> bool:
        return self._delete(lambda: self.client.delete_app(appId=app_id), "deleting the Amplify app")

    def ensure_branch(self, target: AmplifyTarget) -> dict[str, Any]:
        """Get or create the branch; a branch still being deleted is waited for, with backoff."""
        if not is_valid_label(target.branch):
            raise AmplifyError(f"{target.branch!r} is not a valid branch name")
        deadline = time.monotonic() + self._branch_wait
        delay = self._backoff
        while True:
            try:
                return dict(self.client.get_branch(appId=target.app_id, branchName=target.branch)["branch"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NotFoundException":
                    raise _error(exc, "reading the branch") from None
            except BotoCoreError as exc:
                raise _error(exc, "reading the branch") from None
            try:
                created = self.client.create_branch(
                    appId=target.app_id,
                    branchName=target.branch,
                    stage="PRODUCTION",
                    enableAutoBuild=False,
                    displayName=target.branch,
                )
                return dict(created["branch"])
            except ClientError as exc:
                message = str(exc.response.get("Error", {}).get("Message", ""))
                deleting = exc.response.get("Error", {}).get("Code") == "BadRequestException" and "delet" in message
                if not deleting or time.monotonic() + delay > deadline:
                    raise _error(exc, "creating the branch") from None
            except BotoCoreError as exc:
                raise _error(exc, "creating the branch") from None
            time.sleep(delay)
            delay = min(delay * 2, 15.0)

    def stop_unfinished_jobs(self, target: AmplifyTarget) -> list[str]:
        stopped = []
        try:
            jobs = self.client.list_jobs(appId=target.app_id, branchName=target.branch, maxResults=20)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "listing the branch's jobs") from None
        waiting = []
        for summary in jobs.get("jobSummaries", []):
            if summary.get("status") in UNFINISHED - {"CANCELLING"}:
                self.stop_job(target, summary["jobId"])
                stopped.append(summary["jobId"])
            if summary.get("status") in UNFINISHED:
                waiting.append(summary["jobId"])
        # A stopped job is CANCELLING for a while and still blocks create_deployment: wait it out.
        deadline = time.monotonic() + JOB_STOP_WAIT_SECONDS
        delay = max(0.2, self._backoff / 2)
        for job_id in waiting:
            while self.job(target, job_id).job_status in UNFINISHED:
                if time.monotonic() + delay > deadline:
                    raise AmplifyError(f"the branch's job {job_id} did not stop in {JOB_STOP_WAIT_SECONDS:.0f}s")
                time.sleep(delay)
        return stopped

    def stop_job(self, target: AmplifyTarget, job_id: str) -> None:
        try:
            self.client.stop_job(appId=target.app_id, branchName=target.branch, jobId=job_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"NotFoundException", "BadRequestException"}:
                raise _error(exc, "stopping a job") from None

    def merge_routing(self, app_id: str, routing: RoutingProfile) -> bool:
        """Add the site's rules (and headers) to an app of the user's own: read, merge, write; the
        app's other rules are kept. (The service's pool apps are made with theirs and never change.)"""
        app = self.app(app_id)
        rules = list(app.get("customRules") or [])
        missing = [rule for rule in routing.custom_rules if rule not in rules]
        changes: dict[str, Any] = {}
        if missing:
            changes["customRules"] = [*missing, *rules]
        if routing.custom_headers and app.get("customHeaders") != routing.custom_headers:
            changes["customHeaders"] = routing.custom_headers
        if not changes:
            return False
        try:
            self.client.update_app(appId=app_id, **changes)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "setting the app's rewrite rules and headers") from None
        return True

    def upload_zip(self, url: str, body: IO[bytes], size: int) -> None:
        """PUT the zip from its start (a retry sends it again from there)."""
        body.seek(0)
        try:
            answer = self._http.request(
                "PUT", url, body=body, headers={"Content-Length": str(size)}, preload_content=True
            )
        except urllib3.exceptions.HTTPError as exc:
            raise AmplifyError(f"uploading the zip failed: {type(exc).__name__}") from None
        if answer.status >= 300:
            raise AmplifyError(f"uploading the zip failed: HTTP {answer.status}", status=answer.status)

    def job(self, target: AmplifyTarget, job_id: str) -> BuildState:
        try:
            job = self.client.get_job(appId=target.app_id, branchName=target.branch, jobId=job_id)["job"]
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "reading the job") from None
        return map_job(job.get("summary", {}), job.get("steps", []))

    def delete_branch(self, target: AmplifyTarget) -> bool:
        return self._delete(
            lambda: self.client.delete_branch(appId=target.app_id, branchName=target.branch), "deleting the branch"
        )

    @staticmethod
    def _delete(call: Callable[[], object], doing: str) -> bool:
        """Run a delete; False when the thing was already gone (teardown is repeated safely)."""
        try:
            call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return False
            raise _error(exc, doing) from None
        except BotoCoreError as exc:
            raise _error(exc, doing) from None
        return True

    def _create_deployment(self, target: AmplifyTarget) -> dict[str, Any]:
        """create_deployment; if a retried call finds "the last job was not finished" — our own first
        attempt, whose answer was lost — stop that job and create once more."""
        for attempt in range(2):
            try:
                return dict(self.client.create_deployment(appId=target.app_id, branchName=target.branch))
            except ClientError as exc:
                message = str(exc.response.get("Error", {}).get("Message", ""))
                if attempt == 0 and "not finished" in message:
                    self.stop_unfinished_jobs(target)
                    continue
                raise _error(exc, "creating the deployment") from None
            except BotoCoreError as exc:
                raise _error(exc, "creating the deployment") from None
        raise AmplifyError("creating the deployment: the branch stays blocked by an unfinished job")

    def _start_deployment(self, target: AmplifyTarget, job_id: str) -> None:
        """start_deployment; an error after the job did start (a lost answer, retried into "only a
        created job can start") is success, not a reason to stop a job that is running."""
        try:
            self.client.start_deployment(appId=target.app_id, branchName=target.branch, jobId=job_id)
        except (ClientError, BotoCoreError) as exc:
            try:
                state = self.job(target, job_id)
            except AmplifyError:
                raise _error(exc, "starting the deployment") from None
            if state.job_status == "CREATED":
                raise _error(exc, "starting the deployment") from None

    # -- the whole job --------------------------------------------------------------------------

    def publish(
        self,
        target: AmplifyTarget,
        files: list[SiteFile],
        read: StreamReader,
        *,
        routing: RoutingProfile | None = None,
        progress: Progress | None = None,
    ) -> PublishResult:
        """Up to start_deployment; the job's outcome is for ``job`` to tell. The zip is built while
        the app, the branch and its jobs are read and the deployment is created: those are round
        trips to Amplify, the zip is reading and deflating, and neither needs the other."""
        if not files:
            raise AmplifyError("the site has no files to deploy")
        total = sum(f.size for f in files)
        if total > self._zip_limit:
            raise AmplifyError(f"the site is {total} bytes, over Amplify's zip limit of {self._zip_limit} bytes")
        stop = threading.Event()
        sent = 0

        def counting(site_file: SiteFile) -> Iterator[bytes]:
            nonlocal sent
            for chunk in read(site_file):
                if stop.is_set():
                    raise _ZipAbandoned
                sent += len(chunk)
                if progress:
                    progress(sent, total * 2)
                yield chunk

        with ThreadPoolExecutor(1, thread_name_prefix="amplify-zip") as pool:
            zipping = pool.submit(build_zip, files, counting, self._spool_dir)
            try:
                app = self.app(target.app_id)
                branch = self.ensure_branch(target)
                self.stop_unfinished_jobs(target)
                if routing is not None:
                    self.merge_routing(target.app_id, routing)
                if zipping.done() and zipping.exception() is not None:
                    zipping.result()  # a file that cannot be read: no job to create and stop
                created = self._create_deployment(target)
            except BaseException:
                stop.set()
                _discard(zipping)
                raise
            job_id = str(created["jobId"])
            zipped: IO[bytes] | None = None
            try:
                zipped, zip_size = zipping.result()
                if zip_size > self._zip_limit:
                    raise AmplifyError(f"the zip is {zip_size} bytes, over Amplify's limit of {self._zip_limit} bytes")
                self.upload_zip(str(created["zipUploadUrl"]), zipped, zip_size)
                if progress:
                    progress(total * 2, total * 2)
                self._start_deployment(target, job_id)
            except BaseException:
                if zipped is None:  # the zip itself failed, or was not waited for
                    stop.set()
                    _discard(zipping)
                try:
                    self.stop_job(target, job_id)  # never leave the branch blocked by our own job
                except AmplifyError:
                    pass
                raise
            finally:
                if zipped is not None:
                    zipped.close()
        display = branch.get("displayName") or target.branch
        url = f"https://{display}.{app.get('defaultDomain')}"
        return PublishResult(url=url, external_id=job_id, uploaded_files=len(files), uploaded_bytes=total)
