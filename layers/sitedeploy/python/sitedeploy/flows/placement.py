"""Where a new deployment's site lives: a pool member with room (platform-managed) or the user's own
account, and a name in it that no other site holds.

A site that is already placed stays where it is, under its name, as long as its app-wide settings
(its routing profile) still match its member; a Quick Deploy site whose settings changed moves to a
member with the new ones, and its old place is freed once the new deployment is live."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain.errors import PlatformFailed
from sitedeploy.domain.models import SiteAddress, SiteRecord
from sitedeploy.domain.tenancy import CapacityExhausted, NameClaim, NameTaken, PoolMember, Seat
from sitedeploy.observability import logger, metrics
from sitedeploy.platforms.base import DeployPlan, HostingPlatform, PlatformError, UserCredentials
from sitedeploy.services import Services

# Adding a pool member (an Amplify app) takes a second or two: others wait for it this long.
GROWTH_LEASE_SECONDS = 30.0
GROWTH_WAIT_SECONDS = 20.0
GROWTH_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Retirement:
    """A site's previous place, to tear down once a deployment elsewhere is live."""

    address: SiteAddress
    member_id: str | None


@dataclass(frozen=True)
class Placement:
    address: SiteAddress
    url: str | None
    member_id: str | None
    profile: str | None
    seat: Seat | None
    claim: NameClaim | None
    retire: Retirement | None


def _choose_member(services: Services, hosting: HostingPlatform, plan: DeployPlan, avoid: set[str]) -> PoolMember:
    """The member with the most room for this profile; a new one when the platform can grow its pool."""
    tenancy = services.stores.tenancy
    known = {m.member_id: m for m in tenancy.members(hosting.platform, region=plan.region, profile=plan.profile)}
    # The members the configuration names (Cloudflare accounts) are recorded when first seen, and
    # again when their capacity changes: no write when they are as configured.
    for fixed in hosting.fixed_members():
        recorded = known.get(fixed.member_id)
        if recorded is None or recorded.capacity != fixed.capacity:
            known[fixed.member_id] = tenancy.register(fixed)
    found = [m for m in known.values() if m.room > 0 and m.member_id not in avoid]
    found.sort(key=lambda m: (m.used / max(1, m.capacity), m.member_id))
    if found:
        return found[0]
    if hosting.pool_limit():
        return _grow(services, hosting, plan, avoid)
    return _exhausted(hosting, plan)


def _with_room(services: Services, hosting: HostingPlatform, plan: DeployPlan, avoid: set[str]) -> PoolMember | None:
    members = services.stores.tenancy.members(hosting.platform, region=plan.region, profile=plan.profile)
    found = sorted((m for m in members if m.room > 0 and m.member_id not in avoid), key=lambda m: m.used)
    return found[0] if found else None


def _grow(services: Services, hosting: HostingPlatform, plan: DeployPlan, avoid: set[str]) -> PoolMember:
    """Add a member for the plan's profile: one request at a time; the others wait and sit in it."""
    tenancy = services.stores.tenancy
    key = f"{hosting.platform.value}#{plan.region or '-'}#{plan.profile or '-'}"
    deadline = time.monotonic() + GROWTH_WAIT_SECONDS
    while not tenancy.lock_growth(key, lease_seconds=GROWTH_LEASE_SECONDS):
        time.sleep(GROWTH_POLL_SECONDS)
        member = _with_room(services, hosting, plan, avoid)
        if member is not None:
            return member
        if time.monotonic() > deadline:
            return _exhausted(hosting, plan)
    try:
        member = _with_room(services, hosting, plan, avoid)  # grown while this request waited
        if member is not None:
            return member
        if not tenancy.reserve_member(hosting.platform, plan.region, hosting.pool_limit()):
            return _exhausted(hosting, plan)
        try:
            grown = hosting.grow_pool(plan)
        except PlatformError as exc:
            tenancy.unreserve_member(hosting.platform, plan.region)
            if exc.code != "LimitExceededException":
                raise PlatformFailed(f"the pool could not grow: {exc.message}") from None
            logger.error("the platform refused a new pool member", extra={"reason": exc.message})
            return _exhausted(hosting, plan)
        except Exception:
            tenancy.unreserve_member(hosting.platform, plan.region)
            raise
        logger.info(
            "pool member created",
            extra={"platform": hosting.platform.value, "member": grown.member_id, "profile": plan.profile},
        )
        metrics.add_metric(name="PoolMembersCreated", unit=MetricUnit.Count, value=1)
        return tenancy.register(grown)
    finally:
        tenancy.unlock_growth(key)


