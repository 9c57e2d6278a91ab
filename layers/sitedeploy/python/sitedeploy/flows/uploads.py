"""Content-addressed uploads: the client says what it has (path, sha256, size), we answer with a
presigned S3 PUT for each blob this owner has not staged yet.

Each URL binds the blob's length and SHA-256 checksum into its signature (``content-length`` and
``x-amz-checksum-sha256`` are signed headers), so S3 refuses any other bytes. Asking about blobs
is scoped to the caller's own namespace: nobody learns whether another user staged a file.

A client that asks for packs (``"packs": true``) gets the missing small files grouped: one PUT per
pack of up to 8 MiB, the files back to back in the order given, instead of one PUT per file. A
pack's URL binds its length only; its members are checked against their sha256 when the
publisher reads them, and only then count as staged for later deploys (the pack index).

The answer names a receipt of what this call established; a deploy that passes it back
(``uploadReceipts``) skips looking up again the blobs this call found staged, and finds the
packs it asked for there."""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints, model_validator

from sitedeploy.domain import clock
from sitedeploy.domain.models import CamelModel
from sitedeploy.domain.sitefiles import PathError, normalize_path
from sitedeploy.domain.tenancy import QUOTA_NOUNS, QUOTA_ROOM, Quota, QuotaExceeded
from sitedeploy.services import Services
from sitedeploy.stores import BlobStore, Stores
from sitedeploy.stores.staging import Packed, UploadReceipt, sha256_b64

