"""Names the platforms will accept, derived stably from (owner, project).

Platform-managed sites share the service's accounts, apps and teams, so every (owner, project) gets
its own Worker, branch, Netlify site or Vercel project; the short hash keeps two owners' "my-app"
apart and keeps a redeploy on the same name, hence the same URL. The service claims its names (see
``flows.placement``), but Netlify site names are global across all of Netlify's customers: there a
name can also be held outside the service, which publishing reports."""

from __future__ import annotations

import base64
import hashlib
import re

# Cloudflare script names and DNS labels (Amplify branch display names) share these rules.
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_LABEL = 63


def slug(text: str, *, max_length: int = 40) -> str:
    """Lowercase ``[a-z0-9-]`` with single dashes and none at the ends; 'site' when nothing is left."""
    lowered = text.lower()
    cleaned = re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")
    cleaned = cleaned[:max_length].strip("-")
    return cleaned or "site"


def short_hash(*parts: str, length: int = 8) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:length]


def derived_name(prefix: str, owner_id: str, project: str, *, salt: str = "") -> str:
    """``{prefix}-{slug}-{hash}``, at most 63 characters, a valid script name and DNS label.
    ``salt`` changes only the hash: two names of one project that must never meet (on a platform
    whose names are global) stay apart while reading the same."""
    tail = short_hash(owner_id, project, *([salt] if salt else []))
    room = MAX_LABEL - len(prefix) - len(tail) - 2
    name = f"{prefix}-{slug(project, max_length=max(1, room))}-{tail}"
    assert DNS_LABEL.match(name), name
    return name


def is_valid_label(name: str) -> bool:
    return bool(DNS_LABEL.match(name))


def derived_names(prefix: str, owner_id: str, project: str, count: int = 4, *, salt: str = "") -> list[str]:
    """Candidates for a project's name, best first: the readable ``derived_name`` and variants
    whose tail also hashes an attempt number, for when another site holds a name."""
    first = derived_name(prefix, owner_id, project, salt=salt)
    room = MAX_LABEL - len(prefix) - 8 - 2
    head = f"{prefix}-{slug(project, max_length=max(1, room))}-"
    salted = [salt] if salt else []
    return [first] + [head + short_hash(owner_id, project, *salted, str(attempt)) for attempt in range(1, count)]


def spare_names(first: str, seed: str, count: int = 4) -> list[str]:
    """More candidates like ``first`` (a derived name), their tails hashed with ``seed``: for when
    every derived name of a project is held, or cooling after its earlier sites were deleted. Seeded
    with the site's generation, they are new to every generation of it."""
    head, _, tail = first.rpartition("-")
    if not head or len(tail) != 8:
        head = first[: MAX_LABEL - 9].rstrip("-")
    return [f"{head}-{short_hash(first, seed, str(n))}" for n in range(count)]


def preview_key(chat_id: str | None) -> str:
    """Which preview URL a preview takes over: its chat's (one per chat, following the chat's
    newest preview), or the site's own when it has no chat. A DNS label's start: a letter first."""
    return f"c{short_hash(chat_id, length=6)}" if chat_id else "preview"


PREVIEW_PROJECT = " preview "


def preview_project(project: str, key: str) -> str:
    """The project of the site holding one chat's previews, where previews need a place of their own."""
    return f"{project}{PREVIEW_PROJECT}{key}"


def site_id(owner_id: str, platform: str, project: str, auth_mode: str) -> str:
    """Stable: the same (owner, platform, project, mode) is always the same site. A project deployed
    on the service's account and on the user's own is two sites, which never touch each other."""
    return "site_" + short_hash(owner_id, platform, project, auth_mode, length=24)
