"""The HTTP plumbing the Cloudflare, Netlify and Vercel API emulators share, so that a fix to how a
request travels (rate windows, fault timing, the log, dispatch) reaches all three at once:

- ``HttpApi``: one request from the wire to its answer: the body read with a limit, the route found
  in the platform's ``RouteTable``, the ``FaultInjector`` consulted (a delay, then a reset or a status
  either instead of the handler or, ``after=True``, once the handler has acted), the request logged
  before it is answered, and the per-token sliding-window rate limit;
- ``LoopbackEmulator``: the lifecycle: the API on a ``BackgroundServer``, ``port``, ``api_base``,
  ``start``/``stop`` (every site server stopped too), ``with``, ``reset``.

What differs between platforms stays with each platform's ``api`` module, as hooks: the shape of a
``Call`` and of a log entry, the error body, authentication, and the headers of its 429s.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

from sitedeploy_local.emulators.faults import FaultAction, FaultInjector
from sitedeploy_local.emulators.loopback import (
    BackgroundServer,
    BodyTooLarge,
    QuietHandler,
    SitePorts,
    SiteServer,
    handler_class,
)
from sitedeploy_local.emulators.routes import RouteTable
from sitedeploy_local.ports import HOST

NO_ROUTE = "no-route"  # the route name of a request no route takes (a fault rule may name it too)
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class Reply:
    """An API answer ready for the wire (``reset``: status 0, the connection is dropped instead)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reset: bool = False


RESET = Reply(0, [], b"", reset=True)


@dataclass
class Call:
    """One request as a route handler sees it (``params``: the path template's, decoded); each
    platform's subclass adds what its handlers note on it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    route: str
    params: dict[str, str]
    fault: str | None = None


def loggable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A request's headers as the log keeps them: never a token or a cookie."""
    return {k: v for k, v in headers.items() if k not in SECRET_HEADERS}


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, rounded up, never negative."""
    return str(max(0, math.ceil(seconds)))


def parse_json(body: bytes, invalid: Callable[[ValueError], Exception]) -> Any:
    """A JSON request body (an empty one is ``null``); ``invalid`` makes the platform's 400."""
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise invalid(exc) from None


class LogEntry(Protocol):
    """What the shared log needs of a platform's entry: the route it names."""

    @property
    def route(self) -> str: ...


C = TypeVar("C", bound=Call)
E = TypeVar("E", bound=LogEntry)
H = TypeVar("H")


def send(handler: QuietHandler, reply: Reply) -> None:
    """Put ``reply`` on the wire (or reset the connection); a client that went away is no error."""
    if reply.reset:
        handler.reset_connection()
        return
    try:
        handler.send_all(reply.status, reply.headers, reply.body)
    except OSError:
        handler.close_connection = True


V = TypeVar("V")


class Countdowns(Generic[V]):
    """Per-name values handed out a set number of times (an injected build failure for the next
    ``times`` deploys of a site): enough to cover a client's retries of one deploy. The caller
    holds its own lock."""

    def __init__(self) -> None:
        self._left: dict[str, tuple[V, int]] = {}

    def set(self, name: str, value: V, times: int = 1) -> None:
        self._left[name] = (value, times)

    def take(self, name: str) -> V | None:
        held = self._left.pop(name, None)
        if held is None:
            return None
        value, times = held
        if times > 1:
            self._left[name] = (value, times - 1)
        return value

    def clear(self) -> None:
        self._left.clear()


class PlatformState:
    """The part of a platform's state (``CloudflareState``, ``NetlifyState``, ``VercelState``) the
    shared plumbing relies on: the one re-entrant lock, and ``_forget``, which drops the platform's
    data and hands back the site servers to stop (outside the lock)."""

    _lock: threading.RLock

    def _forget(self) -> list[SiteServer]:
        raise NotImplementedError