MAX_MANIFEST_FILES = 100_000
MAX_BLOB_BYTES = 5 * 1024**3  # S3's limit for a single PUT
URL_LIFETIME_SECONDS = 3600
# Packs: files up to PACK_MEMBER_MAX_BYTES travel together, up to PACK_MAX_BYTES and
# PACK_MAX_MEMBERS a pack (a pack keeps its members' index items under one expiry).
PACK_MEMBER_MAX_BYTES = 1024 * 1024
PACK_MAX_BYTES = 8 * 1024 * 1024
PACK_MAX_MEMBERS = 1000

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class UploadFile(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    sha256: Sha256
    size: Annotated[StrictInt, Field(ge=0, le=MAX_BLOB_BYTES)]


class UploadsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    files: list[UploadFile] = Field(min_length=1, max_length=MAX_MANIFEST_FILES)
    # Group the missing small files into packs (fewer, larger uploads); see the module docstring.
    packs: StrictBool = False

    @model_validator(mode="after")
    def _check(self) -> UploadsRequest:
        by_path: dict[str, tuple[str, str]] = {}
        sizes: dict[str, int] = {}
        for item in self.files:
            try:
                path = normalize_path(item.path)
            except PathError as exc:
                raise ValueError(str(exc)) from None
            same = unicodedata.normalize("NFC", path)
            if same in by_path:
                raw, sha = by_path[same]
                if raw != path:
                    raise ValueError(f"paths {raw!r} and {item.path!r} name the same file")
                if sha != item.sha256:
                    raise ValueError(f"path {item.path!r} is listed twice with different sha256")
            by_path[same] = (path, item.sha256)
            if item.sha256 in sizes and sizes[item.sha256] != item.size:
                raise ValueError(f"sha256 {item.sha256} is listed with two different sizes")
            sizes[item.sha256] = item.size
        return self


class PresignedUpload(CamelModel):
    sha256: str
    size: int
    url: str
    headers: dict[str, str]


class PackMember(CamelModel):
    sha256: str
    size: int
    offset: int


class PresignedPack(CamelModel):
    """One PUT of ``size`` bytes: the members' bytes back to back, in this order."""

    id: str
    size: int
    url: str
    headers: dict[str, str]
    members: list[PackMember]


class UploadsResponse(CamelModel):
    uploads: list[PresignedUpload]
    packs: list[PresignedPack] = Field(default_factory=list)
    expires_at: str
    already_staged: int
    # Pass it to the deploy (``uploadReceipts``) so it need not look up these blobs again.
    receipt: str


def look_up_staged(stores: Stores, owner_id: str, hashes: Iterable[str]) -> tuple[dict[str, int], dict[str, Packed]]:
    """What this owner has staged of ``hashes``: blobs of their own (sha256 → size), then, for the
    rest, members of packs the publisher verified (sha256 → where). Hashes in neither are absent."""
    wanted = set(hashes)
    staged = {sha: size for sha, size in stores.staging.sizes(owner_id, wanted).items() if size is not None}
    rest = wanted - staged.keys()
    return staged, (stores.packs.lookup(owner_id, rest) if rest else {})


def count_staged_bytes(services: Services, owner_id: str, size: int) -> None:
    """Count bytes about to be staged against the owner's day; 429 (nothing counted) past it."""
    if size <= 0:
        return
    limit = services.settings.quotas.staged_bytes_per_day
    now = clock.now()
    if services.stores.tenancy.add_staged_bytes(owner_id, now.strftime("%Y-%m-%d"), size, limit):
        return
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    raise QuotaExceeded(
        f"you have reached your limit of {limit} {QUOTA_NOUNS[Quota.STAGED_BYTES]}: {QUOTA_ROOM[Quota.STAGED_BYTES]}",
        details={
            "quota": Quota.STAGED_BYTES.value,
            "limit": limit,
            "retryAfter": max(1, int((midnight - now).total_seconds())),
        },
    )


def plan_uploads(services: Services, owner_id: str, request: UploadsRequest) -> UploadsResponse:
    staging = services.stores.staging
    most = services.settings.quotas.files_per_upload
    if len(request.files) > most:
        raise QuotaExceeded(
            f"{len(request.files)} files is more than your limit of {most} "
            f"{QUOTA_NOUNS[Quota.FILES_PER_UPLOAD]}: {QUOTA_ROOM[Quota.FILES_PER_UPLOAD]}",
            details={"quota": Quota.FILES_PER_UPLOAD.value, "limit": most},
        )
    sizes = {f.sha256: f.size for f in request.files}
    staged, packed = look_up_staged(services.stores, owner_id, sizes)
    # In the order given (the client's path order): a site's neighbours travel together.
    missing = [sha for sha in dict.fromkeys(f.sha256 for f in request.files) if sha not in staged and sha not in packed]
    count_staged_bytes(services, owner_id, sum(sizes[sha] for sha in missing))
    groups = group_packs([(sha, sizes[sha]) for sha in missing]) if request.packs else []
    in_packs = {sha for group in groups for sha, _ in group}
    packs = [_presigned_pack(staging, owner_id, group) for group in groups]
    receipt_id = secrets.token_hex(16)
    staging.put_receipt(
        owner_id,
        receipt_id,
        UploadReceipt(
            created_at=time.time(),
            staged=staged,
            packed=packed,
            new_packs={pack.id: pack.size for pack in packs},
            in_new_packs={m.sha256: Packed(pack.id, m.offset, m.size) for pack in packs for m in pack.members},
        ),
    )
    uploads = [
        PresignedUpload(
            sha256=sha,
            size=sizes[sha],
            url=staging.presign_put(owner_id, sha, sizes[sha], expires=URL_LIFETIME_SECONDS),
            headers={"Content-Length": str(sizes[sha]), "x-amz-checksum-sha256": sha256_b64(sha)},
        )
        for sha in sorted(set(missing) - in_packs)
    ]
    expires = clock.iso(clock.now() + timedelta(seconds=URL_LIFETIME_SECONDS))
    return UploadsResponse(
        uploads=uploads,
        packs=packs,
        expires_at=expires,
        already_staged=len(sizes) - len(missing),
        receipt=receipt_id,
    )


def group_packs(blobs: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """Small blobs, in the order given, cut into packs within the bounds; a would-be pack of one
    is left out (it travels as a blob of its own, checksum-bound)."""
    groups: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    total = 0
    for sha, size in blobs:
        if size > PACK_MEMBER_MAX_BYTES:
            continue
        if current and (total + size > PACK_MAX_BYTES or len(current) >= PACK_MAX_MEMBERS):
            groups.append(current)
            current, total = [], 0
        current.append((sha, size))
        total += size
    if current:
        groups.append(current)
    return [group for group in groups if len(group) > 1]


def _presigned_pack(staging: BlobStore, owner_id: str, group: list[tuple[str, int]]) -> PresignedPack:
    pack_id = secrets.token_hex(16)
    members: list[PackMember] = []
    offset = 0
    for sha, size in group:
        members.append(PackMember(sha256=sha, size=size, offset=offset))
        offset += size
    return PresignedPack(
        id=pack_id,
        size=offset,
        url=staging.presign_pack_put(owner_id, pack_id, offset, expires=URL_LIFETIME_SECONDS),
        headers={"Content-Length": str(offset)},
        members=members,
    )


def signed_headers(url: str) -> list[str]:
    """The headers a presigned URL's signature covers (for checks and tests)."""
    found = re.search(r"X-Amz-SignedHeaders=([^&]+)", url)
    return found.group(1).replace("%3B", ";").split(";") if found else []
