"""Packs: many small files uploaded as one S3 object (``packs/<owner key>/<pack id>``), back to
back, so that a thousand-file site is a handful of PUTs and GETs rather than a thousand of each.

A pack's bytes are not bound by its upload URL (the service never sees them whole), so nothing in
a pack counts as staged until the publisher has read it and checked each member against its
sha256. ``PackIndex`` is that record: one item per verified member, in the owner's namespace, in a
table of its own (no stream: a thousand index writes must not wake anything). It expires a day
before the pack object does, and an item past its time is ignored even before DynamoDB's TTL
sweep gets to it. ``IndexWriter`` writes members as they are verified, in the background, so that
a deployment is indexed by the time it is ready at little cost to getting there. ``PackSpool`` is
how the publisher reads packs: each fetched once, kept in memory while a budget lasts and in a
temporary file past it, and each member read from there, verified as it goes."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from botocore.exceptions import BotoCoreError

from sitedeploy.observability import logger
from sitedeploy.stores import aws
from sitedeploy.stores.staging import CHUNK, BlobCorrupted, Packed, owner_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

GET_BATCH = 100  # BatchGetItem's limit
PUT_BATCH = 25  # BatchWriteItem's limit
INDEX_WORKERS = 8
# Writers of verified members while the publish goes on: enough to keep up with the readers.
INDEX_WRITERS = 4
UNPROCESSED_ATTEMPTS = 8
DAY = 24 * 3600
FETCH_ATTEMPTS = 3
FETCH_BACKOFF_SECONDS = 0.2
# Packs fetched at once ahead of the readers (each a GET of up to a pack's size).
PREFETCH_WORKERS = 4
# Bytes of packs one publish keeps in memory; past it, a pack goes to /tmp. Writing a pack out and
# reading it back is work a publish need not do (50 MB cost this machine's ext4 /tmp from 0.01 s to
# 0.3 s, as its disk was idle or busy; the written pages sit in the page cache, in the function's
# memory, until written back), and a small site then never touches the disk. A site of any size
# stays within this much (and the files the rest take).
MEMORY_BYTES = 64 * 1024 * 1024


class PackIndex:
    """Which of an owner's blobs are inside packs, and where (verified members only)."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table = table_name
        self._client: DynamoDBClient = client or aws.dynamodb()

    def lookup(self, owner_id: str, hashes: Iterable[str], *, now: float | None = None) -> dict[str, Packed]:
        unique = sorted(set(hashes))
        if not unique:
            return {}
        owner = owner_key(owner_id)
        cutoff = time.time() if now is None else now
        batches = [unique[i : i + GET_BATCH] for i in range(0, len(unique), GET_BATCH)]
        found: dict[str, Packed] = {}
        with ThreadPoolExecutor(max_workers=min(INDEX_WORKERS, len(batches))) as pool:
            for items in pool.map(lambda batch: self._get(owner, batch), batches):
                for item in items:
                    sha, pack, offset, size, expires = item["at"]["S"].split(":")
                    if int(expires) > cutoff:
                        found[sha] = Packed(pack, int(offset), int(size))
        return found

    def _get(self, owner: str, batch: list[str]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            self.table: {
                "Keys": [{"owner": {"S": owner}, "sha256": {"S": sha}} for sha in batch],
                "ProjectionExpression": "#at",
                "ExpressionAttributeNames": {"#at": "at"},
            }
        }
        items: list[dict[str, Any]] = []
        for attempt in range(UNPROCESSED_ATTEMPTS):
            answer = self._client.batch_get_item(RequestItems=request)
            items.extend(answer.get("Responses", {}).get(self.table, []))
            request = dict(answer.get("UnprocessedKeys") or {})
            if not request:
                return items
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise RuntimeError("the pack index kept answering with unprocessed keys")

    def record(self, owner_id: str, members: Mapping[str, Packed], *, expires_at: Mapping[str, int]) -> None:
        """Remember verified members; ``expires_at`` is per pack (epoch seconds)."""
        owner = owner_key(owner_id)
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "owner": {"S": owner},
                        "sha256": {"S": sha},
                        # Everything a lookup reads, in one attribute (sha256:pack:offset:size:expiry):
                        # a thousand of these are read per deploy, and per attribute is what costs.
                        "at": {"S": f"{sha}:{where.pack}:{where.offset}:{where.size}:{expires_at[where.pack]}"},
                        "expiresAt": {"N": str(expires_at[where.pack])},
                    }
                }
            }
            for sha, where in sorted(members.items())
        ]
        batches = [requests[i : i + PUT_BATCH] for i in range(0, len(requests), PUT_BATCH)]
        if batches:
            with ThreadPoolExecutor(max_workers=min(INDEX_WORKERS, len(batches))) as pool:
                list(pool.map(self._put, batches))

    def _put(self, batch: list[dict[str, Any]]) -> None:
        request: dict[str, Any] = {self.table: batch}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            answer = self._client.batch_write_item(RequestItems=request)
            request = dict(answer.get("UnprocessedItems") or {})
            if not request:
                return
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise RuntimeError("the pack index kept answering with unprocessed items")


