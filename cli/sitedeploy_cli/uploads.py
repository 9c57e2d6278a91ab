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
from dataclasses import dataclass
from typing import Any, BinaryIO
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


@dataclass
class UploadPlan:
    """What the server still needs, one entry per distinct sha256, and how many it had already."""

    uploads: list[PresignedUpload]
    already_staged: int

    @property
    def total_bytes(self) -> int:
        return sum(u.size for u in self.uploads)


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
) -> UploadPlan:
    """Ask ``/uploads`` about every file, a few batches at a time, and merge the answers."""

    def ask(batch: Sequence[HashedFile]) -> list[Any]:
        answer = client.request("POST", "/uploads", body={"files": uploads_manifest(batch)}, idempotent=True)
        return list(answer.get("uploads") or [])

    wanted: dict[str, PresignedUpload] = {}
    batches = list(_batches(files, batch_files))
    for _, items in run_parallel(ask, batches, workers=workers, cancel=cancel or threading.Event()):
        for item in items:
            upload = PresignedUpload.from_json(item)
            wanted.setdefault(upload.sha256, upload)
    distinct = {f.sha256 for f in files}
    return UploadPlan(sorted(wanted.values(), key=lambda u: u.sha256), already_staged=len(distinct - wanted.keys()))


class _FileChanged(Exception):
    """The file is shorter than when it was hashed."""


class _CountingReader:
    """A request body for urllib3: the file in blocks, each reported as sent. It stops when the run
    is cancelled and never yields more than the signed length (a file that grew since it was hashed
    would otherwise corrupt the connection; one that shrank is reported as changed)."""

    def __init__(self, handle: BinaryIO, size: int, on_bytes: Callable[[int], None], cancel: threading.Event) -> None:
        self._handle = handle
        self._size = size
        self._on_bytes = on_bytes
        self._cancel = cancel
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self._size:
            if self._cancel.is_set():
                raise Cancelled
            data = self._handle.read(min(SEND_BLOCK_BYTES, self._size - self.sent))
            if not data:
                raise _FileChanged
            self.sent += len(data)
            self._on_bytes(len(data))
            yield data


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
        headers = dict(upload.headers)
        if not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(upload.size)
        retry = self._retry
        while True:
            reader: _CountingReader | None = None
            try:
                with open(file.source, "rb") as handle:
                    reader = _CountingReader(handle, upload.size, on_bytes, self.cancel)
                    response = self._http.request(
                        "PUT", upload.url, body=reader, headers=headers, retries=False, redirect=False
                    )
            except OSError as exc:
                raise UploadError(f"{file.source}: cannot read the file ({exc.strerror or exc})") from None
            except _FileChanged:
                raise UploadError(f"{file.path}: {CHANGED}") from None
            except urllib3.exceptions.HTTPError as exc:
                on_bytes(-(reader.sent if reader else 0))
                try:
                    retry = retry.increment("PUT", upload.url, error=exc)
                except urllib3.exceptions.HTTPError:
                    why = f"{self._attempts(retry)} attempts, last: {describe_network_error(exc)}"
                    raise UploadError(f"{file.path}: the upload failed ({why})") from None
                self._note_retry(file, describe_network_error(exc))
                retry.sleep()
                continue
            if response.status < 300:
                return
            on_bytes(-reader.sent)
            if retry.is_retry("PUT", response.status, has_retry_after="Retry-After" in response.headers):
                try:
                    retry = retry.increment("PUT", upload.url, response=response)
                except urllib3.exceptions.MaxRetryError:
                    pass
                else:
                    self._note_retry(file, f"HTTP {response.status}")
                    retry.sleep(response)
                    continue
            detail = _s3_message(response.data)
            if "BadDigest" in detail or "XAmzContentSHA256Mismatch" in detail:
                detail = CHANGED
            elif "expired" in detail.lower():
                detail += "; run the deploy again: what is already uploaded is not sent twice"
            raise UploadError(f"{file.path}: the storage refused the upload (HTTP {response.status}: {detail})")

    def _attempts(self, retry: Retry) -> int:
        return len(retry.history) + 1

    def _note_retry(self, file: HashedFile, why: str) -> None:
        if self.on_retry is not None:
            self.on_retry(f"retrying the upload of {file.path} ({why})")

    def upload_all(
        self, plan: UploadPlan, files: Sequence[HashedFile], on_bytes: Callable[[int], None]
    ) -> tuple[int, int]:
        """Stage every blob of ``plan``; returns ``(blobs, bytes)`` uploaded."""
        sources = blobs(files)
        missing = [u for u in plan.uploads if u.sha256 not in sources]
        if missing:
            raise UploadError(f"the server asked for content this folder does not have (sha256 {missing[0].sha256})")

        def one(upload: PresignedUpload) -> int:
            self.upload(upload, sources[upload.sha256], on_bytes)
            return upload.size

        count = total = 0
        for _, size in run_parallel(one, plan.uploads, workers=self.workers, cancel=self.cancel):
            count += 1
            total += size
        return count, total
