"""Staged files in S3, addressed by content: ``blobs/<owner key>/<sha256>``.

Content addressing makes a redeploy free for unchanged files and lets S3 itself verify each
upload (the SHA-256 checksum travels with the PUT). The namespace is per owner, so one user can
never learn whether another has staged a file. The manifest of a deployment is an object too
(``manifests/<deploymentId>.json``): 20,000 paths do not fit in a DynamoDB item.

``/uploads`` leaves a receipt (``receipts/<owner key>/<id>.json``): which of the client's blobs it
found staged, with their sizes. The deploy call that follows trusts it (the server listed those
objects a moment ago) and looks up only the rest, the blobs the client has uploaded since, rather
than every blob again. Receipts live in the owner's namespace, written
only by the service; a client can name one but never write one.

The publisher remembers the SHA-1 of each site's files (``digests/<owner key>/<site id>.json``,
sha256 → SHA-1): Netlify and Vercel address files by SHA-1, and without it a redeploy would read
every file of the site again to learn digests it already knew. Only the publisher writes it, from
bytes it verified against their sha256."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from sitedeploy.domain import clock
from sitedeploy.domain.sitefiles import ManifestEntry, SiteManifest
from sitedeploy.stores import aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1024 * 1024
PACK_ID = re.compile(r"[0-9a-f]{32}")
# Up to this many blobs are looked up one HEAD each; more are found by listing (see ``staged``).
HEAD_LOOKUP_LIMIT = 24
LOOKUP_WORKERS = 16
LIST_PAGE_KEYS = 1000
# As long as /uploads' presigned URLs: a deploy trusts a receipt this long, then looks again.
RECEIPT_LIFETIME_SECONDS = 3600


# A receipt of one /uploads call (at most FilesPerUpload entries, 1,000 from the CLI and the web
# client) is far below this; a deploy reads at most 100 of them.
RECEIPT_MAX_BYTES = 4 * 1024 * 1024


class BlobMissing(Exception):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"staged file {sha256} is missing")
        self.sha256 = sha256


class PackMissing(Exception):
    def __init__(self, pack_id: str) -> None:
        super().__init__(f"staged pack {pack_id} is missing")
        self.pack_id = pack_id


class BlobCorrupted(Exception):
    """The bytes read back do not hash to the name they are stored under."""

    def __init__(self, sha256: str, path: str | None = None) -> None:
        where = f" for {path}" if path else ""
        super().__init__(f"staged file{where} does not match its sha256 {sha256}")
        self.sha256 = sha256


def owner_key(owner_id: str) -> str:
    """A path-safe, fixed-length stand-in for the owner id in object keys."""
    return hashlib.sha256(owner_id.encode()).hexdigest()[:32]


def blob_key(owner_id: str, sha256: str) -> str:
    return f"blobs/{owner_key(owner_id)}/{sha256}"


def pack_key(owner_id: str, pack_id: str) -> str:
    return f"packs/{owner_key(owner_id)}/{pack_id}"


def receipt_key(owner_id: str, receipt_id: str) -> str:
    return f"receipts/{owner_key(owner_id)}/{receipt_id}.json"


def digests_key(owner_id: str, site_id: str) -> str:
    return f"digests/{owner_key(owner_id)}/{site_id}.json"


_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


def manifest_key(deployment_id: str) -> str:
    return f"manifests/{deployment_id}.json"


def sha256_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@dataclass(frozen=True)
class Packed:
    """Where a blob is inside a pack: many small files uploaded as one object, back to back."""

    pack: str
    offset: int
    size: int

    def to_json(self) -> list[object]:
        return [self.pack, self.offset, self.size]

    @classmethod
    def from_json(cls, value: Any) -> Packed:
        pack, offset, size = value
        if not isinstance(pack, str) or not PACK_ID.fullmatch(pack):
            raise ValueError("not a pack id")
        return cls(pack, int(offset), int(size))


@dataclass(frozen=True)
class UploadReceipt:
    """What one ``/uploads`` call established. ``staged``: blobs found staged (sha256 → size, as
    S3 listed them); ``packed``: blobs found in packs the publisher had verified (the pack index);
    ``new_packs`` (id → size) and ``in_new_packs``: the packs the client was asked to upload and
    where each blob sits in them. The first two are trusted for as long as the upload URLs live
    (a blob that vanishes in that hour anyway is caught by the publisher, which reads and
    verifies every byte); a new pack counts only once it is there at its exact size."""

    created_at: float
    staged: dict[str, int] = field(default_factory=dict)
    packed: dict[str, Packed] = field(default_factory=dict)
    new_packs: dict[str, int] = field(default_factory=dict)
    in_new_packs: dict[str, Packed] = field(default_factory=dict)

    def fresh(self, now: float) -> bool:
        return now - RECEIPT_LIFETIME_SECONDS <= self.created_at <= now + 60

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "v": 2,
                "createdAt": self.created_at,
                "staged": self.staged,
                "packed": {sha: where.to_json() for sha, where in self.packed.items()},
                "newPacks": self.new_packs,
                "inNewPacks": {sha: where.to_json() for sha, where in self.in_new_packs.items()},
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> UploadReceipt | None:
        """The receipt, or None for anything that is not one (a receipt is a hint: never an error)."""
        try:
            data = json.loads(body)
            return cls(
                created_at=float(data["createdAt"]),
                staged={str(k): int(v) for k, v in data["staged"].items()},
                packed={str(k): Packed.from_json(v) for k, v in data.get("packed", {}).items()},
                new_packs={str(k): int(v) for k, v in data.get("newPacks", {}).items()},
                in_new_packs={str(k): Packed.from_json(v) for k, v in data.get("inNewPacks", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


# Presigned URLs carry exactly the checksum we bind: the signer computes checksums only when required.
_PRESIGN = Config(signature_version="s3v4", request_checksum_calculation="when_required")


class Staging:
    def __init__(self, bucket: str, client: S3Client | None = None, presigner: Any = None) -> None:
        self.bucket = bucket
        self._client = client
        self._presigner = presigner

    @property
    def _s3(self) -> S3Client:
        """Made on first use: most routes never touch S3, and making a client costs a cold start
        tens of milliseconds (botocore loads the service's model)."""
        return self._client or aws.client("s3")

    def presign_put(self, owner_id: str, sha256: str, size: int, *, expires: int) -> str:
        """A PUT URL for one blob whose signature binds its length and SHA-256 checksum
        (``content-length`` and ``x-amz-checksum-sha256`` are signed headers): S3 refuses other bytes."""
        presigner = self._presigner or aws.client_with_config("s3", _PRESIGN)
        url = presigner.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": blob_key(owner_id, sha256),
                "ContentLength": size,
                "ChecksumSHA256": sha256_b64(sha256),
            },
            ExpiresIn=expires,
        )
        return str(url)

    # -- blobs ----------------------------------------------------------------------------------

    def size(self, owner_id: str, sha256: str) -> int | None:
        """The staged blob's size, or None when this owner has not staged it."""
        return self._head_size(blob_key(owner_id, sha256))

    def _head_size(self, key: str) -> int | None:
        try:
            answer = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return int(answer["ContentLength"])

    def staged(self, owner_id: str, hashes: Iterable[str], *, workers: int = LOOKUP_WORKERS) -> dict[str, int]:
        """The size of each of ``hashes`` this owner has staged (the others are left out).

        A few blobs are asked about one HEAD each. Many are found by listing the owner's namespace
        instead, one listing per leading hex digit of the wanted hashes, in parallel, each starting
        at its smallest wanted hash and stopping past its largest: a thousand files cost sixteen
        calls rather than a thousand, and an owner's other blobs are skipped, not paged through."""
        unique = sorted(set(hashes))
        if len(unique) <= HEAD_LOOKUP_LIMIT:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(unique)))) as pool:
                sizes = list(pool.map(lambda h: self.size(owner_id, h), unique))
            return {h: size for h, size in zip(unique, sizes, strict=True) if size is not None}
        shards: dict[str, list[str]] = {}
        for digest in unique:
            shards.setdefault(digest[0], []).append(digest)
        found: dict[str, int] = {}
        with ThreadPoolExecutor(max_workers=min(workers, len(shards))) as pool:
            for part in pool.map(lambda wanted: self._listed(owner_id, wanted), shards.values()):
                found.update(part)
        return found

    def _listed(self, owner_id: str, wanted: list[str]) -> dict[str, int]:
        """Sizes of the ``wanted`` (sorted, one leading digit) found by listing their key range."""
        prefix = f"blobs/{owner_key(owner_id)}/"
        targets = set(wanted)
        last = prefix + wanted[-1]
        found: dict[str, int] = {}
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": prefix + wanted[0][0],
            "StartAfter": prefix + wanted[0][:-1],
            "MaxKeys": LIST_PAGE_KEYS,
        }
        while True:
            page = self._s3.list_objects_v2(**params)
            contents = page.get("Contents") or []
            for item in contents:
                digest = item["Key"][len(prefix) :]
                if digest in targets:
                    found[digest] = int(item["Size"])
            if not page.get("IsTruncated") or not contents or contents[-1]["Key"] >= last:
                return found
            params["ContinuationToken"] = page["NextContinuationToken"]

    def sizes(self, owner_id: str, hashes: Iterable[str]) -> dict[str, int | None]:
        unique = set(hashes)
        staged = self.staged(owner_id, unique)
        return {h: staged.get(h) for h in sorted(unique)}

    def missing(self, owner_id: str, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` this owner has not staged."""
        unique = set(hashes)
        return unique - self.staged(owner_id, unique).keys()

    def put_blob(self, owner_id: str, data: bytes, sha256: str | None = None) -> str:
        """Stage bytes under their sha256 (computed if not given); S3 verifies the checksum."""
        digest = sha256 or hashlib.sha256(data).hexdigest()
        self._s3.put_object(
            Bucket=self.bucket,
            Key=blob_key(owner_id, digest),
            Body=data,
            ChecksumSHA256=sha256_b64(digest),
            ContentType="application/octet-stream",
        )
        return digest

    def iter_blob(self, owner_id: str, sha256: str, *, path: str | None = None, chunk: int = CHUNK) -> Iterator[bytes]:
        """Stream a blob, hashing as it goes; the last chunk is withheld until the hash checks out,
        so a consumer that writes what it receives never publishes a corrupted file whole."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=blob_key(owner_id, sha256))
        except ClientError as exc:
            if _not_found(exc):
                raise BlobMissing(sha256) from None
            raise
        body: Any = answer["Body"]
        hasher = hashlib.sha256()
        previous: bytes | None = None
        try:
            for piece in body.iter_chunks(chunk):
                hasher.update(piece)
                if previous is not None:
                    yield previous
                previous = piece
        finally:
            body.close()
        if hasher.hexdigest() != sha256:
            raise BlobCorrupted(sha256, path)
        if previous is not None:
            yield previous

    def read_blob(self, owner_id: str, sha256: str, *, path: str | None = None) -> bytes:
        return b"".join(self.iter_blob(owner_id, sha256, path=path))

    def read_entry(self, owner_id: str, entry: ManifestEntry) -> bytes:
        """A manifest entry's bytes, verified, wherever they are staged (a blob or a pack)."""
        if entry.pack is None:
            return self.read_blob(owner_id, entry.sha256, path=entry.path)
        return self.read_packed(
            owner_id, entry.sha256, Packed(entry.pack, entry.offset or 0, entry.size), path=entry.path
        )

    # -- packs ----------------------------------------------------------------------------------

    def presign_pack_put(self, owner_id: str, pack_id: str, size: int, *, expires: int) -> str:
        """A PUT URL for one pack whose signature binds its length. Its bytes are not bound (the
        server never sees them whole): each member is verified against its sha256 when read."""
        presigner = self._presigner or aws.client_with_config("s3", _PRESIGN)
        url = presigner.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": pack_key(owner_id, pack_id), "ContentLength": size},
            ExpiresIn=expires,
        )
        return str(url)

    def pack_size(self, owner_id: str, pack_id: str) -> int | None:
        return self._head_size(pack_key(owner_id, pack_id))

    def open_pack(self, owner_id: str, pack_id: str) -> tuple[Any, float]:
        """A pack's body (a stream, to be closed) and when it was stored (epoch seconds)."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=pack_key(owner_id, pack_id))
        except ClientError as exc:
            if _not_found(exc):
                raise PackMissing(pack_id) from None
            raise
        return answer["Body"], answer["LastModified"].timestamp()

    def read_packed(self, owner_id: str, sha256: str, where: Packed, *, path: str | None = None) -> bytes:
        """One member of a pack, by a ranged GET, verified against its sha256."""
        if where.size == 0:
            data = b""
        else:
            try:
                answer = self._s3.get_object(
                    Bucket=self.bucket,
                    Key=pack_key(owner_id, where.pack),
                    Range=f"bytes={where.offset}-{where.offset + where.size - 1}",
                )
            except ClientError as exc:
                if _not_found(exc) or exc.response.get("Error", {}).get("Code") == "InvalidRange":
                    raise BlobMissing(sha256) from None
                raise
            data = answer["Body"].read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobCorrupted(sha256, path)
        return data

    # -- receipts -------------------------------------------------------------------------------

    def put_receipt(self, owner_id: str, receipt_id: str, receipt: UploadReceipt) -> None:
        body = receipt.to_json()
        self._s3.put_object(
            Bucket=self.bucket,
            Key=receipt_key(owner_id, receipt_id),
            Body=body,
            ContentType="application/json",
            ChecksumSHA256=sha256_b64(hashlib.sha256(body).hexdigest()),
        )

    def get_receipt(self, owner_id: str, receipt_id: str) -> UploadReceipt | None:
        """This owner's receipt, or None when there is none by that id (expired, or never was), or
        it is larger than any /uploads call writes (it counts for nothing: the blobs are looked up)."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=receipt_key(owner_id, receipt_id))
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        if int(answer.get("ContentLength") or 0) > RECEIPT_MAX_BYTES:
            answer["Body"].close()
            return None
        return UploadReceipt.from_json(answer["Body"].read(RECEIPT_MAX_BYTES + 1))

    # -- file digests ---------------------------------------------------------------------------

    def get_digests(self, owner_id: str, site_id: str) -> dict[str, str]:
        """sha256 → SHA-1 remembered for a site's files; empty when none (or unreadable: it is a
        cache, and a wrong entry is dropped rather than trusted)."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=digests_key(owner_id, site_id))
        except ClientError as exc:
            if _not_found(exc):
                return {}
            raise
        try:
            data = json.loads(answer["Body"].read())
        except ValueError:
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("sha1"), dict):
            return {}
        return {
            k: v
            for k, v in data["sha1"].items()
            if isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(k) and _SHA1.fullmatch(v)
        }

    def put_digests(self, owner_id: str, site_id: str, digests: dict[str, str]) -> None:
        body = json.dumps({"sha1": digests}, sort_keys=True, separators=(",", ":")).encode()
        self._s3.put_object(
            Bucket=self.bucket,
            Key=digests_key(owner_id, site_id),
            Body=body,
            ContentType="application/json",
            ChecksumSHA256=sha256_b64(hashlib.sha256(body).hexdigest()),
        )

    # -- manifests ------------------------------------------------------------------------------

    def put_manifest(self, deployment_id: str, manifest: SiteManifest) -> None:
        body = manifest.model_dump_json(by_alias=True, exclude_none=True).encode()
        self._s3.put_object(
            Bucket=self.bucket,
            Key=manifest_key(deployment_id),
            Body=body,
            ContentType="application/json",
            ChecksumSHA256=sha256_b64(hashlib.sha256(body).hexdigest()),
        )

    def get_manifest(self, deployment_id: str) -> SiteManifest:
        answer = self._s3.get_object(Bucket=self.bucket, Key=manifest_key(deployment_id))
        return SiteManifest.model_validate_json(answer["Body"].read())

    def find_manifest(self, deployment_id: str) -> SiteManifest | None:
        """The deployment's manifest, or None when it is gone (expired with its history)."""
        try:
            return self.get_manifest(deployment_id)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise

    # -- keeping what versions need -------------------------------------------------------------

    def keep(self, owner_id: str, blobs: Iterable[str], packs: Iterable[str], *, older_than: float) -> Kept:
        """Refresh the owner's staged objects a kept version needs, those last written before
        ``older_than`` (epoch seconds): a copy onto itself restarts the bucket's lifecycle clock,
        so what a site keeps never reaches its expiry, while what nothing keeps still does. One
        listing per thousand of the owner's objects finds them and their ages."""
        kept = Kept()
        for folder, wanted in (("blobs", set(blobs)), ("packs", set(packs))):
            if not wanted:
                continue
            prefix = f"{folder}/{owner_key(owner_id)}/"
            seen: set[str] = set()
            stale: list[str] = []
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents") or []:
                    name = item["Key"][len(prefix) :]
                    if name not in wanted:
                        continue
                    seen.add(name)
                    if clock.at_wall(item["LastModified"].timestamp()) < older_than:
                        stale.append(item["Key"])
            kept.missing += sorted(wanted - seen)
            self._refresh(stale)
            kept.refreshed += len(stale)
        return kept

    def keep_manifests(self, deployment_ids: Iterable[str], *, older_than: float) -> Kept:
        """The same for the manifests of kept versions (they expire with the deployment history)."""
        kept = Kept()
        stale: list[str] = []
        for deployment_id in dict.fromkeys(deployment_ids):
            try:
                answer = self._s3.head_object(Bucket=self.bucket, Key=manifest_key(deployment_id))
            except ClientError as exc:
                if not _not_found(exc):
                    raise
                kept.missing.append(deployment_id)
                continue
            if clock.at_wall(answer["LastModified"].timestamp()) < older_than:
                stale.append(manifest_key(deployment_id))
        self._refresh(stale)
        kept.refreshed += len(stale)
        return kept

    def _refresh(self, keys: list[str]) -> None:
        if not keys:
            return
        stamp = {"kept": clock.now_iso()}

        def one(key: str) -> None:
            # The managed copy splits objects over 5 GB into a multipart copy.
            self._s3.copy(
                {"Bucket": self.bucket, "Key": key},
                self.bucket,
                key,
                ExtraArgs={"MetadataDirective": "REPLACE", "Metadata": stamp},
            )

        with ThreadPoolExecutor(max_workers=min(LOOKUP_WORKERS, len(keys))) as pool:
            list(pool.map(one, keys))


@dataclass
class Kept:
    """What a keeping pass did: objects refreshed, and those already gone (named by hash, pack id
    or deployment id)."""

    refreshed: int = 0
    missing: list[str] = field(default_factory=list)
