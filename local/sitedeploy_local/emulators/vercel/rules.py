"""A deployment's routing configuration as Vercel reads it: ``cleanUrls``, ``trailingSlash``,
``redirects``, ``rewrites`` and ``headers`` (the ``vercel.json`` keys the deployment body carries),
checked the way the platform checks them and compiled the way ``@vercel/routing-utils`` compiles
them.

Sources are path-to-regexp patterns (version 6, ``strict`` and ``sensitive``, as routing-utils'
``sourceToRegex`` calls it): ``/:name`` one segment, ``/:path*`` zero or more, ``/:path+`` one or
more, ``/:name?`` optional, ``/(.*)`` an unnamed group, ``/:name(\\d+)`` a custom one. Destinations
substitute ``:name`` (and ``$1``) with what the source captured. The port here follows the library's
lexer, parser and ``tokensToRegexp`` branch by branch, so that a source the adapter emits matches
locally exactly what it would match on Vercel; ``has``/``missing`` conditions are refused rather than
ignored (the emulator would otherwise serve something the platform would not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PATTERN = r"[^\/]+?"  # "[^${delimiter}]+?" with routing-utils' delimiter "/"
PREFIXES = "./"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
DEFAULT_REDIRECT_STATUS = 308  # routing-utils' convertRedirects: neither permanent nor statusCode → 308


class RuleError(ValueError):
    """A configuration the platform refuses; ``code`` is routing-utils' (``invalid_redirect``, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- path-to-regexp 6 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # MODIFIER ESCAPED_CHAR OPEN CLOSE NAME PATTERN CHAR END
    value: str


@dataclass(frozen=True)
class _Key:
    name: str | int
    prefix: str
    suffix: str
    pattern: str
    modifier: str