class HttpApi(PlatformState, Generic[C, E, H]):
    """The request path shared by the platforms' API classes (a mixin beside the platform's state,
    whose ``_lock`` it takes), with the request log (``requests``), the fault rules (``faults``,
    named by route) and the per-token rate limit (``rate_limit`` requests per ``rate_window``
    seconds; None: unlimited; also ``set_rate_limit``).

    Listed before the platform's state among the bases, so that its ``_forget`` also forgets the
    traffic (rate windows, the log, fault rules). The platform supplies its ``Call`` subclass and the
    hooks: ``_run`` (the handler's result or error as its
    ``Reply``), ``_refuse_body`` (the 413 for a body too large or malformed), ``_fault_reply`` (an
    injected status in the platform's shape) and ``_log_entry``."""

    max_request_bytes: ClassVar[int] = 100 * 1024 * 1024  # a larger body is refused with a 413
    truncated_bodies: ClassVar[bool] = False  # act on a body the client cut short (Cloudflare's way)
    body_errors: ClassVar[tuple[type[Exception], ...]] = (BodyTooLarge, ValueError, ConnectionError)

    def _setup_http(
        self, routes: RouteTable[H], call_type: type[C], *, rate_limit: int | None, rate_window: float
    ) -> None:
        self._call_type = call_type
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.faults = FaultInjector(routes=frozenset(routes.names) | {NO_ROUTE})
        self.requests: list[E] = []
        self._routes = routes
        self._stopping = threading.Event()  # set on stop: an injected delay ends early
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

    def requests_for(self, route: str) -> list[E]:
        with self._lock:
            return [entry for entry in self.requests if entry.route == route]

    def _forget(self) -> list[SiteServer]:
        """The platform's ``_forget``, and the traffic: rate windows, the request log, fault rules."""
        with self._lock:
            servers = super()._forget()
            self._rate.clear()
            self.requests.clear()
            self.faults.clear()
            return servers

    # -- the platform's hooks -----------------------------------------------------------------------

    def _body_limit(self) -> int:
        return self.max_request_bytes

    def _refuse_body(self, exc: Exception) -> Reply:
        raise NotImplementedError

    def _run(self, handler: H | None, call: C) -> Reply:
        raise NotImplementedError

    def _fault_reply(self, action: FaultAction) -> Reply:
        raise NotImplementedError

    def _log_entry(self, call: C, query: str, status: int, arrived: float, duration: float) -> E:
        raise NotImplementedError

    # -- one request --------------------------------------------------------------------------------

    def _handle(self, handler: QuietHandler) -> None:
        arrived, started = time.time(), time.monotonic()
        split = urlsplit(handler.path)
        method = handler.command.upper()
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body = handler.read_body(self._body_limit(), truncated_ok=self.truncated_bodies)
        except self.body_errors as exc:
            handler.close_connection = True  # the rest of the body may still be on the wire
            call = self._call_type(method, split.path, {}, headers, b"", NO_ROUTE, {})
            reply = self._refuse_body(exc)
            self._log(call, split.query, reply.status, arrived, started)
            send(handler, reply)
            return
        route, params = self._routes.match(method, split.path)
        query = parse_qs(split.query, keep_blank_values=True)
        call = self._call_type(method, split.path, query, headers, body, route.name if route else NO_ROUTE, params)
        action = self.faults.on_request(call.route)
        if action is not None:
            call.fault = action.describe()
            if action.delay:
                self._stopping.wait(action.delay)
        if action is not None and action.interrupts and not action.after:
            reply = self._interruption(action)
        else:
            reply = self._run(route.handler if route else None, call)
            if action is not None and action.interrupts:  # after=True: it happened, the answer is lost
                reply = self._interruption(action)
        # Logged before answering, so that a client that has its answer also finds it in the log.
        self._log(call, split.query, reply.status, arrived, started)
        send(handler, reply)

    def _interruption(self, action: FaultAction) -> Reply:
        """The answer (or the reset, status 0) a fault stands for."""
        return RESET if action.reset else self._fault_reply(action)

    def _log(self, call: C, query: str, status: int, arrived: float, started: float) -> None:
        entry = self._log_entry(call, query, status, arrived, time.monotonic() - started)
        with self._lock:
            self.requests.append(entry)

    # -- the per-token rate limit ---------------------------------------------------------------------

    def _take_rate(self, token: str) -> float | None:
        """Count one request of ``token`` in its sliding window. None: let it through (or no limit);
        else the seconds until the oldest request in the window leaves it (the platform's 429)."""
        if self.rate_limit is None:
            return None
        moment = time.monotonic()
        window = self._rate.setdefault(token, deque())
        while window and window[0] <= moment - self.rate_window:
            window.popleft()
        if len(window) >= self.rate_limit:
            return window[0] + self.rate_window - moment
        window.append(moment)
        return None

    def _rate_headers_for(self, token: str) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers Netlify and Vercel put on an answer within the limit."""
        if self.rate_limit is None:
            return {}
        with self._lock:
            window = self._rate.get(token)
            if not window:
                return {}
            reset = time.time() + max(0.0, window[0] + self.rate_window - time.monotonic())
            return {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(0, self.rate_limit - len(window))),
                "X-RateLimit-Reset": str(math.ceil(reset)),
            }


class Lifecycle:
    """``with emulator:`` starts it and stops it, whatever the emulator's ``start`` and ``stop`` do."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopbackEmulator(Lifecycle):
    """The lifecycle of an emulator whose API is an ``HttpApi`` (listed after it among the bases)
    and whose sites are ``_site_ports``: the API on its own loopback port from construction on
    (``port`` is known before ``start``), every site server stopped with it, and ``reset``."""

    api_prefix: ClassVar[str] = ""  # what ``api_base`` ends in: the route table's prefix
    _stopping: threading.Event
    _site_ports: SitePorts[Any, Any]

    def _listen(self, port: int, *, server_version: str, name: str) -> None:
        self._server = BackgroundServer(handler_class(server_version, self._handle), port=port, name=name)

    def _handle(self, handler: QuietHandler) -> None:
        raise NotImplementedError

    def _forget(self) -> list[SiteServer]:
        raise NotImplementedError

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def api_base(self) -> str:
        return f"http://{HOST}:{self.port}{self.api_prefix}"

    def start(self) -> None:
        self._stopping.clear()
        self._site_ports.closed = False
        self._server.start()

    def stop(self) -> None:
        """Stop the API and every site server; until started again, no state change opens a port."""
        self._stopping.set()
        for server in self._site_ports.withdraw_all(close=True):
            server.stop()
        stop_hosts = getattr(self, "_stop_hosts", None)
        if stop_hosts is not None:  # the custom hostnames' port (emulators/hosts.py)
            stop_hosts()
        self._server.stop()

    def reset(self) -> None:
        """Forget what the platform's ``_forget`` forgets, and stop the servers of the sites that go."""
        for server in self._forget():
            server.stop()
