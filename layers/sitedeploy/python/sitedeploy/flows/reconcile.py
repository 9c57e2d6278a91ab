"""The reconciler: audits each Quick Deploy pool against the platforms' own listings, and repairs
what does not agree. Scheduled (and safe to run at any moment, as often as wanted: every repair is
conditional on what it read, and changes nothing the second time).

For each pool member it reads the member's count, the active claims (seats) naming it, the site
each claim belongs to, and what the platform really holds there under the service's names, and:
- a claim whose site generation no longer holds that place (the site is gone, or is another
  generation now) is torn down and given back, with the gone site's quota entry;
- a deleted site whose deletion stalled (a platform that refused, a Lambda that died) is finished;
- a moved site whose live deployment is at its new place gets its former places freed;
- a platform object that no active claim holds, unchanged for longer than the grace period, is
  deleted (an orphan); one whose claim predates the claims listing is adopted into it;
- a member's count that differs from its seats, and stays so between two reads, is set right;
- an empty member the service made is deleted, once the platform lists nothing in it; and an app
  of the pool's the books do not know (a Lambda died while making it) likewise.
Nothing the platform says is in use is ever deleted. Each finding is logged and counted in the
``PoolDrift`` metric (which has an alarm)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentStatus, SiteAddress, SiteRecord
from sitedeploy.domain.tenancy import NameClaim, PoolMember
from sitedeploy.flows import places
from sitedeploy.observability import logger, metrics
from sitedeploy.platforms.base import HostingPlatform, PlatformError
from sitedeploy.services import Services
from sitedeploy.stores.tenancy import ClaimRecord


@dataclass
class ReconcileReport:
    drift: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    members: int = 0
    objects: int = 0

    def found(self, kind: str, **detail: object) -> None:
        self.drift[kind] += 1
        logger.warning("pool drift", extra={"kind": kind, **detail})

    def fixed(self, kind: str) -> None:
        self.repaired[kind] += 1


def _age_seconds(iso: str | None) -> float:
    if not iso:
        return float("inf")
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return clock.now().timestamp() - moment.timestamp()


def reconcile(services: Services, *, settle_seconds: float = 1.0) -> ReconcileReport:
    """One pass over every platform's pool. ``settle_seconds`` separates the two reads a count is
    repaired on (an index just written may lag behind the table)."""
    report = ReconcileReport()
    for platform in services.platforms:
        hosting = services.platforms.get(platform)
        if not hosting.quick_deploy_available():
            continue
        try:
            _reconcile_pool(services, hosting, report, settle_seconds)
        except PlatformError as exc:
            report.found("platform_unreachable", platform=platform.value, reason=exc.message)
    total = sum(report.drift.values())
    metrics.add_metric(name="PoolDrift", unit=MetricUnit.Count, value=total)
    logger.info(
        "reconciled",
        extra={"drift": dict(report.drift), "repaired": dict(report.repaired), "members": report.members},
    )
    return report


def _reconcile_pool(services: Services, hosting: HostingPlatform, report: ReconcileReport, settle: float) -> None:
    tenancy = services.stores.tenancy
    members = {m.member_id: m for m in tenancy.all_members(hosting.platform)}
    for fixed in hosting.fixed_members():
        if fixed.member_id not in members:
            members[fixed.member_id] = tenancy.register(fixed)
    for member in members.values():
        report.members += 1
        _reconcile_member(services, hosting, member, report, settle)
    if hosting.pool_limit():
        _reconcile_unlisted(services, hosting, members, report)


def _reconcile_member(
    services: Services, hosting: HostingPlatform, member: PoolMember, report: ReconcileReport, settle: float
) -> None:
    tenancy = services.stores.tenancy
    grace = services.settings.reconcile_grace_seconds
    claims = tenancy.claims_in(hosting.platform, member.member_id)
    for record in claims:
        _reconcile_claim(services, hosting, record, report)
    objects = hosting.pool_objects(member)
    report.objects += len(objects)
    held = {c.claim.name for c in tenancy.claims_in(hosting.platform, member.member_id)}
    now = clock.epoch()
    for thing in objects:
        if thing.name in held:
            continue
        claim = NameClaim(hosting.platform, member.member_id, thing.name)
        found, listed = tenancy.claim_record(claim)
        if found is not None:
            if not listed:  # made before claims were listed: adopt it, with its seat
                tenancy.index_claim(claim, member.member_id, member.region)
                report.found("claim_unlisted", member=member.member_id, place_name=thing.name)
                report.fixed("claim_unlisted")
            continue
        if thing.updated_at is not None and now - thing.updated_at < grace:
            continue  # being made or torn down right now
        report.found("orphan_object", member=member.member_id, place_name=thing.name)
        try:
            hosting.tear_down(SiteAddress(member.member_id, thing.name, member.region), None)
            report.fixed("orphan_object")
        except PlatformError as exc:
            logger.warning("orphan not deleted", extra={"place_name": thing.name, "reason": exc.message})
    _reconcile_count(services, member, report, settle)
    fresh = tenancy.member(hosting.platform, member.member_id)
    if (
        fresh is not None
        and fresh.used == 0
        and hosting.pool_limit()
        and places.retire_member_if_empty(services, hosting.platform, member.member_id)
    ):
        report.fixed("empty_member")


def _reconcile_claim(
    services: Services, hosting: HostingPlatform, record: ClaimRecord, report: ReconcileReport
) -> None:
    site = services.stores.sites.get(record.site_id)
    owns = site is not None and site.generation == record.generation
    if site is not None and owns:
        if not any(p.key == record.place.key for p in site.places()):
            _release_orphan(services, hosting, record, report, "claim_without_place")
            return
        grace = services.settings.reconcile_grace_seconds
        if site.deleted_at is not None and _age_seconds(site.deleted_at) > grace and not _publishing(services, site):
            report.found("deletion_stalled", site_id=site.site_id)
            try:
                places.finish_deletion(services, site.site_id)
                report.fixed("deletion_stalled")
            except Exception as exc:  # a user's site whose connection is gone, a platform refusing
                logger.warning("stalled deletion not finished", extra={"site_id": site.site_id, "reason": str(exc)})
            return
        if site.former and record.place.key != site.current_place.key and _live_where_it_is(services, site):
            report.found("former_place_left", site_id=site.site_id, place=record.place.key)
            if places.free_former(services, site.site_id):
                report.fixed("former_place_left")
        return
    _release_orphan(services, hosting, record, report, "claim_of_gone_site")


def _release_orphan(
    services: Services, hosting: HostingPlatform, record: ClaimRecord, report: ReconcileReport, kind: str
) -> None:
    """A claim its site generation no longer holds the place for: nobody else can be there while the
    claim is held, so it is torn down, then given back with the gone generation's quota entry."""
    report.found(kind, site_id=record.site_id, place_name=record.claim.name)
    try:
        hosting.tear_down(record.place.address, None)
    except PlatformError as exc:
        logger.warning("orphan place not torn down", extra={"place_name": record.claim.name, "reason": exc.message})
        return
    tenancy = services.stores.tenancy
    if tenancy.release_orphan_claim(record):
        report.fixed(kind)
    site = services.stores.sites.get(record.site_id)
    if record.owner_id and (site is None or site.generation != record.generation):
        tenancy.release_quota_entry(record.owner_id, hosting.platform, record.site_id, record.generation)


