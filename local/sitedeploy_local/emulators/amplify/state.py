"""What the Amplify emulator holds, and the service's rules over it: apps, their branches, each
branch's deployment jobs, and the site each branch serves.

No HTTP here. The API (``api`` and its ``routes``) turns a request into calls on ``AmplifyState``,
and each branch's site server (``sites``) asks it for the branch's current version on every visit.
Everything is guarded by one re-entrant lock, ``_lock``.

Behaviour, and the choices where the service's own behaviour is not documented:

- Job progress is computed lazily from timestamps (see ``jobs``): PENDING, then RUNNING through a
  DEPLOY and a VERIFY step of ``job_step_seconds`` each, then SUCCEED; StopJob answers CANCELLING
  and the job is CANCELLED ``job_cancel_seconds`` later. Until then the branch still has an
  unfinished job, and a branch has at most one.
- Concurrent jobs per region (``max_concurrent_jobs``; None, the default, is unlimited; Amplify's
  quota is 5) are not enforced by refusing calls: like Amplify, the emulator queues a started job
  beyond the quota, and it stays PENDING with no steps and no endTime until a running job finishes
  ("Once a build completes, the queued builds will continue"). See ``_schedule``: the oldest waiting
  job (by start time) gets the freed slot, and its timeline runs from that moment.
  ``running_jobs``, ``waiting_jobs`` and ``max_running_seen`` let a test watch it.
- A job FAILS (``statusReason`` on its DEPLOY step) when its zip was never uploaded (the real
  service fails the job rather than refusing StartDeployment — or so we assume), is corrupt, holds
  unsafe or backslash paths, or has no ``index.html`` at its root (all files inside one folder:
  Amplify would serve 404s), when ``sourceUrl`` cannot be fetched (only loopback ``http(s)`` URLs
  are; ``s3://`` and other hosts fail with a reason), after ``fail_next_job``, or when a rule in
  ``job_faults`` hits (routes ``"DEPLOY"`` / ``"VERIFY"``: a status fails that step, with the
  rule's ``body["message"]`` as reason; a delay makes the step slower).
- StartDeployment more than ``start_window_seconds`` (8 h) after CreateDeployment is refused with
  BadRequestException; the job stays CREATED (and keeps blocking the branch) until stopped.
- DeleteBranch answers at once; the branch disappears from Get/List, but its name answers
  BadRequestException ("... is deleting ...") to CreateBranch and still counts toward the branch
  quota for ``branch_delete_seconds``. Quotas: ``max_apps`` (25) apps per region (LimitExceeded
  "You have reached the maximum number of apps in this account."; DeleteApp frees a place),
  ``max_branches_per_app`` (50) branches.
- An app's ``customHeaders`` YAML is parsed when CreateApp / UpdateApp set it (BadRequestException
  when it is not Amplify's format) and applied by every branch's site (see ``sites``).
- Each branch gets a loopback port on its first successful job, kept across redeploys and freed on
  DeleteBranch; a redeploy swaps the files in atomically when its job succeeds, so the old site
  stays up while the new job runs.
"""

from __future__ import annotations

import copy
import math
import re
import secrets
import shutil
import string
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sitedeploy_local.emulators.amplify.jobs import (
    CONTROL,
    FINAL_STATUSES,
    Job,
    JobFailure,
    Outcome,
    Progress,
    discard,
    download,
    job_state,
    unpack,
)
from sitedeploy_local.emulators.amplify.sites import (
    REWRITE_STATUSES,
    CompiledRule,
    HeaderRule,
    Served,
    SiteVersion,
    branch_site_server,
    compile_rules,
    parse_custom_headers,
)
from sitedeploy_local.emulators.faults import FaultInjector
from sitedeploy_local.emulators.loopback import SiteServer

PLATFORMS = ("WEB", "WEB_DYNAMIC", "WEB_COMPUTE")
STAGES = ("PRODUCTION", "BETA", "DEVELOPMENT", "EXPERIMENTAL", "PULL_REQUEST")
ACCOUNT_ID = "123456789012"
MAX_ZIP_BYTES = 5 * 1024**3  # Amplify's manual-deploy limit (and S3's single PUT)
START_WINDOW_SECONDS = 8 * 3600
ZIP_URL_EXPIRES = 8 * 3600
_APP_ID_ALPHABET = string.ascii_lowercase + string.digits

