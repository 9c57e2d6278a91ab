"""Publishing a deployment: the work the table's stream hands to the publisher function.

Claim first (pending → uploading with the site and any job slot held, one transaction; see
``lifecycle``), so a redelivered stream record finds the deployment already taken and does nothing,
and one that must wait is queued instead. From then on every outcome is recorded: ``ready`` (or
``building``, when the platform builds) with the URL, or ``error`` with the platform's own words; a
crash in between leaves the deployment ``uploading``, which the sweeper ends. One structured log
line per state change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from sitedeploy.domain import naming
from sitedeploy.domain.models import DeploymentKind, DeploymentRecord, DeploymentStatus, SiteAddress, Target
from sitedeploy.domain.sitefiles import HEADERS_FILE, REDIRECTS_FILE, ManifestEntry, SiteManifest
from sitedeploy.domain.tenancy import NameClaim, NameTaken, PublishGate, StaleRead
from sitedeploy.flows import lifecycle, status
from sitedeploy.flows.credentials import deployment_credentials
from sitedeploy.flows.placement import free_names
from sitedeploy.observability import logger
from sitedeploy.platforms.base import (
    NAME_UNAVAILABLE,
    FreshDigest,
    HostingPlatform,
    PlatformError,
    Published,
    PublishJob,
    Sha1Digests,
    SiteConfig,
    SiteFile,
    UserCredentials,
    compute_sha1s,
)
from sitedeploy.services import Services
from sitedeploy.stores import DeploymentStore
from sitedeploy.stores.deployments import TransitionRefused
from sitedeploy.stores.packs import IndexWriter, PackSpool
from sitedeploy.stores.secrets import CredentialsError
from sitedeploy.stores.staging import BlobCorrupted, BlobMissing, Packed, PackMissing
from sitedeploy.stores.tenancy import NewPlace, place_claim

PROGRESS_INTERVAL_SECONDS = 1.0


class _ProgressRecorder:
    """Writes progress at most once a second (and at 100 %), mapping bytes to 5–90 %."""

    def __init__(self, deployments: DeploymentStore, deployment_id: str) -> None:
        self._deployments = deployments
        self._id = deployment_id
        self._last = 0.0
        self._last_value = -1

    def __call__(self, sent: int, total: int) -> None:
        value = 5 + int(85 * sent / total) if total else 90
        now = time.monotonic()
        if value == self._last_value or (now - self._last < PROGRESS_INTERVAL_SECONDS and sent < total):
            return
        self._last, self._last_value = now, value
        try:
            self._deployments.set_progress(self._id, DeploymentStatus.UPLOADING, value)
        except TransitionRefused:
            pass  # ended elsewhere (the sweeper); the publish result will be refused too


def _config_text(manifest: SiteManifest, name: str, read: Callable[[ManifestEntry], bytes]) -> str | None:
    entry = manifest.config_file(name)
    if entry is None:
        return None
    data = read(entry)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PlatformError(f"{name} is not UTF-8 text") from None


class _RememberedDigests:
    """SHA-1s for a platform that addresses files by them: read from what the site's earlier
    deployments computed, computed (by reading the verified bytes) only for content new to it, and
    remembered for the next deploy. Remembering is best effort: losing it costs a read, never a
    deployment."""

    def __init__(self, services: Services, record: DeploymentRecord, compute: Sha1Digests) -> None:
        self._staging = services.stores.staging
        self._owner = record.owner_id
        self._site = record.site_id
        self._compute = compute
        self._lock = threading.Lock()
        self.computed = 0

    def __call__(self, files: Sequence[SiteFile], *, fresh: FreshDigest | None = None) -> Mapping[str, str]:
        with self._lock:
            try:
                known = self._staging.get_digests(self._owner, self._site)
            except Exception:
                logger.warning("remembered file digests unreadable; computing them", exc_info=True)
                known = {}
            new = [f for f in files if f.sha256 not in known]
            computed = self._compute(new, fresh=fresh)
            self.computed += len(computed)
            wanted = {f.sha256 for f in files}
            digests = {k: v for k, v in {**known, **computed}.items() if k in wanted}
            if computed or len(digests) != len(known):
                try:
                    self._staging.put_digests(self._owner, self._site, digests)
                except Exception:
                    logger.warning("could not remember file digests", exc_info=True)
            return digests


def _job(
    services: Services,
    record: DeploymentRecord,
    manifest: SiteManifest,
    progress: _ProgressRecorder,
    spool: PackSpool,
) -> PublishJob:
    staging = services.stores.staging
    owner = record.owner_id
    packed = {f.sha256: Packed(f.pack, f.offset or 0, f.size) for f in manifest.files if f.pack is not None}
    spool.expect(packed)

    def read(site_file: SiteFile) -> Iterator[bytes]:
        where = packed.get(site_file.sha256)
        if where is not None:
            return spool.read(site_file.sha256, where, path=site_file.path)
        return staging.iter_blob(owner, site_file.sha256, path=site_file.path)

    def prefetch(files: Sequence[SiteFile]) -> None:
        spool.prefetch(packed[f.sha256] for f in files if f.sha256 in packed)

    def sha1s(files: Sequence[SiteFile], *, fresh: FreshDigest | None = None) -> dict[str, str]:
        """Packed members a pack at a time; blobs (large files, inline deploys) streamed one by
        one. ``fresh`` hears of each content up to ``FRESH_MAX_BYTES``."""
        inside = {f.sha256: (packed[f.sha256], f.path) for f in files if f.sha256 in packed}
        return {
            **spool.sha1s(inside, fresh=fresh),
            **compute_sha1s([f for f in files if f.sha256 not in packed], read, fresh=fresh),
        }

    def read_whole(entry: ManifestEntry) -> bytes:
        return b"".join(read(SiteFile(entry.path, entry.sha256, entry.size, entry.content_type)))

    return PublishJob(
        deployment_id=record.deployment_id,
        owner_id=owner,
        address=record.address,
        files=[SiteFile(f.path, f.sha256, f.size, f.content_type) for f in manifest.served()],
        config=SiteConfig(
            spa=record.options.spa,
            html_handling=record.options.html_handling.value if record.options.html_handling else None,
            headers_text=_config_text(manifest, HEADERS_FILE, read_whole),
            redirects_text=_config_text(manifest, REDIRECTS_FILE, read_whole),
        ),
        read=read,
        progress=progress,
        digests=_RememberedDigests(services, record, sha1s),
        prefetch=prefetch,
        target=record.target,
        preview_key=preview_key(record),
    )


def preview_key(record: DeploymentRecord) -> str | None:
    return naming.preview_key(record.chat_id) if record.target is Target.PREVIEW else None


def _finish_index(writer: IndexWriter) -> None:
    """Wait for the index of verified pack members. Best effort: without it a later deploy uploads
    those files again, no worse; a deployment never fails for it."""
    try:
        writer.flush()
    except Exception:
        logger.warning("could not index verified pack members", exc_info=True, extra={"members": writer.written})


def publish(services: Services, deployment_id: str) -> DeploymentRecord | None:
    """Publish one deployment; returns its final record, or None when it is not (or not yet) ours."""
    deployments = services.stores.deployments
    pending = deployments.get(deployment_id)
    if pending is None or pending.status is not DeploymentStatus.PENDING:
        logger.info("deployment already claimed", extra={"deployment_id": deployment_id})
        return None
    gate = lifecycle.claim_for_publish(services, pending)
    if gate is not PublishGate.CLAIMED:
        logger.info("deployment not published now", extra={"deployment_id": deployment_id, "gate": gate.value})
        return None
    record = deployments.get(deployment_id)
    assert record is not None
    logger.info(
        "deployment claimed",
        extra={"deployment_id": deployment_id, "status": record.status.value, "platform": record.platform.value},
    )
    spool = PackSpool(services.stores.staging, record.owner_id)
    # Members are indexed as they are verified, while the platform works; ready means indexed.
    writer = IndexWriter(services.stores.packs, record.owner_id, services.settings.staged_blob_retention_days)
    spool.on_verified = writer.add
    try:
        return _publish(services, record, spool, writer)
    finally:
        spool.close()
        _finish_index(writer)
        writer.close()


def _publish(
    services: Services, record: DeploymentRecord, spool: PackSpool, writer: IndexWriter
) -> DeploymentRecord | None:
    deployments = services.stores.deployments
    deployment_id = record.deployment_id
    tried: set[str] = set()
    while True:
        try:
            hosting = services.platforms.get(record.platform)
            credentials = deployment_credentials(services, hosting, record)
            published = _activated(services, hosting, record, credentials)
            if published is None:
                manifest = services.stores.staging.get_manifest(deployment_id)
                job = _job(services, record, manifest, _ProgressRecorder(deployments, deployment_id), spool)
                published = hosting.publish(job, credentials)
        except PlatformError as exc:
            if exc.code == NAME_UNAVAILABLE and record.candidate_names:
                tried.add(record.address.name)
                renamed = _rename(services, record, tried)
                if renamed is not None:
                    record = renamed
                    continue
            return _fail(services, deployment_id, str(exc))
        except (CredentialsError, BlobCorrupted, BlobMissing, PackMissing) as exc:
            return _fail(services, deployment_id, str(exc))
        except Exception as exc:
            logger.exception("publishing failed unexpectedly", extra={"deployment_id": deployment_id})
            return _fail(services, deployment_id, f"internal error while publishing ({type(exc).__name__})")
        break
    spool.verify_fetched()
    _finish_index(writer)
    site = services.stores.sites.get(record.site_id)
    if site is None or site.deleted_at is not None or site.generation != record.site_generation:
        # Deleted while this was uploading: what was just made there goes with the rest of the
        # site, once this deployment lets go of it (lifecycle.finished).
        return _fail(services, deployment_id, f"{lifecycle.SITE_DELETED} while it was being published")
    address = published.address or record.address
    preview = record.target is Target.PREVIEW
    # A preview in a place of its own (an Amplify branch) is served at that place's URL.
    preview_url = published.preview_url or (published.url if preview else None)
    changes: dict[str, object] = {
        "url": record.url if preview and record.url else published.url,
        "externalId": published.external_id or record.external_id,
        "progress": published.progress,
        "versionRef": published.version_ref,
        "previewUrl": preview_url,
    }
    if published.address is not None:
        changes["accountId"] = published.address.account_id
        services.stores.sites.set_address(record.site_id, published.address.account_id or "")
    if published.status is DeploymentStatus.READY:
        lifecycle.record_version(services, record, site=site)
        changes["localUrl"] = services.site_urls(record.platform, address)
        if published.preview_url:
            changes["localPreviewUrl"] = services.preview_urls(record.platform, published.preview_url)
        elif preview:
            changes["localPreviewUrl"] = changes["localUrl"]
    try:
        done = deployments.transition(
            deployment_id, published.status, expected=[DeploymentStatus.UPLOADING], changes=changes, read=record
        )
    except TransitionRefused as refused:
        logger.warning(
            "deployment ended elsewhere before it was published",
            extra={"deployment_id": deployment_id, "status": refused.current.value if refused.current else None},
        )
        ended = deployments.get(deployment_id)
        if ended is not None:
            lifecycle.finished(services, ended)
        return None
    if done.target is Target.PRODUCTION:
        services.stores.sites.set_url(record.site_id, published.url, deployment_id=deployment_id)
    lifecycle.after_ready(services, done)
    logger.info(
        f"deployment {done.status.value}",
        extra={
            "deployment_id": deployment_id,
            "status": done.status.value,
            "url": published.url,
            "uploaded_files": published.uploaded_files,
            "uploaded_bytes": published.uploaded_bytes,
        },
    )
    lifecycle.finished(services, done)
    lifecycle.retire(services, done)
    if done.job_slot:
        return follow_build(services, done)
    return done


def _activated(
    services: Services, hosting: HostingPlatform, record: DeploymentRecord, credentials: UserCredentials | None
) -> Published | None:
    """A rollback or promote of a version the platform holds where the site is: made live by the
    platform's own means, nothing uploaded. None when it cannot be (the files are sent again)."""
    if record.kind not in {DeploymentKind.ROLLBACK, DeploymentKind.PROMOTE} or not record.version_ref:
        return None
    published = hosting.activate(record.address, record.version_ref, credentials)
    if published is None:
        logger.info(
            "the platform no longer holds the version: publishing its files again",
            extra={"deployment_id": record.deployment_id, "source": record.source_deployment_id},
        )
    return published


