"""The gates a publish passes, and what happens when a deployment ends.

A pending deployment starts publishing only when it is its site's newest accepted deployment, of
the site's current generation and not deleted since, no older one of the site is still publishing
or building, and (on a platform with a concurrent-build quota) a job slot is free: all taken in one
transaction. Whatever cannot start waits, queued, in ``pending``; whatever supersedes it ends it.

When a deployment ends, everything it held is given back — its site, its slot, its place in its
owner's in-flight count — and the next waiting deployment is handed to the publisher. A site
deleted while this deployment held it is finished now: its holder was the one thing the deletion
waited for. A deployment that ended without letting go (its Lambda died in between) stays in the
InFlight index's "ended" part, where the sweeper finds it."""

from __future__ import annotations

from datetime import timedelta

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentRecord, DeploymentStatus, SiteRecord, Target
from sitedeploy.domain.tenancy import PublishGate
from sitedeploy.flows import places
from sitedeploy.observability import logger, metrics
from sitedeploy.services import Services

SITE_QUEUE = "site#"
SITE_DELETED = "the site was deleted"


def site_queue(site_id: str) -> str:
    return f"{SITE_QUEUE}{site_id}"


def supersede(services: Services, previous_id: str | None, newer_id: str) -> None:
    """An older deployment of the site that has not started publishing will never be needed."""
    if not previous_id or previous_id == newer_id:
        return
    ended = services.stores.deployments.fail_if_pending(previous_id, f"superseded by {newer_id}")
    if ended is not None:
        logger.info(
            "deployment superseded",
            extra={"deployment_id": previous_id, "status": "error", "superseded_by": newer_id},
        )
        finished(services, ended)


def claim_for_publish(services: Services, record: DeploymentRecord) -> PublishGate:
    """Try to start publishing; a deployment that must wait is queued, one that lost is ended."""
    tenancy = services.stores.tenancy
    slots = services.platforms.get(record.platform).job_slots(record)
    gate = tenancy.acquire_publish(record, slots)
    if gate is PublishGate.SITE_BUSY and _release_stale_holder(services, record.site_id):
        gate = tenancy.acquire_publish(record, slots)
    if gate is PublishGate.SUPERSEDED:
        site = services.stores.sites.get(record.site_id)
        newer = site.last_deployment_id if site else None
        _end_pending(services, record, f"superseded by {newer}" if newer else "superseded by a newer deployment")
    elif gate is PublishGate.SITE_DELETED:
        _end_pending(services, record, SITE_DELETED)
    elif gate is PublishGate.SITE_BUSY:
        tenancy.enqueue(record.deployment_id, site_queue(record.site_id))
        logger.info("deployment waits for its site", extra={"deployment_id": record.deployment_id})
    elif gate is PublishGate.NO_SLOT and slots is not None:
        tenancy.enqueue(record.deployment_id, slots.key)
        metrics.add_metric(name="DeploymentsQueued", unit=MetricUnit.Count, value=1)
        logger.info(
            "deployment waits for a build slot", extra={"deployment_id": record.deployment_id, "queue": slots.key}
        )
        # A slot freed between the refusal and the queueing would wake nobody: look once more.
        if tenancy.slots_held(slots.key) < slots.limit:
            tenancy.wake(record)
    return gate


def _end_pending(services: Services, record: DeploymentRecord, reason: str) -> None:
    ended = services.stores.deployments.fail_if_pending(record.deployment_id, reason)
    if ended is not None:
        logger.info(
            "deployment ended before publishing", extra={"deployment_id": record.deployment_id, "error": reason}
        )
        finished(services, ended)


def _release_stale_holder(services: Services, site_id: str) -> bool:
    """A site held by a deployment that already ended (its Lambda died before letting go)."""
    holder = services.stores.tenancy.site_holder(site_id)
    if holder is None:
        return True
    record = services.stores.deployments.get(holder)
    if record is not None and not record.status.terminal:
        return False
    return services.stores.tenancy.release_site(site_id, holder)


def finished(services: Services, record: DeploymentRecord) -> None:
    """After a deployment ended: give back its site, its job slot and its place in the owner's
    in-flight count, wake who waits for them, and finish a deletion that waited for it."""
    if not record.status.terminal:
        return
    tenancy = services.stores.tenancy
    released = record.holds_site and tenancy.release_site(record.site_id, record.deployment_id)
    if record.job_slot:
        tenancy.release_slot(record.job_slot)
    tenancy.let_go(record)
    if record.job_slot:
        for waiting in tenancy.waiting(record.job_slot, limit=1):
            tenancy.wake(waiting)
    if not released:
        return
    site = services.stores.sites.get(record.site_id)
    if site is None:
        return
    if site.deleted_at is not None:
        try:
            places.finish_deletion(services, site.site_id)
        except Exception:  # the site stays marked deleted: the reconciler (or another DELETE) finishes it
            logger.exception("finishing a deleted site failed", extra={"site_id": site.site_id})
        return
    for newest in (site.last_deployment_id, site.last_preview_id):
        if newest and newest != record.deployment_id:
            newer = services.stores.deployments.get(newest)
            if newer is not None and newer.status is DeploymentStatus.PENDING:
                tenancy.wake(newer)


def record_version(services: Services, record: DeploymentRecord, *, site: SiteRecord | None = None) -> None:
    """The platform serves the deployment now: it is a version its site keeps (the newest), and
    production's when it published to production. Recorded before the deployment reads ``ready``,
    so whoever sees it ready sees the site say so too. Best effort: a version not recorded is one
    rollback target fewer. ``site``: as the caller just read it (spares a read)."""
    settings = services.settings
    due = clock.iso(clock.now() + timedelta(seconds=settings.keep_interval_seconds))
    try:
        services.stores.sites.record_version(
            record.site_id,
            record.deployment_id,
            generation=record.site_generation,
            keep=settings.versions_per_site,
            live=record.target is Target.PRODUCTION,
            keep_due=due,
            live_key=f"{record.created_at}#{record.deployment_id}",
            read=site,
        )
    except Exception:
        logger.exception("recording a version failed", extra={"deployment_id": record.deployment_id})


def after_ready(services: Services, record: DeploymentRecord) -> None:
    """What waits for a deployment to read ``ready``: a claim's Quick Deploy site goes."""
    if record.status is DeploymentStatus.READY and record.releases:
        _release_claimed(services, record)


def _release_claimed(services: Services, record: DeploymentRecord) -> None:
    """A claimed copy is live on the user's own account: the Quick Deploy site it came from goes.
    Best effort: a site not torn down now expires as usual."""
    from sitedeploy.flows import teardown

    assert record.releases is not None
    try:
        teardown.delete(services, record.owner_id, record.releases)
    except Exception:
        logger.exception("releasing a claimed Quick Deploy site failed", extra={"site_id": record.releases})
    else:
        logger.info("claimed Quick Deploy site released", extra={"site_id": record.releases})


def retire(services: Services, record: DeploymentRecord) -> None:
    """The site's newest deployment is live where the site is now: tear down the places it left."""
    if record.status is not DeploymentStatus.READY:
        return
    site = services.stores.sites.get(record.site_id)
    if (
        site is None
        or not site.former
        or site.deleted_at is not None
        or site.last_deployment_id != record.deployment_id
        or site.address != record.address
    ):
        return
    try:
        places.free_former(services, site.site_id)
    except Exception:  # the places stay the site's; its next live deployment, or the reconciler, frees them
        logger.exception("freeing a site's former places failed", extra={"deployment_id": record.deployment_id})