ERROR_STATUS = {
    "BadRequestException": 400,
    "SerializationException": 400,
    "UnauthorizedException": 401,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "MissingAuthenticationTokenException": 403,
    "NotFoundException": 404,
    "UnknownOperationException": 404,
    "LimitExceededException": 429,
    "InternalFailureException": 500,
    "DependentServiceFailureException": 503,
}


class AmplifyError(Exception):
    """An error answer: ``code`` goes to ``x-amzn-ErrorType``, ``message`` to the JSON body."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else ERROR_STATUS.get(code, 400)


def bad(message: str) -> AmplifyError:
    return AmplifyError("BadRequestException", message)


@dataclass
class Branch:
    app_id: str
    data: dict[str, Any]
    jobs: dict[str, Job] = field(default_factory=dict)
    next_job: int = 1
    site: SiteVersion | None = None
    previous: SiteVersion | None = None
    server: SiteServer | None = None
    deleted: bool = False

    @property
    def name(self) -> str:
        return str(self.data["branchName"])


@dataclass
class App:
    data: dict[str, Any]
    branches: dict[str, Branch] = field(default_factory=dict)
    rules: tuple[CompiledRule, ...] = ()
    headers: tuple[HeaderRule, ...] = ()  # customHeaders, parsed

    @property
    def app_id(self) -> str:
        return str(self.data["appId"])

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        self.data["customRules"] = rules
        self.rules = compile_rules(list(rules))


# -- request members --------------------------------------------------------------------------------


def string_field(
    body: dict[str, Any], key: str, *, required: bool = False, min_len: int = 0, max_len: int = 0
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise bad(f"{key} is required.")
        return None
    if not isinstance(value, str):
        raise bad(f"{key} must be a string.")
    if len(value) < min_len or (max_len and len(value) > max_len):
        raise bad(f"{key} must be between {min_len} and {max_len} characters long.")
    return value


def boolean_field(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise bad(f"{key} must be a boolean.")
    return value


def string_map_field(body: dict[str, Any], key: str) -> dict[str, str] | None:
    value = body.get(key)
    if value is None:
        return None
    pairs = value.items() if isinstance(value, dict) else None
    strings = pairs is not None and all(isinstance(k, str) and isinstance(v, str) for k, v in pairs)
    if not strings:
        raise bad(f"{key} must be a map of strings.")
    return dict(value)


def custom_rules(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad("customRules must be a list.")
    rules: list[dict[str, Any]] = []
    for index, rule in enumerate(value):
        if not isinstance(rule, dict):
            raise bad(f"customRules[{index}] must be an object.")
        source, target = rule.get("source"), rule.get("target")
        if not isinstance(source, str) or not source or not isinstance(target, str) or not target:
            raise bad(f"customRules[{index}] needs a non-empty source and target.")
        clean: dict[str, Any] = {"source": source, "target": target}
        status = rule.get("status")
        if status is not None:
            if status not in REWRITE_STATUSES:
                raise bad(f"customRules[{index}].status must be one of {', '.join(REWRITE_STATUSES)}.")
            clean["status"] = status
        condition = rule.get("condition")
        if condition is not None:
            if not isinstance(condition, str):
                raise bad(f"customRules[{index}].condition must be a string.")
            clean["condition"] = condition
        rules.append(clean)
    return rules


def branch_name(body: dict[str, Any]) -> str:
    name = string_field(body, "branchName", required=True)
    assert name is not None
    if not 1 <= len(name) <= 255 or CONTROL.search(name) or name.strip() != name:
        raise bad("branchName must be 1 to 255 characters, without control characters or outer spaces.")
    return name


def _check_job_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"max_concurrent_jobs is None (unlimited) or a positive integer, not {limit!r}")


def display_name(branch_name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", branch_name.lower())


# -- the state --------------------------------------------------------------------------------------


class AmplifyState(ABC):
    """Apps, branches, jobs and served sites, with the rules that change them. ``endpoint_url``
    (where the API answers) is the subclass's: job steps' ``logUrl`` and ``zipUploadUrl`` point
    there."""

    def __init__(
        self,
        *,
        job_step_seconds: float,
        branch_delete_seconds: float,
        max_branches_per_app: int,
        max_apps: int,
        region: str,
        job_cancel_seconds: float | None,
        max_concurrent_jobs: int | None = None,
    ) -> None:
        _check_job_limit(max_concurrent_jobs)
        self.job_step_seconds = job_step_seconds
        self.branch_delete_seconds = branch_delete_seconds
        self.max_branches_per_app = max_branches_per_app
        self.max_apps = max_apps
        self.region = region
        self.job_cancel_seconds = job_step_seconds / 2 if job_cancel_seconds is None else job_cancel_seconds
        self.start_window_seconds: float = START_WINDOW_SECONDS
        self.max_zip_bytes = MAX_ZIP_BYTES
        self.job_faults = FaultInjector()
        self._lock = threading.RLock()
        self._apps: dict[str, App] = {}
        self._deleting: dict[tuple[str, str], float] = {}
        self._uploads: dict[str, Job] = {}
        self._fail_next: dict[tuple[str, str], list[str]] = {}
        self._threads: list[threading.Thread] = []
        self._workdir: Path | None = None
        # Build slots (see ``_schedule``): started jobs waiting for one, in start order; jobs that
        # hold one or held one recently enough to matter; the moment no grant may precede.
        self._max_concurrent_jobs = max_concurrent_jobs
        self._waiting: list[Job] = []
        self._granted: list[Job] = []
        self._grant_floor = 0.0
        self._max_running_seen = 0

    @property
    @abstractmethod
    def endpoint_url(self) -> str: ...

    # -- seeding and inspecting (tests and the local stack) ---------------------------------------

    @property
    def max_concurrent_jobs(self) -> int | None:
        """How many started jobs may run at once across the region's apps (Amplify: 5); the others
        wait, PENDING. None: unlimited (every job runs as soon as it starts)."""
        return self._max_concurrent_jobs

    @max_concurrent_jobs.setter
    def max_concurrent_jobs(self, limit: int | None) -> None:
        """Change the limit from now on: jobs waiting under the old one are settled first, and a
        job that the new one lets start starts now, not in the past."""
        _check_job_limit(limit)
        with self._lock:
            self._schedule()
            self._max_concurrent_jobs = limit
            self._grant_floor = max(self._grant_floor, time.time())
            self._schedule()

    def running_jobs(self) -> int:
        """How many started jobs hold a build slot and have not finished (a cancelling one still
        holds its slot until it is CANCELLED)."""
        with self._lock:
            self._schedule()
            now = time.time()
            return sum(1 for job in self._granted if self._state(job, now)[2] is None)

    def waiting_jobs(self) -> int:
        """How many started jobs wait for a build slot (PENDING, no steps yet)."""
        with self._lock:
            self._schedule()
            return len(self._waiting)

    @property
    def max_running_seen(self) -> int:
        """The most jobs that ever held a build slot at the same moment (since the start or the
        last ``reset``): never more than ``max_concurrent_jobs``."""
        with self._lock:
            self._schedule()
            return self._max_running_seen

    def create_app_directly(self, name: str, *, app_id: str | None = None) -> str:
        """Seed an app without an API call (the local stack's platform-managed app)."""
        with self._lock:
            if app_id is not None:
                if not re.fullmatch(r"d[a-z0-9]{1,19}", app_id):
                    raise ValueError(f"not an Amplify app id: {app_id!r}")
                if app_id in self._apps:
                    raise ValueError(f"app {app_id} already exists")
            app = self._new_app({"name": name}, app_id=app_id)
            return app.app_id

    def fail_next_job(self, app_id: str, branch: str, reason: str) -> None:
        """The next job started on that branch ends FAILED, its DEPLOY step carrying ``reason``."""
        with self._lock:
            self._fail_next.setdefault((app_id, branch), []).append(reason)

    def app(self, app_id: str) -> dict[str, Any] | None:
        with self._lock:
            app = self._apps.get(app_id)
            return copy.deepcopy(app.data) if app else None

    def apps(self) -> list[dict[str, Any]]:
        """Every app, as GetApp answers it."""
        with self._lock:
            return [copy.deepcopy(app.data) for app in self._apps.values()]

    def branches(self, app_id: str) -> list[str]:
        with self._lock:
            app = self._apps.get(app_id)
            return sorted(app.branches) if app else []

    def jobs(self, app_id: str, branch: str) -> list[dict[str, Any]]:
        """The branch's jobs, oldest first, each ``{"jobId", "status"}``."""
        with self._lock:
            app = self._apps.get(app_id)
            found = app.branches.get(branch) if app else None
            if found is None:
                return []
            self._advance(found)
            return [
                {"jobId": job.job_id, "status": self._job_view(found, job)["summary"]["status"]}
                for job in found.jobs.values()
            ]

    def branch(self, app_id: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            app = self._apps.get(app_id)
            branch = app.branches.get(name) if app else None
            if branch is None:
                return None
            self._advance(branch)
            return copy.deepcopy(branch.data)

    def job(self, app_id: str, branch: str, job_id: str) -> dict[str, Any] | None:
        """``{"summary": ..., "steps": [...]}`` as GetJob answers it."""
        with self._lock:
            app = self._apps.get(app_id)
            found = app.branches.get(branch) if app else None
            job = found.jobs.get(job_id) if found else None
            if found is None or job is None:
                return None
            self._advance(found)
            return copy.deepcopy(self._job_view(found, job))

    def site_url(self, app_id: str, branch: str) -> str | None:
        """The loopback URL serving the branch's last successful deployment."""
        with self._lock:
            app = self._apps.get(app_id)
            found = app.branches.get(branch) if app else None
            if found is None:
                return None
            self._advance(found)
            return found.server.url if found.server is not None else None

    def _forget(self) -> tuple[list[SiteServer], list[SiteVersion | None]]:
        """Drop every branch, job and job fault rule (apps stay); the site servers to stop and the
        versions to discard, which the caller does outside the lock."""
        with self._lock:
            servers: list[SiteServer] = []
            versions: list[SiteVersion | None] = []
            for app in self._apps.values():
                for branch in app.branches.values():
                    servers.extend([branch.server] if branch.server else [])
                    versions.extend([branch.site, branch.previous])
                    self._orphan(branch)
                app.branches.clear()
            self._deleting.clear()
            self._uploads.clear()
            self._fail_next.clear()
            self._waiting.clear()
            self._granted.clear()
            self._grant_floor = max(self._grant_floor, time.time())
            self._max_running_seen = 0
            self.job_faults.clear()
            return servers, versions

    # -- app, branch and job records ------------------------------------------------------------

    def _arn(self, suffix: str) -> str:
        return f"arn:aws:amplify:{self.region}:{ACCOUNT_ID}:apps/{suffix}"

    def _new_app(self, body: dict[str, Any], *, app_id: str | None = None) -> App:
        while app_id is None or app_id in self._apps:
            app_id = "d" + "".join(secrets.choice(_APP_ID_ALPHABET) for _ in range(13))
        now = time.time()
        data: dict[str, Any] = {
            "appId": app_id,
            "appArn": self._arn(app_id),
            "name": "",
            "tags": {},
            "description": "",
            "repository": "",
            "platform": "WEB",
            "createTime": now,
            "updateTime": now,
            "environmentVariables": {},
            "defaultDomain": f"{app_id}.amplifyapp.com",
            "enableBranchAutoBuild": False,
            "enableBranchAutoDeletion": False,
            "enableBasicAuth": False,
            "customRules": [],
            "enableAutoBranchCreation": False,
            "cacheConfig": {"type": "AMPLIFY_MANAGED_NO_COOKIES"},
        }
        app = App(data=data)
        self._apply_app_fields(app, body)
        tags = string_map_field(body, "tags")
        if tags is not None:
            data["tags"] = tags
        self._apps[app_id] = app
        return app

    @staticmethod
    def _apply_app_fields(app: App, body: dict[str, Any]) -> None:
        data = app.data
        headers_text = string_field(body, "customHeaders", max_len=25000)
        headers: tuple[HeaderRule, ...] | None = None
        if headers_text is not None:  # checked first: a refused UpdateApp changes nothing of it
            try:
                headers = parse_custom_headers(headers_text)
            except ValueError as exc:
                raise bad(str(exc)) from None
        name = string_field(body, "name", min_len=1, max_len=255)
        if name is not None:
            data["name"] = name
        for key, limit in (
            ("description", 1000),
            ("repository", 1000),
            ("iamServiceRoleArn", 1000),
            ("computeRoleArn", 1000),
            ("basicAuthCredentials", 2000),
            ("buildSpec", 25000),
            ("customHeaders", 25000),
        ):
            value = string_field(body, key, max_len=limit)
            if value is not None:
                data[key] = value
        platform = string_field(body, "platform")
        if platform is not None:
            if platform not in PLATFORMS:
                raise bad(f"platform must be one of {', '.join(PLATFORMS)}.")
            data["platform"] = platform
        for key in (
            "enableBranchAutoBuild",
            "enableBranchAutoDeletion",
            "enableBasicAuth",
            "enableAutoBranchCreation",
        ):
            flag = boolean_field(body, key)
            if flag is not None:
                data[key] = flag
        variables = string_map_field(body, "environmentVariables")
        if variables is not None:
            data["environmentVariables"] = variables
        for key in ("autoBranchCreationPatterns", "autoBranchCreationConfig", "jobConfig", "cacheConfig"):
            if body.get(key) is not None:
                data[key] = copy.deepcopy(body[key])
        if body.get("customRules") is not None:
            app.set_rules(custom_rules(body["customRules"]))
        if headers is not None:
            app.headers = headers

    def _get_app(self, app_id: str) -> App:
        app = self._apps.get(app_id)
        if app is None:
            raise AmplifyError("NotFoundException", f"App {app_id} not found.")
        return app

    def _get_branch(self, app_id: str, name: str) -> tuple[App, Branch]:
        app = self._get_app(app_id)
        branch = app.branches.get(name)
        if branch is None:
            raise AmplifyError("NotFoundException", f"Branch {name} not found for app {app_id}.")
        self._advance(branch)
        return app, branch

    def _get_job(self, branch: Branch, job_id: str) -> Job:
        job = branch.jobs.get(job_id)
        if job is None:
            raise AmplifyError("NotFoundException", f"Job {job_id} not found for branch {branch.name}.")
        return job

    def _purge_deleting(self) -> None:
        now = time.time()
        for key in [key for key, until in self._deleting.items() if until <= now]:
            del self._deleting[key]

    def _orphan(self, branch: Branch) -> None:
        """The branch is going away: its jobs stop mattering, their uploads and files go, and the
        build slot one of them held is free from now on, not earlier: grants are settled first, and
        none may precede this moment (after that pass, none would anyway but for this slot)."""
        self._schedule()
        self._grant_floor = max(self._grant_floor, time.time())
        branch.deleted = True
        for job in branch.jobs.values():
            job.orphaned = True
            self._uploads.pop(job.upload_id, None)
            if job.zip_path is not None:
                job.zip_path.unlink(missing_ok=True)
            if job.outcome is not None and job.outcome.version not in (None, branch.site, branch.previous):
                discard(job.outcome.version)

    def _new_job(self, branch: Branch) -> Job:
        unfinished = self._unfinished(branch)
        if unfinished is not None:
            raise bad(f"The last job {unfinished.job_id} was not finished.")
        job_id = str(branch.next_job)
        branch.next_job += 1
        job = Job(
            job_id=job_id,
            arn=self._arn(f"{branch.app_id}/branches/{quote(branch.name, safe='')}/jobs/{job_id.zfill(10)}"),
            created=time.time(),
            upload_id=secrets.token_hex(16),
            signature=secrets.token_hex(32),
        )
        job.note(f"job {job_id} created for branch {branch.name}")
        branch.jobs[job_id] = job
        branch.data["activeJobId"] = job_id
        branch.data["totalNumberOfJobs"] = str(len(branch.jobs))
        branch.data["updateTime"] = job.created
        self._uploads[job.upload_id] = job
        return job

    def _zip_url(self, job: Job) -> str:
        stamp = datetime.fromtimestamp(job.created, UTC)
        query = urlencode(
            {
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": f"ASIAEMULATOR/{stamp:%Y%m%d}/{self.region}/s3/aws4_request",
                "X-Amz-Date": f"{stamp:%Y%m%dT%H%M%SZ}",
                "X-Amz-Expires": str(ZIP_URL_EXPIRES),
                "X-Amz-SignedHeaders": "host",
                "X-Amz-Signature": job.signature,
            }
        )
        return f"{self.endpoint_url}/__zip/{job.upload_id}?{query}"

    # -- job progress and the site it deploys --------------------------------------------------------

    def _state(self, job: Job, moment: float) -> Progress:
        return job_state(
            job,
            moment,
            step_seconds=self.job_step_seconds,
            cancel_seconds=self.job_cancel_seconds,
            log_url=self._log_url,
        )

    def _log_url(self, job: Job, step: str) -> str:
        return f"{self.endpoint_url}/__logs/{job.upload_id}/{step}"

    def _schedule(self) -> None:
        """Grant the build slots that have freed up to the jobs waiting for one, oldest start first.

        Run (under the lock) wherever job state is observed or changed: ``_advance`` (every branch,
        job and site lookup goes through it), StartDeployment, StopJob, a deletion, the views. Since
        progress is lazy, a slot is granted at the moment it freed, not when this pass happens to
        run: a waiting job's grant is the earliest moment, no earlier than its start and than the
        previous grant (``_grant_floor``: first come, first served), at which fewer than
        ``max_concurrent_jobs`` granted jobs are unfinished (each holds its slot until its endTime;
        one that has not ended by now holds it). A job's end only ever becomes known later than the
        last pass that saw it unfinished (its zip's outcome or a StopJob lands after that pass), so
        the grants do not depend on when passes run, and a job seen waiting at some moment is never
        found granted before it. Unlimited: a job is granted the moment it starts."""
        with self._lock:
            now = time.time()
            self._granted = [job for job in self._granted if not job.orphaned]
            self._waiting = [
                job for job in self._waiting if not job.orphaned and job.cancel_at is None and job.granted is None
            ]
            self._waiting.sort(key=lambda job: job.started or 0.0)  # stable: equal starts keep their order
            ends = [self._end(job, now) for job in self._granted]
            limit = self._max_concurrent_jobs
            while self._waiting:
                job = self._waiting[0]
                moment = max(job.started or now, self._grant_floor)
                busy = sorted(end for end in ends if end > moment)
                if limit is not None and len(busy) >= limit:
                    moment = busy[len(busy) - limit]  # the end that leaves limit - 1 still busy
                    if moment > now:  # no slot frees before the running jobs' ends are known
                        break
                self._waiting.pop(0)
                job.granted = self._grant_floor = moment
                waited = moment - (job.started or moment)
                if waited > 0:
                    job.note(f"job {job.job_id} got a build slot after waiting {waited:.3f}s")
                self._max_running_seen = max(self._max_running_seen, 1 + sum(1 for end in ends if end > moment))
                self._granted.append(job)
                ends.append(self._end(job, now))
            # A job that ended before any grant still to come can no longer hold anyone up.
            horizon = max(self._grant_floor, self._waiting[0].started or now) if self._waiting else now
            self._granted = [job for job, end in zip(self._granted, ends, strict=True) if end > horizon]

    def _end(self, job: Job, now: float) -> float:
        """The job's endTime if it has ended by ``now``, else infinity (it holds its build slot)."""
        end = self._state(job, now)[2]
        return math.inf if end is None else end

    def _advance(self, branch: Branch) -> None:
        """Freeze the jobs that have finished by now; a success swaps the served site in."""
        self._schedule()
        now = time.time()
        for job in branch.jobs.values():
            if job.final is not None:
                continue
            status, steps, end = self._state(job, now)
            if status not in FINAL_STATUSES:
                continue
            assert end is not None
            job.final = (status, steps, end)
            reason = steps[-1].get("statusReason") if status == "FAILED" and steps else None
            job.note(f"job {job.job_id} {status}" + (f": {reason}" if reason else ""))
            version = job.outcome.version if job.outcome is not None else None
            if status == "SUCCEED" and version is not None:
                discard(branch.previous)
                branch.previous, branch.site = branch.site, version
                if branch.server is None:
                    branch.server = self._site_server(branch)
                    branch.server.start()
            else:
                discard(version)
            if job.zip_path is not None:
                job.zip_path.unlink(missing_ok=True)
                job.zip_path = None

    def _site_server(self, branch: Branch) -> SiteServer:
        app = self._apps[branch.app_id]

        def lookup() -> Served | None:
            with self._lock:
                if branch.deleted:
                    return None
                self._advance(branch)
                return Served(branch.site, app.rules, app.headers) if branch.site is not None else None

        return branch_site_server(f"{branch.app_id}-{display_name(branch.name)}", lookup)

    def _summary(self, branch: Branch, job: Job) -> dict[str, Any]:
        status, _, end = self._state(job, time.time())
        summary: dict[str, Any] = {
            "jobArn": job.arn,
            "jobId": job.job_id,
            "commitId": "HEAD",
            "commitMessage": "Manual deployment",
            "commitTime": job.created,
            "startTime": job.started if job.started is not None else job.created,
            "status": status,
            "jobType": "MANUAL",
        }
        if end is not None:
            summary["endTime"] = end
        if job.source_url is not None:
            summary["sourceUrl"] = job.source_url
            summary["sourceUrlType"] = job.source_url_type or "ZIP"
        return summary

    def _job_view(self, branch: Branch, job: Job) -> dict[str, Any]:
        _, steps, _ = self._state(job, time.time())
        return {"summary": self._summary(branch, job), "steps": copy.deepcopy(steps)}

    def _unfinished(self, branch: Branch) -> Job | None:
        now = time.time()
        for job in reversed(branch.jobs.values()):
            if job.final is None and self._state(job, now)[0] not in FINAL_STATUSES:
                return job
        return None

    def _branch_view(self, branch: Branch) -> dict[str, Any]:
        return copy.deepcopy(branch.data)

    # -- preparing a deployment (off the request path) -----------------------------------------------

    def _launch(self, job: Job, source: Path | str | None, reason: str | None) -> None:
        """Unpack the job's zip (or fetch ``source``) in a thread; the outcome lands on the job."""
        if reason is not None or source is None:
            job.outcome = Outcome(ready_at=time.time(), error=reason)
            return
        assert self._workdir is not None
        destination = self._workdir / "sites" / f"{job.upload_id}-{secrets.token_hex(4)}"
        thread = threading.Thread(
            target=self._prepare,
            args=(job, source, destination),
            daemon=True,
            name=f"amplify-job-{job.job_id}",
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _prepare(self, job: Job, source: Path | str, destination: Path) -> None:
        zip_path = source if isinstance(source, Path) else destination.with_suffix(".download.zip")
        version: SiteVersion | None = None
        error: str | None = None
        try:
            if isinstance(source, str):
                download(source, zip_path, self.max_zip_bytes)
            destination.mkdir(parents=True)
            version = unpack(zip_path, destination, job.job_id)
        except JobFailure as exc:
            error = str(exc)
        except Exception as exc:  # the emulator's own failure still ends the job
            error = f"Internal error while deploying: {type(exc).__name__}: {exc}"
        finally:
            zip_path.unlink(missing_ok=True)
        if version is None:
            shutil.rmtree(destination, ignore_errors=True)
        with self._lock:
            if job.orphaned or job.final is not None:
                discard(version)
                return
            job.outcome = Outcome(ready_at=time.time(), version=version, error=error)
            if version is not None:
                job.note(f"unpacked {len(version.files)} files, {version.total_bytes} bytes")
            else:
                job.note(f"deployment failed: {error}")
