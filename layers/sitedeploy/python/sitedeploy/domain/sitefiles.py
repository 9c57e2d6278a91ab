"""A site's files: paths, limits, content types and the manifest the publisher works from.

Paths arrive from browsers and terminals in every shape; they are normalised once, here, to the
relative POSIX form a site is served under, and anything that could escape the site root or be
ambiguous (``..``, absolute, backslashes, control characters, empty segments) is refused with a
message that names the path."""

from __future__ import annotations

import mimetypes
import posixpath
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024
MAX_PATH_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255
SHA256_PATTERN = r"^[0-9a-f]{64}$"

# Files that configure the host rather than being served (Cloudflare reads them into the config).
HEADERS_FILE = "_headers"
REDIRECTS_FILE = "_redirects"
ASSETSIGNORE_FILE = ".assetsignore"
CONFIG_FILES = frozenset({HEADERS_FILE, REDIRECTS_FILE, ASSETSIGNORE_FILE})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# What the platforms serve for types Python's table lacks or gets wrong on some systems.
_EXTRA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".xml": "application/xml",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".pdf": "application/pdf",
}

# Already compressed: deflating them again wastes the publisher's CPU for nothing.
INCOMPRESSIBLE_EXTENSIONS = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".ico", ".woff", ".woff2", ".zip", ".gz",
        ".tgz", ".br", ".zst", ".xz", ".bz2", ".7z", ".mp4", ".webm", ".mov", ".mp3", ".ogg", ".m4a",
        ".pdf", ".wasm",
    }
)  # fmt: skip


class PathError(ValueError):
    """A path that cannot be part of a site; the message names it."""


def normalize_path(raw: str) -> str:
    """``/assets//app.js`` is not accepted, ``/assets/app.js`` and ``assets/app.js`` both become
    ``assets/app.js``. Raises PathError naming the path for anything else."""
    if not isinstance(raw, str) or raw == "":
        raise PathError("path must be a non-empty string")
    shown = raw[:80] + ("…" if len(raw) > 80 else "")
    if len(raw) > MAX_PATH_LENGTH:
        raise PathError(f"path {shown!r} is longer than {MAX_PATH_LENGTH} characters")
    if _CONTROL.search(raw):
        raise PathError(f"path {shown!r} contains a control character")
    if "\\" in raw:
        raise PathError(f"path {shown!r} contains a backslash")
    path = raw[1:] if raw.startswith("/") else raw
    if path.startswith("/"):
        raise PathError(f"path {shown!r} is absolute")
    if path.endswith("/"):
        raise PathError(f"path {shown!r} names a folder, not a file")
    segments = path.split("/")
    for segment in segments:
        if segment == "":
            raise PathError(f"path {shown!r} has an empty segment")
        if segment in {".", ".."}:
            raise PathError(f"path {shown!r} has a {segment!r} segment")
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise PathError(f"path {shown!r} has a segment longer than {MAX_SEGMENT_LENGTH} characters")
    if re.match(r"^[A-Za-z]:", segments[0]):
        raise PathError(f"path {shown!r} looks like a drive letter")
    return path


def extension(path: str) -> str:
    """The lowercase extension with its dot, or '' (``.well-known/x`` and ``Makefile`` have none)."""
    _, ext = posixpath.splitext(posixpath.basename(path))
    return ext.lower()


def content_type(path: str) -> str:
    """The type visitors get; text types carry charset=utf-8 as Cloudflare's own CLI sends them."""
    ext = extension(path)
    guessed = (_EXTRA_TYPES.get(ext) or mimetypes.guess_type("x" + ext)[0]) if ext else None
    base = guessed or "application/octet-stream"
    if base.startswith("text/") or base in {"application/javascript", "image/svg+xml"}:
        return f"{base}; charset=utf-8"
    return base


def is_compressible(path: str) -> bool:
    return extension(path) not in INCOMPRESSIBLE_EXTENSIONS


