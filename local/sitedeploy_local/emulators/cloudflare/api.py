"""The HTTP side of the Cloudflare v4 API emulator: one request from the wire to its answer.

The path of a request (body, route table, fault injector, request log, rate windows) is the one all
the emulators share, ``plumbing.HttpApi``; what is Cloudflare's own lives here: its ``Call`` and log
entry, the envelope every answer comes in (``{"success", "errors", "messages", "result"}``, with
``result_info`` for lists), authentication (API tokens, per account), its 429 (with
``retry-after``) and the rendering of injected faults (5xx, Cloudflare's HTML 524 page); what the
platform holds, and its rules, are ``state``'s.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote

from sitedeploy_local.emulators import plumbing
from sitedeploy_local.emulators.cloudflare.errors import ApiError
from sitedeploy_local.emulators.cloudflare.state import (
    CODE_AUTH,
    CODE_BAD_REQUEST,
    CODE_NO_ROUTE,
    CODE_RATE_LIMITED,
    CODE_UNKNOWN,
    Account,
    CloudflareState,
    Token,
    bad_request,
    check_script_name,
)
from sitedeploy_local.emulators.faults import FaultAction
from sitedeploy_local.emulators.loopback import BodyTooLarge
from sitedeploy_local.emulators.plumbing import HttpApi, Reply, parse_json, retry_after
from sitedeploy_local.emulators.routes import RouteTable

API_PREFIX = "/client/v4"
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # Cloudflare's request body limit (Free / Pro)


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
class Call(plumbing.Call):
    """One request as a route handler sees it: for an assets upload, the hashes it carried (logged,
    as is the account of its path)."""

    hashes: tuple[str, ...] = ()

    @property
    def account_id(self) -> str | None:
        return self.params.get("account_id")


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
    return parse_json(call.body, lambda exc: bad_request(f"the request body is not valid JSON: {exc}"))


def _ray() -> str:
    return f"{secrets.token_hex(8)}-LCL"


def _json(status: int, payload: Any, extra: Mapping[str, str] | None = None) -> Reply:
    headers = [("Content-Type", "application/json"), ("cf-ray", _ray()), *(extra or {}).items()]
    return Reply(status, headers, json.dumps(payload).encode())


def _timeout_page() -> str:
    """What Cloudflare's edge answers when the origin takes longer than 100 s: not JSON."""
    return (
        "<!DOCTYPE html>\n<html><head><title>api.cloudflare.com | 524: A timeout occurred</title></head>"
        "<body><h1>A timeout occurred <span>Error code 524</span></h1>"
        "<p>The origin web server timed out responding to this request.</p></body></html>\n"
    )


class CloudflareApi(HttpApi[Call, RequestLogEntry, Handler], CloudflareState):
    """The state behind the v4 API's routes, with the request log (``requests``), the fault rules
    (``faults``, named by route) and the per-token rate limit (``rate_limit`` requests per
    ``rate_window`` seconds; None: unlimited), through ``plumbing.HttpApi``."""

    max_request_bytes = MAX_REQUEST_BYTES
    truncated_bodies = True  # a body cut short is acted on as it arrived, as the emulator always has
    body_errors = (BodyTooLarge, ValueError)

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
        self._setup_http(routes, Call, rate_limit=rate_limit, rate_window=rate_window)

    # -- the hooks of one request (plumbing.HttpApi) -----------------------------------------------

    def _refuse_body(self, exc: Exception) -> Reply:
        too_large = ApiError(413, CODE_BAD_REQUEST, f"request body too large or malformed ({exc})")
        return self._envelope(413, None, too_large)

    def _run(self, handler: Handler | None, call: Call) -> Reply:
        try:
            if handler is None:
                raise ApiError(404, CODE_NO_ROUTE, "No route for the URI")
            status, result = handler(self, call)
            return self._envelope(status, result, None)
        except ApiError as exc:
            return self._envelope(exc.status, None, exc)
        except Exception as exc:  # an emulator bug must still answer like the platform would
            return self._envelope(500, None, ApiError(500, CODE_UNKNOWN, f"An unknown error has occurred ({exc!r})"))

    @staticmethod
    def _envelope(status: int, result: Any, error: ApiError | None) -> Reply:
        if error is not None:
            payload: dict[str, Any] = {
                "success": False,
                "errors": [{"code": error.code, "message": error.message}],
                "messages": [],
                "result": None,
            }
            return _json(status, payload, error.headers)
        payload = {"success": True, "errors": [], "messages": [], "result": result}
        if isinstance(result, list):
            payload["result_info"] = {
                "page": 1,
                "per_page": max(len(result), 20),
                "count": len(result),
                "total_count": len(result),
                "total_pages": 1,
            }
        return _json(status, payload)

    def _fault_reply(self, action: FaultAction) -> Reply:
        """An injected status in Cloudflare's envelope (524: its edge's HTML timeout page)."""
        status = int(action.status or 500)
        extra: dict[str, str] = {}
        if action.retry_after is not None:
            extra["retry-after"] = retry_after(action.retry_after)
        if action.body is not None:
            return _json(status, action.body, extra)
        if status == 524:
            headers = [("Content-Type", "text/html; charset=UTF-8"), ("cf-ray", _ray()), *extra.items()]
            return Reply(status, headers, _timeout_page().encode())
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

    def _log_entry(self, call: Call, query: str, status: int, arrived: float, duration: float) -> RequestLogEntry:
        return RequestLogEntry(
            method=call.method,
            path=call.path,
            route=call.route,
            status=status,
            bytes_in=len(call.body),
            time=arrived,
            duration=duration,
            account_id=call.account_id,
            fault=call.fault,
            hashes=call.hashes,
        )

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
        wait = self._take_rate(token)
        if wait is not None:
            raise ApiError(
                429,
                CODE_RATE_LIMITED,
                "Please wait and consider throttling your request speed",
                {"retry-after": str(max(1, math.ceil(wait)))},
            )

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
        dispatcher = any(
            isinstance(b, dict) and b.get("type") == "dispatch_namespace" for b in metadata.get("bindings") or []
        )
        if (metadata.get("main_module") or metadata.get("body_part") or len(parts) > 1) and not dispatcher:
            raise bad_request(
                "this emulator runs assets-only Workers (and dispatch Workers, natively): upload no script modules"
            )
        return metadata