def _publishing(services: Services, site: SiteRecord) -> bool:
    if not site.publishing:
        return False
    holder = services.stores.deployments.get(site.publishing)
    return holder is not None and not holder.status.terminal


def _live_where_it_is(services: Services, site: SiteRecord) -> bool:
    """The site's newest deployment is live at its current place, and nothing is publishing it."""
    if site.publishing or not site.last_deployment_id:
        return False
    last = services.stores.deployments.get(site.last_deployment_id)
    return last is not None and last.status is DeploymentStatus.READY and last.address == site.address


def _reconcile_count(services: Services, member: PoolMember, report: ReconcileReport, settle: float) -> None:
    """Set a member's count to its seats when they disagree twice in a row, the count unchanged."""
    tenancy = services.stores.tenancy
    first = tenancy.member(member.platform, member.member_id)
    seats = len(tenancy.claims_in(member.platform, member.member_id))
    if first is None or first.used == seats:
        return
    if settle:
        time.sleep(settle)
    again = len(tenancy.claims_in(member.platform, member.member_id))
    second = tenancy.member(member.platform, member.member_id)
    if second is None or second.used != first.used or again != seats:
        return  # moving right now: the next pass looks again
    report.found("count_drift", member=member.member_id, count=first.used, seats=seats)
    if tenancy.set_used(second, seats):
        report.fixed("count_drift")


def _reconcile_unlisted(
    services: Services, hosting: HostingPlatform, members: dict[str, PoolMember], report: ReconcileReport
) -> None:
    """Apps of the pool the platform lists and the books do not know; and the pool's size."""
    tenancy = services.stores.tenancy
    grace = services.settings.reconcile_grace_seconds
    listed = hosting.unlisted_members()
    now = clock.epoch()
    # The pool's region: where its apps are (the platform says), else the service's own.
    region = next(
        (r for r in [*(a.region for a in listed), *(m.region for m in members.values())] if r),
        services.settings.region,
    )
    for app in listed:
        if app.name in members:
            continue
        if app.updated_at is not None and now - app.updated_at < grace:
            continue
        stray = PoolMember(hosting.platform, app.name, capacity=0, region=app.region or region)
        # Recorded as retiring first: a request that made this app a moment ago and records it now
        # finds it retiring and seats nobody there; one that recorded it already keeps it.
        if not tenancy.adopt_stray(stray):
            continue
        report.found("orphan_member", member=app.name)
        if places.retire_member_if_empty(services, hosting.platform, app.name):
            report.fixed("orphan_member")
    remaining = set(members) | {a.name for a in hosting.unlisted_members()}
    size = tenancy.pool_size(hosting.platform, region)
    if size == len(remaining):
        return
    time.sleep(1.0 if services.settings.reconcile_grace_seconds else 0.0)  # a member being added is reserved first
    again = {m.member_id for m in tenancy.all_members(hosting.platform)}
    if tenancy.pool_size(hosting.platform, region) != size or again != set(members):
        return
    report.found("pool_size_drift", size=size, members=len(remaining))
    if tenancy.set_pool_size(hosting.platform, region, size, len(remaining)):
        report.fixed("pool_size_drift")
