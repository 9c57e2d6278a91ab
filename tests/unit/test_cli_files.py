"""The CLI's view of a build folder: ignore rules, the walk, hashing and the manifests it sends."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from sitedeploy_cli import files as files_module
from sitedeploy_cli.files import (
    FolderError,
    blobs,
    deploy_manifest,
    hash_file,
    hash_files,
    total_bytes,
    uploads_manifest,
    walk,
)
from sitedeploy_cli.ignore import IgnoreRules, compile_rule
from sitedeploy_cli.parallel import Cancelled
from tests.helpers import write_folder


def _paths(root: Path) -> list[str]:
    return [f.path for f in walk(root)]


@pytest.mark.parametrize(
    ("rules", "path", "is_dir", "ignored"),
    [
        (["*.map"], "app.js.map", False, True),
        (["*.map"], "assets/deep/app.js.map", False, True),
        (["*.map"], "app.js", False, False),
        (["/*.map"], "assets/app.js.map", False, False),  # a leading slash anchors to the root
        (["/*.map"], "app.js.map", False, True),
        (["assets/*.txt"], "assets/a.txt", False, True),
        (["assets/*.txt"], "x/assets/a.txt", False, False),  # a middle slash anchors as well
        (["assets/*.txt"], "assets/sub/a.txt", False, False),  # * does not cross folders
        (["**/fixtures"], "a/b/fixtures", True, True),
        (["**/fixtures"], "fixtures", True, True),
        (["docs/**"], "docs/a/b.md", False, True),
        (["a/**/z.txt"], "a/z.txt", False, True),
        (["a/**/z.txt"], "a/b/c/z.txt", False, True),
        (["a/**/z.txt"], "b/a/z.txt", False, False),
        (["tmp/"], "tmp", True, True),
        (["tmp/"], "tmp", False, False),  # a trailing slash matches folders only
        (["tmp/"], "tmp/x.txt", False, True),  # ...and so everything inside them
        (["file?.txt"], "file1.txt", False, True),
        (["file?.txt"], "file10.txt", False, False),
        (["file[0-9].txt"], "file7.txt", False, True),
        (["file[!0-9].txt"], "file7.txt", False, False),
        (["file[!0-9].txt"], "filex.txt", False, True),
        (["*.log", "!keep.log"], "keep.log", False, False),
        (["*.log", "!keep.log"], "drop.log", False, True),
        (["!keep.log", "*.log"], "keep.log", False, True),  # the last match decides
        (["# a comment", "", "   "], "# a comment", False, False),
        (["\\#hash"], "#hash", False, True),
        (["\\!bang"], "!bang", False, True),
        (["trailing   "], "trailing", False, True),
        (["a[b"], "a[b", False, True),  # an unclosed bracket is a literal
        (["*"], "anything/at/all", False, True),
    ],
)
def test_gitignore_rules(rules: list[str], path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules(rules).ignores(path, is_dir) is ignored


def test_builtin_junk_is_ignored_and_some_of_it_can_be_brought_back() -> None:
    rules = IgnoreRules()
    for junk in (".DS_Store", "assets/.DS_Store", "Thumbs.db", ".git/config", "node_modules/x/index.js"):
        assert rules.ignores(junk), junk
    assert rules.ignores(".sitedeploy/local.json")
    assert rules.ignores(".assetsignore")
    assert not rules.ignores("sub/.assetsignore")  # only the root one configures the walk
    for kept in ("_headers", "_redirects", "index.html", ".well-known/security.txt", "gitkeep"):
        assert not rules.ignores(kept), kept
    again = IgnoreRules(["!node_modules/", "!.git/", "!.sitedeploy/"])
    assert not again.ignores("node_modules/x/index.js")
    assert again.ignores(".git/config")  # never: history
    assert again.ignores(".sitedeploy/local.json")  # never: it holds a token


def test_blank_and_comment_lines_compile_to_nothing() -> None:
    assert compile_rule("") is None
    assert compile_rule("# nothing") is None
    assert compile_rule("/") is None


def test_walk_applies_assetsignore_and_sends_config_files(tmp_path: Path) -> None:
    root = write_folder(
        tmp_path,
        {
            "index.html": b"<h1>hi</h1>",
            "_headers": b"/*\n  X-Test: 1\n",
            "_redirects": b"/old /new 301\n",
            ".assetsignore": b"*.map\nsecret/\n!important.map\n",
            "assets/app.js": b"1",
            "assets/app.js.map": b"{}",
            "important.map": b"{}",
            "secret/key.txt": b"k",
            ".DS_Store": b"junk",
            "node_modules/lib/index.js": b"x",
            ".git/HEAD": b"ref",
            ".sitedeploy/local.json": b"{}",
        },
    )
    assert _paths(root) == ["_headers", "_redirects", "assets/app.js", "important.map", "index.html"]


def test_walk_records_sizes_and_sources(tmp_path: Path) -> None:
    root = write_folder(tmp_path, {"a/b/c.bin": b"\x00" * 10})
    [found] = walk(root)
    assert found.path == "a/b/c.bin"
    assert found.source == root / "a" / "b" / "c.bin"
    assert found.size == 10


def test_walk_refuses_missing_empty_and_non_folders(tmp_path: Path) -> None:
    with pytest.raises(FolderError, match="no such folder"):
        walk(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FolderError, match="not a folder"):
        walk(tmp_path / "file.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FolderError, match="no files to deploy"):
        walk(empty)
    (empty / ".DS_Store").write_text("x")
    with pytest.raises(FolderError, match="no files to deploy"):
        walk(empty)


def test_symlinks_inside_are_followed_and_outside_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    root = write_folder(tmp_path / "site", {"index.html": b"i", "assets/real.js": b"1"})
    (root / "alias.js").symlink_to(root / "assets" / "real.js")
    (root / "linked").symlink_to(root / "assets", target_is_directory=True)
    assert _paths(root) == ["alias.js", "assets/real.js", "index.html", "linked/real.js"]
    (root / "leak.txt").symlink_to(outside)
    with pytest.raises(FolderError, match="outside"):
        walk(root)
    (root / ".assetsignore").write_text("leak.txt\n")
    assert "leak.txt" not in _paths(root)  # an ignored link is not looked at


def test_symlinked_folder_outside_and_loops_are_refused(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "site", {"index.html": b"i"})
    (root / "up").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(FolderError, match="outside"):
        walk(root)
    (root / "up").unlink()
    (root / "sub").mkdir()
    (root / "sub" / "loop").symlink_to(root / "sub", target_is_directory=True)
    with pytest.raises(FolderError, match="loop"):
        walk(root)


def test_broken_symlink_is_refused(tmp_path: Path) -> None:
    root = write_folder(tmp_path, {"index.html": b"i"})
    (root / "gone.js").symlink_to(root / "missing.js")
    with pytest.raises(FolderError, match="broken symlink"):
        walk(root)


@pytest.mark.skipif(os.name != "posix", reason="fifos are POSIX")
def test_special_files_are_refused(tmp_path: Path) -> None:
    root = write_folder(tmp_path, {"index.html": b"i"})
    os.mkfifo(root / "pipe")
    with pytest.raises(FolderError, match="not a regular file"):
        walk(root)


@pytest.mark.skipif(os.name != "posix", reason="bytes file names are POSIX")
def test_names_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    root = write_folder(tmp_path, {"index.html": b"i"})
    try:
        (Path(os.fsdecode(bytes(root)) + "/" + os.fsdecode(b"bad\xff.txt"))).write_text("x")
    except OSError:
        pytest.skip("the file system refuses non-UTF-8 names")
    with pytest.raises(FolderError, match="not valid UTF-8"):
        walk(root)


def test_names_the_server_refuses_are_still_sent(tmp_path: Path) -> None:
    """The server judges paths (and names the bad one); the client does not second-guess it."""
    root = write_folder(tmp_path, {"index.html": b"i", "back\\slash.txt": b"b", "tab\there.txt": b"t"})
    assert _paths(root) == ["back\\slash.txt", "index.html", "tab\there.txt"]


def test_hash_file_streams_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files_module, "CHUNK_BYTES", 7)
    monkeypatch.setattr(files_module, "_buffers", threading.local())
    data = os.urandom(1000)
    (tmp_path / "x.bin").write_bytes(data)
    assert hash_file(tmp_path / "x.bin") == (hashlib.sha256(data).hexdigest(), 1000)
    (tmp_path / "empty").write_bytes(b"")
    assert hash_file(tmp_path / "empty") == (hashlib.sha256(b"").hexdigest(), 0)


def test_hash_file_stops_when_cancelled(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"x" * 10)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        hash_file(tmp_path / "x.bin", cancel)


def test_hash_files_in_parallel_gives_path_order_and_counts_each_file(tmp_path: Path) -> None:
    contents = {f"f{i:03}.bin": os.urandom(i * 37) for i in range(60)}
    contents["dup.bin"] = contents["f010.bin"]
    root = write_folder(tmp_path, contents)
    seen: list[str] = []
    lock = threading.Lock()

    def count(file: files_module.SiteFile) -> None:
        with lock:
            seen.append(file.path)

    hashed = hash_files(walk(root), on_file=count, workers=8)
    assert [h.path for h in hashed] == sorted(contents)
    assert sorted(seen) == sorted(contents)
    for h in hashed:
        assert h.sha256 == hashlib.sha256(contents[h.path]).hexdigest()
        assert h.size == len(contents[h.path])
    assert total_bytes(hashed) == sum(len(v) for v in contents.values())
    assert deploy_manifest(hashed) == {p: hashlib.sha256(v).hexdigest() for p, v in contents.items()}
    entries = uploads_manifest(hashed)
    assert len(entries) == len(contents)
    assert entries[0] == {"path": "dup.bin", "sha256": hashlib.sha256(contents["dup.bin"]).hexdigest(), "size": 370}
    by_hash = blobs(hashed)
    assert len(by_hash) == len(contents) - 1  # identical bytes are one blob
    assert by_hash[hashlib.sha256(contents["dup.bin"]).hexdigest()].path == "dup.bin"


def test_unreadable_file_is_a_folder_error(tmp_path: Path) -> None:
    root = write_folder(tmp_path, {"index.html": b"i", "locked.txt": b"x"})
    found = walk(root)
    (root / "locked.txt").unlink()  # gone between the walk and the hash
    with pytest.raises(FolderError, match=r"locked\.txt: cannot read"):
        hash_files(found)


def test_files_are_hashed_in_batches_bounded_by_count_and_bytes(tmp_path: Path) -> None:
    """A task per small file costs more in thread hand-offs than hashing it (1,000 files: 0.25 s
    against 0.07 s in one loop), so files go to the pool in batches; a large file is a batch of its
    own, so one worker is never handed a run of large files while the others sit idle."""
    sizes = [100] * 70 + [3 * 1024 * 1024, 5 * 1024 * 1024] + [100] * 5
    contents = {f"f{i:03}.bin": os.urandom(size) for i, size in enumerate(sizes)}
    found = walk(write_folder(tmp_path, contents))
    batches = files_module.hash_batches(found)
    assert [f for batch in batches for f in batch] == found  # every file once, in order
    assert all(len(batch) <= files_module.BATCH_FILES for batch in batches)
    assert all(len(batch) == 1 or sum(f.size for f in batch) <= files_module.BATCH_BYTES for batch in batches)
    (alone,) = [batch for batch in batches if any(f.size > files_module.BATCH_BYTES for f in batch)]
    assert [f.path for f in alone] == ["f071.bin"]
    assert len(batches) < len(found) // 10
