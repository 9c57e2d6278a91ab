"""Content-addressed uploads: the client says what it has (path, sha256, size), we answer with a
presigned S3 PUT for each blob this owner has not staged yet.

Each URL binds the blob's length and SHA-256 checksum into its signature (``content-length`` and
``x-amz-checksum-sha256`` are signed headers), so S3 refuses any other bytes. Asking about blobs
is scoped to the caller's own namespace: nobody learns whether another user staged a file."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from sitedeploy.domain import clock
from sitedeploy.domain.models import CamelModel
from sitedeploy.domain.sitefiles import PathError, normalize_path
from sitedeploy.services import Services
from sitedeploy.stores.staging import sha256_b64

MAX_MANIFEST_FILES = 100_000
MAX_BLOB_BYTES = 5 * 1024**3  # S3's limit for a single PUT
URL_LIFETIME_SECONDS = 3600

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class UploadFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    sha256: Sha256
    size: Annotated[StrictInt, Field(ge=0, le=MAX_BLOB_BYTES)]


class UploadsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: list[UploadFile] = Field(min_length=1, max_length=MAX_MANIFEST_FILES)

    @model_validator(mode="after")
    def _check(self) -> UploadsRequest:
        by_path: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for item in self.files:
            try:
                path = normalize_path(item.path)
            except PathError as exc:
                raise ValueError(str(exc)) from None
            if path in by_path and by_path[path] != item.sha256:
                raise ValueError(f"path {item.path!r} is listed twice with different sha256")
            by_path[path] = item.sha256
            if item.sha256 in sizes and sizes[item.sha256] != item.size:
                raise ValueError(f"sha256 {item.sha256} is listed with two different sizes")
            sizes[item.sha256] = item.size
        return self


class PresignedUpload(CamelModel):
    sha256: str
    size: int
    url: str
    headers: dict[str, str]


class UploadsResponse(CamelModel):
    uploads: list[PresignedUpload]
    expires_at: str
    already_staged: int


def plan_uploads(services: Services, owner_id: str, request: UploadsRequest) -> UploadsResponse:
    staging = services.stores.staging
    sizes = {f.sha256: f.size for f in request.files}
    missing = staging.missing(owner_id, sizes)
    uploads = [
        PresignedUpload(
            sha256=sha,
            size=sizes[sha],
            url=staging.presign_put(owner_id, sha, sizes[sha], expires=URL_LIFETIME_SECONDS),
            headers={"Content-Length": str(sizes[sha]), "x-amz-checksum-sha256": sha256_b64(sha)},
        )
        for sha in sorted(missing)
    ]
    expires = clock.iso(clock.now() + timedelta(seconds=URL_LIFETIME_SECONDS))
    return UploadsResponse(uploads=uploads, expires_at=expires, already_staged=len(sizes) - len(missing))


def signed_headers(url: str) -> list[str]:
    """The headers a presigned URL's signature covers (for checks and tests)."""
    found = re.search(r"X-Amz-SignedHeaders=([^&]+)", url)
    return found.group(1).replace("%3B", ";").split(";") if found else []
