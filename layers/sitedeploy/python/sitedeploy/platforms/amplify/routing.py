"""A site's routing as Amplify's app-wide settings: ``_redirects`` and the SPA / 404 fallback as
custom rules, ``_headers`` as custom headers.

Amplify keeps rules and headers on the app, not the branch: every branch of an app answers by the
same ones. So the service hosts platform-managed sites only beside sites whose settings are
identical, and ``RoutingProfile.key`` is what "identical" means.

Translation (Netlify/Cloudflare syntax → Amplify):
- ``/from /to [status]`` → ``{"source": "/from", "target": "/to", "status": "301"}`` (301 when no status;
  307 → 302, 308 → 301; 200 is a rewrite, 404 a rewrite with 404); ``*`` in the source and
  ``:splat`` in the target → ``<*>``; ``:name`` → ``<name>``. Lines with conditions or query
  matching have no Amplify counterpart and are skipped (and named in ``skipped``).
- a path line of ``_headers`` → a ``pattern`` (``*`` → ``**``, any depth), its indented
  ``Name: value`` lines → ``headers``.
- last, the fallback: ``/<*>`` → ``/index.html`` as ``404-200`` for a single-page app, or
  ``/<*>`` → ``/404.html`` as ``404`` for a site with a 404 page."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from sitedeploy.domain.sitefiles import redirect_lines

SPA_RULE = {"source": "/<*>", "target": "/index.html", "status": "404-200"}
NOT_FOUND_RULE = {"source": "/<*>", "target": "/404.html", "status": "404"}
_STATUSES = {"200": "200", "301": "301", "302": "302", "303": "302", "307": "302", "308": "301", "404": "404"}
_PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class RoutingProfile:
    rules: tuple[tuple[tuple[str, str], ...], ...] = ()
    headers: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    skipped: tuple[str, ...] = field(default=(), compare=False)

    @property
    def custom_rules(self) -> list[dict[str, str]]:
        return [dict(rule) for rule in self.rules]

    @property
    def custom_headers(self) -> str:
        """Amplify's customHeaders YAML ('' when there are none)."""
        if not self.headers:
            return ""
        lines = ["customHeaders:"]
        for pattern, headers in self.headers:
            lines.append(f"  - pattern: {_quote(pattern)}")
            lines.append("    headers:")
            for key, value in headers:
                lines.append(f"      - key: {_quote(key)}")
                lines.append(f"        value: {_quote(value)}")
        return "\n".join(lines) + "\n"

    @property
    def key(self) -> str:
        """Stable across deploys: two sites may share an app exactly when their keys are equal."""
        canonical = json.dumps({"rules": self.custom_rules, "headers": self.custom_headers}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _amplify_path(path: str, *, target: bool) -> str:
    path = path.replace(":splat", "<*>") if target else path.replace("*", "<*>")
    return _PLACEHOLDER.sub(r"<\1>", path)


def redirect_rules(text: str | None) -> tuple[list[dict[str, str]], list[str]]:
    rules: list[dict[str, str]] = []
    skipped: list[str] = []
    for line in redirect_lines(text):
        status = _STATUSES.get(line.status)
        if not line.usable or "?" in line.source or status is None:
            skipped.append(line.raw)
            continue
        rules.append(
            {
                "source": _amplify_path(line.source, target=False),
                "target": _amplify_path(line.target, target=True),
                "status": status,
            }
        )
    return rules, skipped


def header_rules(text: str | None) -> list[tuple[str, list[tuple[str, str]]]]:
    blocks: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in (text or "").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not raw[0].isspace():
            blocks.append((raw.strip().replace("*", "**"), []))
            continue
        name, sep, value = raw.strip().partition(":")
        if blocks and sep and not name.startswith("!"):
            blocks[-1][1].append((name.strip(), value.strip()))
    return [(pattern, headers) for pattern, headers in blocks if headers]


def routing_profile(
    *, redirects_text: str | None, headers_text: str | None, spa: bool | None, paths: set[str]
) -> RoutingProfile:
    """The app-wide settings a site needs. ``spa`` None decides from the files: an index.html and
    no 404.html is a single-page app."""
    rules, skipped = redirect_rules(redirects_text)
    if spa is True or (spa is None and "index.html" in paths and "404.html" not in paths):
        rules.append(SPA_RULE)
    elif "404.html" in paths:
        rules.append(NOT_FOUND_RULE)
    return RoutingProfile(
        rules=tuple(tuple(sorted(rule.items())) for rule in rules),
        headers=tuple((pattern, tuple(headers)) for pattern, headers in header_rules(headers_text)),
        skipped=tuple(skipped),
    )