def index_expiry(stored_at: float, retention_days: int) -> int:
    """When an index item about a pack stored at ``stored_at`` stops counting: a day before S3's
    lifecycle may delete the pack (it expires objects by their creation date, at day granularity)."""
    return int(stored_at) + max(1, retention_days - 1) * DAY


class IndexRecorder(Protocol):
    def record(self, owner_id: str, members: Mapping[str, Packed], *, expires_at: Mapping[str, int]) -> None: ...


class IndexWriter:
    """Verified members to the index in batches, on one background thread, while the publish goes
    on; ``flush`` writes what is left and waits, raising the first failure."""

    def __init__(self, index: IndexRecorder, owner_id: str, retention_days: int, *, batch: int = PUT_BATCH) -> None:
        self._index = index
        self._owner = owner_id
        self._retention = retention_days
        self._batch = batch
        self._pending: dict[str, Packed] = {}
        self._expires: dict[str, int] = {}
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.written = 0

    def add(self, sha256: str, where: Packed, stored_at: float) -> None:
        with self._lock:
            self._pending[sha256] = where
            self._expires[where.pack] = index_expiry(stored_at, self._retention)
            if len(self._pending) >= self._batch:
                self._submit()

    def _submit(self) -> None:
        members, self._pending = self._pending, {}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=INDEX_WRITERS, thread_name_prefix="pack-index")
        self._futures.append(
            self._pool.submit(self._index.record, self._owner, members, expires_at=dict(self._expires))
        )
        self.written += len(members)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._submit()
            futures, self._futures = self._futures, []
        for future in futures:
            future.result()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


class PackSource(Protocol):
    def open_pack(self, owner_id: str, pack_id: str) -> tuple[Any, float]: ...


