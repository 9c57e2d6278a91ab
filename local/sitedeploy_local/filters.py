"""Lambda event-source-mapping filter criteria, matched the way Lambda matches them.

In the cloud, Lambda drops DynamoDB stream records that match none of a function's
``FilterCriteria`` before the function is invoked. The local stack's stream pump has to do the
same with the patterns it reads from template.yaml, or a function would see records locally
(TTL deletes, other entities' writes) that it never sees in AWS, and local and cloud would deliver
different batches.

The patterns use the EventBridge event-pattern syntax, which Lambda evaluates with the same engine:

* a pattern is a JSON object whose keys name fields of the record; nested objects match nested
  fields, and every key must match (AND);
* every leaf is a list of alternatives, any of which may match (OR);
* an alternative is a literal (string, number, boolean or null: exact match, numbers compared by
  value) or an operator object: ``prefix``, ``suffix``, ``equals-ignore-case``, ``wildcard``,
  ``anything-but``, ``numeric`` and ``exists``;
* when the record's value is an array, the leaf matches if any element matches; an array of
  objects under a nested pattern matches if one element matches the whole sub-pattern;
* a field missing from the record fails every alternative except ``{"exists": false}``. As in
  EventBridge, only leaves count as present: a field whose value is an object (such as
  ``NewImage.status``, which holds ``{"S": ...}``) does not satisfy ``{"exists": true}``.

DynamoDB stream records carry numbers as strings (``{"N": "5"}``) and Lambda applies ``numeric``
filters to them, so ``numeric`` also accepts a string that reads as a number. Literal numbers still
only match JSON numbers, as in Lambda.

A malformed pattern raises :class:`ValueError` before any record is looked at, so a bad filter in
template.yaml fails loudly instead of silently dropping or delivering records.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeAlias

__all__ = ["any_of", "matches", "matches_any"]

_Predicate: TypeAlias = Callable[[Any], bool]

_NUMBER_TEXT: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LOWER_OPS: Final = frozenset({">", ">="})
_UPPER_OPS: Final = frozenset({"<", "<="})
_STRING_OPS: Final = frozenset({"prefix", "suffix", "equals-ignore-case", "wildcard"})
_OPERATORS: Final = _STRING_OPS | {"anything-but", "numeric", "exists"}


def matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """True when ``record`` (a JSON-shaped stream record) matches the filter ``pattern``."""
    return _compile_pattern(pattern).match(record)


def matches_any(patterns: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """Lambda's FilterCriteria semantics: no filters lets every record through, otherwise any match.

    Every pattern is validated, even after one has matched, so a malformed filter is reported no
    matter which records happen to flow past it.
    """
    return any_of(patterns)(record)


def any_of(patterns: Sequence[Mapping[str, Any]]) -> Callable[[Mapping[str, Any]], bool]:
    """``matches_any`` for one mapping's filters, compiled (and so validated) once, here: the
    stream pump asks it of every record, and compiling the patterns each time was a tenth of the
    pump's time."""
    compiled = [_compile_pattern(p) for p in patterns]
    return lambda record: not compiled or any(c.match(record) for c in compiled)


# --- the compiled form ----------------------------------------------------------------------------


class _Missing:
    """Stands for a field that is absent from the record."""


_MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class _Leaf:
    """A list of alternatives; ``exists`` alternatives test presence, the others test each value."""

    value_tests: tuple[_Predicate, ...]
    exists_tests: tuple[bool, ...]

    def match(self, value: Any) -> bool:
        values = _leaf_values(value)
        if any(expected == bool(values) for expected in self.exists_tests):
            return True
        return any(test(v) for test in self.value_tests for v in values)


@dataclass(frozen=True, slots=True)
class _Object:
    """A nested pattern: every field must match."""

    fields: tuple[tuple[str, _Object | _Leaf], ...]

    def match(self, value: Any) -> bool:
        if isinstance(value, list):
            # Arrays are "crushed out": a nested pattern matches when one element matches all of it,
            # which also keeps the fields of one match inside the same element, as Lambda does.
            elements = [e for e in _flatten(value) if isinstance(e, Mapping)]
            if elements:
                return any(self._match_mapping(e) for e in elements)
            return self._match_mapping({})
        return self._match_mapping(value if isinstance(value, Mapping) else {})

    def _match_mapping(self, value: Mapping[str, Any]) -> bool:
        return all(node.match(value.get(key, _MISSING)) for key, node in self.fields)


def _flatten(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, list):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _leaf_values(value: Any) -> list[Any]:
    """The leaf values found at a path: objects are intermediate nodes, not values."""
    if value is _MISSING or isinstance(value, Mapping):
        return []
    if isinstance(value, list):
        return [v for v in _flatten(value) if not isinstance(v, Mapping)]
    return [value]


