"""The books of Quick Deploy, checked over the in-memory fakes: the invariant every flow keeps.

- a pool member's count equals its active claims (its seats);
- an active claim belongs to a site generation that holds that place (current or former), or to
  a site DynamoDB's TTL removed that the reaper has not handled yet;
- every place a site holds has its active claim;
- an owner's counters equal what they count (sites, their profiles, deployments in flight);
- a site's publish gate is held by a deployment in flight (or one that ended and has yet to let go),
  and a deployment uploading holds its site's gate, that site being the generation it was accepted for;
- the platform holds an object in a pool member only at a place an active claim holds (after a
  reconciler pass: exactly those of sites that are live), and apps only for known members;
and, checked as it happens (``guard``), nothing is ever deleted that a live site uses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sitedeploy.domain.models import AuthMode, DeploymentRecord, DeploymentStatus, Platform, SiteAddress, SiteRecord
from sitedeploy.domain.tenancy import PoolMember, quota_owner_key
from sitedeploy.services import Services
from sitedeploy.stores.deployments import record_from_item
from sitedeploy.stores.dynamo import de, meta_key, ser
from sitedeploy.stores.sites import site_from_item, site_key
from sitedeploy.stores.tenancy import TenancyRepository, place_claim, site_entry_key
from tests.fakes.platform import FakePlatform
from tests.fakes.stores import ClaimItem, InMemoryDeployments, InMemorySites, InMemoryTenancy


def parts(services: Services) -> tuple[InMemoryDeployments, InMemorySites, InMemoryTenancy]:
    deployments, sites, tenancy = services.stores.deployments, services.stores.sites, services.stores.tenancy
    assert isinstance(deployments, InMemoryDeployments)
    assert isinstance(sites, InMemorySites)
    assert isinstance(tenancy, InMemoryTenancy)
    return deployments, sites, tenancy


@dataclass
class Ledger:
    """Everything the books are made of, read from the fakes or from a DynamoDB table alike."""

    sites: dict[str, SiteRecord]
    deployments: dict[str, DeploymentRecord]
    ended: set[str]
    claims: dict[str, ClaimItem]
    pool: dict[str, PoolMember]
    quota: dict[tuple[str, str], dict[str, Any]]


def ledger(services: Services) -> Ledger:
    """The books as they stand: from the fakes, or read whole from the DynamoDB table."""
    deployments, sites, tenancy = services.stores.deployments, services.stores.sites, services.stores.tenancy
    if isinstance(tenancy, InMemoryTenancy):
        assert isinstance(deployments, InMemoryDeployments)
        assert isinstance(sites, InMemorySites)
        return Ledger(
            dict(sites.sites), dict(deployments.records), set(deployments.ended), dict(tenancy.claims),
            dict(tenancy.pool), {k: dict(v) for k, v in tenancy.quota.items()},
        )  # fmt: skip
    assert isinstance(tenancy, TenancyRepository)
    return read_table(tenancy._client, tenancy._table)


def read_table(client: Any, table: str) -> Ledger:
    books = Ledger({}, {}, set(), {}, {}, {})
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for raw in page.get("Items", []):
            item = de(raw)
            pk, sk, entity = str(item["pk"]), str(item["sk"]), item.get("entity")
            if entity == "Site":
                books.sites[str(item["siteId"])] = site_from_item(raw)
            elif entity == "Deployment":
                record = record_from_item(raw)
                books.deployments[record.deployment_id] = record
                if item.get("inflightStatus") == "ended":
                    books.ended.add(record.deployment_id)
            elif entity == "NameClaim":
                books.claims[pk] = ClaimItem(
                    platform=Platform(item["platform"]),
                    namespace=str(item["namespace"]),
                    name=str(item["externalName"]),
                    site_id=str(item["siteId"]),
                    generation=item.get("generation"),
                    owner_id=str(item.get("ownerId", "")),
                    member_id=item.get("memberId"),
                    account_id=item.get("accountId"),
                    region=item.get("region"),
                    claimed_at=str(item.get("claimedAt", "")),
                    released_until=float(item["releasedUntil"]) if "releasedUntil" in item else None,
                    listed="gsi2pk" in item,
                )
            elif entity == "PoolMember":
                books.pool[pk] = PoolMember(
                    platform=Platform(item["platform"]),
                    member_id=str(item["memberId"]),
                    capacity=int(item["capacity"]),
                    used=int(item.get("used", 0)),
                    profile=item.get("profile"),
                    region=item.get("region"),
                    retiring="retiring" in item,
                )
            elif pk.startswith("QUOTA#"):
                body = {k: (int(v) if isinstance(v, Decimal) else v) for k, v in item.items() if k not in {"pk", "sk"}}
                books.quota[(pk, sk)] = body
    return books


def expire_site(services: Services, site_id: str) -> dict[str, Any]:
    """What DynamoDB's TTL does: the Site item goes, its old image rides the stream (returned)."""
    sites, tenancy = services.stores.sites, services.stores.tenancy
    if isinstance(sites, InMemorySites):
        return sites.expire(site_id)
    assert isinstance(tenancy, TenancyRepository)
    answer = tenancy._client.delete_item(TableName=tenancy._table, Key=site_key(site_id), ReturnValues="ALL_OLD")
    return de(answer["Attributes"])


