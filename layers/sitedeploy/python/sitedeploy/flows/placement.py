"""Where a new deployment's site lives: a pool member with room (platform-managed) or the user's own
account, and a name in it that no other site holds.

A site that is already placed stays where it is, under its name, as long as its app-wide settings
(its routing profile) still match its member. A Quick Deploy site whose settings changed moves to a
member with the new ones: it takes a new place there, and its old place becomes a *former* place,
still held (and still serving) until the site's next deployment is live, or the site is deleted or
expires. A site that moves back to settings it had, to a member where it still holds a former place,
takes that place back instead of a new one."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from sitedeploy.domain import clock
from sitedeploy.domain.errors import PlatformFailed
from sitedeploy.domain.models import Place, SiteAddress, SiteRecord
from sitedeploy.domain.naming import spare_names
from sitedeploy.domain.tenancy import CapacityExhausted, NameClaim, NameTaken, PoolMember, user_namespace
from sitedeploy.observability import logger, metrics
from sitedeploy.platforms.base import DeployPlan, HostingPlatform, PlatformError, UserCredentials
from sitedeploy.services import Services
from sitedeploy.stores.tenancy import NewPlace

# Adding a pool member (an Amplify app) takes a second or two: others wait for it this long.
GROWTH_LEASE_SECONDS = 30.0
GROWTH_WAIT_SECONDS = 20.0
GROWTH_POLL_SECONDS = 0.25
# A new site goes to one of the emptiest few members, chosen at random: a burst of new sites does
# not contend on one member's counter.
SPREAD = 4


@dataclass(frozen=True)
class Placement:
    address: SiteAddress
    url: str | None
    member_id: str | None
    profile: str | None
    # The place to take (its claim, and its seat in a pool member); None: the site stays, or goes
    # back to a place it still holds.
    new_place: NewPlace | None
    # The site's former places once this deployment is accepted.
    former: list[Place]


def _choose_member(services: Services, hosting: HostingPlatform, plan: DeployPlan, avoid: set[str]) -> PoolMember:
    """One of the members with the most room for this profile; a new one when the pool can grow."""
    tenancy = services.stores.tenancy
    known = {m.member_id: m for m in tenancy.members(hosting.platform, region=plan.region, profile=plan.profile)}
    # The members the configuration names (Cloudflare accounts) are recorded when first seen, and
    # again when their capacity changes: no write when they are as configured.
    for fixed in hosting.fixed_members():
        recorded = known.get(fixed.member_id)
        if recorded is None or recorded.capacity != fixed.capacity:
            known[fixed.member_id] = tenancy.register(fixed)
    found = [m for m in known.values() if m.room > 0 and m.member_id not in avoid]
    if found:
        found.sort(key=lambda m: (m.used / max(1, m.capacity), m.member_id))
        return random.choice(found[:SPREAD])  # noqa: S311 - spreading load, not a secret
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


def free_names(services: Services, claims: list[NameClaim], site_id: str, generation: str | None) -> list[NameClaim]:
    """The claims among ``claims`` this site generation may take, best first: nobody's, its own, or
    given back and cooled down."""
    holders = services.stores.tenancy.holders(claims)
    now = clock.epoch()
    return [c for c in claims if (h := holders.get(c.key)) is None or h.free_for(site_id, generation, now)]


def _choose_name(
    services: Services,
    hosting: HostingPlatform,
    plan: DeployPlan,
    namespace: str,
    *,
    site_id: str,
    generation: str | None,
) -> str:
    names = list(plan.names)
    if not plan.explicit_name:
        # A project deleted and deployed again, more than once within the cooling period, finds its
        # derived names cooling: names of this generation's own come after them.
        names += spare_names(plan.names[0], generation or site_id)
    claims = [NameClaim(hosting.platform, namespace, name) for name in names]
    free = free_names(services, claims, site_id, generation)
    if free:
        return free[0].name
    if plan.explicit_name:
        raise NameTaken(f"the name {plan.names[0]!r} is held by another site", code="name_taken")
    raise NameTaken("no free name is left for this project: choose another project name", code="name_taken")


def place(
    services: Services,
    hosting: HostingPlatform,
    plan: DeployPlan,
    *,
    site_id: str,
    owner_id: str,
    generation: str | None,
    existing: SiteRecord | None,
    credentials: UserCredentials | None = None,
    avoid: frozenset[str] = frozenset(),
) -> Placement:
    """A placement for this deployment; raises CapacityExhausted (503) or NameTaken (409)."""
    if not plan.pooled:
        return _place_on_users_account(
            services,
            hosting,
            plan,
            site_id=site_id,
            owner_id=owner_id,
            generation=generation,
            existing=existing,
            credentials=credentials,
        )
    tenancy = services.stores.tenancy
    former = list(existing.former) if existing else []
    if existing and existing.member_id and existing.profile == plan.profile and existing.member_id not in avoid:
        member = tenancy.member(hosting.platform, existing.member_id)
        if member is not None:
            address = existing.address
            return Placement(
                address, existing.url or hosting.site_url(address, member), member.member_id, plan.profile, None, former
            )
    leaving = [existing.current_place] if existing and existing.member_id else []
    # Back to settings the site had: a former place in a member of this profile is taken back.
    for back in former:
        if back.freeing or not back.member_id or back.member_id in avoid:
            continue
        member = tenancy.member(hosting.platform, back.member_id)
        if member is not None and member.profile == plan.profile and member.region == (plan.region or member.region):
            rest = [p for p in former if p.key != back.key] + leaving
            return Placement(
                back.address, hosting.site_url(back.address, member), member.member_id, plan.profile, None, rest
            )
    member = _choose_member(services, hosting, plan, set(avoid))
    name = _choose_name(services, hosting, plan, member.member_id, site_id=site_id, generation=generation)
    address = SiteAddress(account_id=member.member_id, name=name, region=member.region or plan.region)
    return Placement(
        address=address,
        url=hosting.site_url(address, member),
        member_id=member.member_id,
        profile=plan.profile,
        new_place=NewPlace(
            NameClaim(hosting.platform, member.member_id, name), member.member_id, member.member_id, address.region
        ),
        former=former + leaving,
    )


def _place_on_users_account(
    services: Services,
    hosting: HostingPlatform,
    plan: DeployPlan,
    *,
    site_id: str,
    owner_id: str,
    generation: str | None,
    existing: SiteRecord | None,
    credentials: UserCredentials | None,
) -> Placement:
    # The account the request names, else the one the site was placed in (an app made earlier).
    account = plan.account_id or (existing.account_id if existing else None)
    former = list(existing.former) if existing else []
    same = (
        existing.external_name
        if existing and existing.account_id == account and existing.external_name in plan.names
        else None
    )
    new_place = None
    if account is None:  # the account is made when publishing (an Amplify app): nothing to collide with
        name = same or plan.names[0]
    elif same is not None:
        name = same
    else:
        namespace = user_namespace(owner_id, account)
        name = _choose_name(services, hosting, plan, namespace, site_id=site_id, generation=generation)
        new_place = NewPlace(NameClaim(hosting.platform, namespace, name), None, account, plan.region)
    address = SiteAddress(account_id=account, name=name, region=plan.region)
    return Placement(address, hosting.site_url(address, None, credentials), None, plan.profile, new_place, former)
