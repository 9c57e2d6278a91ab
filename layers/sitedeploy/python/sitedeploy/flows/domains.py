"""Custom domains: attach a hostname to a site, tell the owner the DNS records to create, and follow
the platform's verification and certificate to ``active`` (or ``failed``, with its reason).

The hostname's item is its claim, written before the platform is asked, so two owners racing for
one name never both get it; a platform that refuses gives the claim back. A pending domain is asked
about at most once per ``CHECK_SECONDS`` however many read it, and the scheduled refresher asks
about the ones nobody reads; past the platform's own deadline it ends ``failed``. A site's domains
go with it when it is deleted or expires; a redeploy, rollback or promote keeps them."""

from __future__ import annotations

import time
from datetime import timedelta

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain import clock
from sitedeploy.domain.domains import (
    DomainList,
    DomainRecord,
    DomainState,
    DomainStatus,
    DomainView,
    normalize_hostname,
)
from sitedeploy.domain.errors import ApiError, Conflict, NotFound, PlatformFailed
from sitedeploy.domain.models import SiteRecord
from sitedeploy.flows.credentials import site_credentials
from sitedeploy.flows.owned import owned_site
from sitedeploy.observability import logger, metrics
from sitedeploy.platforms.base import HostingPlatform, PlatformError, UserCredentials
from sitedeploy.services import Services

# A pending domain is asked about at most this often; the refresher asks every REFRESH_SECONDS.
CHECK_SECONDS = 5.0
REFRESH_SECONDS = 300.0
# How long a hostname is held while it is taken off after its claim went: past the quick client's
# bounds (one retry of a few seconds), well inside an API function's 29 s, and free soon after a
# function that died holding it.
RELEASE_HOLD_SECONDS = 60
# Platform answers that mean "not this, not now", as opposed to the platform failing.
REFUSALS = frozenset({400, 403, 404, 409, 422})


def _due(seconds: float) -> str:
    return clock.iso(clock.now() + timedelta(seconds=seconds))


def add(services: Services, owner_id: str, site_id: str, hostname: str) -> DomainView:
    """Attach ``hostname`` to the site: 409 when another site holds it, when the site is being
    deleted or when its platform and mode cannot take custom domains (saying why)."""
    site = owned_site(services, owner_id, site_id)
    if site.deleted_at is not None:
        raise Conflict("this site is being deleted", code="site_deleting")
    hosting = services.platforms.get(site.platform)
    why_not = hosting.domain_support(site.auth_mode, site.member_id)
    if why_not:
        raise Conflict(why_not, code="domains_unsupported")
    name = normalize_hostname(hostname, forbidden=hosting.own_domains())
    now = clock.now_iso()
    record = DomainRecord(
        hostname=name,
        site_id=site.site_id,
        owner_id=owner_id,
        platform=site.platform,
        auth_mode=site.auth_mode,
        site_generation=site.generation,
        created_at=now,
        updated_at=now,
        deadline=clock.epoch_seconds() + hosting.domain_deadline_seconds(),
    )
    credentials = site_credentials(services, hosting, site)  # before the claim: a 400 here holds nothing
    claimed = services.stores.domains.claim(record, due=_due(REFRESH_SECONDS))
    if claimed is not record and claimed.status is not DomainStatus.FAILED:
        return DomainView.of(claimed)  # attached already: the same answer again
    if claimed is not record:  # it failed: adding it again tries again, with a new deadline
        record = claimed.model_copy(update={"deadline": record.deadline, "updated_at": now})
    # A DELETE of the site may have listed its domains (to detach them) before this claim landed:
    # read the site again, and give the hostname back rather than leave it held by a site that is going.
    current = services.stores.sites.get(site.site_id)
    if current is None or current.deleted_at is not None or current.generation != site.generation:
        services.stores.domains.release(name, site.site_id)
        raise Conflict("this site is being deleted", code="site_deleting")
    try:
        state = hosting.attach_domain(site.address, name, credentials)
    except PlatformError as exc:
        if exc.status in REFUSALS:
            services.stores.domains.release(name, site.site_id)
            raise Conflict(f"{site.platform.value} refused {name}: {exc.message}", code="domain_refused") from None
        # The platform may have attached it and lost the answer. Give the hostname back only once
        # it is off the platform; otherwise the claim stays and the refresher finishes the attach.
        if _detached(hosting, site, record, credentials):
            services.stores.domains.release(name, site.site_id)
        raise PlatformFailed(f"{site.platform.value} could not attach {name}: {exc.message}") from None
    saved = _record(services, record, state)
    if saved is None:  # removed, or its site deleted, while the platform attached it: take it off
        _forget(services, hosting, site, record, credentials)
        raise Conflict(f"{name} was removed from this site while it was being attached", code="domain_removed")
    metrics.add_metric(name="DomainsAttached", unit=MetricUnit.Count, value=1)
    logger.info("domain attached", extra={"site_id": site.site_id, "hostname": name, "status": saved.status.value})
    return DomainView.of(saved)