class PackSpool:
    """The packs one publish reads, each fetched once to a temporary file (whoever asks first
    fetches it; others wait for that pack only). Members are read from the file and verified
    against their sha256 as they stream; the last chunk is withheld until the hash checks out, as
    staged blobs are. ``verified`` collects what passed, for the index; ``close`` removes the files.

    Readers going through a site in order would fetch its packs one after another, each GET
    waiting for the one before; ``prefetch`` is told what is about to be read and fetches those
    packs a few at a time ahead of them."""

    def __init__(
        self, source: PackSource, owner_id: str, folder: str | None = None, *, memory_bytes: int = MEMORY_BYTES
    ) -> None:
        self._source = source
        self._owner = owner_id
        self._folder = tempfile.mkdtemp(prefix="packs-", dir=folder)
        self._files: dict[str, str] = {}  # spooled to /tmp
        self._memory: dict[str, bytes] = {}  # kept whole
        self._memory_left = memory_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.stored_at: dict[str, float] = {}
        self.verified: dict[str, Packed] = {}
        self._expected: dict[str, Packed] = {}
        # Told of each member as it passes (sha256, where, when its pack was stored).
        self.on_verified: Callable[[str, Packed, float], None] | None = None
        self._prefetcher: ThreadPoolExecutor | None = None
        self._asked: set[str] = set()

    def __enter__(self) -> PackSpool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def folder(self) -> str:
        return self._folder

    def close(self) -> None:
        """Stop prefetching (what is in flight finishes), drop what is held and remove the files."""
        if self._prefetcher is not None:
            self._prefetcher.shutdown(wait=True, cancel_futures=True)
        self._memory.clear()
        shutil.rmtree(self._folder, ignore_errors=True)

    def prefetch(self, members: Iterable[Packed]) -> None:
        """Fetch these members' packs in the background, in the order first named. A fetch that
        fails is left to the reader, whose own fetch retries and raises what went wrong."""
        with self._guard:
            wanted = [p for p in dict.fromkeys(where.pack for where in members) if p not in self._asked]
            self._asked.update(wanted)
            if not wanted:
                return
            if self._prefetcher is None:
                self._prefetcher = ThreadPoolExecutor(PREFETCH_WORKERS, thread_name_prefix="pack-prefetch")
            pool = self._prefetcher
        for pack_id in wanted:
            pool.submit(self._fetch_quietly, pack_id)

    def _fetch_quietly(self, pack_id: str) -> None:
        try:
            self._fetch(pack_id)
        except Exception:  # the reader fetches it again and reports what went wrong
            logger.info("prefetching a pack failed; its reader fetches it", extra={"pack": pack_id})

    def expect(self, members: Mapping[str, Packed]) -> None:
        """The members this publish may read (for ``verify_fetched``)."""
        self._expected.update(members)

    def verify_fetched(self) -> None:
        """Check the expected members nobody read (the platform had them already) of the packs
        that were fetched anyway: hashing a spooled file is cheap, and then they count as staged."""
        for sha256, where in self._expected.items():
            if sha256 in self.verified or not self.fetched(where.pack):
                continue
            try:
                for _ in self.read(sha256, where):
                    pass
            except BlobCorrupted:
                continue

    def fetched(self, pack_id: str) -> bool:
        return pack_id in self._memory or pack_id in self._files

    def in_memory(self, pack_id: str) -> bool:
        return pack_id in self._memory

    def _open(self, pack_id: str) -> BinaryIO:
        """The pack, fetched once, to read from (whoever asks first fetches it)."""
        self._fetch(pack_id)
        data = self._memory.get(pack_id)
        return io.BytesIO(data) if data is not None else open(self._files[pack_id], "rb")

    def _fetch(self, pack_id: str) -> None:
        with self._guard:
            lock = self._locks.setdefault(pack_id, threading.Lock())
        with lock:
            if self.fetched(pack_id):
                return
            path = os.path.join(self._folder, pack_id)
            for attempt in range(1, FETCH_ATTEMPTS + 1):
                body, stored_at = self._source.open_pack(self._owner, pack_id)
                try:
                    data = self._download(body, path)
                    break
                except BotoCoreError:
                    # Cut off mid-body (botocore retries only until the body starts): fetch again.
                    if attempt == FETCH_ATTEMPTS:
                        raise
                    time.sleep(FETCH_BACKOFF_SECONDS * attempt)
                finally:
                    body.close()
            self.stored_at[pack_id] = stored_at
            if data is not None:
                self._memory[pack_id] = data
            else:
                self._files[pack_id] = path

    def _download(self, body: Any, path: str) -> bytes | None:
        """The body whole while the memory budget lasts (taken a chunk at a time, as it arrives);
        once it runs out, what came so far and the rest go to ``path`` (None), and what this pack
        had taken is given back. A download cut off gives back what it took too."""
        chunks: list[bytes] = []
        taken = 0
        out: BinaryIO | None = None
        try:
            for piece in body.iter_chunks(CHUNK):
                if out is None and self._take(len(piece)):
                    chunks.append(piece)
                    taken += len(piece)
                    continue
                if out is None:
                    out = open(path, "wb")  # noqa: SIM115
                    out.writelines(chunks)
                    chunks = []
                    self._give_back(taken)
                    taken = 0
                out.write(piece)
        except BaseException:
            self._give_back(taken)
            raise
        finally:
            if out is not None:
                out.close()
        return None if out is not None else b"".join(chunks)

    def _take(self, size: int) -> bool:
        with self._guard:
            if size > self._memory_left:
                return False
            self._memory_left -= size
            return True

    def _give_back(self, size: int) -> None:
        with self._guard:
            self._memory_left += size

    def read(self, sha256: str, where: Packed, *, path: str | None = None) -> Iterator[bytes]:
        hasher = hashlib.sha256()
        previous: bytes | None = None
        left = where.size
        with self._open(where.pack) as handle:
            handle.seek(where.offset)
            while left > 0:
                piece = handle.read(min(CHUNK, left))
                if not piece:
                    raise BlobCorrupted(sha256, path)  # the pack is shorter than its layout says
                left -= len(piece)
                hasher.update(piece)
                if previous is not None:
                    yield previous
                previous = piece
        if hasher.hexdigest() != sha256:
            raise BlobCorrupted(sha256, path)
        self._passed(sha256, where)
        if previous is not None:
            yield previous

    def _passed(self, sha256: str, where: Packed) -> None:
        with self._guard:
            fresh = sha256 not in self.verified
            self.verified[sha256] = where
        if fresh and self.on_verified is not None:
            self.on_verified(sha256, where, self.stored_at[where.pack])

    def sha1s(
        self,
        members: Mapping[str, tuple[Packed, str | None]],
        *,
        fresh: Callable[[str, str, bytes], None] | None = None,
    ) -> dict[str, str]:
        """The SHA-1 of each member (sha256 → where it is and its path, for errors), every member
        verified against its sha256 on the way. Each pack is fetched and read once, start to end,
        a few packs at a time: a thousand small members cost a pass over a few files, not a
        thousand reads through the thread pool that ``read`` serves. ``fresh`` is handed each
        verified member's bytes with its digests, on the reading thread (it may hold it back)."""
        by_pack: dict[str, list[tuple[str, Packed, str | None]]] = {}
        for sha256, (where, path) in members.items():
            by_pack.setdefault(where.pack, []).append((sha256, where, path))

        def one_pack(listed: list[tuple[str, Packed, str | None]]) -> dict[str, str]:
            digests: dict[str, str] = {}
            with self._open(listed[0][1].pack) as handle:
                for sha256, where, path in sorted(listed, key=lambda member: member[1].offset):
                    handle.seek(where.offset)
                    data = handle.read(where.size)
                    if len(data) != where.size or hashlib.sha256(data).hexdigest() != sha256:
                        raise BlobCorrupted(sha256, path)
                    self._passed(sha256, where)
                    digests[sha256] = hashlib.sha1(data, usedforsecurity=False).hexdigest()
                    if fresh is not None:
                        fresh(sha256, digests[sha256], data)
            return digests

        if len(by_pack) <= 1:
            return {k: v for listed in by_pack.values() for k, v in one_pack(listed).items()}
        with ThreadPoolExecutor(min(PREFETCH_WORKERS, len(by_pack)), thread_name_prefix="pack-sha1") as pool:
            return {k: v for part in pool.map(one_pack, by_pack.values()) for k, v in part.items()}