def drift_count(services: Services, member: PoolMember, used: int) -> None:
    """Make a member's count wrong (what a bug, or books kept before this design, leave)."""
    tenancy = services.stores.tenancy
    if isinstance(tenancy, InMemoryTenancy):
        tenancy.pool[member.key] = replace(tenancy.pool[member.key], used=used)
        return
    assert isinstance(tenancy, TenancyRepository)
    tenancy._client.update_item(
        TableName=tenancy._table,
        Key=meta_key(member.key),
        UpdateExpression="SET used = :u",
        ExpressionAttributeValues=ser({":u": used}),
    )


def check_books(services: Services, platform: FakePlatform, *, expired: Iterable[SiteRecord] = ()) -> None:
    """Raise AssertionError naming the first thing that does not balance."""
    books = ledger(services)
    sites = books.sites
    gone = {(s.site_id, s.generation): s for s in expired}
    active = {key: item for key, item in books.claims.items() if item.active}

    # 1. a member's count is its seats
    seats = Counter(item.member_id for item in active.values() if item.member_id)
    for member in books.pool.values():
        assert member.used == seats[member.member_id], (
            f"member {member.member_id} counts {member.used}, has {seats[member.member_id]} seats"
        )
    for member_id in seats:
        assert any(m.member_id == member_id for m in books.pool.values()), f"seats in a missing member {member_id}"

    # 2. every active claim's site holds that place
    for key, item in active.items():
        site = sites.get(item.site_id)
        if site is not None and site.generation == item.generation:
            held = {c.key for p in site.places() if (c := place_claim(site, p)) is not None}
            assert key in held, f"claim {key} is not a place of its site {site.site_id}"
        else:
            assert (item.site_id, item.generation) in gone, f"claim {key} of a gone site generation"

    # 3. every place of every live site is claimed by it (a removed one's may be given back already)
    for site in sites.values():
        for place in site.places():
            claim = place_claim(site, place)
            if claim is None:
                continue
            found = active.get(claim.key)
            assert found is not None, f"site {site.site_id} holds {claim.key} without a claim"
            assert (found.site_id, found.generation) == (site.site_id, site.generation), f"{claim.key} held by another"

    # 4. owners' counters
    entries: dict[str, list[dict[str, Any]]] = {}
    for (owner, sk), body in books.quota.items():
        if sk.startswith("SITE#"):
            entries.setdefault(owner, []).append(body)
    for site in sites.values():
        if site.auth_mode is AuthMode.PLATFORM_MANAGED:
            owner = quota_owner_key(site.owner_id)
            assert (owner, site_entry_key(site.site_id, site.generation)) in books.quota, f"{site.site_id} not counted"
    for owner, bodies in entries.items():
        for platform_name, count in Counter(str(b["platform"]) for b in bodies).items():
            counted = int(books.quota.get((owner, f"SITES#{platform_name}"), {}).get("n", 0))
            assert counted == count, f"{owner} counts {counted} sites on {platform_name}, has {count}"
        profiles = Counter((str(b["platform"]), b.get("profile")) for b in bodies if b.get("profile") is not None)
        for (platform_name, profile), count in profiles.items():
            refs = books.quota.get((owner, f"PROFILE#{platform_name}#{profile}"), {}).get("refs")
            assert refs == count, f"{owner}'s profile {profile} counts {refs}, used by {count}"
    for (owner, sk), body in books.quota.items():
        if sk.startswith("PROFILES#"):
            platform_name = sk.split("#", 1)[1]
            known = [k for (o, k) in books.quota if o == owner and k.startswith(f"PROFILE#{platform_name}#")]
            assert body["n"] == len(known), f"{owner} counts {body['n']} profiles, has {len(known)}"
    flights = Counter(r.quota_key for r in books.deployments.values() if r.quota_key)
    for (owner, sk), body in books.quota.items():
        if sk == "FLIGHT":
            assert body["n"] == flights[owner], f"{owner} counts {body['n']} in flight, has {flights[owner]}"
    for record in books.deployments.values():
        if record.quota_key and record.status.terminal:
            assert record.deployment_id in books.ended, f"{record.deployment_id} ended but counts in flight"

    # 5. gates
    for site in sites.values():
        if site.publishing:
            holder = books.deployments.get(site.publishing)
            assert holder is not None, f"{site.site_id} held by a missing deployment"
            assert not holder.status.terminal or holder.deployment_id in books.ended, (
                f"{site.site_id} held by {holder.deployment_id}, which ended and let go"
            )

    # 6. a deployment uploading holds its site, which is still the generation it was accepted for
    for record in books.deployments.values():
        if record.status is DeploymentStatus.UPLOADING:
            site = sites.get(record.site_id)
            assert site is not None, f"{record.deployment_id} uploads to {record.site_id}, which is gone"
            assert record.site_generation in (None, site.generation), (
                f"{record.deployment_id} uploads to generation {record.site_generation} of {record.site_id}, "
                f"which is now {site.generation}"
            )
            assert site.publishing == record.deployment_id, (
                f"{record.deployment_id} uploads to {record.site_id}, held by {site.publishing}"
            )

    # 7. what the platform holds
    claimed = {(item.member_id or item.namespace, item.name) for item in active.values() if item.member_id}
    members = {m.member_id for m in books.pool.values()}
    for account, name in platform.objects:
        if account in members or account in platform.apps:
            assert (account, name) in claimed, f"{name} in {account} is on the platform without a claim"


