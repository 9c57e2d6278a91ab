"""Early uploads to Vercel hold a bounded number of bytes, send each digest once, and stop after a
failure: the reading threads of the SHA-1 pass wait for room rather than fill the memory. And what
the pass hands them: only contents it held whole."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from typing import IO, cast

import pytest

from sitedeploy.platforms.base import FRESH_MAX_BYTES, SiteFile, compute_sha1s
from sitedeploy.platforms.vercel.api import VercelApi, VercelError
from sitedeploy.platforms.vercel.deploy import EarlyUploads, Uploaded, VercelDeployer


class HeldDeployer(VercelDeployer):
    """Each upload waits for ``go``; what was sent, and the most bytes held at once, are noted."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__(cast(VercelApi, None), upload_concurrency=4)
        self.go = threading.Event()
        self.sent: list[str] = []
        self.fail = fail
        self._lock = threading.Lock()

    def send_file(self, digest: str, body: bytes | IO[bytes], size: int, *, what: str) -> None:
        assert self.go.wait(10)
        if self.fail:
            raise VercelError("refused", status=400)
        with self._lock:
            self.sent.append(digest)


def _offer_in_thread(early: EarlyUploads, digest: str, data: bytes) -> threading.Thread:
    thread = threading.Thread(target=early.offer, args=("sha256-" + digest, digest, data))
    thread.start()
    return thread


def test_a_reader_waits_while_the_budget_is_held_and_goes_on_when_an_upload_lands() -> None:
    deployer = HeldDeployer()
    progress: list[tuple[int, int]] = []
    with EarlyUploads(deployer, lambda sent, total: progress.append((sent, total)), 300, budget=100) as early:
        early.offer("a", "d-a", b"x" * 60)  # room for it
        waiting = _offer_in_thread(early, "d-b", b"y" * 60)  # 120 > 100: waits
        waiting.join(0.3)
        assert waiting.is_alive()
        deployer.go.set()
        waiting.join(10)
        assert not waiting.is_alive()
    assert sorted(deployer.sent) == ["d-a", "d-b"]
    assert early.sent == Uploaded(2, 120)
    assert sorted(progress)[-1] == (120, 300)


def test_one_file_larger_than_the_budget_still_goes_alone() -> None:
    deployer = HeldDeployer()
    deployer.go.set()
    with EarlyUploads(deployer, None, 500, budget=100) as early:
        early.offer("a", "d-a", b"x" * 400)
        early.offer("b", "d-b", b"y" * 10)
    assert sorted(deployer.sent) == ["d-a", "d-b"]


def test_a_digest_offered_twice_is_sent_once() -> None:
    deployer = HeldDeployer()
    deployer.go.set()
    with EarlyUploads(deployer, None, 10) as early:
        early.offer("a", "d-a", b"same")
        early.offer("a", "d-a", b"same")
    assert deployer.sent == ["d-a"]
    assert early.sent == Uploaded(1, 4)


def test_after_a_failure_nothing_more_is_tried_and_nothing_is_counted() -> None:
    deployer = HeldDeployer(fail=True)
    deployer.go.set()
    with EarlyUploads(deployer, None, 100) as early:
        early.offer("a", "d-a", b"x" * 8)
        deadline = time.monotonic() + 10
        while not early.failed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert early.failed
        deployer.fail = False
        early.offer("b", "d-b", b"y" * 8)
    assert deployer.sent == []
    assert early.sent == Uploaded(0, 0)


def test_a_streamed_content_is_handed_on_whole_only_up_to_the_limit() -> None:
    """Blobs stream in chunks: a small one is kept whole for ``fresh``, a large one is never held."""
    small, large = b"s" * 1000, b"L" * (FRESH_MAX_BYTES + 1)
    files = [
        SiteFile(name, hashlib.sha256(data).hexdigest(), len(data), "application/octet-stream")
        for name, data in (("small.bin", small), ("large.bin", large))
    ]
    data = {"small.bin": small, "large.bin": large}

    def read(site_file: SiteFile) -> Iterator[bytes]:
        whole = data[site_file.path]
        return iter([whole[i : i + 4096] for i in range(0, len(whole), 4096)])

    heard: list[tuple[str, str, bytes]] = []
    digests = compute_sha1s(files, read, fresh=lambda sha, sha1, got: heard.append((sha, sha1, got)))
    assert digests == {f.sha256: hashlib.sha1(data[f.path]).hexdigest() for f in files}
    assert heard == [(files[0].sha256, hashlib.sha1(small).hexdigest(), small)]


def test_a_failed_pass_drops_what_is_still_queued() -> None:
    """A pass that fails (a corrupted member) ends the deployment: uploads in flight finish, the
    queued ones are not sent."""
    deployer = HeldDeployer()
    deployer.upload_concurrency = 1

    def failing_pass() -> None:
        with EarlyUploads(deployer, None, 100) as early:
            early.offer("a", "d-a", b"x")  # in flight, held
            early.offer("b", "d-b", b"y")  # queued behind it
            threading.Timer(0.2, deployer.go.set).start()
            raise RuntimeError("corrupted")

    with pytest.raises(RuntimeError, match="corrupted"):
        failing_pass()
    assert deployer.sent == ["d-a"]
