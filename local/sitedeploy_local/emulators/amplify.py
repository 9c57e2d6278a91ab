"""A loopback emulator of the AWS Amplify Hosting API (manual deploys) and of the sites it serves.

moto does not implement Amplify and LocalStack implements none of the deployment calls, yet the
Amplify adapter's hard parts are exactly the service's behaviour: one unfinished job per branch,
the zip PUT to a presigned URL, asynchronous job progress, branches that stay "deleting" for a
while, quotas of 25 apps and 50 branches, throttling. This server speaks the REST-JSON protocol of
botocore's ``amplify`` model (same URIs, members, status codes and ``x-amzn-ErrorType`` errors), so
the adapter runs unchanged against it with ``endpoint_url=`` or ``AWS_ENDPOINT_URL_AMPLIFY``.

Behaviour, and the choices where the service's own behaviour is not documented:

- Job progress is computed lazily from timestamps (no scheduler): after StartDeployment a job is
  PENDING for ``job_step_seconds``, then RUNNING with a DEPLOY step, then a VERIFY step (each
  ``job_step_seconds``, DEPLOY at least as long as unpacking the zip takes), then SUCCEED. A job
  that was created but not started is CREATED; StopJob answers CANCELLING, and the job is
  CANCELLED ``job_cancel_seconds`` later. Until then the branch still has an unfinished job.
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
  quota for ``branch_delete_seconds``.
- ``require_access_keys``: when set, a request signed with another access key id fails with
  ``unknown_key_error`` (default UnrecognizedClientException, 403, what AWS's front door answers;
  set it to "UnauthorizedException" for Amplify's own 401). Signatures are never verified.
- Faults (``faults``, the shared :class:`FaultInjector`): routes are the operation names, plus
  ``"zip-upload"`` for the PUT to ``zipUploadUrl`` (answered S3-style, in XML), plus ``"any"``.
  A status renders as the service's error for it: 429 LimitExceededException (botocore retries it
  as throttling), 500 InternalFailureException, 503 DependentServiceFailureException, 401
  UnauthorizedException, 404 NotFoundException, 400 BadRequestException; ``body={"code": ...,
  "message": ...}`` overrides code and message (e.g. ``ThrottlingException``).
- Extra operations: DeleteApp (tearing down everything under the app). The fileMap upload flow of
  CreateDeployment is not emulated (BadRequestException).

Served sites: see ``amplify_sites``. Each branch gets a loopback port on its first successful job,
kept across redeploys and freed on DeleteBranch; a redeploy swaps the files in atomically when its
job succeeds, so the old site stays up while the new job runs.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import string
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape

from sitedeploy_local.emulators.amplify_sites import (
    REWRITE_STATUSES,
    BodyTooLarge,
    CompiledRule,
    QuietHandler,
    SiteServer,
    SiteVersion,
    compile_rules,
)
from sitedeploy_local.emulators.faults import FaultAction, FaultInjector
from sitedeploy_local.emulators.loopback import BackgroundServer
from sitedeploy_local.ports import HOST

OPERATIONS = (
    "CreateApp",
    "GetApp",
    "ListApps",
    "UpdateApp",
    "DeleteApp",
    "CreateBranch",
    "GetBranch",
    "ListBranches",
    "DeleteBranch",
    "CreateDeployment",
    "StartDeployment",
    "GetJob",
    "ListJobs",
    "StopJob",
)
ZIP_UPLOAD_ROUTE = "zip-upload"
JOB_LOG_ROUTE = "job-log"
DEPLOY_STEP = "DEPLOY"
VERIFY_STEP = "VERIFY"
FINAL_STATUSES = frozenset({"SUCCEED", "FAILED", "CANCELLED"})
PLATFORMS = ("WEB", "WEB_DYNAMIC", "WEB_COMPUTE")
STAGES = ("PRODUCTION", "BETA", "DEVELOPMENT", "EXPERIMENTAL", "PULL_REQUEST")
ACCOUNT_ID = "123456789012"
MAX_ZIP_BYTES = 5 * 1024**3  # Amplify's manual-deploy limit (and S3's single PUT)
MAX_API_BODY = 10 * 1024**2
START_WINDOW_SECONDS = 8 * 3600
ZIP_URL_EXPIRES = 8 * 3600
_APP_ID_ALPHABET = string.ascii_lowercase + string.digits
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazonaws.amplify/"
_Query = dict[str, str]
_Json = dict[str, Any]

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
_FAULT_CODES = {
    400: ("BadRequestException", "Bad request (injected fault)."),
    401: ("UnauthorizedException", "Unauthorized (injected fault)."),
    403: ("AccessDeniedException", "Access denied (injected fault)."),
    404: ("NotFoundException", "Not found (injected fault)."),
    429: ("LimitExceededException", "Rate exceeded"),
    500: ("InternalFailureException", "Internal failure (injected fault)."),
    503: ("DependentServiceFailureException", "A dependent service failed (injected fault)."),
}
_S3_FAULT_CODES = {
    400: ("BadRequest", "Bad request (injected fault)."),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchUpload", "The specified upload does not exist."),
    429: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


class AmplifyError(Exception):
    """An error answer: ``code`` goes to ``x-amzn-ErrorType``, ``message`` to the JSON body."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else ERROR_STATUS.get(code, 400)


class _JobFailure(Exception):
    """A deployment that cannot succeed; the message becomes the DEPLOY step's statusReason."""


