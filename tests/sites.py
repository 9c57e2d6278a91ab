"""A site in memory for the adapter tests: its files, read the way a publisher reads staged blobs."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from sitedeploy.domain.models import SiteAddress
from sitedeploy.domain.sitefiles import content_type
from sitedeploy.platforms.base import FreshDigest, PublishJob, SiteConfig, SiteFile

CHUNK = 1001  # odd-sized, as a stream from S3 arrives


class Site:
    """Files in memory, read the way the publisher reads staged blobs (and counted), with the
    progress of its jobs and SHA-1s remembered across deploys the way the publish flow remembers
    them."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.data = dict(files)
        self.reads: list[str] = []
        self.prefetched: list[list[str]] = []  # each prefetch call's paths, in order
        self.progress: list[tuple[int, int]] = []
        self._sha1s: dict[str, str] = {}

    def files(self) -> list[SiteFile]:
        return [
            SiteFile(path, hashlib.sha256(data).hexdigest(), len(data), content_type(path))
            for path, data in sorted(self.data.items())
        ]

    def read(self, site_file: SiteFile) -> Iterator[bytes]:
        """In odd-sized chunks, as a stream from S3 arrives: nothing may depend on where they fall."""
        self.reads.append(site_file.path)
        data = self.data[site_file.path]
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]

    def prefetch(self, files: Sequence[SiteFile]) -> None:
        self.prefetched.append([f.path for f in files])

    def sha1s(self, files: Sequence[SiteFile], *, fresh: FreshDigest | None = None) -> Mapping[str, str]:
        """SHA-1s by sha256, reading only contents not seen by an earlier call; ``fresh`` hears of
        each of those with its bytes, from a few threads at once, as the publisher's pass does."""
        new = list({f.sha256: f for f in files if f.sha256 not in self._sha1s}.values())

        def one(site_file: SiteFile) -> tuple[str, str]:
            data = b"".join(self.read(site_file))
            digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
            if fresh is not None:
                fresh(site_file.sha256, digest, data)
            return site_file.sha256, digest

        with ThreadPoolExecutor(4) as pool:
            self._sha1s.update(pool.map(one, new))
        return {f.sha256: self._sha1s[f.sha256] for f in files}

    def job(
        self, address: SiteAddress, config: SiteConfig | None = None, *, remember_sha1s: bool = False
    ) -> PublishJob:
        """A job publishing the files as they are now, its progress appended to ``progress``.

        With ``remember_sha1s`` the job takes its SHA-1s from ``sha1s`` (a digest store: contents
        seen before are not read again); without it the platform reads every file to compute them.
        """
        return PublishJob(
            deployment_id=uuid.uuid4().hex,
            owner_id="owner",
            address=address,
            files=self.files(),
            config=config or SiteConfig(),
            read=self.read,
            progress=lambda sent, total: self.progress.append((sent, total)),
            digests=self.sha1s if remember_sha1s else None,
            prefetch=self.prefetch,
        )
