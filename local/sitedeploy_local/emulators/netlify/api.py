"""The HTTP side of the Netlify API v1 emulator: one request from the wire to its answer.

``NetlifyApi._handle`` reads the body, finds the route in the table (``routes.ROUTES``), consults
the fault injector, runs the handler and renders its result as JSON (every error as
``{"code": status, "message": ...}``), logging every request before answering it, without its
``Authorization`` header. Authentication (personal access tokens), the per-token rate limit and the
rendering of injected faults (429 with ``X-RateLimit-*`` and ``Retry-After``, 5xx, resets) live
here too; what the platform holds, and its rules, are ``state``'s.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sitedeploy_local.emulators.faults import FaultAction, FaultInjector
from sitedeploy_local.emulators.loopback import BodyTooLarge, QuietHandler, SiteServer
from sitedeploy_local.emulators.netlify.state import ApiError, NetlifyState, Token, rate_limited
from sitedeploy_local.emulators.routes import RouteTable

API_PREFIX = "/api/v1"
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the largest file upload the emulator takes
NO_ROUTE = "no-route"
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


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
class Call:
    """One request as a route handler sees it (``params``: the path template's, decoded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    route: str
    params: dict[str, str]
    fault: str | None = None

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


# A route handler: the call in, (HTTP status, the JSON answer; None: no body) out; ApiError for an error.
Handler = Callable[["NetlifyApi", Call], tuple[int, Any]]


def json_body(call: Call, *, default: Any = None) -> Any:
    if not call.body.strip():
        return default
    try:
        return json.loads(call.body)
    except ValueError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class _Reply:
    status: int  # 0 with reset=True: the connection is dropped without an answer
    headers: list[tuple[str, str]]
    body: bytes
    reset: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, extra: dict[str, str] | None = None) -> _Reply:
        if payload is None and status == 204:
            return cls(status, list((extra or {}).items()), b"")
        headers = [("Content-Type", "application/json; charset=utf-8"), *(extra or {}).items()]
        return cls(status, headers, json.dumps(payload).encode())


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class NetlifyApi(NetlifyState):
    """The state behind the API's routes, with the request log (``requests``), the fault rules
    (``faults``, named by route) and the per-token rate limit (``set_rate_limit``)."""

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
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.faults = FaultInjector(routes=frozenset(routes.names) | {NO_ROUTE})
        self.requests: list[RequestLogEntry] = []
        self._routes = routes
        self._stopping = threading.Event()
        self._rate: dict[str, deque[float]] = {}

    def set_rate_limit(self, limit: int | None, window: float = 60.0) -> None:
        """At most ``limit`` requests per token per ``window`` seconds (None: unlimited); 429
        past it."""
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValueError(f"a rate limit is a positive integer or None, not {limit!r}")
        if window <= 0:
            raise ValueError("the rate window must be positive")
        with self._lock:
            self.rate_limit, self.rate_window = limit, window
            self._rate.clear()

    def requests_for(self, route: str) -> list[RequestLogEntry]:
        with self._lock:
            return [entry for entry in self.requests if entry.route == route]

    def _forget(self) -> list[SiteServer]:
        with self._lock:
            servers = super()._forget()
            self._rate.clear()
            self.requests.clear()
            self.faults.clear()
            return servers

    # -- one request ----------------------------------------------------------------------------

    def _handle(self, handler: QuietHandler) -> None:
        arrived, started = time.time(), time.monotonic()
        split = urlsplit(handler.path)
        method = handler.command.upper()
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body = handler.read_body(MAX_REQUEST_BYTES)
        except (BodyTooLarge, ValueError, ConnectionError) as exc:
            handler.close_connection = True  # the rest of the body may still be on the wire
            error = ApiError(413, f"request body too large or malformed ({exc})")
            call = Call(method, split.path, {}, headers, b"", NO_ROUTE, {})
            reply = _Reply.json(413, error.payload())
            self._log(call, split.query, reply.status, arrived, started)
            self._send(handler, reply)
            return
        route, params = self._routes.match(method, split.path)
        call = Call(
            method=method,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            route=route.name if route else NO_ROUTE,
            params=params,
        )
        action = self.faults.on_request(call.route)
        if action is not None:
            call.fault = action.describe()
            if action.delay:
                self._stopping.wait(action.delay)
        if action is not None and action.interrupts and not action.after:
            reply = self._fault_reply(action)
        else:
            reply = self._run(route.handler if route else None, call)
            if action is not None and action.interrupts:  # after=True: it happened, the answer is lost
                reply = self._fault_reply(action)
        # Logged before answering, so that a client that has its answer also finds it in the log.
        self._log(call, split.query, reply.status, arrived, started)
        self._send(handler, reply)

    def _run(self, handler: Handler | None, call: Call) -> _Reply:
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            self._advance_all()
            status, result = handler(self, call)
            return _Reply.json(status, result, self._rate_headers(call))
        except ApiError as exc:
            return _Reply.json(exc.status, exc.payload(), exc.headers)
        except Exception as exc:  # an emulator bug must still answer like the platform would
            return _Reply.json(500, {"code": 500, "message": f"Internal Server Error ({exc!r})"})

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
        if status == 429:
            wait = action.retry_after if action.retry_after is not None else 1.0
            extra = rate_limited(self.rate_limit or 500, wait, "").headers
            extra["Retry-After"] = str(max(0, math.ceil(wait)))
        elif action.retry_after is not None:
            extra["Retry-After"] = str(max(0, math.ceil(action.retry_after)))
        if action.body is not None:
            return _Reply.json(status, action.body, extra)
        message = "API rate limit exceeded" if status == 429 else _phrase(status)
        return _Reply.json(status, {"code": status, "message": message}, extra)

    def _log(self, call: Call, query: str, status: int, arrived: float, started: float) -> None:
        entry = RequestLogEntry(
            method=call.method,
            path=call.path,
            route=call.route,
            status=status,
            bytes_in=len(call.body),
            time=arrived,
            query=query,
            duration=time.monotonic() - started,
            headers={k: v for k, v in call.headers.items() if k not in SECRET_HEADERS},
            site_id=call.params.get("site_id"),
            deploy_id=call.params.get("deploy_id"),
            fault=call.fault,
        )
        with self._lock:
            self.requests.append(entry)

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
        if self.rate_limit is None:
            return
        moment = time.monotonic()
        window = self._rate.setdefault(token, deque())
        while window and window[0] <= moment - self.rate_window:
            window.popleft()
        if len(window) >= self.rate_limit:
            wait = window[0] + self.rate_window - moment
            raise rate_limited(self.rate_limit, wait, "API rate limit exceeded, please wait and try again")
        window.append(moment)

    def _rate_headers(self, call: Call) -> dict[str, str]:
        """The platform's ``X-RateLimit-*`` headers on a successful answer when a limit is set."""
        if self.rate_limit is None:
            return {}
        value = call.headers.get("authorization", "").partition(" ")[2]
        with self._lock:
            window = self._rate.get(value.strip())
            if not window:
                return {}
            reset = time.time() + max(0.0, window[0] + self.rate_window - time.monotonic())
            return {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(0, self.rate_limit - len(window))),
                "X-RateLimit-Reset": str(math.ceil(reset)),
            }