def _bad(message: str) -> AmplifyError:
    return AmplifyError("BadRequestException", message)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator answered. ``status`` 0: the connection was reset."""

    route: str
    method: str
    path: str
    status: int
    bytes_in: int
    access_key_id: str | None = None
    at: float = 0.0

    @property
    def operation(self) -> str:
        return self.route


@dataclass
class _Outcome:
    ready_at: float
    version: SiteVersion | None = None
    error: str | None = None


@dataclass
class _Job:
    job_id: str
    arn: str
    created: float
    upload_id: str
    signature: str
    zip_path: Path | None = None
    zip_bytes: int = 0
    started: float | None = None
    source_url: str | None = None
    source_url_type: str | None = None
    forced_failure: tuple[str, str] | None = None  # (step, reason)
    deploy_delay: float = 0.0
    verify_delay: float = 0.0
    outcome: _Outcome | None = None
    cancel_at: float | None = None
    final: tuple[str, list[dict[str, Any]], float] | None = None  # status, steps, endTime
    orphaned: bool = False
    log: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.log.append(f"{stamp} {text}")


@dataclass
class _Branch:
    app_id: str
    data: dict[str, Any]
    jobs: dict[str, _Job] = field(default_factory=dict)
    next_job: int = 1
    site: SiteVersion | None = None
    previous: SiteVersion | None = None
    server: SiteServer | None = None
    deleted: bool = False

    @property
    def name(self) -> str:
        return str(self.data["branchName"])


@dataclass
class _App:
    data: dict[str, Any]
    branches: dict[str, _Branch] = field(default_factory=dict)
    rules: tuple[CompiledRule, ...] = ()

    @property
    def app_id(self) -> str:
        return str(self.data["appId"])

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        self.data["customRules"] = rules
        self.rules = compile_rules(list(rules))


# -- request validation ------------------------------------------------------------------------------


def _string(
    body: dict[str, Any], key: str, *, required: bool = False, min_len: int = 0, max_len: int = 0
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _bad(f"{key} is required.")
        return None
    if not isinstance(value, str):
        raise _bad(f"{key} must be a string.")
    if len(value) < min_len or (max_len and len(value) > max_len):
        raise _bad(f"{key} must be between {min_len} and {max_len} characters long.")
    return value


def _boolean(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"{key} must be a boolean.")
    return value


def _string_map(body: dict[str, Any], key: str) -> dict[str, str] | None:
    value = body.get(key)
    if value is None:
        return None
    pairs = value.items() if isinstance(value, dict) else None
    strings = pairs is not None and all(isinstance(k, str) and isinstance(v, str) for k, v in pairs)
    if not strings:
        raise _bad(f"{key} must be a map of strings.")
    return dict(value)


def _custom_rules(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _bad("customRules must be a list.")
    rules: list[dict[str, Any]] = []
    for index, rule in enumerate(value):
        if not isinstance(rule, dict):
            raise _bad(f"customRules[{index}] must be an object.")
        source, target = rule.get("source"), rule.get("target")
        if not isinstance(source, str) or not source or not isinstance(target, str) or not target:
            raise _bad(f"customRules[{index}] needs a non-empty source and target.")
        clean: dict[str, Any] = {"source": source, "target": target}
        status = rule.get("status")
        if status is not None:
            if status not in REWRITE_STATUSES:
                raise _bad(f"customRules[{index}].status must be one of {', '.join(REWRITE_STATUSES)}.")
            clean["status"] = status
        condition = rule.get("condition")
        if condition is not None:
            if not isinstance(condition, str):
                raise _bad(f"customRules[{index}].condition must be a string.")
            clean["condition"] = condition
        rules.append(clean)
    return rules


def _max_results(query: dict[str, str], limit: int) -> int:
    raw = query.get("maxResults")
    if raw is None:
        return limit
    try:
        value = int(raw)
    except ValueError:
        raise _bad("maxResults must be an integer.") from None
    if value < 0 or value > limit:
        raise _bad(f"maxResults must be between 0 and {limit}.")
    return value or limit


def _page(items: list[Any], query: dict[str, str], limit: int) -> tuple[list[Any], str | None]:
    size = _max_results(query, limit)
    offset = 0
    token = query.get("nextToken")
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise _bad("Invalid nextToken.") from None
    chunk = items[offset : offset + size]
    following = offset + size
    next_token = (
        base64.urlsafe_b64encode(json.dumps({"offset": following}).encode()).decode()
        if following < len(items)
        else None
    )
    return chunk, next_token


def _branch_name(body: dict[str, Any]) -> str:
    name = _string(body, "branchName", required=True)
    assert name is not None
    if not 1 <= len(name) <= 255 or _CONTROL.search(name) or name.strip() != name:
        raise _bad("branchName must be 1 to 255 characters, without control characters or outer spaces.")
    return name


def _display_name(branch_name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", branch_name.lower())


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    close: bool = False
    reset: bool = False


_RESET = _Answer(0, reset=True)


def _request_id() -> str:
    return uuid.uuid4().hex.upper()


def _error_answer(error: AmplifyError, *, close: bool = False) -> _Answer:
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", _request_id()),
        ("x-amzn-ErrorType", f"{error.code}:{_ERROR_NAMESPACE}"),
    ]
    return _Answer(error.status, headers, json.dumps({"message": error.message}).encode(), close=close)


def _fault_answer(action: FaultAction) -> _Answer:
    """An injected status, rendered as the service's error for it (``body`` may name code/message)."""
    status = int(action.status or 500)
    default_code, default_message = _FAULT_CODES.get(
        status,
        ("InternalFailureException", "Internal failure (injected fault).")
        if status >= 500
        else ("BadRequestException", "Bad request (injected fault)."),
    )
    body = dict(action.body or {})
    code = str(body.pop("code", None) or body.pop("__type", None) or default_code)
    body.setdefault("message", default_message)
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", _request_id()),
        ("x-amzn-ErrorType", f"{code}:{_ERROR_NAMESPACE}"),
    ]
    if action.retry_after is not None:
        headers.append(("Retry-After", f"{action.retry_after:g}"))
    return _Answer(status, headers, json.dumps(body).encode())


