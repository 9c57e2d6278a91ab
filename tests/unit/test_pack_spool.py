"""The publisher's pack reading and indexing, over in-memory packs: each pack fetched once, every
member verified (a bad one is refused by name and never indexed), and the index written in batches
as members pass, all of it by the time ``flush`` returns."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ResponseStreamingError

from sitedeploy.stores import packs as packs_module
from sitedeploy.stores.packs import DAY, IndexWriter, PackSpool, index_expiry
from sitedeploy.stores.staging import BlobCorrupted, Packed, PackMissing, UploadReceipt
from tests.fakes.stores import InMemoryStaging


def _pack(staging: InMemoryStaging, owner: str, pack_id: str, members: list[bytes]) -> dict[str, Packed]:
    where: dict[str, Packed] = {}
    offset = 0
    for data in members:
        where[hashlib.sha256(data).hexdigest()] = Packed(pack_id, offset, len(data))
        offset += len(data)
    staging.packs[(owner, pack_id)] = b"".join(members)
    return where


class CountingStaging(InMemoryStaging):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []
        self._lock = threading.Lock()

    def open_pack(self, owner_id: str, pack_id: str) -> tuple[Any, float]:
        with self._lock:
            self.opened.append(pack_id)
        return super().open_pack(owner_id, pack_id)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Packed]] = []
        self.expiries: list[dict[str, int]] = []
        self.fail = fail

    def record(self, owner_id: str, members: Mapping[str, Packed], *, expires_at: Mapping[str, int]) -> None:
        if self.fail:
            raise RuntimeError("throttled")
        self.calls.append(dict(members))
        self.expiries.append(dict(expires_at))


def test_each_pack_is_fetched_once_and_every_member_is_verified() -> None:
    staging = CountingStaging()
    members = [f"file {i}".encode() * (i + 1) for i in range(40)] + [b""]
    layout = _pack(staging, "o", "a" * 32, members)
    with PackSpool(staging, "o") as spool, ThreadPoolExecutor(8) as pool:
        read = dict(pool.map(lambda item: (item[0], b"".join(spool.read(item[0], item[1]))), layout.items()))
        assert spool.verified == layout
    assert staging.opened == ["a" * 32]
    assert {hashlib.sha256(data).hexdigest(): data for data in members} == read


def test_a_tampered_member_is_refused_by_name_and_not_verified() -> None:
    staging = InMemoryStaging()
    layout = _pack(staging, "o", "b" * 32, [b"good one", b"bad!"])
    bad = hashlib.sha256(b"bad!").hexdigest()
    staging.packs[("o", "b" * 32)] = b"good one" + b"BAD!"
    with PackSpool(staging, "o") as spool:
        with pytest.raises(BlobCorrupted, match=r"page\.html"):
            list(spool.read(bad, layout[bad], path="page.html"))
        good = hashlib.sha256(b"good one").hexdigest()
        assert b"".join(spool.read(good, layout[good])) == b"good one"
        assert spool.verified == {good: layout[good]}


class CutOff:
    """A body that breaks after its first chunk, as a reset connection does mid-download."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        yield self._data[:3]
        raise ResponseStreamingError(error="connection reset")

    def close(self) -> None:
        return None


class FlakyStaging(InMemoryStaging):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.opened = 0

    def open_pack(self, owner_id: str, pack_id: str) -> tuple[Any, float]:
        self.opened += 1
        body, stored = super().open_pack(owner_id, pack_id)
        if self.failures:
            self.failures -= 1
            return CutOff(self.packs[(owner_id, pack_id)]), stored
        return body, stored


def test_a_download_cut_off_midway_is_fetched_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packs_module, "FETCH_BACKOFF_SECONDS", 0.0)
    staging = FlakyStaging(failures=2)
    layout = _pack(staging, "o", "9" * 32, [b"first member", b"second member"])
    with PackSpool(staging, "o") as spool:
        for sha, where in layout.items():
            assert hashlib.sha256(b"".join(spool.read(sha, where))).hexdigest() == sha
    assert staging.opened == 3


