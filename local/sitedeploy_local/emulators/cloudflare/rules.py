"""The two rule files of a Workers Static Assets deployment, ``_redirects`` and ``_headers``, parsed
the way Cloudflare's asset worker (``workers-shared``) parses them.

Cloudflare skips an invalid line rather than refusing the deployment, and applies the platform's
limits (2,000 static and 100 dynamic redirects, 100 header rules, 2,000 characters a line); the
parser does the same and reports every skipped line in ``SiteRules.warnings`` (a Worker's
``rule_warnings``), so that a test can say why a rule has no effect. ``sites`` applies the parsed
rules to each visitor's request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

REDIRECT_STATUSES = (200, 301, 302, 303, 307, 308)
# Cloudflare's limits for the two rule files (Pages and Workers assets share the parser).
MAX_STATIC_REDIRECTS = 2000
MAX_DYNAMIC_REDIRECTS = 100
MAX_HEADER_RULES = 100
MAX_LINE_LENGTH = 2000


_PLACEHOLDER = re.compile(r":([A-Za-z]\w*)")


def _compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Cloudflare's rules matcher: ``*`` is a greedy ``:splat``; ``:name`` matches one path segment
    (one host label in the host part of an ``https://`` rule); the whole string is anchored. A rule
    that does not compile (two splats, a repeated placeholder) is dropped, as there."""
    regex = "(?P<splat>.*)".join(re.escape(piece) for piece in pattern.split("*"))
    if pattern.startswith("https://"):
        scheme_end = len(re.escape("https://"))
        host_end = regex.find("/", scheme_end)
        host_end = len(regex) if host_end < 0 else host_end
        host = _PLACEHOLDER.sub(r"(?P<\1>[^/.]+)", regex[scheme_end:host_end])
        regex = regex[:scheme_end] + host + regex[host_end:]
    regex = _PLACEHOLDER.sub(r"(?P<\1>[^/]+)", regex)
    try:
        return re.compile("^" + regex + "$")
    except re.error:
        return None


def _replace(template: str, groups: Mapping[str, str | None]) -> str:
    """Fill ``:name`` placeholders in one pass; a placeholder without a value stays as written."""

    def fill(found: re.Match[str]) -> str:
        value = groups.get(found.group(1))
        return value if value is not None else found.group(0)

    return _PLACEHOLDER.sub(fill, template)


@dataclass(frozen=True)
class RedirectRule:
    source: str
    target: str
    status: int
    line: int
    pattern: re.Pattern[str] | None  # None: a static rule, matched exactly and before dynamic ones


@dataclass(frozen=True)
class HeaderRule:
    source: str
    line: int
    pattern: re.Pattern[str]
    set: tuple[tuple[str, str], ...]
    unset: tuple[str, ...]


