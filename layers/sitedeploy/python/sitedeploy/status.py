"""Reading deployments for their owner: what the status endpoints answer.

Kept apart from the handler so that the live-status refresh (asking a platform while a deployment
is building) has one home, whichever route the poll came through."""

from __future__ import annotations

import re
from functools import lru_cache

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.models import DeploymentList, DeploymentStatusResponse
from sitedeploy.observability import metrics
from sitedeploy.records import DeploymentNotFound, DeploymentsRepository
from sitedeploy.settings import get_settings

_DEPLOYMENT_ID = re.compile(r"^dpl_[a-z2-7]{26}$")


@lru_cache(maxsize=1)
def repository() -> DeploymentsRepository:
    return DeploymentsRepository(get_settings().deployments_table)


def deployment_status(owner_id: str, deployment_id: str) -> DeploymentStatusResponse:
    """The owner's deployment; a malformed id is as unknown as a missing or foreign one."""
    if not _DEPLOYMENT_ID.match(deployment_id):
        raise DeploymentNotFound(deployment_id[:64])
    record = repository().get_for_owner(deployment_id, owner_id)
    metrics.add_metric(name="StatusReads", unit=MetricUnit.Count, value=1)
    return DeploymentStatusResponse.of(record)


def list_deployments(owner_id: str, *, chat_id: str | None, limit: int, cursor: str | None) -> DeploymentList:
    page = repository().list_for_owner(owner_id, chat_id=chat_id, limit=limit, cursor=cursor)
    metrics.add_metric(name="DeploymentListings", unit=MetricUnit.Count, value=1)
    return DeploymentList(
        deployments=[DeploymentStatusResponse.of(record) for record in page.records],
        next_cursor=page.next_cursor,
    )
