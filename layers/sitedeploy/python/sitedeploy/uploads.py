"""Content-addressed uploads: the client says what it has (path, sha256, size), we answer with a
presigned S3 PUT for each blob this owner has not staged yet.

Each URL binds the blob's length and SHA-256 checksum into its signature (``content-length`` and
``x-amz-checksum-sha256`` are signed headers), so S3 refuses any other bytes. Asking about blobs
is scoped to the caller's own namespace: nobody learns whether another user staged a file."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated

from botocore.config import Config
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from sitedeploy import aws, clock
from sitedeploy.models import CamelModel
from sitedeploy.settings import get_settings
from sitedeploy.sitefiles import PathError, normalize_path
from sitedeploy.staging import Staging, blob_key, sha256_b64

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


@lru_cache(maxsize=1)
def _presigner() -> object:
    # Checksums only when required: the presigned URL must carry exactly the checksum we bind.
    return aws.client_with_config("s3", Config(signature_version="s3v4", request_checksum_calculation="when_required"))


@lru_cache(maxsize=1)
def _staging() -> Staging:
    return Staging(get_settings().staging_bucket)


def presign(owner_id: str, sha256: str, size: int, *, expires: int = URL_LIFETIME_SECONDS) -> PresignedUpload:
    checksum = sha256_b64(sha256)
    client = _presigner()
    url = client.generate_presigned_url(  # type: ignore[attr-defined]
        "put_object",
        Params={
            "Bucket": get_settings().staging_bucket,
            "Key": blob_key(owner_id, sha256),
            "ContentLength": size,
            "ChecksumSHA256": checksum,
        },
        ExpiresIn=expires,
    )
    return PresignedUpload(
        sha256=sha256,
        size=size,
        url=str(url),
        headers={"Content-Length": str(size), "x-amz-checksum-sha256": checksum},
    )


def plan_uploads(owner_id: str, request: UploadsRequest) -> UploadsResponse:
    sizes = {f.sha256: f.size for f in request.files}
    missing = _staging().missing(owner_id, sizes)
    uploads = [presign(owner_id, sha, sizes[sha]) for sha in sorted(missing)]
    expires = clock.iso(clock.now() + timedelta(seconds=URL_LIFETIME_SECONDS))
    return UploadsResponse(uploads=uploads, expires_at=expires, already_staged=len(sizes) - len(missing))


def signed_headers(url: str) -> list[str]:
    """The headers a presigned URL's signature covers (for checks and tests)."""
    found = re.search(r"X-Amz-SignedHeaders=([^&]+)", url)
    return found.group(1).replace("%3B", ";").split(";") if found else []