def _s3_answer(status: int, code: str, message: str, *, close: bool = True) -> _Answer:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message><RequestId>{_request_id()[:16]}</RequestId></Error>"
    ).encode()
    return _Answer(status, [("Content-Type", "application/xml")], body, close=close)


def _s3_fault_answer(action: FaultAction, *, close: bool = False) -> _Answer:
    """An injected status on the zip PUT, rendered as S3 would answer it."""
    status = int(action.status or 500)
    code, message = _S3_FAULT_CODES.get(
        status,
        ("InternalError", "Injected fault.") if status >= 500 else ("AccessDenied", "Injected fault."),
    )
    body = action.body or {}
    code, message = str(body.get("code") or code), str(body.get("message") or message)
    answer = _s3_answer(status, code, message, close=close)
    if action.retry_after is not None:
        answer.headers.append(("Retry-After", f"{action.retry_after:g}"))
    return answer


# -- the zip --------------------------------------------------------------------------------------


def _unpack(zip_path: Path, destination: Path, job_id: str) -> SiteVersion:
    """Extract a deployment zip (streamed, entry by entry) or say why Amplify would not serve it."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _JobFailure(f"The zip file could not be read ({exc}); upload a valid .zip archive.") from None
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if not entries:
            raise _JobFailure("The zip file holds no files; zip the contents of the build output folder.")
        names: dict[str, zipfile.ZipInfo] = {}
        for info in entries:
            name = info.filename
            if "\\" in name:
                raise _JobFailure(
                    f"The zip entry {name!r} uses backslashes; zip paths must use '/' "
                    "(re-create the zip with a tool that writes POSIX paths)."
                )
            parts = PurePosixPath(name).parts
            unsafe = name.startswith("/") or any(p in ("..", ".") for p in parts) or _CONTROL.search(name)
            if unsafe or not parts:
                raise _JobFailure(f"The zip entry {name!r} is not a safe relative path.")
            names["/".join(parts)] = info
        if "index.html" not in names:
            tops = {name.split("/", 1)[0] for name in names}
            if len(tops) == 1 and all("/" in name for name in names):
                folder = tops.pop()
                raise _JobFailure(
                    f"No index.html at the root of the zip: every file is inside the folder '{folder}/'. "
                    "Amplify serves the zip's root, so this site would answer 404 Not Found; zip the "
                    "folder's contents, not the folder itself."
                )
            raise _JobFailure(
                "No index.html at the root of the zip; Amplify would answer 404 Not Found at the site's root."
            )
        total = 0
        try:
            for name, info in names.items():
                target = destination / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1024 * 1024)
                total += info.file_size
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise _JobFailure(f"The zip file is corrupt ({exc}); upload a valid .zip archive.") from None
        except OSError as exc:
            raise _JobFailure(f"The zip file could not be unpacked ({exc.strerror or exc}).") from None
    return SiteVersion(root=destination, files=frozenset(names), job_id=job_id, total_bytes=total)


def _discard(version: SiteVersion | None) -> None:
    """Remove a version's files off the request path (a large site takes a while to delete)."""
    if version is not None:
        threading.Thread(target=version.remove, daemon=True, name="amplify-discard").start()


# -- the emulator ----------------------------------------------------------------------------------


