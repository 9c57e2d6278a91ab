"""Staging blobs: ask ``/uploads`` which contents are missing, then PUT them to S3 in parallel.

The manifest goes to ``/uploads`` in batches: each presigned URL is a kilobyte or two, and Lambda
answers at most 6 MB, so one request for 20,000 new files could not be answered in one piece.

Each PUT streams the file from disk with exactly the headers the server signed (length and
SHA-256 checksum: S3 refuses other bytes). A failed attempt — 429, 5xx, a reset, a timeout — is
retried with backoff by urllib3's ``Retry`` rules, and every attempt opens and reads the file anew:
nothing is held in memory, and a half-sent body is never replayed from a stale position."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import urllib3
from urllib3.util.retry import Retry

from sitedeploy_cli.client import RETRIED_STATUSES, ApiClient, describe_network_error
from sitedeploy_cli.files import HashedFile, blobs, uploads_manifest
from sitedeploy_cli.parallel import Cancelled, run_parallel

BATCH_FILES = 1000
PLAN_WORKERS = 4
UPLOAD_WORKERS = 8
UPLOAD_ATTEMPTS = 5
SEND_BLOCK_BYTES = 256 * 1024
CHANGED = "the file changed while it was being deployed; run the deploy again"


class UploadError(Exception):
    """A blob could not be staged; the message names the file."""


@dataclass(frozen=True)
class PresignedUpload:
    sha256: str
    size: int
    url: str
    headers: dict[str, str]

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> PresignedUpload:
        return cls(str(item["sha256"]), int(item["size"]), str(item["url"]), dict(item.get("headers") or {}))


@dataclass(frozen=True)
class PackMember:
    sha256: str
    size: int
    offset: int


@dataclass(frozen=True)
class PresignedPack:
    """Small files uploaded as one object: the members' bytes back to back, in this order."""

    id: str
    size: int
    url: str
    headers: dict[str, str]
    members: tuple[PackMember, ...]

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> PresignedPack:
        members = tuple(PackMember(str(m["sha256"]), int(m["size"]), int(m["offset"])) for m in item["members"])
        offset = 0
        for member in members:
            if member.offset != offset:
                raise ValueError("pack members are not back to back")
            offset += member.size
        if offset != int(item["size"]) or not members:
            raise ValueError("a pack's size is not the sum of its members")
        return cls(str(item["id"]), int(item["size"]), str(item["url"]), dict(item.get("headers") or {}), members)


@dataclass
class UploadPlan:
    """What the server still needs (blobs on their own and packs of small ones, each sha256 once)
    and how many it had already."""

    uploads: list[PresignedUpload]
    already_staged: int
    # One per /uploads call: the deploy passes them back so the server need not look again.
    receipts: list[str] = field(default_factory=list)
    packs: list[PresignedPack] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(u.size for u in self.uploads) + sum(p.size for p in self.packs)

    @property
    def empty(self) -> bool:
        return not self.uploads and not self.packs


def _batches(files: Sequence[HashedFile], size: int) -> Iterator[Sequence[HashedFile]]:
    for start in range(0, len(files), size):
        yield files[start : start + size]


def plan_uploads(
    client: ApiClient,
    files: Sequence[HashedFile],
    *,
    batch_files: int = BATCH_FILES,
    workers: int = PLAN_WORKERS,
    cancel: threading.Event | None = None,
    packs: bool = True,
) -> UploadPlan:
    """Ask ``/uploads`` about every file, a few batches at a time, and merge the answers."""

    def ask(batch: Sequence[HashedFile]) -> dict[str, Any]:
        body = {"files": uploads_manifest(batch), "packs": packs}
        return dict(client.request("POST", "/uploads", body=body, idempotent=True))

    wanted: dict[str, PresignedUpload] = {}
    packed: list[PresignedPack] = []
    in_packs: set[str] = set()
    receipts: list[str] = []
    batches = list(_batches(files, batch_files))
    for _, answer in run_parallel(ask, batches, workers=workers, cancel=cancel or threading.Event()):
        for item in answer.get("uploads") or []:
            upload = PresignedUpload.from_json(item)
            wanted.setdefault(upload.sha256, upload)
        for item in answer.get("packs") or []:
            try:
                pack = PresignedPack.from_json(item)
            except (KeyError, TypeError, ValueError) as exc:
                raise UploadError(f"the server's /uploads answer has a pack this client cannot use ({exc})") from None
            packed.append(pack)
            in_packs.update(m.sha256 for m in pack.members)
        if isinstance(answer.get("receipt"), str):
            receipts.append(answer["receipt"])
    # Two batches may both ask for one content; a blob another batch packs is not uploaded twice.
    uploads = sorted((u for sha, u in wanted.items() if sha not in in_packs), key=lambda u: u.sha256)
    distinct = {f.sha256 for f in files}
    return UploadPlan(
        uploads,
        already_staged=len(distinct - wanted.keys() - in_packs),
        receipts=sorted(receipts),
        packs=packed,
    )