def list_domains(services: Services, owner_id: str, site_id: str) -> DomainList:
    """The site's domains; a pending one is asked about first (at most once per CHECK_SECONDS)."""
    site = owned_site(services, owner_id, site_id)
    found = []
    for stored in services.stores.domains.list_for_site(site.site_id):
        if stored.owner_id != owner_id:
            continue
        current = stored
        if stored.status.pending and services.stores.domains.acquire_check(
            stored.hostname, min_interval=CHECK_SECONDS, now=clock.epoch()
        ):
            current = refresh(services, stored, site=site)
        found.append(DomainView.of(current))
    return DomainList(site_id=site.site_id, domains=found)


def remove(services: Services, owner_id: str, site_id: str, hostname: str) -> None:
    """Detach the hostname from the site on the platform and give it back: it no longer routes."""
    site = owned_site(services, owner_id, site_id)
    name = normalize_hostname(hostname)
    record = services.stores.domains.get(name)
    if record is None or record.site_id != site.site_id or record.owner_id != owner_id:
        raise NotFound(f"{name} is not a domain of this site", code="domain_not_found")
    hosting = services.platforms.get(site.platform)
    _detach(hosting, site, record, site_credentials(services, hosting, site))
    services.stores.domains.release(name, site.site_id)
    logger.info("domain removed", extra={"site_id": site.site_id, "hostname": name})


def refresh(services: Services, record: DomainRecord, *, site: SiteRecord | None = None) -> DomainRecord:
    """Ask the platform where a pending hostname is, and record it; past the deadline it fails,
    whether the platform said it is still pending or could not be asked at all."""
    if not record.status.pending:
        return record
    store = services.stores.domains
    site = site or services.stores.sites.get(record.site_id)
    if site is None or site.deleted_at is not None or site.generation != record.site_generation:
        store.reschedule(record.hostname, record.site_id, due=None)  # its site went: detach_all finishes it
        return record
    hosting = services.platforms.get(site.platform)
    credentials: UserCredentials | None = None
    asked = False
    try:
        credentials = site_credentials(services, hosting, site)
        if record.platform_ref is None and not record.records:
            state = hosting.attach_domain(site.address, record.hostname, credentials)  # an attach cut short
        else:
            state = hosting.domain_state(site.address, record.hostname, record.platform_ref, credentials)
        asked = True
    except Exception as exc:
        reason = exc.message if isinstance(exc, (PlatformError, ApiError)) else type(exc).__name__
        logger.warning("domain check failed", extra={"hostname": record.hostname, "reason": reason})
        if not _past_deadline(record):
            store.reschedule(record.hostname, record.site_id, due=_due(REFRESH_SECONDS))
            return record
        state = DomainState(
            DomainStatus.PENDING_VERIFICATION,
            record.records,
            f"{site.platform.value} could not be asked before the deadline: {reason}",
            record.platform_ref,
        )
    if state.status.pending and _past_deadline(record):
        reason = state.reason or "the DNS records were not found before the platform's deadline"
        state = DomainState(DomainStatus.FAILED, state.records, f"{reason} (gave up at the deadline)", state.ref)
        metrics.add_metric(name="DomainsFailed", unit=MetricUnit.Count, value=1)
    saved = _record(services, record, state)
    if saved is None:  # removed meanwhile: a check that answered may have put it back on the platform
        if asked:
            _forget(services, hosting, site, record, credentials)
        return record
    return saved


