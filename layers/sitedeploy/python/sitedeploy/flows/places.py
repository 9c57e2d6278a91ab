"""Giving places back: a moved site's former places once its new one is live, everything of a
deleted site, everything an expired site held; and the pool members emptied by it.

The order is what keeps other tenants safe: a place is torn down on its platform only while its
site still holds its claim (so no other site can be there), and only then are the claim and the seat
given back, together, in one transaction; a given-back name cools down before anyone may take it,
so a teardown still running elsewhere cannot reach a newcomer. Every step may be repeated after a
crash (a retry, the reaper's, the reconciler's) and changes nothing the second time. A member is
deleted on its platform only once the books say it is empty and the platform agrees."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain.models import AuthMode, Place, Platform, SiteRecord
from sitedeploy.domain.tenancy import StaleRead
from sitedeploy.flows import domains
from sitedeploy.flows.credentials import site_credentials
from sitedeploy.observability import logger, metrics
from sitedeploy.platforms.base import PlatformError, UserCredentials
from sitedeploy.services import Services

# A place's release that keeps meeting other writers gives up after this many tries (the
# reconciler finishes it later).
ATTEMPTS = 4


def _tear_down(services: Services, site: SiteRecord, places: list[Place], credentials: UserCredentials | None) -> bool:
    """Delete each place on its platform; whether any of them was still there."""
    hosting = services.platforms.get(site.platform)
    existed = False
    for place in places:
        if place.account_id or place.member_id:
            existed = hosting.tear_down(place.address, credentials) or existed
    return existed


def free_former(services: Services, site_id: str) -> int:
    """The site's live deployment is at its current place: tear down and give back the places it
    left, but those a deployment still in flight is addressed to. Returns how many were freed (0
    when the site moved on meanwhile: its next one frees them)."""
    tenancy = services.stores.tenancy
    for _ in range(ATTEMPTS):
        site = services.stores.sites.get(site_id)
        if site is None or site.deleted_at is not None or not site.former:
            return 0
        busy = _addressed_in_flight(services, site)
        leaving = [place for place in site.former if place.key not in busy]
        if not leaving:
            return 0
        try:
            marked = tenancy.mark_freeing(site, leaving)
            _tear_down(services, site, leaving, None)
            tenancy.free_former(marked, leaving)
        except StaleRead:
            continue
        _retire_emptied(services, site.platform, leaving)
        logger.info(
            "former places freed",
            extra={"site_id": site_id, "places": [p.key for p in leaving], "to": site.current_place.key},
        )
        return len(leaving)
    logger.warning("former places left for the reconciler", extra={"site_id": site_id})
    return 0


def _addressed_in_flight(services: Services, site: SiteRecord) -> set[str]:
    """The former places a deployment of the site not yet ended is addressed to: a preview made
    in place before the site moved, waiting its turn or publishing. Freeing one would tear down what
    it is writing, or give back a name it is about to write to (an object nobody owns). They stay
    the site's until that deployment ends; the next live deployment or the reconciler frees them."""
    ids = [i for i in (site.publishing, site.last_preview_id, site.last_deployment_id) if i]
    in_flight = [r for r in services.stores.deployments.get_many(ids).values() if not r.status.terminal]
    return {place.key for place in site.former for record in in_flight if place.address == record.address}


def finish_deletion(services: Services, site_id: str, *, credentials: UserCredentials | None = None) -> bool:
    """Tear down everything a site marked deleted holds and forget it: its places, its claims and
    seats, its quota entry, the Site item. Whether anything was still on the platform; raises
    PlatformError when the platform refuses (the site stays marked; a retry continues)."""
    tenancy = services.stores.tenancy
    existed = False
    for _ in range(ATTEMPTS):
        site = services.stores.sites.get(site_id)
        if site is None or site.deleted_at is None:
            return existed
        if site.publishing:
            holder = services.stores.deployments.get(site.publishing)
            if holder is not None and not holder.status.terminal:
                # A publisher took the site before it was marked (a redeploy, in the moment its
                # predecessor let go) and is writing to the platform now: tearing down and
                # forgetting the site under it would leave what it writes next owned by nobody.
                # It finishes the deletion when it ends (``lifecycle.finished``).
                logger.info("site deletion waits for its publisher", extra={"site_id": site_id})
                return existed
            tenancy.release_site(site_id, site.publishing)  # it ended without letting go
            continue
        hosting = services.platforms.get(site.platform)
        creds = credentials if credentials is not None else site_credentials(services, hosting, site)
        domains.detach_all(services, site, creds)
        active = tenancy.active_places(site, site.places())
        existed = _tear_down(services, site, active, creds) or existed
        entry = site.auth_mode is AuthMode.PLATFORM_MANAGED and tenancy.site_quota_entry(site)[0]
        try:
            tenancy.finish_deletion(site, places=active, quota_entry=entry)
        except StaleRead:
            continue
        _after_release(services, site, active)
        logger.info("site deletion finished", extra={"site_id": site_id, "was_on_platform": existed})
        return existed
    logger.warning("site deletion left for the reconciler", extra={"site_id": site_id})
    return existed


def release_expired(services: Services, site: SiteRecord) -> bool:
    """What DynamoDB's TTL removed (``site`` is the removed item's image): tear down the places its
    generation still holds and give them back, with its quota entry. Safe to repeat."""
    tenancy = services.stores.tenancy
    existed = False
    domains.detach_all(services, site, None)
    for _ in range(ATTEMPTS):
        active = tenancy.active_places(site, site.places())
        existed = _tear_down(services, site, active, None) or existed
        entry = tenancy.site_quota_entry(site)[0]
        if not active and not entry:
            return existed
        try:
            tenancy.release_expired(site, places=active, quota_entry=entry)
        except StaleRead:
            continue
        _after_release(services, site, active)
        return existed
    raise PlatformError("the expired site's places could not be given back: retried")


def _after_release(services: Services, site: SiteRecord, places: list[Place]) -> None:
    if site.profile is not None and site.auth_mode is AuthMode.PLATFORM_MANAGED:
        profiles = services.stores.tenancy.owner_profiles(site.owner_id, site.platform)
        for profile, refs in profiles.items():
            if refs <= 0:
                services.stores.tenancy.collect_profile(site.owner_id, site.platform, profile)
    _retire_emptied(services, site.platform, places)


def _retire_emptied(services: Services, platform: Platform, places: list[Place]) -> None:
    for member_id in {p.member_id for p in places if p.member_id}:
        retire_member_if_empty(services, platform, member_id)


def retire_member_if_empty(services: Services, platform: Platform, member_id: str) -> bool:
    """Delete a member the service made, once nobody sits in it and the platform lists nothing in
    it. A member the platform says is in use is left (and counted as drift): never deleted."""
    hosting = services.platforms.get(platform)
    tenancy = services.stores.tenancy
    if hosting.pool_limit() == 0:
        return False  # the operator's accounts stay, empty or not
    member = tenancy.member(platform, member_id)
    if member is None or member.used > 0:
        return False
    if not member.retiring and not tenancy.retire_member(member):
        return False  # somebody took a seat meanwhile
    try:
        hosting.remove_member(member)
    except PlatformError as exc:
        metrics.add_metric(name="PoolDrift", unit=MetricUnit.Count, value=1)
        logger.warning(
            "empty pool member not deleted",
            extra={"platform": platform.value, "member": member_id, "reason": exc.message},
        )
        return False
    tenancy.forget_member(member)
    logger.info("empty pool member deleted", extra={"platform": platform.value, "member": member_id})
    return True
