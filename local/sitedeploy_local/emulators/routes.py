"""How both emulators find the handler of a request: a declarative table of routes, each an HTTP
method, a path template and the route name, with its handler.

The route name is what the rest of an emulator speaks in: a fault rule names the route it hits
(``faults.add("assets-upload", ...)``, ``faults.add("CreateDeployment", ...)``), and the request log
records it (``requests_for("script-put")``). Keeping method, path and name on one line per route,
in one table per platform, makes the platform's API surface readable at a glance and leaves no second
list of names to keep in step with the handlers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

ANY_METHOD = "*"
_PARAMETER = re.compile(r"\{(\w+)\}")
_TAIL = "/**"

H = TypeVar("H")


@dataclass(frozen=True)
class Route(Generic[H]):
    """``template`` is a path such as ``/accounts/{account_id}/workers/scripts/{name}``: each
    ``{parameter}`` matches one path segment, handed to the handler percent-decoded; a template
    ending in ``/**`` also matches every path below it. ``method`` ``"*"`` matches any method."""

    method: str
    template: str
    name: str
    handler: H


class RouteTable(Generic[H]):
    """Routes tried in order, the first match wins. ``prefix`` is stripped before matching (a path
    without it matches nothing); ``parameter`` is the regular expression one ``{parameter}`` matches
    (the default needs a non-empty segment)."""

    def __init__(self, routes: Iterable[Route[H]], *, prefix: str = "", parameter: str = r"[^/]+") -> None:
        self.prefix = prefix
        self._routes = [(route, _compile(route.template, parameter)) for route in routes]
        names = [route.name for route, _ in self._routes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"route names must be unique: {duplicates}")

    def __iter__(self) -> Iterator[Route[H]]:
        return (route for route, _ in self._routes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(route.name for route, _ in self._routes)

    def match(self, method: str, path: str) -> tuple[Route[H] | None, dict[str, str]]:
        """The route for ``method`` (upper case) and ``path`` (still percent-encoded), and its
        decoded parameters; (None, {}) when no route takes the request."""
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return None, {}
            path = path[len(self.prefix) :]
        for route, pattern in self._routes:
            if route.method not in (method, ANY_METHOD):
                continue
            found = pattern.match(path)
            if found:
                return route, {key: unquote(value) for key, value in found.groupdict().items()}
        return None, {}


def _compile(template: str, parameter: str) -> re.Pattern[str]:
    tail = template.endswith(_TAIL)
    body = template[: -len(_TAIL)] if tail else template
    pieces: list[str] = []
    last = 0
    for found in _PARAMETER.finditer(body):
        pieces.append(re.escape(body[last : found.start()]))
        pieces.append(f"(?P<{found.group(1)}>{parameter})")
        last = found.end()
    pieces.append(re.escape(body[last:]))
    if tail:
        pieces.append("(?:/.*)?")
    return re.compile("^" + "".join(pieces) + "$", re.DOTALL)