@dataclass(frozen=True)
class Limits:
    """Bounds checked before any work. The defaults are Cloudflare's (Free plan file count)."""

    max_files: int = 20_000
    max_file_bytes: int = 25 * MIB
    max_total_bytes: int | None = None


PACK_ID_PATTERN = r"^[0-9a-f]{32}$"


class ManifestEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    path: str
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)]
    size: Annotated[int, Field(ge=0)]
    content_type: str = Field(alias="contentType")
    # Where the bytes are when they came in a pack (many small files in one upload): the pack's
    # id and the offset of these bytes in it. None: a blob of its own.
    pack: Annotated[str, Field(pattern=PACK_ID_PATTERN)] | None = None
    offset: Annotated[int, Field(ge=0)] | None = None


class SiteManifest(BaseModel):
    """The publisher's one input: every file of the site, pointing at a staged blob by sha256."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    files: list[ManifestEntry]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def by_path(self) -> dict[str, ManifestEntry]:
        return {f.path: f for f in self.files}

    def served(self) -> list[ManifestEntry]:
        """Files visitors get; the root ``_headers``/``_redirects``/``.assetsignore`` configure the host."""
        return [f for f in self.files if f.path not in CONFIG_FILES]

    def config_file(self, name: str) -> ManifestEntry | None:
        return self.by_path().get(name)


@dataclass(frozen=True)
class RedirectLine:
    """One non-blank, non-comment line of a ``_redirects`` file, as every platform that translates
    the file reads it: ``from to [status][!]``. ``usable`` is False for lines of another shape or
    with conditions (``key=value``), which no translation carries; ``raw`` names the line when a
    platform skips it."""

    raw: str
    source: str
    target: str
    status: str  # as written without ``!``; "301" when absent
    usable: bool


def redirect_lines(text: str | None) -> list[RedirectLine]:
    """The lines of a ``_redirects`` file in order, comments (whole-line or trailing) dropped."""
    lines: list[RedirectLine] = []
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        parts = line.split()
        usable = len(parts) in (2, 3) and "=" not in line
        status = parts[2].rstrip("!") if len(parts) >= 3 else "301"
        lines.append(RedirectLine(raw.strip(), parts[0], parts[1] if len(parts) > 1 else "", status, usable))
    return lines


_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_STATUS = re.compile(r"^\d{3}!?$")


def proxy_lines(text: str | None) -> list[tuple[int, str, str]]:
    """The ``_redirects`` lines that would make the host fetch another origin for its visitors (a
    200 rewrite to an absolute URL: a reverse proxy, on Netlify, Vercel and Amplify alike), as
    (line number, the line, the destination). A line's status is its first ``NNN`` or ``NNN!``
    token after the destination (conditions may follow it), 301 when it has none."""
    found: list[tuple[int, str, str]] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        parts = line.split()
        if len(parts) < 2:
            continue
        tokens = parts[1:]
        while tokens and "=" in tokens[0] and not _EXTERNAL.match(tokens[0]) and not tokens[0].startswith("/"):
            tokens = tokens[1:]  # query parameter matches come before the destination
        if not tokens:
            continue
        destination = tokens[0]
        status = next((t.rstrip("!") for t in tokens[1:] if _STATUS.match(t)), "301")
        if status == "200" and _EXTERNAL.match(destination):
            found.append((number, raw.strip(), destination))
    return found


def check_limits(sizes: dict[str, int], limits: Limits) -> None:
    """Raise ValueError naming the first path or bound that is over."""
    if len(sizes) > limits.max_files:
        raise ValueError(f"{len(sizes)} files is more than the limit of {limits.max_files}")
    for path, size in sizes.items():
        if size > limits.max_file_bytes:
            raise ValueError(f"file {path!r} is {size} bytes, over the limit of {limits.max_file_bytes} bytes per file")
    total = sum(sizes.values())
    if limits.max_total_bytes is not None and total > limits.max_total_bytes:
        raise ValueError(f"the site is {total} bytes, over the limit of {limits.max_total_bytes} bytes")
