"""The CLI's remembered hashes: unchanged files are not read again, anything that touched a file
(or a cache that is unreadable) means reading it, and racily fresh files are never remembered."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sitedeploy_cli import files as files_module
from sitedeploy_cli import hashcache
from sitedeploy_cli.files import hash_files, walk
from sitedeploy_cli.hashcache import HashCache


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "img").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<h1>one</h1>")
    (root / "img" / "a.bin").write_bytes(os.urandom(5000))
    return root


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the hasher reads."""
    seen: list[Path] = []
    real = files_module.hash_file

    def counting(source: Path, cancel: object = None) -> tuple[str, int]:
        seen.append(source)
        return real(source, cancel)  # type: ignore[arg-type]

    monkeypatch.setattr(files_module, "hash_file", counting)
    return seen


def _hash(root: Path, cache_dir: Path) -> dict[str, str]:
    return {f.path: f.sha256 for f in hash_files(walk(root), cache=HashCache(root, cache_dir))}


def test_unchanged_files_are_not_read_again(
    site: Path, tmp_path: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashcache, "RACY_SECONDS", 0.0)
    first = _hash(site, tmp_path / "cache")
    assert len(reads) == 2
    reads.clear()
    assert _hash(site, tmp_path / "cache") == first
    assert reads == []
    assert first["index.html"] == hashlib.sha256(b"<h1>one</h1>").hexdigest()


def test_a_changed_file_is_read_again_even_at_the_same_size_and_mtime(
    site: Path, tmp_path: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashcache, "RACY_SECONDS", 0.0)
    _hash(site, tmp_path / "cache")
    page = site / "index.html"
    before = page.stat()
    page.write_bytes(b"<h1>two</h1>")  # same size
    os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back; ctime cannot be
    reads.clear()
    again = _hash(site, tmp_path / "cache")
    assert reads == [page]
    assert again["index.html"] == hashlib.sha256(b"<h1>two</h1>").hexdigest()


def test_a_file_changed_just_now_is_not_remembered(site: Path, tmp_path: Path, reads: list[Path]) -> None:
    """Within the racy window a second write could keep every stat field: hash it again next time."""
    _hash(site, tmp_path / "cache")
    reads.clear()
    _hash(site, tmp_path / "cache")
    assert len(reads) == 2


@pytest.mark.parametrize("content", [b"not json", b'{"version": 1, "root": "/elsewhere", "files": {}}', b"[]"])
def test_an_unreadable_or_foreign_cache_is_ignored(
    site: Path, tmp_path: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    monkeypatch.setattr(hashcache, "RACY_SECONDS", 0.0)
    cache = HashCache(site, tmp_path / "cache")
    cache.path.parent.mkdir(parents=True)
    cache.path.write_bytes(content)
    assert _hash(site, tmp_path / "cache")["index.html"] == hashlib.sha256(b"<h1>one</h1>").hexdigest()
    assert len(reads) == 2


def test_a_cache_that_cannot_be_written_is_no_error(site: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would go")
    assert len(_hash(site, blocked)) == 2


def test_the_cache_forgets_deleted_files(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashcache, "RACY_SECONDS", 0.0)
    _hash(site, tmp_path / "cache")
    (site / "img" / "a.bin").unlink()
    _hash(site, tmp_path / "cache")
    assert set(HashCache(site, tmp_path / "cache")._entries) == {"index.html"}