def test_a_download_that_keeps_failing_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packs_module, "FETCH_BACKOFF_SECONDS", 0.0)
    staging = FlakyStaging(failures=10)
    layout = _pack(staging, "o", "8" * 32, [b"a member", b"another"])
    sha, where = next(iter(layout.items()))
    with PackSpool(staging, "o") as spool, pytest.raises(ResponseStreamingError):
        list(spool.read(sha, where))
    assert staging.opened == packs_module.FETCH_ATTEMPTS


def test_a_missing_pack_is_named() -> None:
    with PackSpool(InMemoryStaging(), "o") as spool, pytest.raises(PackMissing, match="c" * 32):
        list(spool.read("0" * 64, Packed("c" * 32, 0, 3)))


def test_unread_members_of_a_fetched_pack_are_verified_at_the_end() -> None:
    staging = InMemoryStaging()
    layout = _pack(staging, "o", "d" * 32, [b"read", b"not read", b"also not read"])
    with PackSpool(staging, "o") as spool:
        spool.expect(layout)
        first = hashlib.sha256(b"read").hexdigest()
        list(spool.read(first, layout[first]))
        spool.verify_fetched()
        assert spool.verified == layout


def test_the_index_is_written_in_batches_as_members_pass_and_flushed() -> None:
    recorder = Recorder()
    writer = IndexWriter(recorder, "o", retention_days=30, batch=10)
    for i in range(25):
        writer.add(f"{i:064x}", Packed("e" * 32, i, 1), stored_at=1000.0)
    writer.flush()
    writer.close()
    assert sorted(len(c) for c in recorder.calls) == [5, 10, 10]  # writers run in parallel: any order
    assert set().union(*recorder.calls) == {f"{i:064x}" for i in range(25)}
    assert recorder.expiries[0] == {"e" * 32: index_expiry(1000.0, 30)}
    assert index_expiry(1000.0, 30) == 1000 + 29 * DAY  # a day before S3's lifecycle
    assert writer.written == 25


def test_an_index_failure_surfaces_at_flush() -> None:
    writer = IndexWriter(Recorder(fail=True), "o", retention_days=30, batch=2)
    writer.add("0" * 64, Packed("f" * 32, 0, 1), stored_at=0.0)
    with pytest.raises(RuntimeError, match="throttled"):
        writer.flush()
    writer.close()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"createdAt": 1, "staged": {"a": "not a size"}}',
        b'{"createdAt": 1, "staged": {}, "packed": {"a": ["../../x", 0, 1]}}',
        b'{"staged": {}}',
    ],
)
def test_a_receipt_that_is_not_one_counts_for_nothing(body: bytes) -> None:
    """A receipt is a hint: whatever is stored under its name, a bad one is None, never an error."""
    assert UploadReceipt.from_json(body) is None


def test_a_receipt_round_trips_and_is_fresh_for_an_hour() -> None:
    receipt = UploadReceipt(
        created_at=1000.0,
        staged={"a" * 64: 3},
        packed={"b" * 64: Packed("c" * 32, 5, 7)},
        new_packs={"d" * 32: 9},
        in_new_packs={"e" * 64: Packed("d" * 32, 0, 9)},
    )
    assert UploadReceipt.from_json(receipt.to_json()) == receipt
    assert receipt.fresh(1000.0 + 3600)
    assert not receipt.fresh(1000.0 + 3601)
    assert not receipt.fresh(1000.0 - 120)  # from the future: not trusted either


class SlowStaging(CountingStaging):
    """Each open takes a while and notes how many were in flight at once."""

    def __init__(self, seconds: float = 0.05) -> None:
        super().__init__()
        self.seconds = seconds
        self.in_flight = 0
        self.most = 0
        self._flight = threading.Lock()

    def open_pack(self, owner_id: str, pack_id: str) -> tuple[Any, float]:
        with self._flight:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(self.seconds)
            return super().open_pack(owner_id, pack_id)
        finally:
            with self._flight:
                self.in_flight -= 1


