"""The HTTP side of the Netlify API v1 emulator: one request from the wire to its answer.

The path of a request (body, route table, fault injector, request log without the
``Authorization`` header, rate windows) is the one all the emulators share, ``plumbing.HttpApi``;
what is Netlify's own lives here: its ``Call`` and log entry, JSON answers (every error as
``{"code": status, "message": ...}``), authentication (personal access tokens), its 429s (with
``X-RateLimit-*`` and ``Retry-After``) and the rendering of injected faults; what the platform holds,
and its rules, are ``state``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from sitedeploy_local.emulators import plumbing
from sitedeploy_local.emulators.faults import FaultAction
from sitedeploy_local.emulators.netlify.domains import NetlifyDomains
from sitedeploy_local.emulators.netlify.state import ApiError, Token, rate_limited
from sitedeploy_local.emulators.plumbing import HttpApi, Reply, loggable_headers, parse_json, retry_after
from sitedeploy_local.emulators.routes import RouteTable

API_PREFIX = "/api/v1"
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the largest file upload the emulator takes


@dataclass(frozen=True)
class RequestLogEntry:
    """One API request as the emulator saw it (``status`` 0: the connection was reset). ``headers``
    are the request's, names lowercased, without ``Authorization`` (tokens are never logged)."""

    method: str
    path: str
    route: str
    status: int
    bytes_in: int
    time: float
    query: str = ""
    duration: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    site_id: str | None = None
    deploy_id: str | None = None
    fault: str | None = None


@dataclass
class Call(plumbing.Call):
    """One request as a route handler sees it."""

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


# A route handler: the call in, (HTTP status, the JSON answer; None: no body) out; ApiError for an error.
Handler = Callable[["NetlifyApi", Call], tuple[int, Any]]


def json_body(call: Call, *, default: Any = None) -> Any:
    if not call.body.strip():
        return default
    return parse_json(call.body, lambda exc: ApiError(400, f"the request body is not valid JSON: {exc}"))


def _json(status: int, payload: Any, extra: dict[str, str] | None = None) -> Reply:
    if payload is None and status == 204:
        return Reply(status, list((extra or {}).items()), b"")
    headers = [("Content-Type", "application/json; charset=utf-8"), *(extra or {}).items()]
    return Reply(status, headers, json.dumps(payload).encode())


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class NetlifyApi(HttpApi[Call, RequestLogEntry, Handler], NetlifyDomains):
    """The state behind the API's routes (the sites' custom domains over the rest), with the request
    log (``requests``), the fault rules (``faults``, named by route) and the per-token rate limit
    (``set_rate_limit``), through ``plumbing.HttpApi``."""

    max_request_bytes = MAX_REQUEST_BYTES

    def __init__(
        self,
        routes: RouteTable[Handler],
        *,
        prepare_seconds: float,
        process_seconds: float,
        deploys_per_minute: int | None,
        rate_limit: int | None,
        rate_window: float,
    ) -> None:
        super().__init__(
            prepare_seconds=prepare_seconds, process_seconds=process_seconds, deploys_per_minute=deploys_per_minute
        )
        self._setup_http(routes, Call, rate_limit=rate_limit, rate_window=rate_window)

    # -- the hooks of one request (plumbing.HttpApi) -----------------------------------------------

    def _refuse_body(self, exc: Exception) -> Reply:
        return _json(413, ApiError(413, f"request body too large or malformed ({exc})").payload())

    def _run(self, handler: Handler | None, call: Call) -> Reply:
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            self._advance_all()
            status, result = handler(self, call)
            return _json(status, result, self._rate_headers(call))
        except ApiError as exc:
            return _json(exc.status, exc.payload(), exc.headers)
        except Exception as exc:  # an emulator bug must still answer like the platform would
            return _json(500, {"code": 500, "message": f"Internal Server Error ({exc!r})"})

    def _fault_reply(self, action: FaultAction) -> Reply:
        """An injected status as Netlify's ``{"code", "message"}`` (a 429 with its rate limit headers)."""
        status = int(action.status or 500)
        extra: dict[str, str] = {}
        if status == 429:
            wait = action.retry_after if action.retry_after is not None else 1.0
            extra = rate_limited(self.rate_limit or 500, wait, "").headers
            extra["Retry-After"] = retry_after(wait)
        elif action.retry_after is not None:
            extra["Retry-After"] = retry_after(action.retry_after)
        if action.body is not None:
            return _json(status, action.body, extra)
        message = "API rate limit exceeded" if status == 429 else _phrase(status)
        return _json(status, {"code": status, "message": message}, extra)

    def _log_entry(self, call: Call, query: str, status: int, arrived: float, duration: float) -> RequestLogEntry:
        return RequestLogEntry(
            method=call.method,
            path=call.path,
            route=call.route,
            status=status,
            bytes_in=len(call.body),
            time=arrived,
            query=query,
            duration=duration,
            headers=loggable_headers(call.headers),
            site_id=call.params.get("site_id"),
            deploy_id=call.params.get("deploy_id"),
            fault=call.fault,
        )

    # -- authorization and rate limits ----------------------------------------------------------

    def _authorize(self, call: Call) -> Token:
        scheme, _, value = call.headers.get("authorization", "").partition(" ")
        with self._lock:
            token = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                raise ApiError(401, "Access Denied: your access token is missing, invalid or revoked")
            self._count_rate(token.value)
        return token

    def _count_rate(self, token: str) -> None:
        wait = self._take_rate(token)
        if wait is not None:
            raise rate_limited(self.rate_limit or 0, wait, "API rate limit exceeded, please wait and try again")

    def _rate_headers(self, call: Call) -> dict[str, str]:
        """The platform's ``X-RateLimit-*`` headers on a successful answer when a limit is set."""
        return self._rate_headers_for(call.headers.get("authorization", "").partition(" ")[2].strip())
