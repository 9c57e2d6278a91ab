"""The sweeper: nothing stays in flight forever.

Every few minutes (EventBridge), it reads the sparse InFlight index — never a scan — and
- ends ``pending``/``uploading`` deployments that have not moved for longer than the threshold
  (a publisher that died, a stream record that never came) as ``error`` "timed out";
- polls ``building`` deployments (a platform's build) to their end even when no client polls, and ends
  the ones that outlive any plausible build as ``error``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.flows import status
from sitedeploy.observability import logger
from sitedeploy.services import Services

BUILD_TIMEOUT = timedelta(hours=2)


@dataclass
class SweepReport:
    timed_out: list[str] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)


def sweep(services: Services, *, stuck_after: timedelta | None = None) -> SweepReport:
    """One pass; ``stuck_after`` defaults to the stack's StuckDeploymentMinutes."""
    repo = services.stores.deployments
    stuck_after = stuck_after or timedelta(minutes=services.settings.stuck_deployment_minutes)
    report = SweepReport()
    cutoff = clock.iso(clock.now() - stuck_after)
    for stage in (DeploymentStatus.PENDING, DeploymentStatus.UPLOADING):
        for record in repo.list_in_flight(stage, updated_before=cutoff):
            minutes = int(stuck_after.total_seconds() // 60)
            message = f"timed out: no progress for {minutes} minutes while {stage.value}"
            if repo.fail(record.deployment_id, message):
                report.timed_out.append(record.deployment_id)
                logger.warning(
                    "deployment timed out",
                    extra={"deployment_id": record.deployment_id, "status": "error", "was": stage.value},
                )
    now = clock.iso(clock.now())
    build_cutoff = clock.iso(clock.now() - BUILD_TIMEOUT)
    for record in repo.list_in_flight(DeploymentStatus.BUILDING, updated_before=now):
        report.polled.append(record.deployment_id)
        after = status.refresh(services, record, min_interval=0)
        if after.status.terminal:
            report.finished.append(record.deployment_id)
        elif (record.started_at or record.created_at) < build_cutoff and repo.fail(
            record.deployment_id, "timed out: the platform's build did not finish"
        ):
            report.timed_out.append(record.deployment_id)
    return report
