"""The shared upload helpers: re-readable bodies, and bounded parallel uploads with progress."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from sitedeploy.platforms import uploads
from sitedeploy.platforms.base import SiteFile
from sitedeploy.platforms.uploads import resendable, upload_all
from sitedeploy.platforms.vercel import deploy as vercel_deploy


def _file(size: int) -> SiteFile:
    return SiteFile("f.bin", "0" * 64, size, "application/octet-stream")


def test_a_small_body_is_bytes_and_a_large_one_a_rewindable_file() -> None:
    def read(site_file: SiteFile) -> Iterator[bytes]:
        yield b"ab"
        yield b"cdef"

    with resendable(_file(4), read, in_memory=4) as small:
        assert small == b"abcdef"
    with resendable(_file(6), read, in_memory=4) as large:
        assert not isinstance(large, bytes)
        assert large.read() == b"abcdef"
        large.seek(0)
        assert large.read() == b"abcdef"
    assert large.closed


def test_a_read_that_fails_midway_leaves_no_spooled_file(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []
    real = tempfile.TemporaryFile

    def tracking(*args: object, **kwargs: object) -> object:
        handle = real()
        opened.append(handle)
        return handle

    monkeypatch.setattr(tempfile, "TemporaryFile", tracking)

    def read(site_file: SiteFile) -> Iterator[bytes]:
        yield b"ab"
        raise OSError("the blob went away")

    with pytest.raises(OSError, match="went away"), resendable(_file(10), read, in_memory=1):
        pass
    assert len(opened) == 1
    assert opened[0].closed  # type: ignore[attr-defined]


def test_progress_counts_on_from_earlier_rounds() -> None:
    seen: list[tuple[int, int]] = []
    files, sent = upload_all(
        [3, 4, 5],
        lambda item: None,
        lambda item: item,
        concurrency=2,
        progress=lambda done, total: seen.append((done, total)),
        sent_before=(1, 10),
    )
    assert (files, sent) == (4, 22)
    assert seen[0] == (10, 22)
    assert seen[-1] == (22, 22)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_the_first_failure_stops_uploads_not_yet_started() -> None:
    """A permanent refusal used to let every queued upload run to the end before the error
    surfaced: a large site kept a Lambda uploading for a deployment that had already failed."""
    started: list[int] = []
    lock = threading.Lock()
    first_failed = threading.Event()

    def send(item: int) -> None:
        with lock:
            started.append(item)
        if item == 0:
            first_failed.set()
            raise RuntimeError("refused")
        first_failed.wait(1.0)

    with pytest.raises(RuntimeError, match="refused"):
        upload_all(list(range(200)), send, lambda item: 1, concurrency=2, progress=None)
    assert len(started) <= 3  # the failing one and what the other worker had begun


def test_a_failure_behind_a_slow_upload_still_stops_the_queue() -> None:
    """Waiting in submission order would let a slow first upload hide a later failure while the
    pool went on starting the rest."""
    started: list[int] = []
    lock = threading.Lock()
    failed = threading.Event()
    release = threading.Event()

    def send(item: int) -> None:
        with lock:
            started.append(item)
        if item == 0:
            release.wait(5.0)  # slow, and still running when item 1 fails
        elif item == 1:
            failed.set()
            raise RuntimeError("refused")
        else:
            time.sleep(0.01)

    def watch() -> None:
        failed.wait(5.0)
        time.sleep(0.3)  # the failure has had time to stop the queue
        release.set()

    threading.Thread(target=watch, daemon=True).start()
    with pytest.raises(RuntimeError, match="refused"):
        upload_all(list(range(200)), send, lambda item: 1, concurrency=2, progress=None)
    assert len(started) <= 3  # the failing one and what the other worker had begun


def test_a_caller_may_hold_less_in_memory_than_the_default() -> None:
    """Netlify's bodies take the default bound; Vercel's, 32 at a time, a smaller one."""

    def read(site_file: SiteFile) -> Iterator[bytes]:
        yield b"x" * site_file.size

    with resendable(_file(uploads.IN_MEMORY_BYTES), read) as at_bound:
        assert isinstance(at_bound, bytes)
    with resendable(_file(vercel_deploy.IN_MEMORY_BYTES + 1), read, in_memory=vercel_deploy.IN_MEMORY_BYTES) as over:
        assert not isinstance(over, bytes)