def test_prefetched_packs_are_fetched_side_by_side_once_each() -> None:
    """A reader going through the files in order would fetch the packs one after another; told
    what it will read, the spool fetches several at once, and a reader that gets to a pack while
    it is being fetched waits for that fetch rather than starting its own."""
    staging = SlowStaging()
    layout: dict[str, Packed] = {}
    for n in range(6):
        layout |= _pack(staging, "o", f"{n:x}" * 32, [f"pack {n} member {i}".encode() for i in range(5)])
    with PackSpool(staging, "o") as spool:
        spool.prefetch(layout.values())
        for sha, where in layout.items():
            assert hashlib.sha256(b"".join(spool.read(sha, where))).hexdigest() == sha
    assert sorted(staging.opened) == sorted({where.pack for where in layout.values()})
    assert staging.most >= 2


def test_prefetch_fetches_nothing_already_spooled_and_close_waits_for_it() -> None:
    staging = SlowStaging(seconds=0.2)
    layout = _pack(staging, "o", "e" * 32, [b"one", b"two"]) | _pack(staging, "o", "f" * 32, [b"three"])
    sha, where = next(iter(layout.items()))
    spool = PackSpool(staging, "o")
    list(spool.read(sha, where))
    spool.prefetch(layout.values())
    spool.close()  # with the second pack still in flight: waits, then removes the folder
    assert staging.in_flight == 0
    assert sorted(staging.opened) == ["e" * 32, "f" * 32]
    assert not os.path.exists(spool.folder)


def test_a_prefetch_that_fails_leaves_the_read_to_fetch_and_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prefetch that gives up is neither remembered nor raised to anyone: the reader fetches the
    pack itself (here the network has recovered by then, and it gets every byte), or, when the pack
    is not there at all, the reader's own fetch is what names it."""
    monkeypatch.setattr(packs_module, "FETCH_BACKOFF_SECONDS", 0.0)
    staging = FlakyStaging(failures=packs_module.FETCH_ATTEMPTS)  # every attempt of the prefetch
    layout = _pack(staging, "o", "6" * 32, [b"first member", b"second member"])
    sha, where = next(iter(layout.items()))
    with PackSpool(staging, "o") as spool:
        spool.prefetch([where])
        deadline = time.monotonic() + 5
        while staging.opened < packs_module.FETCH_ATTEMPTS and time.monotonic() < deadline:
            time.sleep(0.01)  # the prefetch holds the pack's lock through its attempts: the read waits
        assert b"".join(spool.read(sha, where)) == b"first member"
    assert staging.opened == packs_module.FETCH_ATTEMPTS + 1  # the prefetch's attempts, then the reader's one

    missing = Packed("7" * 32, 0, 3)
    with PackSpool(CountingStaging(), "o") as spool:
        spool.prefetch([missing])
        with pytest.raises(PackMissing, match="7" * 32):
            list(spool.read("0" * 64, missing))


def test_sha1s_read_each_pack_once_in_order_and_verify_every_member() -> None:
    """Netlify and Vercel need every new file's SHA-1 before anything is sent: a pack is read from
    start to end once, each member checked against its sha256 on the way, rather than a thousand
    reads of a member each."""
    staging = SlowStaging(seconds=0.02)
    layout: dict[str, Packed] = {}
    contents: dict[str, bytes] = {}
    for n in range(5):
        members = [f"pack {n} member {i} ".encode() * (i + 1) for i in range(9)]
        layout |= _pack(staging, "o", f"{n:x}" * 32, members)
        contents |= {hashlib.sha256(m).hexdigest(): m for m in members}
    passed: list[str] = []
    heard: list[tuple[str, str, bytes]] = []
    with PackSpool(staging, "o") as spool:
        spool.on_verified = lambda sha, where, stored: passed.append(sha)
        sha1s = spool.sha1s(
            {sha: (where, f"path/{sha[:6]}") for sha, where in layout.items()},
            fresh=lambda sha, sha1, data: heard.append((sha, sha1, data)),
        )
        assert spool.verified == layout
    assert sha1s == {sha: hashlib.sha1(data).hexdigest() for sha, data in contents.items()}
    # Each member handed on once, with its own bytes and digest (for an early upload).
    assert sorted(heard) == sorted((sha, hashlib.sha1(data).hexdigest(), data) for sha, data in contents.items())
    assert sorted(staging.opened) == sorted({where.pack for where in layout.values()})
    assert staging.most >= 2  # packs side by side
    assert sorted(passed) == sorted(layout)


