"""The gates a publish passes, and what happens when a deployment ends.

A pending deployment starts publishing only when it is its site's newest accepted deployment, no
older one of the site is still publishing or building, and (on a platform with a concurrent-build
quota) a job slot is free: all taken in one transaction. Whatever cannot start waits, queued, in
``pending``; whatever supersedes it ends it. When a deployment ends, its site and its slot are given
back and the next waiting deployment is handed to the publisher."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain.models import DeploymentRecord, DeploymentStatus, SiteAddress, SiteRecord
from sitedeploy.domain.tenancy import NameClaim, PublishGate, Seat
from sitedeploy.observability import logger, metrics
from sitedeploy.services import Services

SITE_QUEUE = "site#"


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


def claim_for_publish(services: Services, record: DeploymentRecord) -> PublishGate:
    """Try to start publishing; a deployment that must wait is queued, one that lost is ended."""
    tenancy = services.stores.tenancy
    slots = services.platforms.get(record.platform).job_slots(record)
    gate = tenancy.acquire_publish(record.deployment_id, record.site_id, slots)
    if gate is PublishGate.SITE_BUSY and _release_stale_holder(services, record.site_id):
        gate = tenancy.acquire_publish(record.deployment_id, record.site_id, slots)
    if gate is PublishGate.SUPERSEDED:
        site = services.stores.sites.get(record.site_id)
        newer = site.last_deployment_id if site else None
        services.stores.deployments.fail_if_pending(
            record.deployment_id, f"superseded by {newer}" if newer else "superseded by a newer deployment"
        )
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
    """After a deployment ended: give back its site and its job slot, and wake who waits for them."""
    if not record.status.terminal or not (record.holds_site or record.job_slot):
        return
    tenancy = services.stores.tenancy
    if record.holds_site and tenancy.release_site(record.site_id, record.deployment_id):
        site = services.stores.sites.get(record.site_id)
        if site and site.last_deployment_id and site.last_deployment_id != record.deployment_id:
            newer = services.stores.deployments.get(site.last_deployment_id)
            if newer is not None and newer.status is DeploymentStatus.PENDING:
                tenancy.wake(newer)
    if record.job_slot:
        tenancy.release_slot(record.job_slot)
        for waiting in tenancy.waiting(record.job_slot, limit=1):
            tenancy.wake(waiting)
    tenancy.let_go(record.deployment_id)


def release_place(services: Services, record_site: SiteRecord, address: SiteAddress, member_id: str | None) -> None:
    """Give back what a site held at ``address``: its name, its seat in a pool member, and the
    member itself when nobody sits in it any more and the service made it."""
    tenancy = services.stores.tenancy
    hosting = services.platforms.get(record_site.platform)
    if address.account_id:
        tenancy.release_name(NameClaim(record_site.platform, address.account_id, address.name), record_site.site_id)
    if member_id is None:
        return
    tenancy.give_back_seat(Seat(record_site.platform, member_id))
    member = tenancy.member(record_site.platform, member_id)
    if member is None or member.used > 0 or hosting.pool_limit() == 0:
        return
    if tenancy.remove_if_empty(member):
        hosting.remove_member(member)
        tenancy.unreserve_member(record_site.platform, member.region)
        logger.info("empty pool member deleted", extra={"platform": record_site.platform.value, "member": member_id})


def retire(services: Services, record: DeploymentRecord) -> None:
    """The deployment that moved its site is live: tear down the site's previous place."""
    if record.retire is None or record.status is not DeploymentStatus.READY:
        return
    site = services.stores.sites.get(record.site_id)
    if site is None:
        return
    old = record.retire.address
    try:
        services.platforms.get(record.platform).tear_down(old, None)
    except Exception:  # the old branch stays behind; the new one is live, which is what matters
        logger.exception("tearing down a site's previous place failed", extra={"deployment_id": record.deployment_id})
        return
    release_place(services, site, old, record.retire.member_id)
    logger.info("site moved", extra={"site_id": site.site_id, "from": old.account_id, "to": record.account_id})