@dataclass(frozen=True)
class SiteRules:
    """The parsed ``_redirects`` and ``_headers`` of one deployment. Invalid lines are skipped, as
    Cloudflare does, and reported in ``warnings``."""

    redirects: tuple[RedirectRule, ...] = ()
    headers: tuple[HeaderRule, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        redirects_text: str | None,
        headers_text: str | None,
        *,
        html_handling: str = "auto-trailing-slash",
    ) -> SiteRules:
        warnings: list[str] = []
        redirects = _parse_redirects(redirects_text or "", html_handling, warnings)
        headers = _parse_headers(headers_text or "", warnings)
        return cls(redirects=redirects, headers=headers, warnings=tuple(warnings))

    def match_redirect(self, pathname: str) -> tuple[RedirectRule, str] | None:
        """The matching rule (static rules first, then dynamic ones in file order) and its target
        with placeholders filled."""
        for rule in self.redirects:
            if rule.pattern is None and rule.source == pathname:
                return rule, rule.target
        for rule in self.redirects:
            found = rule.pattern.match(pathname) if rule.pattern is not None else None
            if found:
                target = _replace(rule.target, found.groupdict()).strip()
                if not re.match(r"^\w+://", target):
                    target = re.sub(r"/+", "/", target)
                return rule, target
        return None

    def apply_headers(self, pathname: str, host: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Every matching rule in order: ``! Name`` removes, a set replaces the response's own
        header the first time and appends when an earlier rule already set it."""
        out = list(headers)
        set_by_rules: set[str] = set()
        for rule in self.headers:
            test = f"https://{host}{pathname}" if rule.source.startswith("https://") else pathname
            found = rule.pattern.match(test)
            if not found:
                continue
            groups = found.groupdict()
            for name in rule.unset:
                out = [(k, v) for k, v in out if k.lower() != name]
            for name, template in rule.set:
                value = _replace(template, groups)
                if name in set_by_rules:
                    out.append((name, value))
                else:
                    out = [(k, v) for k, v in out if k.lower() != name]
                    out.append((name, value))
                    set_by_rules.add(name)
        return out


_URL = re.compile(r"^https://+(?P<host>[^/]+)/?(?P<path>.*)")
_DYNAMIC = re.compile(r"\*|:[A-Za-z]\w*")


def _parse_redirects(text: str, html_handling: str, warnings: list[str]) -> tuple[RedirectRule, ...]:
    """Cloudflare's ``_redirects`` parser: ``from to [status]``; ``from`` is a path (a missing
    leading slash is added); ``to`` is a path or an https URL; static rules are those before the
    first dynamic one; a rule that would loop through html_handling is ignored."""
    rules: list[RedirectRule] = []
    seen: set[str] = set()
    static_count = dynamic_count = 0
    static_allowed = True
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_LENGTH:
            warnings.append(f"_redirects line {number}: longer than {MAX_LINE_LENGTH} characters")
            continue
        tokens = line.split()
        comment = next((i for i, token in enumerate(tokens) if i >= 2 and token.startswith("#")), None)
        if comment is not None:
            tokens = tokens[:comment]
        if len(tokens) not in (2, 3):
            warnings.append(f"_redirects line {number}: expected 2 or 3 tokens, got {len(tokens)}")
            continue
        source, target = tokens[0], tokens[1]
        if _URL.match(source):
            warnings.append(f"_redirects line {number}: only relative sources are allowed")
            continue
        source = source if source.startswith("/") else f"/{source}"
        dynamic = not static_allowed or _DYNAMIC.search(source) is not None
        if dynamic:
            static_allowed = False
            dynamic_count += 1
            if dynamic_count > MAX_DYNAMIC_REDIRECTS:
                warnings.append(f"_redirects line {number}: more than {MAX_DYNAMIC_REDIRECTS} dynamic rules")
                break
        else:
            static_count += 1
            if static_count > MAX_STATIC_REDIRECTS:
                warnings.append(f"_redirects line {number}: more than {MAX_STATIC_REDIRECTS} static rules")
                continue
        absolute = _URL.match(target) is not None
        if not (absolute or target.startswith("/")):
            warnings.append(f"_redirects line {number}: the target must start with '/' or 'https://'")
            continue
        status = int(tokens[2]) if len(tokens) == 3 and tokens[2].isdigit() else (302 if len(tokens) == 2 else -1)
        if status not in REDIRECT_STATUSES:
            warnings.append(f"_redirects line {number}: status must be one of {REDIRECT_STATUSES}")
            continue
        to_index = re.search(r"/index(\.html)?$", target) is not None
        if not absolute and to_index and (source.endswith("/*") or (source.endswith("/") and html_handling != "none")):
            warnings.append(f"_redirects line {number}: infinite loop through html_handling, ignored")
            continue
        if source in seen:
            warnings.append(f"_redirects line {number}: duplicate rule for {source}, ignored")
            continue
        seen.add(source)
        if status == 200 and absolute:
            warnings.append(f"_redirects line {number}: a 200 rewrite can only point at a relative path")
            continue
        pattern = _compile_pattern(source) if dynamic else None
        if dynamic and pattern is None:
            warnings.append(f"_redirects line {number}: invalid pattern {source}")
            continue
        rules.append(RedirectRule(source=source, target=target, status=status, line=number, pattern=pattern))
    return tuple(rules)


@dataclass
class _HeaderBlock:
    source: str
    line: int
    set: dict[str, str] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)


def _parse_headers(text: str, warnings: list[str]) -> tuple[HeaderRule, ...]:
    """Cloudflare's ``_headers`` parser: a path (or https URL) line opens a rule; ``Name: value``
    lines add to it (repeated names join with ", "); ``! Name`` removes a header."""
    blocks: list[_HeaderBlock] = []
    current: _HeaderBlock | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_LENGTH:
            warnings.append(f"_headers line {number}: longer than {MAX_LINE_LENGTH} characters")
            continue
        if re.match(r"^(\S+://|/)", line):
            if len(blocks) >= MAX_HEADER_RULES:
                warnings.append(f"_headers line {number}: more than {MAX_HEADER_RULES} rules")
                break
            host = _URL.match(line)
            if line.startswith("/") or (host and not re.search(r":\d+$", host.group("host"))):
                current = _HeaderBlock(source=line, line=number)
                blocks.append(current)
            else:
                warnings.append(f"_headers line {number}: a rule is a path or an https URL without port")
                current = None
            continue
        if ":" not in line:
            if current is not None and line.startswith("!") and line[1:].strip():
                current.unset.append(line[1:].strip().lower())
            else:
                warnings.append(f"_headers line {number}: expected 'Name: value' or '! Name' after a path")
            continue
        raw_name, _, raw_value = line.partition(":")
        name, value = raw_name.strip().lower(), raw_value.strip()
        if not name or " " in name or not value or current is None:
            warnings.append(f"_headers line {number}: invalid header line")
            continue
        current.set[name] = f"{current.set[name]}, {value}" if name in current.set else value
    rules: list[HeaderRule] = []
    for block in blocks:
        pattern = _compile_pattern(block.source)
        if not block.set and not block.unset:
            warnings.append(f"_headers line {block.line}: no headers for {block.source}")
        elif pattern is None:
            warnings.append(f"_headers line {block.line}: invalid pattern {block.source}")
        else:
            rules.append(
                HeaderRule(
                    source=block.source,
                    line=block.line,
                    pattern=pattern,
                    set=tuple(block.set.items()),
                    unset=tuple(block.unset),
                )
            )
    return tuple(rules)
