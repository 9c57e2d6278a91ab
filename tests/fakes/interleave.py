"""Races and crashes at a chosen step of a flow, over the in-memory fakes.

A flow talks to its stores and platforms one call at a time; between two calls, anything else may
happen (another request, the reaper, a sweeper run), and a Lambda may die. ``Steps`` counts the
outermost calls a flow makes to the fakes and, at the k-th, runs something else first (``before``)
or stops the flow there (``crash``): the calls made so far are written, the rest never happen. A
store's own internal calls (one fake store calling another inside one transaction) are not steps:
a transaction is never split."""

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
            if depth == 0:
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