def _exhausted(hosting: HostingPlatform, plan: DeployPlan) -> PoolMember:
    metrics.add_metric(name="CapacityExhausted", unit=MetricUnit.Count, value=1)
    logger.error("Quick Deploy capacity exhausted", extra={"platform": hosting.platform.value, "profile": plan.profile})
    raise CapacityExhausted(
        f"Quick Deploy to {hosting.platform.value} has no room for another site right now: "
        "connect your own account, or try again later",
        code="capacity_exhausted",
    )


def _choose_name(services: Services, hosting: HostingPlatform, plan: DeployPlan, namespace: str, site_id: str) -> str:
    claims = [NameClaim(hosting.platform, namespace, name) for name in plan.names]
    holders = services.stores.tenancy.holders(claims)
    for claim in claims:
        holder = holders.get(claim.key)
        if holder is None or holder == site_id:
            return claim.name
    if plan.explicit_name:
        raise NameTaken(f"the name {plan.names[0]!r} is held by another site", code="name_taken")
    raise NameTaken("no free name is left for this project: choose another project name", code="name_taken")


def place(
    services: Services,
    hosting: HostingPlatform,
    plan: DeployPlan,
    site_id: str,
    existing: SiteRecord | None,
    *,
    credentials: UserCredentials | None = None,
    avoid: frozenset[str] = frozenset(),
) -> Placement:
    """A placement for this deployment; raises CapacityExhausted (503) or NameTaken (409)."""
    if not plan.pooled:
        # The account the request names, else the one the site was placed in (an app made earlier).
        namespace = plan.account_id or (existing.account_id if existing else None)
        address_name = (
            existing.external_name
            if existing and existing.account_id == namespace and existing.external_name in plan.names
            else None
        )
        if namespace is None:  # the account is made when publishing (an Amplify app): nothing to collide with
            name = address_name or plan.names[0]
            claim = None
        else:
            name = address_name or _choose_name(services, hosting, plan, namespace, site_id)
            claim = NameClaim(hosting.platform, namespace, name)
        address = SiteAddress(account_id=namespace, name=name, region=plan.region)
        return Placement(address, hosting.site_url(address, None, credentials), None, plan.profile, None, claim, None)

    if existing and existing.member_id and existing.profile == plan.profile and existing.member_id not in avoid:
        member = services.stores.tenancy.member(hosting.platform, existing.member_id)
        if member is not None:
            address = SiteAddress(account_id=existing.account_id, name=existing.external_name, region=existing.region)
            claim = NameClaim(hosting.platform, member.member_id, existing.external_name)
            return Placement(
                address,
                existing.url or hosting.site_url(address, member),
                member.member_id,
                plan.profile,
                None,
                claim,
                None,
            )
    member = _choose_member(services, hosting, plan, set(avoid))
    name = _choose_name(services, hosting, plan, member.member_id, site_id)
    address = SiteAddress(account_id=member.member_id, name=name, region=member.region or plan.region)
    retire = None
    if existing and existing.member_id and existing.member_id != member.member_id:
        retire = Retirement(existing.address, existing.member_id)
    return Placement(
        address=address,
        url=hosting.site_url(address, member),
        member_id=member.member_id,
        profile=plan.profile,
        seat=Seat(hosting.platform, member.member_id),
        claim=NameClaim(hosting.platform, member.member_id, name),
        retire=retire,
    )
