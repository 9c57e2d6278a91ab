"""Fault injection for the platform emulators.

Retries, backoff, ``retry-after`` handling and resumable uploads are the parts of a platform adapter
that a happy-path emulator never exercises, and the parts that fail in production. A test (or a chaos
benchmark) tells an emulator *which* route misbehaves and *how*: an error status, an abrupt TCP
reset, slowness, or a lost completion token. The injector only decides; the emulator that consults
it renders the platform's own error shape, so the same injector serves both emulators: Cloudflare's
(routes named as in its route table, checked when a rule is added) and Amplify's (operation names
and ``zip-upload``; its ``job_faults`` take the job steps ``DEPLOY`` and ``VERIFY``).

Two kinds of rule:

- *request* faults (``status``, ``reset``, ``delay``) are decided when a request arrives, before the
  emulator acts on it, unless ``after=True``: then the request takes effect and only its answer is
  replaced (the "lost response" case that makes a client retry something that already happened);
- *completion* faults (``lose_completion``) are decided only at the point where the emulator is about
  to hand out a completion token (Cloudflare's assets upload), so that they hit the request that
  completes a set and no other.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

ANY_ROUTE = "any"


@dataclass
class Fault:
    """One rule. ``times`` counts the requests still to affect (None: unlimited); ``rate`` is the
    probability that a matching request is affected (None: every matching request)."""

    route: str
    status: int | None = None
    retry_after: float | None = None
    reset: bool = False
    delay: float = 0.0
    lose_completion: bool = False
    times: int | None = 1
    rate: float | None = None
    body: dict[str, object] | None = None
    after: bool = False
    hits: int = 0

    def matches(self, route: str) -> bool:
        return self.route in (route, ANY_ROUTE)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def describe(self) -> str:
        if self.reset:
            kind = "reset"
        elif self.status is not None:
            kind = f"status {self.status}"
        elif self.lose_completion:
            kind = "lose-completion"
        else:
            kind = "delay"
        if self.delay and kind != "delay":
            kind += f" after {self.delay:g}s"
        return f"{kind} on {self.route}"


@dataclass(frozen=True)
class FaultAction:
    """What to do to one request: sleep ``delay`` seconds, then reset the connection or answer with
    ``status`` (and ``retry_after``, ``body``); a bare delay lets the request through afterwards."""

    fault: Fault
    route: str
    status: int | None
    retry_after: float | None
    reset: bool
    delay: float
    body: dict[str, object] | None
    after: bool

    @property
    def interrupts(self) -> bool:
        """True when the request does not get its normal answer."""
        return self.reset or self.status is not None

    def describe(self) -> str:
        return self.fault.describe()


@dataclass
class FaultInjector:
    """Thread-safe rules, consulted by an emulator on each request. ``routes``, when the emulator
    gives it, is the set of route names a rule may name: a misspelt route would otherwise never
    fire and a test of the retry it meant to provoke would pass for nothing."""

    routes: frozenset[str] | None = None
    _faults: list[Fault] = field(default_factory=list)
    # Chaos, not cryptography: a seeded generator makes a rate-based run reproducible.
    _random: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        route: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        reset: bool = False,
        delay: float = 0.0,
        lose_completion: bool = False,
        times: int | None = 1,
        rate: float | None = None,
        body: dict[str, object] | None = None,
        after: bool = False,
    ) -> Fault:
        """Register a rule and return it (its ``hits`` count the requests it affected)."""
        if self.routes is not None and route != ANY_ROUTE and route not in self.routes:
            raise ValueError(f"unknown route {route!r}; one of {sorted(self.routes)} or {ANY_ROUTE!r}")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"a fault status must be 4xx or 5xx, not {status}")
        if reset and status is not None:
            raise ValueError("a fault either resets the connection or answers with a status, not both")
        if lose_completion and (reset or status is not None or after):
            raise ValueError("lose_completion cannot be combined with reset, status or after")
        if not (reset or status is not None or lose_completion or delay > 0):
            raise ValueError("a fault needs status, reset, delay or lose_completion")
        if after and not (reset or status is not None):
            raise ValueError("after=True only makes sense with status or reset")
        if retry_after is not None and status is None:
            raise ValueError("retry_after needs a status")
        if delay < 0:
            raise ValueError("delay must be >= 0")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        if rate is not None and not 0.0 < rate <= 1.0:
            raise ValueError("rate must be in (0, 1]")
        fault = Fault(
            route=route,
            status=status,
            retry_after=retry_after,
            reset=reset,
            delay=delay,
            lose_completion=lose_completion,
            times=times,
            rate=rate,
            body=body,
            after=after,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def seed(self, n: int) -> None:
        """Make ``rate``-based rules reproducible."""
        with self._lock:
            self._random.seed(n)

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def on_request(self, route: str) -> FaultAction | None:
        """The request fault (if any) for one arriving request; counts it as a hit."""
        return self._take(route, completion=False)

    def on_completion(self, route: str) -> FaultAction | None:
        """Called when ``route`` is about to hand out a completion token: a matching
        ``lose_completion`` rule means the token must be withheld."""
        return self._take(route, completion=True)

    def _take(self, route: str, *, completion: bool) -> FaultAction | None:
        with self._lock:
            for fault in self._faults:
                if fault.lose_completion != completion or fault.exhausted or not fault.matches(route):
                    continue
                if fault.rate is not None and self._random.random() >= fault.rate:
                    continue
                fault.hits += 1
                return FaultAction(
                    fault=fault,
                    route=route,
                    status=fault.status,
                    retry_after=fault.retry_after,
                    reset=fault.reset,
                    delay=fault.delay,
                    body=fault.body,
                    after=fault.after,
                )
            return None
