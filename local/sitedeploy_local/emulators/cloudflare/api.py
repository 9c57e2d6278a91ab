"""The HTTP side of the Cloudflare v4 API emulator: one request from the wire to its answer.

``CloudflareApi._handle`` reads the body, finds the route in the table (``routes.ROUTES``), consults
the fault injector, runs the handler and wraps its result in the platform's envelope
(``{"success", "errors", "messages", "result"}``, with ``result_info`` for lists), logging every
request before answering it. Authentication (API tokens, per account), the per-token rate limit and
the rendering of injected faults (429 with ``retry-after``, 5xx, Cloudflare's HTML 524 page, resets)
live here too; what the platform holds, and its rules, are ``state``'s.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sitedeploy_local.emulators.cloudflare.state import (
    CODE_AUTH,
    CODE_BAD_REQUEST,
    CODE_NO_ROUTE,
    CODE_RATE_LIMITED,
    CODE_UNKNOWN,
    Account,
    ApiError,
    CloudflareState,
    Token,
    bad_request,
    check_script_name,
)
from sitedeploy_local.emulators.faults import FaultAction, FaultInjector
from sitedeploy_local.emulators.loopback import BodyTooLarge, QuietHandler, SiteServer
from sitedeploy_local.emulators.routes import RouteTable

API_PREFIX = "/client/v4"
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # Cloudflare's request body limit (Free / Pro)
NO_ROUTE = "no-route"


@dataclass(frozen=True)
class RequestLogEntry:
    """One API request as the emulator saw it (``status`` 0: the connection was reset)."""

    method: str
    path: str
    route: str
    status: int
    bytes_in: int
    time: float
    duration: float = 0.0
    account_id: str | None = None
    fault: str | None = None
    hashes: tuple[str, ...] = ()  # asset upload: the hashes the request carried


@dataclass
class Call:
    """One request as a route handler sees it (``params``: the path template's, decoded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    route: str
    params: dict[str, str]
    account_id: str | None = None
    fault: str | None = None
    hashes: tuple[str, ...] = ()


# A route handler: the call in, (HTTP status, the envelope's ``result``) out; ApiError for an error.
Handler = Callable[["CloudflareApi", Call], tuple[int, Any]]


@dataclass(frozen=True)
class FormPart:
    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[FormPart]:
    """A binary-safe multipart/form-data parser (``cgi`` is gone from 3.13)."""
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise bad_request(f"expected multipart/form-data, got {content_type or 'no content type'}")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise bad_request("multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    position = body.find(delimiter)
    if position < 0:
        raise bad_request("multipart body without its boundary")
    parts: list[FormPart] = []
    while True:
        position += len(delimiter)
        if body[position : position + 2] == b"--":
            return parts
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise bad_request("truncated multipart body")
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise bad_request("unterminated multipart part")
        raw = body[start:end]
        if raw.startswith(b"\r\n"):
            head, data = b"", raw[2:]
        else:
            head, separator, data = raw.partition(b"\r\n\r\n")
            if not separator:
                raise bad_request("multipart part without a header/body separator")
        part_headers = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                part_headers[name.strip()] = value.strip()
        disposition = part_headers.get("content-disposition")
        field_name = filename = None
        if disposition:
            field_name = part_headers.get_param("name", header="content-disposition")
            filename = part_headers.get_param("filename", header="content-disposition")
        parts.append(
            FormPart(
                name=unquote(field_name) if isinstance(field_name, str) else None,
                filename=filename if isinstance(filename, str) else None,
                content_type=part_headers.get("content-type"),
                data=data,
            )
        )
        position = end + 2


def json_body(call: Call) -> Any:
    try:
        return json.loads(call.body or b"null")
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None


def _ray() -> str:
    return f"{secrets.token_hex(8)}-LCL"


@dataclass(frozen=True)
class _Reply:
    status: int  # 0 with reset=True: the connection is dropped without an answer
    headers: list[tuple[str, str]]
    body: bytes
    reset: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, extra: Mapping[str, str] | None = None) -> _Reply:
        headers = [("Content-Type", "application/json"), ("cf-ray", _ray()), *(extra or {}).items()]
        return cls(status, headers, json.dumps(payload).encode())


def _timeout_page() -> str:
    """What Cloudflare's edge answers when the origin takes longer than 100 s: not JSON."""
    return (
        "<!DOCTYPE html>\n<html><head><title>api.cloudflare.com | 524: A timeout occurred</title></head>"
        "<body><h1>A timeout occurred <span>Error code 524</span></h1>"
        "<p>The origin web server timed out responding to this request.</p></body></html>\n"
    )


class CloudflareApi(CloudflareState):
    """The state behind the v4 API's routes, with the request log (``requests``), the fault rules
    (``faults``, named by route) and the per-token rate limit (``rate_limit`` requests per
    ``rate_window`` seconds; None: unlimited)."""

    def __init__(
        self,
        routes: RouteTable[Handler],
        *,
        upload_jwt_ttl: float,
        completion_jwt_ttl: float,
        max_files: int,
        bucket_max_files: int,
        bucket_max_bytes: int,
        rate_limit: int | None,
        rate_window: float,
    ) -> None:
        super().__init__(
            upload_jwt_ttl=upload_jwt_ttl,
            completion_jwt_ttl=completion_jwt_ttl,
            max_files=max_files,
            bucket_max_files=bucket_max_files,
            bucket_max_bytes=bucket_max_bytes,
        )
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.faults = FaultInjector(routes=frozenset(routes.names) | {NO_ROUTE})
        self.requests: list[RequestLogEntry] = []
        self._routes = routes
        self._stopping = threading.Event()
        self._rate: dict[str, deque[float]] = {}

    def requests_for(self, route: str) -> list[RequestLogEntry]:
        with self._lock:
            return [entry for entry in self.requests if entry.route == route]

    def _forget(self) -> list[SiteServer]:
        with self._lock:
            sites = super()._forget()
            self._rate.clear()
            self.requests.clear()
            self.faults.clear()
            return sites

    # -- one request ----------------------------------------------------------------------------

    def _handle(self, handler: QuietHandler) -> None:
        arrived, started = time.time(), time.monotonic()
        split = urlsplit(handler.path)
        method = handler.command.upper()
        try:
            body = handler.read_body(MAX_REQUEST_BYTES, truncated_ok=True)
        except (BodyTooLarge, ValueError) as exc:
            handler.close_connection = True  # the rest of the body is still on the wire
            too_large = ApiError(413, CODE_BAD_REQUEST, f"request body too large or malformed ({exc})")
            self._log(
                method=method,
                path=split.path,
                route=NO_ROUTE,
                status=413,
                bytes_in=0,
                arrived=arrived,
                started=started,
                account_id=None,
            )
            self._send(handler, self._envelope(413, None, too_large))
            return
        route, params = self._routes.match(method, split.path)
        call = Call(
            method=method,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            route=route.name if route else NO_ROUTE,
            params=params,
            account_id=params.get("account_id"),
        )
        action = self.faults.on_request(call.route)
        if action is not None:
            call.fault = action.describe()
            if action.delay:
                self._stopping.wait(action.delay)
        if action is not None and action.interrupts and not action.after:
            reply = self._fault_reply(action)
        else:
            status, result, error = self._run(route.handler if route else None, call)
            reply = self._envelope(status, result, error)
            if action is not None and action.interrupts:  # after=True: it happened, the answer is lost
                reply = self._fault_reply(action)
        # Logged before answering, so that a client that has its answer also finds it in the log.
        self._log_call(call, reply.status, arrived, started)
        self._send(handler, reply)

    def _run(self, handler: Handler | None, call: Call) -> tuple[int, Any, ApiError | None]:
        try:
            if handler is None:
                raise ApiError(404, CODE_NO_ROUTE, "No route for the URI")
            status, result = handler(self, call)
            return status, result, None
        except ApiError as exc:
            return exc.status, None, exc
        except Exception as exc:  # an emulator bug must still answer like the platform would
            return 500, None, ApiError(500, CODE_UNKNOWN, f"An unknown error has occurred ({exc!r})")

    @staticmethod
    def _envelope(status: int, result: Any, error: ApiError | None) -> _Reply:
        if error is not None:
            payload: dict[str, Any] = {
                "success": False,
                "errors": [{"code": error.code, "message": error.message}],
                "messages": [],
                "result": None,
            }
            return _Reply.json(status, payload, error.headers)
        payload = {"success": True, "errors": [], "messages": [], "result": result}
        if isinstance(result, list):
            payload["result_info"] = {
                "page": 1,
                "per_page": max(len(result), 20),
                "count": len(result),
                "total_count": len(result),
                "total_pages": 1,
            }
        return _Reply.json(status, payload)

    @staticmethod
    def _send(handler: QuietHandler, reply: _Reply) -> None:
        if reply.reset:
            handler.reset_connection()
            return
        try:
            handler.send_all(reply.status, reply.headers, reply.body)
        except OSError:
            handler.close_connection = True

    def _fault_reply(self, action: FaultAction) -> _Reply:
        """The answer (or the reset, status 0) a fault stands for."""
        if action.reset:
            return _Reply(0, [], b"", reset=True)
        status = int(action.status or 500)
        extra: dict[str, str] = {}
        if action.retry_after is not None:
            extra["retry-after"] = str(max(0, math.ceil(action.retry_after)))
        if action.body is not None:
            return _Reply.json(status, action.body, extra)
        if status == 524:
            headers = [("Content-Type", "text/html; charset=UTF-8"), ("cf-ray", _ray()), *extra.items()]
            return _Reply(status, headers, _timeout_page().encode())
        if status == 429:
            error = ApiError(status, CODE_RATE_LIMITED, "Please wait and consider throttling your request speed")
        elif status in (401, 403):
            error = ApiError(status, CODE_AUTH, "Authentication error")
        elif status >= 500:
            error = ApiError(status, CODE_UNKNOWN, "An unknown error has occurred")
        else:
            error = ApiError(status, CODE_BAD_REQUEST, f"Injected fault {status}")
        error.headers = extra
        return self._envelope(status, None, error)

    def _log_call(self, call: Call, status: int, arrived: float, started: float) -> None:
        self._log(
            method=call.method,
            path=call.path,
            route=call.route,
            status=status,
            bytes_in=len(call.body),
            arrived=arrived,
            started=started,
            account_id=call.account_id,
            fault=call.fault,
            hashes=call.hashes,
        )

    def _log(
        self,
        *,
        method: str,
        path: str,
        route: str,
        status: int,
        bytes_in: int,
        arrived: float,
        started: float,
        account_id: str | None,
        fault: str | None = None,
        hashes: tuple[str, ...] = (),
    ) -> None:
        entry = RequestLogEntry(
            method=method,
            path=path,
            route=route,
            status=status,
            bytes_in=bytes_in,
            time=arrived,
            duration=time.monotonic() - started,
            account_id=account_id,
            fault=fault,
            hashes=hashes,
        )
        with self._lock:
            self.requests.append(entry)

    # -- authorization and rate limits ----------------------------------------------------------

    def _bearer(self, call: Call) -> str:
        scheme, _, value = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, CODE_AUTH, "Authentication error")
        return value.strip()

    def _authorize(self, call: Call, account_id: str | None) -> Token:
        value = self._bearer(call)
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.status != "active":
                raise ApiError(401, CODE_AUTH, "Authentication error")
            if account_id is not None and account_id not in token.account_ids:
                raise ApiError(403, CODE_AUTH, "Authentication error")
            self._count_rate(token.value)
        return token

    def _count_rate(self, token: str) -> None:
        if self.rate_limit is None:
            return
        moment = time.monotonic()
        window = self._rate.setdefault(token, deque())
        while window and window[0] <= moment - self.rate_window:
            window.popleft()
        if len(window) >= self.rate_limit:
            wait = max(1, math.ceil(window[0] + self.rate_window - moment))
            raise ApiError(
                429,
                CODE_RATE_LIMITED,
                "Please wait and consider throttling your request speed",
                {"retry-after": str(wait)},
            )
        window.append(moment)

    def _account_call(self, call: Call) -> tuple[Token, Account]:
        account_id = call.params["account_id"]
        token = self._authorize(call, account_id)
        with self._lock:
            account = self._accounts.get(account_id)
        if account is None:
            raise ApiError(403, CODE_AUTH, "Authentication error")
        return token, account

    def _script_call(self, call: Call) -> tuple[Token, Account, str]:
        token, account = self._account_call(call)
        name = call.params["name"]
        check_script_name(name)
        return token, account, name

    # -- the metadata part of a script PUT or a versions POST -------------------------------------

    def _metadata(self, call: Call) -> dict[str, Any]:
        parts = parse_multipart(call.body, call.headers.get("content-type", ""))
        metadata_parts = [part for part in parts if part.name == "metadata"]
        if len(metadata_parts) != 1:
            raise bad_request("expected exactly one multipart part named 'metadata'")
        try:
            metadata = json.loads(metadata_parts[0].data)
        except ValueError as exc:
            raise bad_request(f"the metadata part is not valid JSON: {exc}") from None
        if not isinstance(metadata, dict):
            raise bad_request("the metadata part must be a JSON object")
        if metadata.get("main_module") or metadata.get("body_part") or len(parts) > 1:
            raise bad_request("this emulator runs assets-only Workers: upload no script modules")
        return metadata