class _FileChanged(Exception):
    """The file is shorter than when it was hashed."""

    def __init__(self, file: HashedFile) -> None:
        super().__init__(file.path)
        self.file = file


class _ReadFailed(Exception):
    """A file could not be read (not an OSError: urllib3 would take that for a network error)."""

    def __init__(self, file: HashedFile, error: OSError) -> None:
        super().__init__(file.path)
        self.file = file
        self.error = error


class _SegmentsReader:
    """A request body for urllib3: files back to back (one for a blob, many for a pack), each
    exactly its hashed size, in blocks of about SEND_BLOCK_BYTES, each reported as sent. It stops
    when the run is cancelled and never yields more than the signed length (a file that grew since
    it was hashed would otherwise corrupt the connection; one that shrank is reported as changed).
    Each attempt reads the files anew."""

    def __init__(
        self, segments: Sequence[tuple[HashedFile, int]], on_bytes: Callable[[int], None], cancel: threading.Event
    ) -> None:
        self._segments = segments
        self._on_bytes = on_bytes
        self._cancel = cancel
        self.sent = 0

    def _blocks(self, file: HashedFile, size: int) -> Iterator[bytes]:
        try:
            handle = open(file.source, "rb")  # noqa: SIM115 - closed below, errors translated
        except OSError as exc:
            raise _ReadFailed(file, exc) from None
        with handle:
            left = size
            while left > 0:
                if self._cancel.is_set():
                    raise Cancelled
                try:
                    data = handle.read(min(SEND_BLOCK_BYTES, left))
                except OSError as exc:
                    raise _ReadFailed(file, exc) from None
                if not data:
                    raise _FileChanged(file)
                left -= len(data)
                yield data

    def __iter__(self) -> Iterator[bytes]:
        pending = bytearray()
        for file, size in self._segments:
            for data in self._blocks(file, size):
                if not pending and len(data) >= SEND_BLOCK_BYTES:
                    yield self._sent(data)
                    continue
                pending += data
                if len(pending) >= SEND_BLOCK_BYTES:
                    yield self._sent(bytes(pending))
                    pending.clear()
        if pending:
            yield self._sent(bytes(pending))

    def _sent(self, data: bytes) -> bytes:
        self.sent += len(data)
        self._on_bytes(len(data))
        return data


