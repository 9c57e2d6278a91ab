"""The sweeper: nothing stays in flight forever, and nothing waits forever.

Every few minutes (EventBridge), it reads the sparse InFlight index — never a scan, every page —
and
- ends ``pending``/``uploading`` deployments that have not moved for longer than the threshold
  (a publisher that died, a stream record that never came) as ``error`` "timed out", giving back
  what they held; a deployment queued for a gate is waiting, not stuck: its clock starts when its
  turn comes, and the sweeper hands it to the publisher again in case a wake was lost;
- polls ``building`` deployments (a platform's build) to their end even when no client polls, and ends
  the ones that outlive any plausible build as ``error``;
- lets go for deployments that ended without giving back what they held (their site, a job slot,
  their place in the owner's in-flight count: a Lambda died in between), which finishes a deletion
  that waited for them;
- counts the job slots in-flight deployments hold, and gives back slots a dead Lambda kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.flows import lifecycle, status
from sitedeploy.observability import logger
from sitedeploy.services import Services

BUILD_TIMEOUT = timedelta(hours=2)
# A queued deployment untouched this long may have missed its wake: the sweeper wakes it again.
QUEUE_NUDGE_AFTER = timedelta(minutes=1)
# An ended deployment still holding things this long after it ended was left by a dead Lambda.
LET_GO_AFTER = timedelta(minutes=1)


@dataclass
class SweepReport:
    timed_out: list[str] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)
    let_go: list[str] = field(default_factory=list)
    slots_freed: int = 0


def sweep(services: Services, *, stuck_after: timedelta | None = None) -> SweepReport:
    """One pass; ``stuck_after`` defaults to the stack's StuckDeploymentMinutes."""
    repo = services.stores.deployments
    stuck_after = stuck_after or timedelta(minutes=services.settings.stuck_deployment_minutes)
    report = SweepReport()
    cutoff = clock.iso(clock.now() - stuck_after)
    recent = clock.iso(clock.now() - QUEUE_NUDGE_AFTER)
    tenancy = services.stores.tenancy
    waiting_on: set[str] = set()
    everything = clock.iso(clock.now() + timedelta(minutes=1))
    for stage in (DeploymentStatus.PENDING, DeploymentStatus.UPLOADING):
        bound = everything if stage is DeploymentStatus.PENDING else cutoff
        for record in list(repo.list_in_flight(stage, updated_before=bound)):
            if record.queue is not None:  # waiting its turn: not stuck; a lost wake is made good
                waiting_on.add(record.queue)
                if record.updated_at < recent:
                    tenancy.wake(record)
                    report.woken.append(record.deployment_id)
                continue
            if record.updated_at >= cutoff:
                continue
            minutes = int(stuck_after.total_seconds() // 60)
            message = f"timed out: no progress for {minutes} minutes while {stage.value}"
            failed = repo.fail(record.deployment_id, message)
            if failed:
                report.timed_out.append(record.deployment_id)
                logger.warning(
                    "deployment timed out",
                    extra={"deployment_id": record.deployment_id, "status": "error", "was": stage.value},
                )
                lifecycle.finished(services, failed)
    build_cutoff = clock.iso(clock.now() - BUILD_TIMEOUT)
    for record in list(repo.list_in_flight(DeploymentStatus.BUILDING, updated_before=everything)):
        report.polled.append(record.deployment_id)
        after = status.refresh(services, record, min_interval=0)
        if after.status.terminal:
            report.finished.append(record.deployment_id)
        elif (record.started_at or record.created_at) < build_cutoff:
            failed = repo.fail(record.deployment_id, "timed out: the platform's build did not finish")
            if failed:
                report.timed_out.append(record.deployment_id)
                lifecycle.finished(services, failed)
    for record in list(repo.list_ended(updated_before=clock.iso(clock.now() - LET_GO_AFTER))):
        lifecycle.finished(services, record)
        report.let_go.append(record.deployment_id)
        logger.warning("an ended deployment let go late", extra={"deployment_id": record.deployment_id})
    report.slots_freed = _reconcile_slots(services, waiting_on)
    return report


def _holders(services: Services) -> Counter[str]:
    everything = clock.iso(clock.now() + timedelta(minutes=1))
    holding: Counter[str] = Counter()
    for stage in (DeploymentStatus.UPLOADING, DeploymentStatus.BUILDING):
        for record in services.stores.deployments.list_in_flight(stage, updated_before=everything):
            if record.job_slot:
                holding[record.job_slot] += 1
    return holding


def _reconcile_slots(services: Services, waiting_on: set[str]) -> int:
    """Slots held by deployments that ended without giving them back (a Lambda died in between).
    Every in-flight deployment is counted, all pages, between two reads of each count; a count is
    lowered only when it did not move meanwhile, and only if it still has not."""
    tenancy = services.stores.tenancy
    keys = {q for q in waiting_on if not q.startswith(lifecycle.SITE_QUEUE)} | set(_holders(services))
    first = {key: tenancy.slots_held(key) for key in keys}
    holding = _holders(services)
    freed = 0
    for key in keys:
        held = tenancy.slots_held(key)
        if held == first[key] and held > holding[key] and tenancy.set_slots_held(key, holding[key], expected=held):
            freed += held - holding[key]
            logger.warning("job slots given back", extra={"queue": key, "slots": held - holding[key]})
    return freed