def check_settled(services: Services, platform: FakePlatform) -> None:
    """After the sweeper and the reconciler ran: nothing in flight, nothing left over."""
    check_books(services, platform)
    books = ledger(services)
    for record in books.deployments.values():
        assert record.status.terminal, f"{record.deployment_id} still {record.status.value}"
    assert not books.ended, f"ended without letting go: {sorted(books.ended)}"
    for site in books.sites.values():
        assert site.deleted_at is None, f"{site.site_id}'s deletion never finished"
    live = {(p.member_id, p.external_name) for s in books.sites.values() for p in s.places() if p.member_id}
    members = {m.member_id for m in books.pool.values()}
    pooled = {(a, n) for (a, n) in platform.objects if a in members}
    assert pooled <= live, f"orphans on the platform: {sorted(pooled - live)}"
    assert set(platform.apps) <= members, f"apps nobody knows: {sorted(set(platform.apps) - members)}"


def safety_guard(services: Services) -> Any:
    """For FakePlatform.guard: refuse (AssertionError) to delete what a live site uses."""

    def guard(what: str, target: SiteAddress | PoolMember) -> None:
        books = ledger(services)
        live = [s for s in books.sites.values() if s.deleted_at is None]
        if what == "tear_down":
            assert isinstance(target, SiteAddress)
            for site in live:
                in_use = [site.current_place, *(p for p in site.former if not p.freeing)]
                for place in in_use:
                    assert place.address != target, f"tearing down {target}, which {site.site_id} uses"
        else:
            assert isinstance(target, PoolMember)
            seats = [i for i in books.claims.values() if i.active and i.member_id == target.member_id]
            assert not seats, f"deleting member {target.member_id} that still seats {len(seats)}"

    return guard


def check_versions(services: Services) -> None:
    """A site's versions are its own: deployments of this site and generation, none twice, no more
    than the promise; production's version is one of its production deployments."""
    books = ledger(services)
    keep = services.settings.versions_per_site
    for site in books.sites.values():
        assert len(site.versions) <= keep, (site.site_id, site.versions)
        assert len(set(site.versions)) == len(site.versions), (site.site_id, site.versions)
        for deployment_id in site.versions:
            record = books.deployments.get(deployment_id)
            assert record is not None, (site.site_id, deployment_id)
            assert (record.site_id, record.site_generation) == (site.site_id, site.generation), deployment_id
        if site.live_deployment_id:
            live = books.deployments.get(site.live_deployment_id)
            assert live is not None, site.live_deployment_id
            assert live.site_id == site.site_id, site.live_deployment_id
            assert live.site_generation == site.generation, site.live_deployment_id
            assert live.target.value == "production", site.live_deployment_id