def test_sha1s_refuse_a_tampered_member_by_its_path() -> None:
    staging = InMemoryStaging()
    layout = _pack(staging, "o", "a" * 32, [b"good", b"evil"])
    staging.packs[("o", "a" * 32)] = b"goodEVIL"
    heard: list[bytes] = []
    with PackSpool(staging, "o") as spool, pytest.raises(BlobCorrupted, match=r"page\.html"):
        spool.sha1s(
            {sha: (where, "page.html") for sha, where in layout.items()},
            fresh=lambda sha, sha1, data: heard.append(data),
        )
    assert heard == [b"good"]  # the tampered member's bytes are never handed on


def _listing(folder: str) -> list[str]:
    return sorted(name for _, _, names in os.walk(folder) for name in names)


@pytest.mark.parametrize("budget", [0, 10, 64 * 1024 * 1024])
def test_packs_are_read_alike_from_memory_and_from_spooled_files(
    budget: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the budget a pack is kept whole; past it (mid-download too: 4-byte chunks here, so a
    pack of 10 and more bytes runs out part-way) it goes to a file. Every member reads back, and is
    verified, the same either way; close removes the files."""
    monkeypatch.setattr(packs_module, "CHUNK", 4)
    staging = CountingStaging()
    small = _pack(staging, "o", "1" * 32, [b"tiny", b"bits"])  # 8 bytes
    large = _pack(staging, "o", "2" * 32, [b"a larger member", b"and another"])  # 26 bytes
    with PackSpool(staging, "o", str(tmp_path), memory_bytes=budget) as spool:
        for layout in (small, large):
            for sha, where in layout.items():
                assert hashlib.sha256(b"".join(spool.read(sha, where))).hexdigest() == sha
        assert spool.verified == {**small, **large}
        kept = [pack for pack in ("1" * 32, "2" * 32) if spool.in_memory(pack)]
        assert kept == {0: [], 10: ["1" * 32], 64 * 1024 * 1024: ["1" * 32, "2" * 32]}[budget]
        on_disk = _listing(str(tmp_path))
        assert on_disk == sorted({"1" * 32, "2" * 32} - set(kept))
        digests = spool.sha1s({sha: (where, None) for sha, where in large.items()})
        expected = [b"a larger member", b"and another"]
        assert digests == {sha: hashlib.sha1(data).hexdigest() for sha, data in zip(large, expected, strict=True)}
    assert _listing(str(tmp_path)) == []
    assert staging.opened == ["1" * 32, "2" * 32]


def test_a_download_cut_off_gives_back_the_memory_it_took(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack cut off mid-body is fetched again; what the broken attempt took from the budget is
    given back, so the second attempt (and the next pack) still fit in memory."""
    monkeypatch.setattr(packs_module, "FETCH_BACKOFF_SECONDS", 0.0)
    staging = FlakyStaging(failures=1)
    first = _pack(staging, "o", "3" * 32, [b"twelve bytes"])
    second = _pack(staging, "o", "4" * 32, [b"twelve more!"])
    with PackSpool(staging, "o", memory_bytes=24) as spool:
        for layout in (first, second):
            for sha, where in layout.items():
                assert hashlib.sha256(b"".join(spool.read(sha, where))).hexdigest() == sha
        assert spool.in_memory("3" * 32)
        assert spool.in_memory("4" * 32)
