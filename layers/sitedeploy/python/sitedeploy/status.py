"""Reading deployments for their owner: what the status endpoints answer.

Kept apart from the handler so that the live-status refresh (asking a platform while a deployment
is building) has one home, whichever route the poll came through."""

from __future__ import annotations

import re
from functools import lru_cache

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy import local_urls, targets
from sitedeploy.credentials import CredentialsError
from sitedeploy.models import (
    DeploymentList,
    DeploymentRecord,
    DeploymentStatus,
    DeploymentStatusResponse,
    Platform,
)
from sitedeploy.observability import logger, metrics
from sitedeploy.platforms import PlatformError
from sitedeploy.platforms.amplify import AmplifyPublisher, amplify_client
from sitedeploy.records import DeploymentNotFound, DeploymentsRepository, TransitionRefused
from sitedeploy.settings import get_settings

_DEPLOYMENT_ID = re.compile(r"^dpl_[a-z2-7]{26}$")
POLL_INTERVAL_SECONDS = 2.0


@lru_cache(maxsize=1)
def repository() -> DeploymentsRepository:
    return DeploymentsRepository(get_settings().deployments_table)


def refresh(record: DeploymentRecord, *, min_interval: float = POLL_INTERVAL_SECONDS) -> DeploymentRecord:
    """While an Amplify deployment builds, ask its job (at most once per ``min_interval`` across all
    pollers) and record what it says. A failed poll answers from the record: the next one retries."""
    if record.status is not DeploymentStatus.BUILDING or record.platform is not Platform.AMPLIFY:
        return record
    if not record.external_id:
        return record
    repo = repository()
    if not repo.acquire_poll(record.deployment_id, min_interval=min_interval):
        return record
    try:
        target, creds = targets.amplify_target(record)
        state = AmplifyPublisher(amplify_client(creds, quick=True)).job(target, record.external_id)
    except (PlatformError, CredentialsError) as exc:
        logger.warning("job poll failed", extra={"deployment_id": record.deployment_id, "reason": str(exc)})
        return record
    try:
        if state.status is DeploymentStatus.BUILDING:
            if state.progress == record.progress:
                return record
            return repo.set_progress(record.deployment_id, DeploymentStatus.BUILDING, state.progress)
        changes: dict[str, object] = {"progress": 100}
        if state.status is DeploymentStatus.ERROR:
            changes["error"] = state.error
        else:
            changes["localUrl"] = local_urls.site_url("amplify", target.app_id, target.branch)
        done = repo.transition(
            record.deployment_id, state.status, expected=[DeploymentStatus.BUILDING], changes=changes
        )
    except TransitionRefused:
        return repo.get(record.deployment_id) or record
    logger.info(
        f"deployment {done.status.value}",
        extra={
            "deployment_id": done.deployment_id,
            "status": done.status.value,
            "job_status": state.job_status,
            "error": done.error,
        },
    )
    return done


def deployment_status(owner_id: str, deployment_id: str) -> DeploymentStatusResponse:
    """The owner's deployment; a malformed id is as unknown as a missing or foreign one."""
    if not _DEPLOYMENT_ID.match(deployment_id):
        raise DeploymentNotFound(deployment_id[:64])
    record = refresh(repository().get_for_owner(deployment_id, owner_id))
    metrics.add_metric(name="StatusReads", unit=MetricUnit.Count, value=1)
    return DeploymentStatusResponse.of(record)


def list_deployments(owner_id: str, *, chat_id: str | None, limit: int, cursor: str | None) -> DeploymentList:
    page = repository().list_for_owner(owner_id, chat_id=chat_id, limit=limit, cursor=cursor)
    metrics.add_metric(name="DeploymentListings", unit=MetricUnit.Count, value=1)
    return DeploymentList(
        deployments=[DeploymentStatusResponse.of(record) for record in page.records],
        next_cursor=page.next_cursor,
    )
