"""The HTTP side of the Vercel REST API emulator: one request from the wire to its answer.

The path of a request (body, route table, fault injector, request log without the token, rate
windows) is the one all the emulators share, ``plumbing.HttpApi``; what is Vercel's own lives here:
its ``Call`` and log entry, JSON answers (errors as ``{"error": {"code", "message", ...}}``),
authentication (bearer tokens, ``?teamId=`` scoping), its 429s (with the body's ``limit`` and the
``X-RateLimit-*`` and ``Retry-After`` headers) and the rendering of injected faults; what the
platform holds, and its rules, are ``state``'s.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sitedeploy_local.emulators import plumbing
from sitedeploy_local.emulators.faults import FaultAction
from sitedeploy_local.emulators.plumbing import HttpApi, Reply, loggable_headers, parse_json, retry_after
from sitedeploy_local.emulators.routes import RouteTable
from sitedeploy_local.emulators.vercel.state import Account, Token, User, VercelError, VercelState, random_id


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
class Call(plumbing.Call):
    """One request as a route handler sees it: the account it acts in (set by ``_authorize``, logged)
    and the headers every answer to it carries (the rate limit's)."""

    account_id: str | None = None
    reply_headers: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


# A route handler: the call in, (HTTP status, the JSON body or None for no body) out; VercelError for an error.
Handler = Callable[["VercelApi", Call], tuple[int, Any]]


def json_body(call: Call) -> Any:
    return parse_json(call.body, lambda exc: VercelError(400, "bad_request", f"Invalid JSON body: {exc}"))


def _json(status: int, payload: Any, extra: Mapping[str, str] | None = None) -> Reply:
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("x-vercel-id", f"lcl1::{random_id('', 12).lower()}"),
        *(extra or {}).items(),
    ]
    if payload is None:
        return Reply(status, headers, b"")
    return Reply(status, headers, json.dumps(payload).encode())


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


class VercelApi(HttpApi[Call, RequestLogEntry, Handler], VercelState):
    """The state behind the REST API's routes, with the request log (``requests``), the fault
    rules (``faults``, named by route) and the per-token rate limit (``set_rate_limit``), through
    ``plumbing.HttpApi``."""

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
        self._setup_http(routes, Call, rate_limit=rate_limit, rate_window=rate_window)

    # -- the hooks of one request (plumbing.HttpApi) -----------------------------------------------

    def _body_limit(self) -> int:
        return self.max_file_bytes + 1024 * 1024

    def _refuse_body(self, exc: Exception) -> Reply:
        error = VercelError(413, "payload_too_large", f"The request body is too large or malformed ({exc})")
        return _json(413, error.body())

    def _run(self, handler: Handler | None, call: Call) -> Reply:
        try:
            if handler is None:
                raise VercelError(404, "not_found", "The requested API endpoint was not found.")
            status, payload = handler(self, call)
            return _json(status, payload, call.reply_headers)
        except VercelError as exc:
            return _json(exc.status, exc.body(), {**call.reply_headers, **exc.headers})
        except Exception as exc:  # an emulator bug must still answer like the platform would
            error = VercelError(500, "internal_server_error", f"An unexpected internal error occurred ({exc!r})")
            return _json(500, error.body())

    def _fault_reply(self, action: FaultAction) -> Reply:
        """An injected status as Vercel's ``{"error": ...}`` (a 429 as its rate limit's)."""
        status = int(action.status or 500)
        extra: dict[str, str] = {}
        if action.retry_after is not None:
            extra["Retry-After"] = retry_after(action.retry_after)
        if action.body is not None:
            return _json(status, action.body, extra)
        if status == 429:
            wait = max(1, math.ceil(action.retry_after if action.retry_after is not None else 60))
            return _json(status, *self._rate_limited(wait, self.rate_limit or 0))
        error = VercelError(status, _FAULT_CODES.get(status, "bad_request"), f"Injected fault {status}")
        return _json(status, error.body(), extra)

    def _log_entry(self, call: Call, query: str, status: int, arrived: float, duration: float) -> RequestLogEntry:
        return RequestLogEntry(
            method=call.method,
            path=call.path,
            query=query,
            route=call.route,
            status=status,
            headers=loggable_headers(call.headers),
            bytes_in=len(call.body),
            time=arrived,
            duration=duration,
            account_id=call.account_id,
            fault=call.fault,
        )

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
        wait = self._take_rate(token)
        if wait is not None:
            body, headers = self._rate_limited(max(1, math.ceil(wait)), self.rate_limit or 0)
            error = body["error"]
            raise VercelError(429, error["code"], error["message"], {"limit": error["limit"]}, headers)
        call.reply_headers.update(self._rate_headers_for(token))