# --- compiling (and validating) patterns ----------------------------------------------------------


def _compile_pattern(pattern: Any) -> _Object:
    if not isinstance(pattern, Mapping):
        raise ValueError(f"filter pattern must be a JSON object, got {type(pattern).__name__}")
    return _compile_object(pattern, "")


def _compile_object(pattern: Mapping[Any, Any], path: str) -> _Object:
    if not pattern:
        raise ValueError(f"{path or 'filter pattern'}: empty object; it would match nothing")
    fields: list[tuple[str, _Object | _Leaf]] = []
    for key, sub in pattern.items():
        if not isinstance(key, str):
            raise ValueError(f"{path or 'filter pattern'}: field names must be strings, got {key!r}")
        where = f"{path}.{key}" if path else key
        if key == "$or":
            raise ValueError(
                f"{where}: '$or' is not part of Lambda's filter rule syntax; "
                "list several Filters instead, Lambda ORs them"
            )
        if isinstance(sub, Mapping):
            fields.append((key, _compile_object(sub, where)))
        elif isinstance(sub, list):
            fields.append((key, _compile_leaf(sub, where)))
        else:
            raise ValueError(
                f"{where}: a leaf must be a list of alternatives (e.g. [{sub!r}]), got {type(sub).__name__}"
            )
    return _Object(tuple(fields))


def _compile_leaf(alternatives: list[Any], path: str) -> _Leaf:
    if not alternatives:
        raise ValueError(f"{path}: empty list of alternatives; it would match nothing")
    tests: list[_Predicate] = []
    exists: list[bool] = []
    for alt in alternatives:
        if isinstance(alt, Mapping):
            op, arg = _single_operator(alt, path)
            if op == "exists":
                if not isinstance(arg, bool):
                    raise ValueError(f"{path}: 'exists' takes true or false, got {arg!r}")
                exists.append(arg)
            elif op == "anything-but":
                tests.append(_anything_but(arg, path))
            elif op == "numeric":
                tests.append(_numeric(arg, path))
            else:
                tests.append(_string_operator(op, arg, path))
        elif isinstance(alt, list):
            raise ValueError(f"{path}: alternatives cannot be nested lists, got {alt!r}")
        else:
            tests.append(_literal(alt, path))
    return _Leaf(tuple(tests), tuple(exists))


def _single_operator(alt: Mapping[Any, Any], path: str) -> tuple[str, Any]:
    if len(alt) != 1:
        raise ValueError(f"{path}: an operator object needs exactly one operator, got {dict(alt)!r}")
    ((op, arg),) = alt.items()
    if op not in _OPERATORS:
        known = ", ".join(sorted(_OPERATORS))
        raise ValueError(f"{path}: unknown operator {op!r} (known: {known})")
    return str(op), arg


def _literal(value: Any, path: str) -> _Predicate:
    if value is None:
        return lambda v: v is None
    if isinstance(value, bool):
        return lambda v: isinstance(v, bool) and v is value
    if isinstance(value, str):
        return lambda v: isinstance(v, str) and v == value
    if isinstance(value, int | float):
        wanted = _pattern_number(value, path)
        return lambda v: _json_number(v) == wanted
    raise ValueError(f"{path}: unsupported literal {value!r}")


def _string_operator(op: str, arg: Any, path: str) -> _Predicate:
    """``prefix``, ``suffix``, ``equals-ignore-case`` and ``wildcard``: they only match strings."""
    if op in {"prefix", "suffix"} and isinstance(arg, Mapping):
        inner_op, inner = _single_operator(arg, path)
        if inner_op != "equals-ignore-case" or not isinstance(inner, str):
            raise ValueError(f"{path}: '{op}' takes a string or {{'equals-ignore-case': string}}, got {arg!r}")
        folded = inner.lower()
        if op == "prefix":
            return lambda v: isinstance(v, str) and v.lower().startswith(folded)
        return lambda v: isinstance(v, str) and v.lower().endswith(folded)
    if not isinstance(arg, str):
        raise ValueError(f"{path}: '{op}' takes a string, got {arg!r}")
    if op == "prefix":
        return lambda v: isinstance(v, str) and v.startswith(arg)
    if op == "suffix":
        return lambda v: isinstance(v, str) and v.endswith(arg)
    if op == "equals-ignore-case":
        folded = arg.lower()
        return lambda v: isinstance(v, str) and v.lower() == folded
    regex = _wildcard_regex(arg, path)
    return lambda v: isinstance(v, str) and regex.fullmatch(v) is not None