class AmplifyEmulator:
    """The Amplify Hosting API on loopback, and every branch's deployed site on a port of its own."""

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
    ) -> None:
        self.job_step_seconds = job_step_seconds
        self.branch_delete_seconds = branch_delete_seconds
        self.max_branches_per_app = max_branches_per_app
        self.max_apps = max_apps
        self.region = region
        self.require_access_keys = require_access_keys
        self.unknown_key_error = "UnrecognizedClientException"
        self.job_cancel_seconds = job_step_seconds / 2 if job_cancel_seconds is None else job_cancel_seconds
        self.start_window_seconds: float = START_WINDOW_SECONDS
        self.max_zip_bytes = MAX_ZIP_BYTES
        self.faults = FaultInjector()
        self.job_faults = FaultInjector()
        self.requests: list[RecordedRequest] = []
        self._port = port
        self._lock = threading.RLock()
        self._apps: dict[str, _App] = {}
        self._deleting: dict[tuple[str, str], float] = {}
        self._uploads: dict[str, _Job] = {}
        self._fail_next: dict[tuple[str, str], list[str]] = {}
        self._threads: list[threading.Thread] = []
        self._server: BackgroundServer | None = None
        self._workdir: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        self._workdir = Path(tempfile.mkdtemp(prefix="amplify-emulator-"))
        (self._workdir / "zips").mkdir()
        (self._workdir / "sites").mkdir()
        emulator = self

        class Handler(QuietHandler):
            server_version = "Server"
            sys_version = ""

            def _dispatch(self) -> None:
                emulator._handle(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

        self._server = BackgroundServer(Handler, port=self._port, name="amplify-api")
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
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> AmplifyEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    # -- test and local-stack helpers ----------------------------------------------------------------

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

    def reset(self) -> None:
        """Forget branches, jobs, faults, the request log and served sites; apps stay."""
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
            self.faults.clear()
            self.job_faults.clear()
            self.requests.clear()
        for server in servers:
            server.stop()
        for version in versions:
            _discard(version)

    # -- HTTP ---------------------------------------------------------------------------------------

    def _reply(self, handler: QuietHandler, route: str, answer: _Answer, bytes_in: int) -> None:
        """Log the request, then answer it (logged first: a test that reads ``requests`` right after
        its call returns must find it there)."""
        found = re.search(r"Credential=([^/\s,]+)/", handler.headers.get("Authorization") or "")
        entry = RecordedRequest(
            route=route,
            method=handler.command,
            path=handler.path,
            status=0 if answer.reset else answer.status,
            bytes_in=bytes_in,
            access_key_id=found.group(1) if found else None,
            at=time.time(),
        )
        with self._lock:
            self.requests.append(entry)
        if answer.reset:
            handler.reset_connection()
        else:
            handler.send_all(answer.status, answer.headers, answer.body, close=answer.close)

    def _handle(self, handler: QuietHandler) -> None:
        split = urlsplit(handler.path)
        segments = split.path.split("/")[1:]
        if segments and segments[-1] == "":
            segments.pop()
        if segments and segments[0] == "__zip":
            self._handle_zip(handler, segments, split.query)
            return
        if segments and segments[0] == "__logs":
            self._handle_log(handler, segments)
            return
        route, params = self._route(handler.command.upper(), [unquote(s) for s in segments])
        name = route or "unknown"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        action = self.faults.on_request(route) if route else None
        if action is not None and action.delay:
            time.sleep(action.delay)
        if action is not None and action.reset and not action.after:
            self._reply(handler, name, _RESET, 0)
            return
        try:
            raw = handler.read_body(MAX_API_BODY)
        except (BodyTooLarge, ValueError, ConnectionError):
            self._reply(handler, name, _error_answer(_bad("Request body too large."), close=True), 0)
            return
        if action is not None and action.status is not None and not action.after:
            self._reply(handler, name, _fault_answer(action), len(raw))
            return
        try:
            self._check_auth(handler)
            if route is None:
                message = f"No operation for {handler.command} {split.path}"
                raise AmplifyError("UnknownOperationException", message)
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise AmplifyError("SerializationException", "The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise AmplifyError("SerializationException", "The request body must be a JSON object.")
            payload = getattr(self, f"_op_{route}")(params, query, body)
            data = json.dumps(payload, separators=(",", ":")).encode()
            headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", _request_id())]
            answer = _Answer(200, headers, data)
        except AmplifyError as exc:
            answer = _error_answer(exc)
        except Exception as exc:
            message = f"Internal failure: {type(exc).__name__}: {exc}"
            answer = _error_answer(AmplifyError("InternalFailureException", message))
        if action is not None and action.after:  # the request took effect; its answer is lost
            answer = _RESET if action.reset else _fault_answer(action)
        self._reply(handler, name, answer, len(raw))

    def _check_auth(self, handler: BaseHTTPRequestHandler) -> None:
        keys = self.require_access_keys
        if keys is None:
            return
        found = re.search(r"Credential=([^/\s,]+)/", handler.headers.get("Authorization") or "")
        if found is None:
            raise AmplifyError("MissingAuthenticationTokenException", "Missing Authentication Token")
        if found.group(1) not in keys:
            code = self.unknown_key_error
            raise AmplifyError(code, "The security token included in the request is invalid.")

    @staticmethod
    def _route(method: str, segments: list[str]) -> tuple[str | None, dict[str, str]]:
        n = len(segments)
        if n == 0 or segments[0] != "apps":
            return None, {}
        if n == 1:
            return {"GET": "ListApps", "POST": "CreateApp"}.get(method), {}
        params = {"appId": segments[1]}
        if n == 2:
            return {"GET": "GetApp", "POST": "UpdateApp", "DELETE": "DeleteApp"}.get(method), params
        if segments[2] != "branches":
            return None, params
        if n == 3:
            return {"GET": "ListBranches", "POST": "CreateBranch"}.get(method), params
        params["branchName"] = segments[3]
        if n == 4:
            return {"GET": "GetBranch", "DELETE": "DeleteBranch"}.get(method), params
        if segments[4] == "deployments" and method == "POST":
            if n == 5:
                return "CreateDeployment", params
            if n == 6 and segments[5] == "start":
                return "StartDeployment", params
            return None, params
        if segments[4] != "jobs":
            return None, params
        if n == 5:
            return ("ListJobs" if method == "GET" else None), params
        params["jobId"] = segments[5]
        if n == 6:
            return ("GetJob" if method == "GET" else None), params
        if n == 7 and segments[6] == "stop":
            return ("StopJob" if method == "DELETE" else None), params
        return None, params

    # -- the zip upload (S3-style presigned PUT) ---------------------------------------------------

    def _handle_zip(self, handler: QuietHandler, segments: list[str], raw_query: str) -> None:
        route = ZIP_UPLOAD_ROUTE
        action = self.faults.on_request(route)
        if action is not None and action.delay:
            time.sleep(action.delay)
        if action is not None and action.reset and not action.after:
            self._reply(handler, route, _RESET, 0)
            return
        if action is not None and action.status is not None and not action.after:
            self._reply(handler, route, _s3_fault_answer(action, close=True), 0)
            return
        query = {k: v[-1] for k, v in parse_qs(raw_query).items()}
        with self._lock:
            job = self._uploads.get(segments[1]) if len(segments) == 2 else None
        signature_ok = (
            job is not None
            and handler.command == "PUT"
            and secrets.compare_digest(query.get("X-Amz-Signature", ""), job.signature)
        )
        if not signature_ok:
            message = "The request signature we calculated does not match the signature you provided."
            self._reply(handler, route, _s3_answer(403, "SignatureDoesNotMatch", message), 0)
            return
        assert job is not None
        assert self._workdir is not None
        if time.time() > job.created + ZIP_URL_EXPIRES:
            self._reply(handler, route, _s3_answer(403, "AccessDenied", "Request has expired"), 0)
            return
        part = self._workdir / "zips" / f"{job.upload_id}.{secrets.token_hex(4)}.part"
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with part.open("wb") as sink:
                for chunk in handler.iter_body(self.max_zip_bytes):
                    sink.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        except BodyTooLarge:
            part.unlink(missing_ok=True)
            message = "Your proposed upload exceeds the maximum allowed size"
            self._reply(handler, route, _s3_answer(400, "EntityTooLarge", message), 0)
            return
        except (ConnectionError, ValueError, OSError):  # the client went away mid-upload
            part.unlink(missing_ok=True)
            self._reply(handler, route, _RESET, size)
            return
        with self._lock:
            if job.orphaned or job.started is not None or job.final is not None:  # nothing would read it
                part.unlink(missing_ok=True)
            else:
                destination = self._workdir / "zips" / f"{job.upload_id}.zip"
                os.replace(part, destination)
                job.zip_path, job.zip_bytes = destination, size
                job.note(f"zip uploaded: {size} bytes")
        answer = _Answer(200, [("ETag", f'"{digest.hexdigest()}"'), ("x-amz-request-id", _request_id()[:16])])
        if action is not None and action.after:
            answer = _RESET if action.reset else _s3_fault_answer(action)
        self._reply(handler, route, answer, size)

    def _handle_log(self, handler: QuietHandler, segments: list[str]) -> None:
        with contextlib.suppress(BodyTooLarge, ValueError, ConnectionError):
            handler.read_body(MAX_API_BODY)
        with self._lock:
            job = self._uploads.get(segments[1]) if len(segments) == 3 else None
            text = "\n".join(job.log) + "\n" if job is not None else None
        plain = [("Content-Type", "text/plain; charset=utf-8")]
        if text is None or handler.command not in ("GET", "HEAD"):
            self._reply(handler, JOB_LOG_ROUTE, _Answer(404, plain, b"no such log\n"), 0)
            return
        self._reply(handler, JOB_LOG_ROUTE, _Answer(200, plain, text.encode()), 0)

    # -- state helpers ---------------------------------------------------------------------------

    def _arn(self, suffix: str) -> str:
        return f"arn:aws:amplify:{self.region}:{ACCOUNT_ID}:apps/{suffix}"

    def _new_app(self, body: dict[str, Any], *, app_id: str | None = None) -> _App:
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
        app = _App(data=data)
        self._apply_app_fields(app, body)
        tags = _string_map(body, "tags")
        if tags is not None:
            data["tags"] = tags
        self._apps[app_id] = app
        return app

    @staticmethod
    def _apply_app_fields(app: _App, body: dict[str, Any]) -> None:
        data = app.data
        name = _string(body, "name", min_len=1, max_len=255)
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
            value = _string(body, key, max_len=limit)
            if value is not None:
                data[key] = value
        platform = _string(body, "platform")
        if platform is not None:
            if platform not in PLATFORMS:
                raise _bad(f"platform must be one of {', '.join(PLATFORMS)}.")
            data["platform"] = platform
        for key in (
            "enableBranchAutoBuild",
            "enableBranchAutoDeletion",
            "enableBasicAuth",
            "enableAutoBranchCreation",
        ):
            flag = _boolean(body, key)
            if flag is not None:
                data[key] = flag
        variables = _string_map(body, "environmentVariables")
        if variables is not None:
            data["environmentVariables"] = variables
        for key in ("autoBranchCreationPatterns", "autoBranchCreationConfig", "jobConfig", "cacheConfig"):
            if body.get(key) is not None:
                data[key] = copy.deepcopy(body[key])
        if body.get("customRules") is not None:
            app.set_rules(_custom_rules(body["customRules"]))

    def _get_app(self, app_id: str) -> _App:
        app = self._apps.get(app_id)
        if app is None:
            raise AmplifyError("NotFoundException", f"App {app_id} not found.")
        return app

    def _get_branch(self, app_id: str, name: str) -> tuple[_App, _Branch]:
        app = self._get_app(app_id)
        branch = app.branches.get(name)
        if branch is None:
            raise AmplifyError("NotFoundException", f"Branch {name} not found for app {app_id}.")
        self._advance(branch)
        return app, branch

    def _get_job(self, branch: _Branch, job_id: str) -> _Job:
        job = branch.jobs.get(job_id)
        if job is None:
            raise AmplifyError("NotFoundException", f"Job {job_id} not found for branch {branch.name}.")
        return job

    def _purge_deleting(self) -> None:
        now = time.time()
        for key in [key for key, until in self._deleting.items() if until <= now]:
            del self._deleting[key]

    def _orphan(self, branch: _Branch) -> None:
        """The branch is going away: its jobs stop mattering, their uploads and files go."""
        branch.deleted = True
        for job in branch.jobs.values():
            job.orphaned = True
            self._uploads.pop(job.upload_id, None)
            if job.zip_path is not None:
                job.zip_path.unlink(missing_ok=True)
            if job.outcome is not None and job.outcome.version not in (None, branch.site, branch.previous):
                _discard(job.outcome.version)

    # -- job progress (computed lazily from timestamps) --------------------------------------------

    def _step(
        self,
        job: _Job,
        name: str,
        status: str,
        *,
        start: float,
        end: float | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        step: dict[str, Any] = {
            "stepName": name,
            "startTime": start,
            "status": status,
            # Required by the model even while the step runs: the start time stands in until it ends.
            "endTime": end if end is not None else start,
            "logUrl": f"{self.endpoint_url}/__logs/{job.upload_id}/{name}",
        }
        if reason:
            step["statusReason"] = reason[:1000]
        return step

    def _progress(self, job: _Job, t: float) -> tuple[str, list[dict[str, Any]], float | None]:
        """The job's status, steps and endTime as of time ``t`` (ignoring cancellation)."""
        s = self.job_step_seconds
        if job.started is None or t < job.started:
            return "CREATED", [], None
        deploy_start = job.started + s
        if t < deploy_start:
            return "PENDING", [], None
        deploy_min_end = deploy_start + s + job.deploy_delay
        deploying = [self._step(job, DEPLOY_STEP, "RUNNING", start=deploy_start)]
        forced = job.forced_failure
        if forced is not None and forced[0] == DEPLOY_STEP:
            if t < deploy_min_end:
                return "RUNNING", deploying, None
            end = deploy_min_end
            failed = self._step(job, DEPLOY_STEP, "FAILED", start=deploy_start, end=end, reason=forced[1])
            return "FAILED", [failed], deploy_min_end
        outcome = job.outcome
        if outcome is None or t < max(deploy_min_end, outcome.ready_at):
            return "RUNNING", deploying, None
        deploy_end = max(deploy_min_end, outcome.ready_at)
        if outcome.error is not None:
            reason = outcome.error
            failed = self._step(job, DEPLOY_STEP, "FAILED", start=deploy_start, end=deploy_end, reason=reason)
            return "FAILED", [failed], deploy_end
        deployed = self._step(job, DEPLOY_STEP, "SUCCEED", start=deploy_start, end=deploy_end)
        verify_end = deploy_end + s + job.verify_delay
        if t < verify_end:
            return "RUNNING", [deployed, self._step(job, VERIFY_STEP, "RUNNING", start=deploy_end)], None
        if forced is not None:
            reason = forced[1]
            failed = self._step(job, VERIFY_STEP, "FAILED", start=deploy_end, end=verify_end, reason=reason)
            return "FAILED", [deployed, failed], verify_end
        verified = self._step(job, VERIFY_STEP, "SUCCEED", start=deploy_end, end=verify_end)
        return "SUCCEED", [deployed, verified], verify_end

    def _state(self, job: _Job, now: float) -> tuple[str, list[dict[str, Any]], float | None]:
        if job.final is not None:
            return job.final
        if job.cancel_at is None:
            return self._progress(job, now)
        status, steps, end = self._progress(job, job.cancel_at)
        if status in FINAL_STATUSES:  # it had finished before the stop arrived
            return status, steps, end
        done_at = job.cancel_at + self.job_cancel_seconds
        label = "CANCELLED" if now >= done_at else "CANCELLING"
        steps = [
            step | {"status": label, "endTime": done_at if label == "CANCELLED" else step["startTime"]}
            if step["status"] == "RUNNING"
            else step
            for step in steps
        ]
        return label, steps, (done_at if label == "CANCELLED" else None)

    def _advance(self, branch: _Branch) -> None:
        """Freeze the jobs that have finished by now; a success swaps the served site in."""
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
                _discard(branch.previous)
                branch.previous, branch.site = branch.site, version
                if branch.server is None:
                    branch.server = self._site_server(branch)
                    branch.server.start()
            else:
                _discard(version)
            if job.zip_path is not None:
                job.zip_path.unlink(missing_ok=True)
                job.zip_path = None

    def _site_server(self, branch: _Branch) -> SiteServer:
        app = self._apps[branch.app_id]

        def lookup() -> tuple[SiteVersion, tuple[CompiledRule, ...]] | None:
            with self._lock:
                if branch.deleted:
                    return None
                self._advance(branch)
                return (branch.site, app.rules) if branch.site is not None else None

        return SiteServer(f"{branch.app_id}-{_display_name(branch.name)}", lookup)

    def _summary(self, branch: _Branch, job: _Job) -> dict[str, Any]:
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

    def _job_view(self, branch: _Branch, job: _Job) -> dict[str, Any]:
        _, steps, _ = self._state(job, time.time())
        return {"summary": self._summary(branch, job), "steps": copy.deepcopy(steps)}

    def _unfinished(self, branch: _Branch) -> _Job | None:
        now = time.time()
        for job in reversed(branch.jobs.values()):
            if job.final is None and self._state(job, now)[0] not in FINAL_STATUSES:
                return job
        return None

    def _branch_view(self, branch: _Branch) -> dict[str, Any]:
        return copy.deepcopy(branch.data)

    # -- preparing a deployment (off the request path) -----------------------------------------------

    def _launch(self, job: _Job, source: Path | str | None, reason: str | None) -> None:
        """Unpack the job's zip (or fetch ``source``) in a thread; the outcome lands on the job."""
        if reason is not None or source is None:
            job.outcome = _Outcome(ready_at=time.time(), error=reason)
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

    def _prepare(self, job: _Job, source: Path | str, destination: Path) -> None:
        zip_path = source if isinstance(source, Path) else destination.with_suffix(".download.zip")
        version: SiteVersion | None = None
        error: str | None = None
        try:
            if isinstance(source, str):
                self._download(source, zip_path)
            destination.mkdir(parents=True)
            version = _unpack(zip_path, destination, job.job_id)
        except _JobFailure as exc:
            error = str(exc)
        except Exception as exc:  # the emulator's own failure still ends the job
            error = f"Internal error while deploying: {type(exc).__name__}: {exc}"
        finally:
            zip_path.unlink(missing_ok=True)
        if version is None:
            shutil.rmtree(destination, ignore_errors=True)
        with self._lock:
            if job.orphaned or job.final is not None:
                _discard(version)
                return
            job.outcome = _Outcome(ready_at=time.time(), version=version, error=error)
            if version is not None:
                job.note(f"unpacked {len(version.files)} files, {version.total_bytes} bytes")
            else:
                job.note(f"deployment failed: {error}")

    def _download(self, url: str, destination: Path) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        size = 0
        try:
            with opener.open(url, timeout=60) as response, destination.open("wb") as sink:
                while chunk := response.read(1024 * 1024):
                    size += len(chunk)
                    if size > self.max_zip_bytes:
                        raise _JobFailure(f"The file at sourceUrl is larger than {self.max_zip_bytes} bytes.")
                    sink.write(chunk)
        except urllib.error.HTTPError as exc:
            raise _JobFailure(f"Could not download the sourceUrl: HTTP {exc.code}.") from None
        except (urllib.error.URLError, OSError) as exc:
            raise _JobFailure(f"Could not download the sourceUrl: {exc}.") from None

    # -- operations --------------------------------------------------------------------------------

    def _op_CreateApp(self, params: _Query, query: _Query, body: _Json) -> _Json:
        _string(body, "name", required=True, min_len=1, max_len=255)
        with self._lock:
            if len(self._apps) >= self.max_apps:
                raise AmplifyError(
                    "LimitExceededException",
                    f"The maximum number of apps ({self.max_apps}) has been reached.",
                )
            app = self._new_app(body)
            return {"app": copy.deepcopy(app.data)}

    def _op_GetApp(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            return {"app": copy.deepcopy(self._get_app(params["appId"]).data)}

    def _op_ListApps(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            apps = [copy.deepcopy(app.data) for app in self._apps.values()]
        chunk, token = _page(apps, query, 100)
        return {"apps": chunk, **({"nextToken": token} if token else {})}

    def _op_UpdateApp(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            app = self._get_app(params["appId"])
            self._apply_app_fields(app, body)
            app.data["updateTime"] = time.time()
            return {"app": copy.deepcopy(app.data)}

    def _op_DeleteApp(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            app = self._get_app(params["appId"])
            del self._apps[app.app_id]
            servers = [b.server for b in app.branches.values() if b.server is not None]
            versions = [v for b in app.branches.values() for v in (b.site, b.previous)]
            for branch in app.branches.values():
                self._orphan(branch)
            self._deleting = {k: v for k, v in self._deleting.items() if k[0] != app.app_id}
        for server in servers:
            server.stop()
        for version in versions:
            _discard(version)
        return {"app": copy.deepcopy(app.data)}

    def _op_CreateBranch(self, params: _Query, query: _Query, body: _Json) -> _Json:
        name = _branch_name(body)
        stage = _string(body, "stage")
        if stage is not None and stage not in STAGES:
            raise _bad(f"stage must be one of {', '.join(STAGES)}.")
        display = _string(body, "displayName", max_len=255)
        with self._lock:
            app = self._get_app(params["appId"])
            self._purge_deleting()
            if (app.app_id, name) in self._deleting:
                raise _bad(f"The branch {name} is deleting. Try again once the deletion has finished.")
            if name in app.branches:
                raise _bad(f"Branch {name} already exists for app {app.app_id}.")
            in_use = len(app.branches) + sum(1 for key in self._deleting if key[0] == app.app_id)
            if in_use >= self.max_branches_per_app:
                raise AmplifyError(
                    "LimitExceededException",
                    f"The maximum number of branches ({self.max_branches_per_app}) for app {app.app_id} "
                    "has been reached.",
                )
            now = time.time()
            data: dict[str, Any] = {
                "branchArn": self._arn(f"{app.app_id}/branches/{quote(name, safe='')}"),
                "branchName": name,
                "description": _string(body, "description", max_len=1000) or "",
                "tags": _string_map(body, "tags") or {},
                "stage": stage or "NONE",
                "displayName": display or _display_name(name),
                "enableNotification": bool(_boolean(body, "enableNotification")),
                "createTime": now,
                "updateTime": now,
                "environmentVariables": _string_map(body, "environmentVariables") or {},
                "enableAutoBuild": bool(_boolean(body, "enableAutoBuild")),
                "enableSkewProtection": bool(_boolean(body, "enableSkewProtection")),
                "customDomains": [],
                "framework": _string(body, "framework", max_len=255) or "",
                "activeJobId": "",
                "totalNumberOfJobs": "0",
                "enableBasicAuth": bool(_boolean(body, "enableBasicAuth")),
                "enablePerformanceMode": bool(_boolean(body, "enablePerformanceMode")),
                "ttl": _string(body, "ttl", max_len=32) or "5",
                "enablePullRequestPreview": bool(_boolean(body, "enablePullRequestPreview")),
            }
            for key in ("basicAuthCredentials", "buildSpec", "pullRequestEnvironmentName", "computeRoleArn"):
                value = _string(body, key)
                if value is not None:
                    data[key] = value
            branch = _Branch(app_id=app.app_id, data=data)
            app.branches[name] = branch
            return {"branch": self._branch_view(branch)}

    def _op_GetBranch(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            _, branch = self._get_branch(params["appId"], params["branchName"])
            return {"branch": self._branch_view(branch)}

    def _op_ListBranches(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            app = self._get_app(params["appId"])
            for branch in app.branches.values():
                self._advance(branch)
            branches = [self._branch_view(branch) for branch in app.branches.values()]
        chunk, token = _page(branches, query, 50)
        return {"branches": chunk, **({"nextToken": token} if token else {})}

    def _op_DeleteBranch(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            app, branch = self._get_branch(params["appId"], params["branchName"])
            view = self._branch_view(branch)
            del app.branches[branch.name]
            self._deleting[(app.app_id, branch.name)] = time.time() + self.branch_delete_seconds
            self._orphan(branch)
            server, branch.server = branch.server, None
            versions = (branch.site, branch.previous)
        if server is not None:
            server.stop()
        for version in versions:
            _discard(version)
        return {"branch": view}

    def _op_CreateDeployment(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        if body.get("fileMap"):
            raise _bad("The emulator supports zip deployments only: omit fileMap, PUT a zip to zipUploadUrl.")
        with self._lock:
            _, branch = self._get_branch(params["appId"], params["branchName"])
            job = self._new_job(branch)
            return {"jobId": job.job_id, "zipUploadUrl": self._zip_url(job), "fileUploadUrls": {}}

    def _new_job(self, branch: _Branch) -> _Job:
        unfinished = self._unfinished(branch)
        if unfinished is not None:
            raise _bad(f"The last job {unfinished.job_id} was not finished.")
        job_id = str(branch.next_job)
        branch.next_job += 1
        job = _Job(
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

    def _zip_url(self, job: _Job) -> str:
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

    def _op_StartDeployment(
        self, params: dict[str, str], query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        job_id = _string(body, "jobId", max_len=255)
        source_url = _string(body, "sourceUrl", max_len=3000)
        source_type = _string(body, "sourceUrlType")
        if source_type is not None and source_type not in ("ZIP", "BUCKET_PREFIX"):
            raise _bad("sourceUrlType must be ZIP or BUCKET_PREFIX.")
        if job_id is None and source_url is None:
            raise _bad("Either jobId or sourceUrl is required.")
        if source_url is not None and not re.match(r"^(s3|https|http)://", source_url):
            raise _bad("sourceUrl must start with s3://, https:// or http://.")
        with self._lock:
            app, branch = self._get_branch(params["appId"], params["branchName"])
            if job_id is not None:
                job = self._get_job(branch, job_id)
                status = self._state(job, time.time())[0]
                if status != "CREATED" or job.started is not None:
                    raise _bad(f"Job {job_id} is {status}; only a created, not yet started job can start.")
                if time.time() > job.created + self.start_window_seconds:
                    raise _bad(
                        f"Job {job_id} can no longer start: StartDeployment must follow CreateDeployment "
                        f"within {self.start_window_seconds / 3600:g} hours."
                    )
            else:
                job = self._new_job(branch)
            now = time.time()
            job.started = now
            job.source_url = source_url
            job.source_url_type = source_type if source_url is not None else None
            queued = self._fail_next.get((app.app_id, branch.name))
            if queued:
                job.forced_failure = (DEPLOY_STEP, queued.pop(0))
            for step in (DEPLOY_STEP, VERIFY_STEP):
                if job.forced_failure is not None:
                    break
                action = self.job_faults.on_request(step)
                if action is None:
                    continue
                if step == DEPLOY_STEP:
                    job.deploy_delay += action.delay
                else:
                    job.verify_delay += action.delay
                if action.status is not None or action.reset:
                    message = (action.body or {}).get("message")
                    job.forced_failure = (step, str(message or f"The {step} step failed (injected fault)."))
            job.note(f"job {job.job_id} started" + (f" from {source_url}" if source_url else ""))
            reason: str | None = None
            source: Path | str | None = None
            if job.forced_failure is not None and job.forced_failure[0] == DEPLOY_STEP:
                reason = job.forced_failure[1]
            elif source_url is not None:
                split = urlsplit(source_url)
                if source_type == "BUCKET_PREFIX":
                    reason = "The emulator cannot deploy a BUCKET_PREFIX source; use sourceUrlType ZIP."
                elif split.scheme == "s3":
                    reason = (
                        f"The emulator cannot read {source_url}: it has no S3 access. Give a presigned "
                        "http(s) URL on loopback, or upload to zipUploadUrl."
                    )
                elif not _is_loopback(split.hostname):
                    reason = f"The emulator fetches only loopback URLs; {split.hostname} is not one."
                else:
                    source = source_url
            elif job.zip_path is None:
                reason = "No zip file was uploaded to the job's zipUploadUrl before StartDeployment."
            else:
                started_zip = job.zip_path.with_suffix(".started.zip")
                os.replace(job.zip_path, started_zip)
                job.zip_path = None
                source = started_zip
            self._launch(job, source, reason)
            return {"jobSummary": self._summary(branch, job)}

    def _op_GetJob(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            _, branch = self._get_branch(params["appId"], params["branchName"])
            job = self._get_job(branch, params["jobId"])
            return {"job": self._job_view(branch, job)}

    def _op_ListJobs(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            _, branch = self._get_branch(params["appId"], params["branchName"])
            summaries = [self._summary(branch, job) for job in reversed(branch.jobs.values())]
        chunk, token = _page(summaries, query, 50)
        return {"jobSummaries": chunk, **({"nextToken": token} if token else {})}

    def _op_StopJob(self, params: _Query, query: _Query, body: _Json) -> _Json:
        with self._lock:
            _, branch = self._get_branch(params["appId"], params["branchName"])
            job = self._get_job(branch, params["jobId"])
            now = time.time()
            status = self._state(job, now)[0]
            if status in FINAL_STATUSES:
                raise _bad(f"Job {job.job_id} is already {status}.")
            if job.cancel_at is None:
                job.cancel_at = now
                job.note(f"job {job.job_id} stopped while {status}")
            self._advance(branch)
            return {"jobSummary": self._summary(branch, job)}