def _rename(services: Services, record: DeploymentRecord, tried: set[str]) -> DeploymentRecord | None:
    """The site's name is held outside the service (a Netlify name is global): move the site to
    its next candidate name no site of the service holds, in the same place. None when none is left
    or the site moved on meanwhile."""
    site = services.stores.sites.get(record.site_id)
    if (
        site is None
        or site.deleted_at is not None
        or site.last_deployment_id != record.deployment_id
        or site.address != record.address
    ):
        return None
    old = place_claim(site, site.current_place)
    if old is None:
        return None
    candidates = [
        NameClaim(site.platform, old.namespace, name)
        for name in record.candidate_names or []
        if name not in tried and name != site.external_name
    ]
    hosting = services.platforms.get(record.platform)
    for claim in free_names(services, candidates, site.site_id, site.generation):
        address = SiteAddress(account_id=site.account_id, name=claim.name, region=site.region)
        member = services.stores.tenancy.member(site.platform, site.member_id) if site.member_id else None
        url = hosting.site_url(address, member)
        try:
            services.stores.tenancy.rename(
                site,
                record.deployment_id,
                NewPlace(old, site.member_id, site.account_id, site.region),
                NewPlace(claim, site.member_id, site.account_id, site.region),
                url,
            )
        except (NameTaken, StaleRead):
            tried.add(claim.name)
            continue
        logger.warning(
            "site name held outside the service; moved to the next",
            extra={"deployment_id": record.deployment_id, "from": site.external_name, "to": claim.name},
        )
        return services.stores.deployments.get(record.deployment_id)
    return None


def follow_build(services: Services, record: DeploymentRecord) -> DeploymentRecord:
    """Follow a build that holds one of the platform's job slots to its end, so that the slot goes
    back the moment the build ends, not when somebody next polls (the line behind it moves on its
    own, whether or not anyone watches). Status polls share the same once-per-interval lease."""
    deadline = time.monotonic() + services.settings.build_follow_seconds
    current = record
    while not current.status.terminal and time.monotonic() < deadline:
        time.sleep(services.settings.build_poll_seconds)
        fresh = services.stores.deployments.get(record.deployment_id)
        if fresh is None:
            break
        current = status.refresh(services, fresh)
    return current


def _fail(services: Services, deployment_id: str, message: str) -> DeploymentRecord | None:
    failed = services.stores.deployments.fail(deployment_id, message)
    logger.warning("deployment failed", extra={"deployment_id": deployment_id, "status": "error", "error": message})
    if failed is not None:
        lifecycle.finished(services, failed)
    return failed