def refresh_due(services: Services, *, budget_seconds: float = 240.0) -> int:
    """The scheduled refresher: every pending hostname nobody has read lately, oldest due first,
    until the budget is spent (the rest are the next run's). Each is read again before it is
    asked about: the index's copy may be older than what a reader saved."""
    started = time.monotonic()
    store = services.stores.domains
    checked = 0
    for queued in store.due(clock.now_iso()):
        if time.monotonic() - started > budget_seconds:
            break
        if not store.acquire_check(queued.hostname, min_interval=CHECK_SECONDS, now=clock.epoch()):
            continue  # a reader is asking right now, and will record when to ask next
        current = store.get(queued.hostname)
        if current is None or current.site_id != queued.site_id:
            continue
        if not current.status.pending:
            store.reschedule(current.hostname, current.site_id, due=None)
            continue
        refresh(services, current)
        checked += 1
    return checked


def detach_all(services: Services, site: SiteRecord, credentials: UserCredentials | None) -> None:
    """Before a site's places are torn down: its domains off the platform, and given back. Raises
    PlatformError when the platform refuses (the deletion retries)."""
    hosting = services.platforms.get(site.platform)
    for record in services.stores.domains.list_for_site(site.site_id):
        _detach(hosting, site, record, credentials)
        services.stores.domains.release(record.hostname, site.site_id)


def _detach(
    hosting: HostingPlatform, site: SiteRecord, record: DomainRecord, credentials: UserCredentials | None
) -> None:
    try:
        hosting.detach_domain(site.address, record.hostname, record.platform_ref, credentials)
    except PlatformError as exc:
        if exc.status not in (404, 410):
            raise


def _detached(
    hosting: HostingPlatform, site: SiteRecord, record: DomainRecord, credentials: UserCredentials | None
) -> bool:
    """Take the hostname off the site on the platform if it can be; whether it is off now."""
    try:
        _detach(hosting, site, record, credentials)
    except Exception:
        logger.exception("domain detach failed", extra={"hostname": record.hostname})
        return False
    return True


def _forget(
    services: Services,
    hosting: HostingPlatform,
    site: SiteRecord,
    record: DomainRecord,
    credentials: UserCredentials | None,
) -> None:
    """After a save found the hostname no longer this site's: what the platform was just asked may
    have attached it again, so take it off while nobody holds it. A hostname held again (this site
    added it anew, or another site took it) is its holder's on the platform: some platforms detach
    by hostname alone (a Cloudflare for SaaS custom hostname is the zone's), which would take it
    from the other tenant. So the detach runs under a hold on the hostname: nobody can claim it
    until the detach is done (a claim meanwhile is a 409, try again)."""
    store = services.stores.domains
    holder = store.hold(record, seconds=RELEASE_HOLD_SECONDS)
    if holder is None:
        return
    try:
        if _detached(hosting, site, record, credentials):
            logger.info("domain taken off after it was removed", extra={"hostname": record.hostname})
    finally:
        store.release(record.hostname, holder)


def _past_deadline(record: DomainRecord) -> bool:
    return record.deadline is not None and clock.epoch() > record.deadline


def _record(services: Services, record: DomainRecord, state: DomainState) -> DomainRecord | None:
    """Save what the platform said; None when the hostname is no longer this site's."""
    updated = record.model_copy(
        update={
            "status": state.status,
            "records": state.records or record.records,
            "reason": state.reason,
            "platform_ref": state.ref or record.platform_ref,
            "updated_at": clock.now_iso(),
        }
    )
    if not services.stores.domains.save(updated, due=_due(REFRESH_SECONDS) if state.status.pending else None):
        return None
    if state.status is not record.status:
        logger.info(
            "domain status changed",
            extra={"hostname": record.hostname, "from": record.status.value, "to": state.status.value},
        )
    return updated
