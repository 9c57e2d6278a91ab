"""Races and crashes at a chosen step of a flow, over the in-memory fakes.

A flow talks to its stores and platforms one call at a time; between two calls, anything else may
happen (another request, the reaper, a sweeper run), and a Lambda may die. ``Steps`` counts the
outermost calls a flow makes to the fakes and, at the k-th, runs something else first (``before``)
or stops the flow there (``crash``): the calls made so far are written, the rest never happen. A
store's own internal calls (one fake store calling another inside one transaction) are not steps:
a transaction is never split.

``Parked`` runs a flow in a thread of its own and stops it before one of its calls until something
resumes it, later, from a step of its own or from inside another flow: a Lambda that stalls at
that moment while any number of other things happen, which a nested step (run to its end inside
one other) cannot reach. One thread runs at a time, so a run is as repeatable as a single thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sitedeploy.services import Services


class Crash(BaseException):
    """The function's execution environment died here (nothing in the flow catches it)."""


class Steps:
    def __init__(self, services: Services, *extra: object) -> None:
        self.count = 0
        self._local = threading.local()
        self._at: int | None = None
        self._action: Callable[[], object] | None = None
        self._crash = False
        self._name: str | None = None
        self.fired = False
        self.parked: dict[int, Parked] = {}  # thread ident → the parked flow running on it
        stores = services.stores
        targets = [stores.deployments, stores.sites, stores.tenancy, stores.staging, *extra]
        for target in targets:
            self._wrap(target)

    def _wrap(self, target: object) -> None:
        for name in dir(target):
            if name.startswith("_"):
                continue
            attribute = getattr(target, name)
            if not callable(attribute) or isinstance(attribute, type):
                continue
            setattr(target, name, self._step(attribute))

    def _step(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def stepped(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._local, "depth", 0)
            parked = self.parked.get(threading.get_ident()) if depth == 0 else None
            if parked is not None:
                parked.step(getattr(call, "__name__", "a call"))
            elif depth == 0:
                self.count += 1
                due = self._at is not None and self.count == self._at
                if self._name is not None and getattr(call, "__name__", None) == self._name:
                    due = True
                if due and not self.fired:
                    self.fired = True
                    if self._crash:
                        raise Crash(f"died before step {self.count} ({getattr(call, '__name__', call)})")
                    action = self._action
                    assert action is not None
                    self._local.depth = 0
                    action()
            self._local.depth = depth + 1
            try:
                return call(*args, **kwargs)
            finally:
                self._local.depth = depth

        return stepped

    def before(self, step: int, action: Callable[[], object]) -> Steps:
        """At the ``step``-th call from now, run ``action`` first (once)."""
        self._arm(step)
        self._action, self._crash = action, False
        return self

    def before_call(self, name: str, action: Callable[[], object]) -> Steps:
        """At the next call of a method named ``name``, run ``action`` first (once)."""
        self.clear()
        self._name, self._action = name, action
        return self

    def crash_at_call(self, name: str) -> Steps:
        """Stop the flow at the next call of a method named ``name``: it is never made."""
        self.clear()
        self._name, self._crash = name, True
        return self

    def crash(self, step: int) -> Steps:
        """Stop the flow at the ``step``-th call from now: it is never made."""
        self._arm(step)
        self._action, self._crash = None, True
        return self

    def clear(self) -> None:
        self._at, self._action, self._crash, self.fired, self._name = None, None, False, False, None

    def _arm(self, step: int) -> None:
        self.clear()
        self._at = self.count + step

    def run(self, flow: Callable[[], Any]) -> Any:
        """Run ``flow``; a Crash ends it (None), as a dead function would."""
        try:
            return flow()
        except Crash:
            return None
        finally:
            self.clear()

    def measure(self, flow: Callable[[], Any]) -> int:
        """How many steps ``flow`` takes (run it, and count)."""
        start = self.count
        flow()
        return self.count - start


class Parked:
    """A flow in a thread of its own that stops before its ``at``-th call to the fakes (or, ``at``
    a name, before its next call of that name) until resumed. Whoever starts or resumes it waits
    until it stops again or ends, so only one thread ever runs. Refusals (``outcomes``) end it
    quietly; anything else it raises (a broken invariant the platform's guard caught) is raised
    again by the ``resume`` that ran into it."""

    WAIT_SECONDS = 30.0  # a flow that neither stops nor ends by then is stuck: fail, never hang

    def __init__(
        self,
        steps: Steps,
        name: str,
        flow: Callable[[], Any],
        at: int | str,
        *,
        outcomes: tuple[type[BaseException], ...] = (),
        started: float = 0.0,
    ) -> None:
        self.name = name
        self.started = started
        self.done = False
        self.stopped_before: str | None = None
        self._steps = steps
        self._flow = flow
        self._outcomes = outcomes
        self._left = at if isinstance(at, int) else 1 << 62
        self._until: str | None = None if isinstance(at, int) else at
        self._crash = False
        self._error: BaseException | None = None
        self._go = threading.Event()
        self._stopped = threading.Event()
        thread = threading.Thread(target=self._run, daemon=True, name=f"parked-{name}")
        thread.start()
        self._wait()

    def _run(self) -> None:
        self._steps.parked[threading.get_ident()] = self
        try:
            self._flow()
        except Crash:
            pass
        except self._outcomes:
            pass
        except BaseException as exc:  # handed to whoever resumed it
            self._error = exc
        finally:
            self._steps.parked.pop(threading.get_ident(), None)
            self.done = True
            self._stopped.set()

    def step(self, call: str) -> None:
        """In the flow's thread, before each of its outermost calls: stop here when it is due."""
        self._left -= 1
        if self._left > 0 and call != self._until:
            return
        self.stopped_before = call
        self._stopped.set()
        self._go.wait()
        self._go.clear()
        if self._crash:
            raise Crash(f"died while stopped before {call}")

    def resume(self, at: int | str | None = None) -> None:
        """Let it go on until its ``at``-th call from here, or its next call named ``at`` (None: to
        its end)."""
        assert not self.done, f"{self.name} has ended"
        self._left = at if isinstance(at, int) else 1 << 62
        self._until = None if isinstance(at, int) else at
        self._stopped.clear()
        self._go.set()
        self._wait()

    def crash(self) -> None:
        """Its Lambda dies where it stopped: the rest of the flow never happens."""
        self._crash = True
        self.resume()

    def _wait(self) -> None:
        assert self._stopped.wait(self.WAIT_SECONDS), f"{self.name} neither stopped nor ended"
        error, self._error = self._error, None
        if error is not None:
            raise error