def _wildcard_regex(text: str, path: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; ``\\*`` and ``\\\\`` are a literal star and backslash."""
    parts: list[str] = []
    i, previous_star = 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if nxt not in {"*", "\\"}:
                raise ValueError(f"{path}: wildcard {text!r}: a backslash may only escape '*' or '\\'")
            parts.append(re.escape(nxt))
            i, previous_star = i + 2, False
            continue
        if ch == "*":
            if previous_star:
                raise ValueError(f"{path}: wildcard {text!r}: consecutive '*' are not allowed")
            parts.append(".*")
            previous_star = True
        else:
            parts.append(re.escape(ch))
            previous_star = False
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _anything_but(arg: Any, path: str) -> _Predicate:
    """Matches any present value the inner test rejects (an absent field never matches)."""
    excluded: _Predicate
    if isinstance(arg, Mapping):
        op, inner = _single_operator(arg, path)
        if op not in _STRING_OPS:
            raise ValueError(f"{path}: 'anything-but' cannot wrap {op!r}")
        if op in {"equals-ignore-case", "wildcard"} and isinstance(inner, list):
            if not inner or not all(isinstance(x, str) for x in inner):
                raise ValueError(f"{path}: 'anything-but' / {op!r} takes a string or a list of strings")
            excluded = _any_of([_string_operator(op, x, path) for x in inner])
        elif op in {"prefix", "suffix"} and not isinstance(inner, str):
            raise ValueError(f"{path}: 'anything-but' / {op!r} takes a string, got {inner!r}")
        else:
            excluded = _string_operator(op, inner, path)
    elif isinstance(arg, list):
        if not arg:
            raise ValueError(f"{path}: 'anything-but' needs at least one value")
        all_strings = all(isinstance(x, str) for x in arg)
        all_numbers = all(_is_pattern_number(x) for x in arg)
        if not (all_strings or all_numbers):
            raise ValueError(f"{path}: 'anything-but' list must be all strings or all numbers, got {arg!r}")
        excluded = _any_of([_literal(x, path) for x in arg])
    elif isinstance(arg, str) or _is_pattern_number(arg):
        excluded = _literal(arg, path)
    else:
        raise ValueError(
            f"{path}: 'anything-but' takes a string, a number, a list of either, or a "
            f"prefix/suffix/equals-ignore-case/wildcard object, got {arg!r}"
        )
    return lambda v: not excluded(v)


def _any_of(tests: list[_Predicate]) -> _Predicate:
    return lambda v: any(t(v) for t in tests)


def _numeric(arg: Any, path: str) -> _Predicate:
    """``[op, n, ...]``: ``=`` alone, or at most one lower (``>``/``>=``) and one upper (``<``/``<=``)."""
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise ValueError(f"{path}: 'numeric' takes [operator, number, ...], got {arg!r}")
    lower: tuple[Decimal, bool] | None = None
    upper: tuple[Decimal, bool] | None = None
    equal: Decimal | None = None
    for op, bound in zip(arg[::2], arg[1::2], strict=True):
        if not _is_pattern_number(bound):
            raise ValueError(f"{path}: 'numeric' bound must be a number, got {bound!r}")
        number = _pattern_number(bound, path)
        if not isinstance(op, str):
            raise ValueError(f"{path}: 'numeric' operator must be a string, got {op!r}")
        if op == "=" and len(arg) == 2:
            equal = number
        elif op in _LOWER_OPS and lower is None:
            lower = (number, op == ">=")
        elif op in _UPPER_OPS and upper is None:
            upper = (number, op == "<=")
        else:
            raise ValueError(f"{path}: bad 'numeric' {arg!r}: use '=' alone, or one of '>'/'>=' and/or one of '<'/'<='")
    if lower is not None and upper is not None:
        (lo, lo_incl), (hi, hi_incl) = lower, upper
        if lo > hi or (lo == hi and not (lo_incl and hi_incl)):
            raise ValueError(f"{path}: 'numeric' {arg!r} is an empty range")

    def test(value: Any) -> bool:
        n = _record_number(value)
        if n is None:
            return False
        if equal is not None:
            return n == equal
        if lower is not None and not (n >= lower[0] if lower[1] else n > lower[0]):
            return False
        return upper is None or (n <= upper[0] if upper[1] else n < upper[0])

    return test


# --- numbers --------------------------------------------------------------------------------------


def _is_pattern_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pattern_number(value: int | float, path: str) -> Decimal:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: numbers in a pattern must be finite, got {value!r}")
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _json_number(value: Any) -> Decimal | None:
    """The value of a JSON number in the record (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def _record_number(value: Any) -> Decimal | None:
    """A JSON number, or a string that reads as one (DynamoDB's ``{"N": "5"}``)."""
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value):
            return None
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the regex only lets valid numbers through
            return None
    return _json_number(value)
