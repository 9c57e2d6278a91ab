"""Remembered hashes: a file whose size, mtime, ctime and inode are what they were when it was last
hashed is not read again. A redeploy of a large build folder then costs a walk, not a read.

The rules are git's index rules. Any write to a file moves its ctime, which no tool can set back,
so a match means the bytes are the ones hashed. A file changed within ``RACY_SECONDS`` of being
hashed could change again inside the same timestamp tick, so such a file is never remembered: it is
hashed again next time. The cache is a convenience: a cache that cannot be read or written is
ignored, never an error. One file per site folder under ``$SITEDEPLOY_CACHE_DIR`` (else
``$XDG_CACHE_HOME/sitedeploy`` or ``~/.cache/sitedeploy``) holds the entries of the last run only."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from sitedeploy_cli.files import HashedFile, SiteFile

VERSION = 1
RACY_SECONDS = 2.0


def cache_dir() -> Path:
    explicit = os.environ.get("SITEDEPLOY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sitedeploy"


def _stamp(file: SiteFile) -> list[int]:
    return [file.size, file.mtime_ns, file.ctime_ns, file.inode]


class HashCache:
    """The hashes of one site folder's files as of the last run."""

    def __init__(self, root: Path, folder: Path | None = None) -> None:
        self.root = str(root.resolve())
        name = hashlib.sha256(self.root.encode()).hexdigest()[:32]
        self.path = (folder or cache_dir()) / "hashes" / f"{name}.json"
        self._entries: dict[str, list[object]] = {}
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            data = json.loads(self.path.read_bytes())
            if data.get("version") == VERSION and data.get("root") == self.root:
                self._entries = dict(data["files"])

    def lookup(self, file: SiteFile) -> str | None:
        """The remembered sha256 when the file is exactly as it was then, else None."""
        entry = self._entries.get(file.path)
        if not isinstance(entry, list) or len(entry) != 5 or entry[:4] != _stamp(file):
            return None
        sha256 = entry[4]
        return sha256 if isinstance(sha256, str) and len(sha256) == 64 else None

    def save(self, files: Iterable[tuple[SiteFile, HashedFile]]) -> None:
        """Remember these hashes (and forget every other file), skipping racily fresh files."""
        newest = time.time_ns() - int(RACY_SECONDS * 1e9)
        entries = {
            site_file.path: [*_stamp(site_file), hashed.sha256]
            for site_file, hashed in files
            if site_file.mtime_ns < newest and site_file.ctime_ns < newest and hashed.size == site_file.size
        }
        body = json.dumps({"version": VERSION, "root": self.root, "files": entries}, separators=(",", ":"))
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".hashes-")
            try:
                with os.fdopen(handle, "w") as out:
                    out.write(body)
                os.replace(temporary, self.path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
