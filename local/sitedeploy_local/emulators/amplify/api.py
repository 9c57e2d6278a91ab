"""The HTTP side of the Amplify Hosting emulator: one request from the wire to its answer.

The service speaks botocore's REST-JSON ``amplify`` protocol: ``AmplifyApi._handle`` finds the
operation in the route table (``routes.ROUTES``, matched on the path with each segment decoded, as
the service's front end decodes it), consults the fault injector, checks the caller's access key,
parses the JSON body, runs the operation and answers JSON, or an error as ``x-amzn-ErrorType`` plus
``{"message"}``, logging every request before answering it.

Two doors are not Amplify's API but stand in for what sits around it (``SIDE_DOORS``): the presigned
S3-style PUT of a deployment zip (``zipUploadUrl``, answered in S3's XML) and the plain-text log of a
job step (``logUrl``).

- ``require_access_keys``: when set, a request signed with another access key id fails with
  ``unknown_key_error`` (default UnrecognizedClientException, 403, what AWS's front door answers;
  set it to "UnauthorizedException" for Amplify's own 401). Signatures are never verified.
- Faults (``faults``, the shared :class:`FaultInjector`): routes are the operation names, plus
  ``"zip-upload"`` for the PUT to ``zipUploadUrl``, plus ``"any"``. A status renders as the
  service's error for it: 429 LimitExceededException (botocore retries it as throttling), 500
  InternalFailureException, 503 DependentServiceFailureException, 401 UnauthorizedException, 404
  NotFoundException, 400 BadRequestException; ``body={"code": ..., "message": ...}`` overrides code
  and message (e.g. ``ThrottlingException``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from sitedeploy_local.emulators.amplify.domains import AmplifyDomains, Association
from sitedeploy_local.emulators.amplify.sites import SiteVersion
from sitedeploy_local.emulators.amplify.state import ZIP_URL_EXPIRES, AmplifyError, AmplifyState, bad
from sitedeploy_local.emulators.faults import FaultAction, FaultInjector
from sitedeploy_local.emulators.loopback import BodyTooLarge, QuietHandler, SiteServer
from sitedeploy_local.emulators.routes import ANY_METHOD, Route, RouteTable

ZIP_UPLOAD_ROUTE = "zip-upload"
JOB_LOG_ROUTE = "job-log"
UNKNOWN_ROUTE = "unknown"
MAX_API_BODY = 10 * 1024**2
_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazonaws.amplify/"
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


@dataclass(frozen=True)
class Call:
    """One operation request as its handler sees it: the URI's members (decoded), the query string
    (last value of each key) and the JSON body."""

    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]


# An operation: the call in, the JSON answer out; AmplifyError for an error answer.
Handler = Callable[["AmplifyApi", Call], dict[str, Any]]
# A side door: the raw request (its body unread), the path's segments and the raw query string.
SideDoor = Callable[["AmplifyApi", QuietHandler, list[str], str], None]


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


def _operation_path(segments: list[str]) -> str:
    """The path the operation table matches: each segment decoded (as the service decodes it) and
    encoded again one canonical way, so ``/%61pps`` is ``/apps`` and a ``%2F`` inside a branch name
    stays inside its segment."""
    return "/" + "/".join(quote(unquote(segment), safe="") for segment in segments)


class AmplifyApi(AmplifyState, AmplifyDomains):
    """The state behind the Amplify API's operations, with the request log (``requests``), the
    fault rules (``faults``, named by operation), the access-key check (``require_access_keys``,
    ``unknown_key_error``) and the apps' custom domains (``AmplifyDomains``: their associations, and
    the hostnames served by Host on ``domains_port``)."""

    def __init__(
        self,
        routes: RouteTable[Handler],
        *,
        job_step_seconds: float,
        branch_delete_seconds: float,
        max_branches_per_app: int,
        max_apps: int,
        region: str,
        require_access_keys: set[str] | None,
        job_cancel_seconds: float | None,
        max_concurrent_jobs: int | None = None,
    ) -> None:
        super().__init__(
            job_step_seconds=job_step_seconds,
            branch_delete_seconds=branch_delete_seconds,
            max_branches_per_app=max_branches_per_app,
            max_apps=max_apps,
            region=region,
            job_cancel_seconds=job_cancel_seconds,
            max_concurrent_jobs=max_concurrent_jobs,
        )
        self.require_access_keys = require_access_keys
        self.unknown_key_error = "UnrecognizedClientException"
        self.faults = FaultInjector()
        self.requests: list[RecordedRequest] = []
        self._routes = routes
        self._associations: dict[tuple[str, str], Association] = {}
        self._init_hosts(self._host_answer, name="amplify-domains", server_version="AmazonS3")

    def _forget(self) -> tuple[list[SiteServer], list[SiteVersion | None]]:
        with self._lock:
            forgotten = super()._forget()
            self._associations.clear()  # every branch went: nothing is left to point at
            self.faults.clear()
            self.requests.clear()
            return forgotten

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
        method = handler.command.upper()
        segments = split.path.split("/")[1:]
        if segments and segments[-1] == "":
            segments.pop()
        door, _ = SIDE_DOORS.match(method, "/" + "/".join(segments))
        if door is not None:
            door.handler(self, handler, segments, split.query)
            return
        operation, params = self._routes.match(method, _operation_path(segments))
        route = operation.name if operation else None
        name = route or UNKNOWN_ROUTE
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
            self._reply(handler, name, _error_answer(bad("Request body too large."), close=True), 0)
            return
        if action is not None and action.status is not None and not action.after:
            self._reply(handler, name, _fault_answer(action), len(raw))
            return
        try:
            self._check_auth(handler)
            if operation is None:
                message = f"No operation for {handler.command} {split.path}"
                raise AmplifyError("UnknownOperationException", message)
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise AmplifyError("SerializationException", "The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise AmplifyError("SerializationException", "The request body must be a JSON object.")
            payload = operation.handler(self, Call(params, query, body))
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

    # -- the side doors --------------------------------------------------------------------------

    def _zip_upload(self, handler: QuietHandler, segments: list[str], raw_query: str) -> None:
        """The PUT to a job's ``zipUploadUrl``, checked and answered as S3 would (a presigned URL:
        the signature must match; the file is streamed to disk)."""
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

    def _job_log(self, handler: QuietHandler, segments: list[str], raw_query: str) -> None:
        """A job step's ``logUrl``: the job's log as plain text."""
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


# Not Amplify's API, matched on the raw path before it: any method, anything below the prefix.
SIDE_DOORS: RouteTable[SideDoor] = RouteTable(
    [
        Route(ANY_METHOD, "/__zip/**", ZIP_UPLOAD_ROUTE, AmplifyApi._zip_upload),
        Route(ANY_METHOD, "/__logs/**", JOB_LOG_ROUTE, AmplifyApi._job_log),
    ]
)