def _lex(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char in "*+?":
            tokens.append(_Token("MODIFIER", char))
            i += 1
        elif char == "\\":
            if i + 1 >= len(source):
                raise ValueError(f"a trailing backslash at {i}")
            tokens.append(_Token("ESCAPED_CHAR", source[i + 1]))
            i += 2
        elif char == "{":
            tokens.append(_Token("OPEN", char))
            i += 1
        elif char == "}":
            tokens.append(_Token("CLOSE", char))
            i += 1
        elif char == ":":
            j = i + 1
            while j < len(source) and (source[j].isascii() and (source[j].isalnum() or source[j] == "_")):
                j += 1
            if j == i + 1:
                raise ValueError(f"Missing parameter name at {i}")
            tokens.append(_Token("NAME", source[i + 1 : j]))
            i = j
        elif char == "(":
            i = _lex_pattern(source, i, tokens)
        else:
            tokens.append(_Token("CHAR", char))
            i += 1
    tokens.append(_Token("END", ""))
    return tokens


def _lex_pattern(source: str, start: int, tokens: list[_Token]) -> int:
    count, pattern, j = 1, "", start + 1
    if j < len(source) and source[j] == "?":
        raise ValueError(f'Pattern cannot start with "?" at {j}')
    while j < len(source):
        if source[j] == "\\":
            pattern += source[j : j + 2]
            j += 2
            continue
        if source[j] == ")":
            count -= 1
            if count == 0:
                j += 1
                break
        elif source[j] == "(":
            count += 1
            if j + 1 >= len(source) or source[j + 1] != "?":
                raise ValueError(f"Capturing groups are not allowed at {j}")
        pattern += source[j]
        j += 1
    if count:
        raise ValueError(f"Unbalanced pattern at {start}")
    if not pattern:
        raise ValueError(f"Missing pattern at {start}")
    tokens.append(_Token("PATTERN", pattern))
    return j


def _parse(source: str) -> list[str | _Key]:
    tokens = _lex(source)
    result: list[str | _Key] = []
    key = 0
    i = 0
    path = ""

    def take(kind: str) -> str | None:
        nonlocal i
        if i < len(tokens) and tokens[i].kind == kind:
            i += 1
            return tokens[i - 1].value
        return None

    def text() -> str:
        collected = ""
        while (value := take("CHAR")) is not None or (value := take("ESCAPED_CHAR")) is not None:
            collected += value
        return collected

    while i < len(tokens):
        char = take("CHAR")
        name = take("NAME")
        pattern = take("PATTERN")
        if name or pattern:
            prefix = char or ""
            if prefix not in PREFIXES:
                path += prefix
                prefix = ""
            if path:
                result.append(path)
                path = ""
            if not name:
                key_name: str | int = key
                key += 1
            else:
                key_name = name
            result.append(_Key(key_name, prefix, "", pattern or DEFAULT_PATTERN, take("MODIFIER") or ""))
            continue
        value = char if char is not None else take("ESCAPED_CHAR")
        if value is not None:
            path += value
            continue
        if path:
            result.append(path)
            path = ""
        if take("OPEN") is not None:
            prefix = text()
            name = take("NAME") or ""
            pattern = take("PATTERN") or ""
            suffix = text()
            if take("CLOSE") is None:
                raise ValueError("Expected CLOSE")
            if name:
                group_name: str | int = name
            elif pattern:
                group_name = key
                key += 1
            else:
                group_name = ""
            group_pattern = DEFAULT_PATTERN if name and not pattern else pattern
            result.append(_Key(group_name, prefix, suffix, group_pattern, take("MODIFIER") or ""))
            continue
        if take("END") is None:
            kind = tokens[i].kind if i < len(tokens) else "END"
            raise ValueError(f"Unexpected {kind} at {i}")
    return result


def _escape(text: str) -> str:
    return re.sub(r"([.+*?=^!:${}()\[\]|/\\])", r"\\\1", text)


@dataclass(frozen=True)
class Pattern:
    """A compiled source: ``regex`` (anchored) and the names of its groups in order (an int for
    an unnamed group such as ``(.*)``)."""

    source: str
    regex: re.Pattern[str]
    names: tuple[str | int, ...]

    def match(self, path: str) -> Match | None:
        found = self.regex.match(path)
        if found is None:
            return None
        values = tuple(value or "" for value in found.groups()[: len(self.names)])
        return Match(values=values, names=self.names)


@dataclass(frozen=True)
class Match:
    values: tuple[str, ...]
    names: tuple[str | int, ...]

    def substitute(self, template: str) -> str:
        """``:name`` (with its modifier) and ``$n`` replaced by what the source captured."""
        by_name = {name: value for name, value in zip(self.names, self.values, strict=True) if isinstance(name, str)}

        def named(found: re.Match[str]) -> str:
            name = found.group(1)
            return by_name[name] if name in by_name else found.group(0)

        result = re.sub(r":([A-Za-z0-9_]+)[*+?]?", named, template) if by_name else template

        def numbered(found: re.Match[str]) -> str:
            index = int(found.group(1))
            return self.values[index - 1] if 0 < index <= len(self.values) else ""

        return re.sub(r"\$(\d+)", numbered, result)


def compile_source(source: str) -> Pattern:
    """path-to-regexp 6's ``pathToRegexp(source, keys, {strict: true, sensitive: true, delimiter: "/"})``."""
    route = "^"
    names: list[str | int] = []
    for token in _parse(source):
        if isinstance(token, str):
            route += _escape(token)
            continue
        prefix, suffix = _escape(token.prefix), _escape(token.suffix)
        if token.pattern:
            names.append(token.name)
            if prefix or suffix:
                if token.modifier in ("+", "*"):
                    mod = "?" if token.modifier == "*" else ""
                    route += f"(?:{prefix}((?:{token.pattern})(?:{suffix}{prefix}(?:{token.pattern}))*){suffix}){mod}"
                else:
                    route += f"(?:{prefix}({token.pattern}){suffix}){token.modifier}"
            elif token.modifier in ("+", "*"):
                route += f"((?:{token.pattern}){token.modifier})"
            else:
                route += f"({token.pattern}){token.modifier}"
        else:
            route += f"(?:{prefix}{suffix}){token.modifier}"
    route += "$"
    return Pattern(source=source, regex=re.compile(route, re.DOTALL), names=tuple(names))


# -- the configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    pattern: Pattern
    destination: str
    status: int


@dataclass(frozen=True)
class Rewrite:
    pattern: Pattern
    destination: str


@dataclass(frozen=True)
class HeaderRule:
    pattern: Pattern
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SiteConfig:
    """What a deployment's body said about routing; None: the key was absent."""

    clean_urls: bool | None = None
    trailing_slash: bool | None = None
    redirects: tuple[Redirect, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    headers: tuple[HeaderRule, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: dict[str, Any]) -> SiteConfig:
        """The routing keys of a deployment body, checked (RuleError on what the platform refuses)."""
        raw: dict[str, Any] = {
            key: body[key] for key in ("cleanUrls", "trailingSlash", "redirects", "rewrites", "headers") if key in body
        }
        if body.get("routes") is not None:
            raise RuleError("invalid_routes", "legacy `routes` are not emulated: use redirects, rewrites and headers")
        for flag in ("cleanUrls", "trailingSlash"):
            if raw.get(flag) is not None and not isinstance(raw[flag], bool):
                raise RuleError("bad_request", f"Invalid request: `{flag}` should be boolean.")
        return cls(
            clean_urls=raw.get("cleanUrls"),
            trailing_slash=raw.get("trailingSlash"),
            redirects=tuple(_redirect(i, item) for i, item in enumerate(_list(raw, "redirects"))),
            rewrites=tuple(_rewrite(i, item) for i, item in enumerate(_list(raw, "rewrites"))),
            headers=tuple(_header(i, item) for i, item in enumerate(_list(raw, "headers"))),
            raw=raw,
        )


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RuleError("bad_request", f"Invalid request: `{key}` should be array.")
    if len(value) > 2048:
        raise RuleError("bad_request", f"Invalid request: `{key}` should NOT have more than 2048 items.")
    return value


def _object(kind: str, index: int, item: Any, required: tuple[str, ...]) -> dict[str, Any]:
    code = f"invalid_{kind.lower()}"
    if not isinstance(item, dict):
        raise RuleError(code, f"{kind} at index {index} should be an object.")
    for key in required:
        if key not in item:
            raise RuleError(code, f"{kind} at index {index} is missing required property `{key}`.")
    for key in ("has", "missing"):
        if item.get(key):
            raise RuleError(code, f"{kind} at index {index}: `{key}` conditions are not emulated.")
    return item


def _source(kind: str, index: int, item: dict[str, Any]) -> Pattern:
    code = f"invalid_{kind.lower()}"
    source = item["source"]
    if not isinstance(source, str) or not source.startswith("/"):
        raise RuleError(code, f"{kind} at index {index} has an invalid `source`: it must be a string starting with /.")
    try:
        return compile_source(source)
    except (ValueError, re.error) as exc:
        raise RuleError(code, f'{kind} at index {index} has invalid `source` pattern "{source}": {exc}') from None


def _destination(kind: str, index: int, item: dict[str, Any]) -> str:
    destination = item["destination"]
    if not isinstance(destination, str) or not destination:
        raise RuleError(f"invalid_{kind.lower()}", f"{kind} at index {index} has an invalid `destination`.")
    return destination


def _redirect(index: int, raw: Any) -> Redirect:
    item = _object("Redirect", index, raw, ("source", "destination"))
    pattern = _source("Redirect", index, item)
    destination = _destination("Redirect", index, item)
    permanent, status_code = item.get("permanent"), item.get("statusCode")
    if permanent is not None and status_code is not None:
        raise RuleError(
            "invalid_redirect",
            f"Redirect at index {index} cannot define both `permanent` and `statusCode` properties.",
        )
    if permanent is not None and not isinstance(permanent, bool):
        raise RuleError("invalid_redirect", f"Redirect at index {index}: `permanent` should be boolean.")
    if status_code is not None and status_code not in REDIRECT_STATUSES:
        raise RuleError(
            "invalid_redirect",
            f"Redirect at index {index}: `statusCode` should be one of {list(REDIRECT_STATUSES)}.",
        )
    status = (308 if permanent else 307) if isinstance(permanent, bool) else int(status_code or DEFAULT_REDIRECT_STATUS)
    return Redirect(pattern=pattern, destination=destination, status=status)


def _rewrite(index: int, raw: Any) -> Rewrite:
    item = _object("Rewrite", index, raw, ("source", "destination"))
    return Rewrite(pattern=_source("Rewrite", index, item), destination=_destination("Rewrite", index, item))


def _header(index: int, raw: Any) -> HeaderRule:
    item = _object("Header", index, raw, ("source", "headers"))
    pattern = _source("Header", index, item)
    entries = item["headers"]
    if not isinstance(entries, list) or not entries:
        raise RuleError("invalid_header", f"Header at index {index}: `headers` should be a non-empty array.")
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("key"), str)
            or not isinstance(entry.get("value"), str)
        ):
            raise RuleError("invalid_header", f"Header at index {index}: each header needs a string `key` and `value`.")
        if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", entry["key"]) or re.search(r"[\r\n]", entry["value"]):
            raise RuleError("invalid_header", f"Header at index {index}: invalid header {entry['key']!r}.")
        pairs.append((entry["key"], entry["value"]))
    return HeaderRule(pattern=pattern, headers=tuple(pairs))
