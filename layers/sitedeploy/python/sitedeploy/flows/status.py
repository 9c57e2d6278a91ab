"""Reading deployments for their owner: what the status endpoints answer.

While a deployment builds on its platform, a read asks the platform (at most once per
``Settings.build_poll_seconds`` across all pollers, by a conditional lease on the record) and records
what it says, whichever route the poll came through; the sweeper does the same for builds nobody
watches."""

from __future__ import annotations

import re

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain.errors import DeploymentNotFound
from sitedeploy.domain.models import (
    DeploymentList,
    DeploymentRecord,
    DeploymentStatus,
    DeploymentStatusResponse,
    Platform,
    Target,
)
from sitedeploy.flows import lifecycle
from sitedeploy.flows.credentials import deployment_credentials
from sitedeploy.observability import logger, metrics
from sitedeploy.platforms.base import PlatformError
from sitedeploy.services import Services
from sitedeploy.stores.deployments import TransitionRefused
from sitedeploy.stores.secrets import CredentialsError

_DEPLOYMENT_ID = re.compile(r"^dpl_[a-z2-7]{26}$")
# A build the platform answers about with these is gone for good (its branch, site or project was
# deleted): following it further would only wait for the sweeper's timeout.
GONE = frozenset({404, 410})


def refresh(services: Services, record: DeploymentRecord, *, min_interval: float | None = None) -> DeploymentRecord:
    """Ask the platform about a build and record what it says. A failed poll answers from the
    record: the next one retries."""
    if record.status is not DeploymentStatus.BUILDING or not record.external_id:
        return record
    deployments = services.stores.deployments
    interval = services.settings.build_poll_seconds if min_interval is None else min_interval
    if not deployments.acquire_poll(record.deployment_id, min_interval=interval):
        return record
    try:
        hosting = services.platforms.get(record.platform)
        state = hosting.refresh(record.address, record.external_id, deployment_credentials(services, hosting, record))
    except PlatformError as exc:
        if exc.status not in GONE:
            logger.warning("job poll failed", extra={"deployment_id": record.deployment_id, "reason": str(exc)})
            return record
        # The platform says the build is not there (its branch or project was deleted): it never ends.
        failed = deployments.fail(record.deployment_id, f"the platform no longer knows this build: {exc.message}")
        logger.warning(
            "build gone", extra={"deployment_id": record.deployment_id, "status": "error", "error": str(exc)}
        )
        if failed is None:
            return deployments.get(record.deployment_id) or record
        lifecycle.finished(services, failed)
        return failed
    except CredentialsError as exc:
        logger.warning("job poll failed", extra={"deployment_id": record.deployment_id, "reason": str(exc)})
        return record
    try:
        if state.status is DeploymentStatus.BUILDING:
            if state.progress == record.progress:
                return record
            return deployments.set_progress(record.deployment_id, DeploymentStatus.BUILDING, state.progress)
        changes: dict[str, object] = {"progress": 100}
        if state.status is DeploymentStatus.ERROR:
            changes["error"] = state.error
        else:
            lifecycle.record_version(services, record)
            changes["localUrl"] = services.site_urls(record.platform, record.address)
            preview = record.target is Target.PREVIEW
            if state.url and not preview:
                changes["url"] = state.url
            if preview and record.preview_url and record.preview_url != record.url:
                changes["localPreviewUrl"] = services.preview_urls(record.platform, record.preview_url)
            elif preview:  # a preview in a place of its own (an Amplify branch): served there
                changes["previewUrl"] = state.url or record.preview_url or record.url
                changes["localPreviewUrl"] = changes["localUrl"]
        done = deployments.transition(
            record.deployment_id, state.status, expected=[DeploymentStatus.BUILDING], changes=changes
        )
    except TransitionRefused:
        return deployments.get(record.deployment_id) or record
    logger.info(
        f"deployment {done.status.value}",
        extra={
            "deployment_id": done.deployment_id,
            "status": done.status.value,
            "job_status": state.job_status,
            "error": done.error,
        },
    )
    if state.url and done.status is DeploymentStatus.READY and done.target is Target.PRODUCTION:
        services.stores.sites.set_url(done.site_id, state.url, deployment_id=done.deployment_id)
    lifecycle.after_ready(services, done)
    lifecycle.finished(services, done)
    lifecycle.retire(services, done)
    return done


def deployment_status(
    services: Services, owner_id: str, deployment_id: str, *, platform: Platform | None = None
) -> DeploymentStatusResponse:
    """The owner's deployment; a malformed id, or one on another platform than the caller names,
    is as unknown as a missing or foreign one."""
    if not _DEPLOYMENT_ID.match(deployment_id):
        raise DeploymentNotFound(deployment_id[:64])
    record = services.stores.deployments.get_for_owner(deployment_id, owner_id)
    if platform is not None and record.platform != platform:
        raise DeploymentNotFound(deployment_id)
    record = refresh(services, record)
    metrics.add_metric(name="StatusReads", unit=MetricUnit.Count, value=1)
    return DeploymentStatusResponse.of(record)


def list_deployments(
    services: Services, owner_id: str, *, chat_id: str | None, limit: int, cursor: str | None
) -> DeploymentList:
    page = services.stores.deployments.list_for_owner(owner_id, chat_id=chat_id, limit=limit, cursor=cursor)
    metrics.add_metric(name="DeploymentListings", unit=MetricUnit.Count, value=1)
    return DeploymentList(
        deployments=[DeploymentStatusResponse.of(record) for record in page.records],
        next_cursor=page.next_cursor,
    )
