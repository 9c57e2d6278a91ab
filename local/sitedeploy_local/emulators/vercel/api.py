"""The HTTP side of the Vercel REST API emulator: one request from the wire to its answer.

``VercelApi._handle`` reads the body, finds the route in the table (``routes.ROUTES``), consults the
fault injector, runs the handler and renders its result as JSON (errors as
``{"error": {"code", "message", ...}}``), logging every request (without its token) before answering
it. Authentication (bearer tokens, ``?teamId=`` scoping), the per-token rate limit (429 with the
body's ``limit`` and the ``X-RateLimit-*`` and ``Retry-After`` headers) and the rendering of injected
faults live here; what the platform holds, and its rules, are ``state``'s.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sitedeploy_local.emulators.faults import FaultAction, FaultInjector
from sitedeploy_local.emulators.loopback import BodyTooLarge, QuietHandler, SiteServer
from sitedeploy_local.emulators.routes import RouteTable
from sitedeploy_local.emulators.vercel.state import Account, Token, User, VercelError, VercelState, random_id

NO_ROUTE = "no-route"
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class RequestLogEntry:
    """One API request as the emulator saw it (``status`` 0: the connection was reset). ``headers``
    are the request's, names lowercased, without Authorization."""

    method: str
    path: str
    query: str
    route: str
    status: int
    headers: Mapping[str, str]
    bytes_in: int
    time: float
    duration: float = 0.0
    account_id: str | None = None
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
    account_id: str | None = None
    fault: str | None = None
    reply_headers: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


# A route handler: the call in, (HTTP status, the JSON body or None for no body) out; VercelError for an error.
Handler = Callable[["VercelApi", Call], tuple[int, Any]]


def json_body(call: Call) -> Any:
    try:
        return json.loads(call.body or b"null")
    except ValueError as exc:
        raise VercelError(400, "bad_request", f"Invalid JSON body: {exc}") from None


@dataclass(frozen=True)
class _Reply:
    status: int  # 0 with reset=True: the connection is dropped without an answer
    headers: list[tuple[str, str]]
    body: bytes
    reset: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, extra: Mapping[str, str] | None = None) -> _Reply:
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("x-vercel-id", f"lcl1::{random_id('', 12).lower()}"),
            *(extra or {}).items(),
        ]
        if payload is None:
            return cls(status, headers, b"")
        return cls(status, headers, json.dumps(payload).encode())


_FAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class VercelApi(VercelState):
    """The state behind the REST API's routes, with the request log (``requests``), the fault
    rules (``faults``, named by route) and the per-token rate limit (``set_rate_limit``)."""

    def __init__(
        self,
        routes: RouteTable[Handler],
        *,
        step_seconds: float,
        max_files: int,
        max_file_bytes: int,
        rate_limit: int | None,
        rate_window: float,
    ) -> None:
        super().__init__(step_seconds=step_seconds, max_files=max_files, max_file_bytes=max_file_bytes)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.faults = FaultInjector(routes=frozenset(routes.names) | {NO_ROUTE})
        self.requests: list[RequestLogEntry] = []
        self._routes = routes
        self._stopping = threading.Event()
        self._rate: dict[str, deque[float]] = {}

    def set_rate_limit(self, limit: int | None, window: float = 60.0) -> None:
        """At most ``limit`` requests per token in any ``window`` seconds (None: unlimited); past
        it, 429 until the oldest request leaves the window."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
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
            sites = super()._forget()
            self._rate.clear()
            self.requests.clear()
            self.faults.clear()
            return sites

    # -- one request -----------------------------------------------------------------------------

    def _handle(self, handler: QuietHandler) -> None:
        arrived, started = time.time(), time.monotonic()
        split = urlsplit(handler.path)
        method = handler.command.upper()
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body = handler.read_body(self.max_file_bytes + 1024 * 1024)
        except (BodyTooLarge, ValueError, ConnectionError) as exc:
            handler.close_connection = True  # the rest of the body is still on the wire
            error = VercelError(413, "payload_too_large", f"The request body is too large or malformed ({exc})")
            call = Call(method, split.path, {}, headers, b"", NO_ROUTE, {})
            reply = _Reply.json(413, error.body())
            self._log_call(call, split.query, 413, arrived, started)
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
        self._log_call(call, split.query, reply.status, arrived, started)
        self._send(handler, reply)

    def _run(self, handler: Handler | None, call: Call) -> _Reply:
        try:
            if handler is None:
                raise VercelError(404, "not_found", "The requested API endpoint was not found.")
            status, payload = handler(self, call)
            return _Reply.json(status, payload, call.reply_headers)
        except VercelError as exc:
            return _Reply.json(exc.status, exc.body(), {**call.reply_headers, **exc.headers})
        except Exception as exc:  # an emulator bug must still answer like the platform would
            error = VercelError(500, "internal_server_error", f"An unexpected internal error occurred ({exc!r})")
            return _Reply.json(500, error.body())

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
            extra["Retry-After"] = str(max(0, math.ceil(action.retry_after)))
        if action.body is not None:
            return _Reply.json(status, action.body, extra)
        if status == 429:
            wait = max(1, math.ceil(action.retry_after if action.retry_after is not None else 60))
            return _Reply.json(status, *self._rate_limited(wait, self.rate_limit or 0))
        error = VercelError(status, _FAULT_CODES.get(status, "bad_request"), f"Injected fault {status}")
        return _Reply.json(status, error.body(), extra)

    @staticmethod
    def _rate_limited(wait: int, total: int) -> tuple[dict[str, Any], dict[str, str]]:
        reset = math.ceil(time.time()) + wait
        body = {
            "error": {
                "code": "rate_limited",
                "message": f"Rate limit exceeded. Please retry in {wait} seconds.",
                "limit": {"remaining": 0, "reset": reset, "resetMs": reset * 1000, "total": total},
            }
        }
        headers = {
            "X-RateLimit-Limit": str(total),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
            "Retry-After": str(wait),
        }
        return body, headers

    def _log_call(self, call: Call, query: str, status: int, arrived: float, started: float) -> None:
        entry = RequestLogEntry(
            method=call.method,
            path=call.path,
            query=query,
            route=call.route,
            status=status,
            headers={k: v for k, v in call.headers.items() if k not in SECRET_HEADERS},
            bytes_in=len(call.body),
            time=arrived,
            duration=time.monotonic() - started,
            account_id=call.account_id,
            fault=call.fault,
        )
        with self._lock:
            self.requests.append(entry)

    # -- authorization and rate limits ----------------------------------------------------------

    def _authorize(self, call: Call) -> tuple[Token, User, Account]:
        """The caller's token, user and the account the call acts in (``?teamId=`` or ``?slug=``
        a team; neither: the user's personal account)."""
        scheme, _, value = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise VercelError(
                403, "forbidden", "The request is missing an authentication token", {"missingToken": True}
            )
        with self._lock:
            token = self._tokens.get(value.strip())
            if token is None:
                raise VercelError(403, "forbidden", "Not authorized", {"invalidToken": True})
            self._count_rate(call, token.value)
            user = self._users[token.user_id]
            team_id, slug = call.arg("teamId"), call.arg("slug")
            if team_id:
                account = self._accounts.get(team_id) if team_id in token.team_ids else None
            elif slug:
                account = next(
                    (
                        self._accounts[t]
                        for t in token.team_ids
                        if t in self._accounts and self._accounts[t].slug == slug
                    ),
                    None,
                )
            else:
                account = self._accounts[user.id]
            if account is None:
                raise VercelError(403, "forbidden", "Not authorized")
            call.account_id = account.id
            self._settle()
            return token, user, account

    def _count_rate(self, call: Call, token: str) -> None:
        if self.rate_limit is None:
            return
        moment = time.monotonic()
        window = self._rate.setdefault(token, deque())
        while window and window[0] <= moment - self.rate_window:
            window.popleft()
        if len(window) >= self.rate_limit:
            wait = max(1, math.ceil(window[0] + self.rate_window - moment))
            body, headers = self._rate_limited(wait, self.rate_limit)
            error = body["error"]
            raise VercelError(429, error["code"], error["message"], {"limit": error["limit"]}, headers)
        window.append(moment)
        reset = math.ceil(time.time() + (window[0] + self.rate_window - moment))
        call.reply_headers.update(
            {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(self.rate_limit - len(window)),
                "X-RateLimit-Reset": str(reset),
            }
        )