def _s3_message(body: bytes) -> str:
    """S3's ``<Error><Code>…</Code><Message>…</Message>`` as ``Code: Message``."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - an error document from the presigned URL's host
    except ElementTree.ParseError:
        return body[:200].decode("utf-8", "replace").strip()
    code, message = root.findtext("Code") or "", root.findtext("Message") or ""
    return f"{code}: {message}" if code and message else code or message


class BlobUploader:
    """PUTs blobs to presigned URLs, ``workers`` at a time, each with its own retries."""

    def __init__(
        self,
        *,
        workers: int = UPLOAD_WORKERS,
        attempts: int = UPLOAD_ATTEMPTS,
        backoff: float = 0.5,
        cancel: threading.Event | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.workers = workers
        self.cancel = cancel or threading.Event()
        self.on_retry = on_retry
        self._retry = Retry(
            total=attempts - 1,
            backoff_factor=backoff,
            backoff_jitter=backoff / 2,
            backoff_max=30,
            status_forcelist=RETRIED_STATUSES,
            allowed_methods=["PUT"],
            respect_retry_after_header=True,
        )
        self._http = urllib3.PoolManager(maxsize=workers, timeout=urllib3.Timeout(connect=10, read=120))

    def upload(self, upload: PresignedUpload, file: HashedFile, on_bytes: Callable[[int], None]) -> None:
        """Stage one blob from ``file``; ``on_bytes`` hears each block sent (negative on a retry)."""
        self._send(
            upload.url,
            signed=upload.headers,
            size=upload.size,
            segments=[(file, upload.size)],
            label=file.path,
            on_bytes=on_bytes,
        )

    def upload_pack(self, pack: PresignedPack, sources: dict[str, HashedFile], on_bytes: Callable[[int], None]) -> None:
        """Stage one pack: its members' files back to back, in the order the server gave."""
        segments = [(sources[m.sha256], m.size) for m in pack.members]
        label = f"{segments[0][0].path} and {len(segments) - 1} more (one upload)"
        self._send(pack.url, signed=pack.headers, size=pack.size, segments=segments, label=label, on_bytes=on_bytes)

    def _send(
        self,
        url: str,
        *,
        signed: dict[str, str],
        size: int,
        segments: Sequence[tuple[HashedFile, int]],
        label: str,
        on_bytes: Callable[[int], None],
    ) -> None:
        headers = dict(signed)
        if not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(size)
        retry = self._retry
        while True:
            reader = _SegmentsReader(segments, on_bytes, self.cancel)
            try:
                response = self._http.request("PUT", url, body=reader, headers=headers, retries=False, redirect=False)
            except _ReadFailed as failed:
                error = failed.error
                raise UploadError(f"{failed.file.source}: cannot read the file ({error.strerror or error})") from None
            except _FileChanged as changed:
                raise UploadError(f"{changed.file.path}: {CHANGED}") from None
            except urllib3.exceptions.HTTPError as exc:
                on_bytes(-reader.sent)
                try:
                    retry = retry.increment("PUT", url, error=exc)
                except urllib3.exceptions.HTTPError:
                    why = f"{self._attempts(retry)} attempts, last: {describe_network_error(exc)}"
                    raise UploadError(f"{label}: the upload failed ({why})") from None
                self._note_retry(label, describe_network_error(exc))
                retry.sleep()
                continue
            if response.status < 300:
                return
            on_bytes(-reader.sent)
            if retry.is_retry("PUT", response.status, has_retry_after="Retry-After" in response.headers):
                try:
                    retry = retry.increment("PUT", url, response=response)
                except urllib3.exceptions.MaxRetryError:
                    pass
                else:
                    self._note_retry(label, f"HTTP {response.status}")
                    retry.sleep(response)
                    continue
            detail = _s3_message(response.data)
            if "BadDigest" in detail or "XAmzContentSHA256Mismatch" in detail:
                detail = CHANGED
            elif "expired" in detail.lower():
                detail += "; run the deploy again: what is already uploaded is not sent twice"
            raise UploadError(f"{label}: the storage refused the upload (HTTP {response.status}: {detail})")

    def _attempts(self, retry: Retry) -> int:
        return len(retry.history) + 1

    def _note_retry(self, label: str, why: str) -> None:
        if self.on_retry is not None:
            self.on_retry(f"retrying the upload of {label} ({why})")

    def upload_all(
        self, plan: UploadPlan, files: Sequence[HashedFile], on_bytes: Callable[[int], None]
    ) -> tuple[int, int]:
        """Stage every blob and pack of ``plan``; returns ``(files, bytes)`` uploaded."""
        sources = blobs(files)
        asked = [u.sha256 for u in plan.uploads] + [m.sha256 for p in plan.packs for m in p.members]
        missing = [sha for sha in asked if sha not in sources]
        if missing:
            raise UploadError(f"the server asked for content this folder does not have (sha256 {missing[0]})")

        def one(item: PresignedUpload | PresignedPack) -> tuple[int, int]:
            if isinstance(item, PresignedPack):
                self.upload_pack(item, sources, on_bytes)
                return len(item.members), item.size
            self.upload(item, sources[item.sha256], on_bytes)
            return 1, item.size

        # Largest first: the long uploads start early and the pool drains evenly.
        work: list[PresignedUpload | PresignedPack] = sorted([*plan.packs, *plan.uploads], key=lambda i: -i.size)
        count = total = 0
        for _, (files_sent, size) in run_parallel(one, work, workers=self.workers, cancel=self.cancel):
            count += files_sent
            total += size
        return count, total
