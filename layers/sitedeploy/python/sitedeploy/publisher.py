"""Publishing a deployment: the work the table's stream hands to the publisher function.

Claim first (pending → uploading, a conditional write), so a redelivered stream record finds the
deployment already taken and does nothing. From then on every outcome is recorded: ``ready`` with
the URL, or ``error`` with the platform's own words; a crash in between leaves the deployment
``uploading``, which the sweeper ends. One structured log line per state change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import lru_cache

from sitedeploy import local_urls, targets
from sitedeploy.credentials import CredentialsError
from sitedeploy.models import DeploymentRecord, DeploymentStatus, Platform
from sitedeploy.observability import logger
from sitedeploy.platforms import PlatformError, PublishResult, SiteFile
from sitedeploy.platforms.amplify import AmplifyPublisher, amplify_client
from sitedeploy.platforms.cloudflare import AssetsOptions, CloudflareApi, CloudflarePublisher
from sitedeploy.records import DeploymentsRepository, TransitionRefused
from sitedeploy.settings import get_settings
from sitedeploy.sitefiles import HEADERS_FILE, REDIRECTS_FILE, SiteManifest
from sitedeploy.sites import SitesRepository
from sitedeploy.staging import BlobCorrupted, BlobMissing, Staging

PROGRESS_INTERVAL_SECONDS = 1.0


@lru_cache(maxsize=1)
def _stores() -> tuple[DeploymentsRepository, SitesRepository, Staging]:
    settings = get_settings()
    return (
        DeploymentsRepository(settings.deployments_table),
        SitesRepository(settings.deployments_table),
        Staging(settings.staging_bucket),
    )


class _ProgressRecorder:
    """Writes progress at most once a second (and at 100 %), mapping bytes to 5–90 %."""

    def __init__(self, repo: DeploymentsRepository, deployment_id: str) -> None:
        self._repo = repo
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
            self._repo.set_progress(self._id, DeploymentStatus.UPLOADING, value)
        except TransitionRefused:
            pass  # ended elsewhere (the sweeper); the publish result will be refused too


def _config_text(manifest: SiteManifest, name: str, staging: Staging, owner_id: str) -> str | None:
    entry = manifest.config_file(name)
    if entry is None:
        return None
    data = staging.read_blob(owner_id, entry.sha256, path=entry.path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PlatformError(f"{name} is not UTF-8 text") from None


def _publish_cloudflare(
    record: DeploymentRecord, manifest: SiteManifest, staging: Staging, progress: _ProgressRecorder
) -> tuple[PublishResult, str | None]:
    settings = get_settings()
    target = targets.cloudflare_target(record)
    api = CloudflareApi(
        target.api_token,
        base_url=settings.cloudflare_api_base,
        backoff=settings.retry_backoff_seconds,
        retry_after_cap=settings.retry_after_cap_seconds,
    )
    options = AssetsOptions(
        spa=record.options.spa,
        html_handling=record.options.html_handling.value if record.options.html_handling else None,
        headers_text=_config_text(manifest, HEADERS_FILE, staging, record.owner_id),
        redirects_text=_config_text(manifest, REDIRECTS_FILE, staging, record.owner_id),
    )
    files = [SiteFile(f.path, f.sha256, f.size, f.content_type) for f in manifest.served()]

    def read(site_file: SiteFile) -> bytes:
        return staging.read_blob(record.owner_id, site_file.sha256, path=site_file.path)

    result = CloudflarePublisher(api).publish(target, files, options, read, progress)
    return result, local_urls.site_url("cloudflare", target.account_id, target.script_name)


def _publish_amplify(
    record: DeploymentRecord, manifest: SiteManifest, staging: Staging, progress: _ProgressRecorder
) -> PublishResult:
    settings = get_settings()
    target, creds = targets.amplify_target(record)
    publisher = AmplifyPublisher(
        amplify_client(creds),
        backoff=settings.retry_backoff_seconds,
        retry_after_cap=settings.retry_after_cap_seconds,
        zip_limit=settings.amplify_zip_limit_bytes,
    )
    files = [SiteFile(f.path, f.sha256, f.size, f.content_type) for f in manifest.served()]

    def read(site_file: SiteFile) -> Iterator[bytes]:
        return staging.iter_blob(record.owner_id, site_file.sha256, path=site_file.path)

    spa = record.options.spa if record.options.spa is not None else "index.html" in {f.path for f in files}
    return publisher.publish(target, files, read, spa=spa, progress=progress)


def publish(deployment_id: str) -> DeploymentRecord | None:
    """Publish one deployment; returns its final record, or None when another delivery has it."""
    deployments, sites, staging = _stores()
    record = deployments.claim(deployment_id)
    if record is None:
        logger.info("deployment already claimed", extra={"deployment_id": deployment_id})
        return None
    logger.info(
        "deployment claimed",
        extra={
            "deployment_id": deployment_id,
            "status": record.status.value,
            "platform": record.platform.value,
        },
    )
    progress = _ProgressRecorder(deployments, deployment_id)
    try:
        manifest = staging.get_manifest(deployment_id)
        if record.platform is Platform.CLOUDFLARE:
            result, local_url = _publish_cloudflare(record, manifest, staging, progress)
            final, changes = DeploymentStatus.READY, {"progress": 100, "localUrl": local_url}
        elif record.platform is Platform.AMPLIFY:
            result = _publish_amplify(record, manifest, staging, progress)
            final, changes = DeploymentStatus.BUILDING, {"progress": 55}
        else:
            raise PlatformError(f"publishing to {record.platform.value} is not supported")
    except (PlatformError, CredentialsError, BlobCorrupted, BlobMissing) as exc:
        return _fail(deployments, deployment_id, str(exc))
    except Exception as exc:
        logger.exception("publishing failed unexpectedly", extra={"deployment_id": deployment_id})
        return _fail(deployments, deployment_id, f"internal error while publishing ({type(exc).__name__})")
    try:
        done = deployments.transition(
            deployment_id,
            final,
            expected=[DeploymentStatus.UPLOADING],
            changes={"url": result.url, "externalId": result.external_id, **changes},
        )
    except TransitionRefused as refused:
        logger.warning(
            "deployment ended elsewhere before it was published",
            extra={
                "deployment_id": deployment_id,
                "status": refused.current.value if refused.current else None,
            },
        )
        return None
    sites.set_url(record.site_id, result.url)
    logger.info(
        f"deployment {done.status.value}",
        extra={
            "deployment_id": deployment_id,
            "status": done.status.value,
            "url": result.url,
            "uploaded_files": result.uploaded_files,
            "uploaded_bytes": result.uploaded_bytes,
        },
    )
    return done


def _fail(deployments: DeploymentsRepository, deployment_id: str, message: str) -> DeploymentRecord | None:
    failed = deployments.fail(deployment_id, message)
    logger.warning("deployment failed", extra={"deployment_id": deployment_id, "status": "error", "error": message})
    return failed
