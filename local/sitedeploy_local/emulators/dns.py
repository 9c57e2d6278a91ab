"""The DNS of the local stack: the records users "create" at their DNS provider, which the tests
control, and which the emulators look up to verify custom domains and issue their certificates.
No network: a name is in it because a test put it there."""

from __future__ import annotations

import threading


def _name(name: str) -> str:
    return name.strip().rstrip(".").lower()


class Dns:
    def __init__(self) -> None:
        self._records: dict[str, set[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, type_: str, value: str) -> None:
        with self._lock:
            self._records.setdefault(_name(name), set()).add((type_.upper(), value.strip().rstrip(".")))

    def remove(self, name: str, type_: str | None = None) -> None:
        with self._lock:
            if type_ is None:
                self._records.pop(_name(name), None)
                return
            kept = {r for r in self._records.get(_name(name), set()) if r[0] != type_.upper()}
            self._records[_name(name)] = kept

    def lookup(self, name: str, type_: str) -> set[str]:
        with self._lock:
            return {v for t, v in self._records.get(_name(name), set()) if t == type_.upper()}

    def has(self, name: str, type_: str, value: str) -> bool:
        return value.strip().rstrip(".").lower() in {v.lower() for v in self.lookup(name, type_)}

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
