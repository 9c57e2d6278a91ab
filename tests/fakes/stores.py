"""In-memory stores with the semantics the flows rely on: conditional status transitions (a terminal
status never moves), owner-scoped reads, content-addressed blobs verified on read, sealing bound to
an encryption context, and idempotency records. No AWS, no moto: a flow test runs in milliseconds."""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DomainRecord
from sitedeploy.domain.errors import DeploymentNotFound, InvalidCursor
from sitedeploy.domain.models import (
    TERMINAL_STATUSES,
    AuthMode,
    Connection,
    DeploymentRecord,
    DeploymentStatus,
    Place,
    Platform,
    SiteRecord,
    sources_of,
)
from sitedeploy.domain.sitefiles import ManifestEntry, SiteManifest
from sitedeploy.domain.tenancy import (
    NAME_COOLING_SECONDS,
    ClaimHolder,
    JobSlots,
    MemberFull,
    NameClaim,
    NameTaken,
    PoolMember,
    PublishGate,
    Quota,
    Quotas,
    SiteQuota,
    StaleRead,
    pool_key,
    quota_owner_key,
    quota_refused,
)
from sitedeploy.stores import Stores
from sitedeploy.stores.deployments import Page, TransitionRefused
from sitedeploy.stores.domains import RELEASING, DomainTaken
from sitedeploy.stores.secrets import CredentialsError, connection_context
from sitedeploy.stores.staging import BlobCorrupted, BlobMissing, Kept, Packed, PackMissing, UploadReceipt
from sitedeploy.stores.tenancy import ClaimRecord, NewPlace, place_claim, site_entry_key

# Attribute names a transition may set (camelCase, as stored) → the record's field names.
_FIELDS = {field.alias or name: name for name, field in DeploymentRecord.model_fields.items()}


class InMemoryDeployments:
    def __init__(self) -> None:
        self.records: dict[str, DeploymentRecord] = {}
        self.polled_at: dict[str, float] = {}
        # Ended, not let go yet (the InFlight index's "ended" part).
        self.ended: set[str] = set()
        self._lock = threading.RLock()

    def create(self, record: DeploymentRecord) -> None:
        with self._lock:
            if record.deployment_id in self.records:
                raise ValueError(f"deployment {record.deployment_id} exists")
            self.records[record.deployment_id] = record.model_copy(deep=True)

    def get(self, deployment_id: str) -> DeploymentRecord | None:
        with self._lock:
            found = self.records.get(deployment_id)
            return found.model_copy(deep=True) if found else None

    def get_for_owner(self, deployment_id: str, owner_id: str) -> DeploymentRecord:
        record = self.get(deployment_id)
        if record is None or record.owner_id != owner_id:
            raise DeploymentNotFound(deployment_id)
        return record

    def list_for_owner(
        self, owner_id: str, *, chat_id: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> Page:
        with self._lock:
            mine = sorted(
                (
                    r
                    for r in self.records.values()
                    if r.owner_id == owner_id and (chat_id is None or r.chat_id == chat_id)
                ),
                key=lambda r: (r.created_at, r.deployment_id),
                reverse=True,
            )
        start = 0
        if cursor:
            ids = [r.deployment_id for r in mine]
            if cursor not in ids:
                raise InvalidCursor("cursor is not valid for this listing")
            start = ids.index(cursor) + 1
        page = mine[start : start + limit]
        more = start + limit < len(mine)
        return Page(records=page, next_cursor=page[-1].deployment_id if more and page else None)

    def list_for_site(self, site_id: str, *, limit: int = 20, cursor: str | None = None) -> Page:
        with self._lock:
            mine = sorted(
                (r for r in self.records.values() if r.site_id == site_id),
                key=lambda r: (r.created_at, r.deployment_id),
                reverse=True,
            )
        start = 0
        if cursor:
            ids = [r.deployment_id for r in mine]
            if cursor not in ids:
                raise InvalidCursor("cursor is not valid for this listing")
            start = ids.index(cursor) + 1
        page = mine[start : start + limit]
        more = start + limit < len(mine)
        return Page(records=page, next_cursor=page[-1].deployment_id if more and page else None)

    def get_many(self, deployment_ids: Iterable[str]) -> dict[str, DeploymentRecord]:
        with self._lock:
            return {i: self.records[i].model_copy(deep=True) for i in deployment_ids if i in self.records}

    def keep(self, deployment_ids: Iterable[str], expires_at: int) -> None:
        with self._lock:
            for i in deployment_ids:
                record = self.records.get(i)
                if record is not None and (record.expires_at is None or record.expires_at < expires_at):
                    self.records[i] = record.model_copy(update={"expires_at": expires_at})

    def transition(
        self,
        deployment_id: str,
        to: DeploymentStatus,
        *,
        expected: Iterable[DeploymentStatus] | None = None,
        changes: Mapping[str, Any] | None = None,
        read: DeploymentRecord | None = None,  # unused: the fake reads and writes under one lock
    ) -> DeploymentRecord:
        allowed = sources_of(to)
        sources = allowed if expected is None else frozenset(expected)
        if not sources or not sources <= allowed:
            raise ValueError(f"no transition to {to.value}")
        with self._lock:
            current = self.records.get(deployment_id)
            if current is None or current.status not in sources:
                raise TransitionRefused(deployment_id, to, current.status if current else None)
            now = clock.now_iso()
            update: dict[str, Any] = {"status": to, "updated_at": now}
            if to in TERMINAL_STATUSES:
                update.update(completed_at=now, sealed_credentials=None, queue=None, queued_at=None)
                self.ended.add(deployment_id)
            for name, value in (changes or {}).items():
                update[_FIELDS[name]] = value
            updated = DeploymentRecord.model_validate({**current.model_dump(), **update})
            self.records[deployment_id] = updated
            return updated.model_copy(deep=True)

    def claim(self, deployment_id: str) -> DeploymentRecord | None:
        try:
            return self.transition(
                deployment_id,
                DeploymentStatus.UPLOADING,
                expected=[DeploymentStatus.PENDING],
                changes={"startedAt": clock.now_iso(), "progress": 0},
            )
        except TransitionRefused:
            return None

    def set_progress(self, deployment_id: str, status: DeploymentStatus, progress: int) -> DeploymentRecord:
        return self.transition(deployment_id, status, expected=[status], changes={"progress": progress})

    def fail(self, deployment_id: str, message: str) -> DeploymentRecord | None:
        try:
            return self.transition(deployment_id, DeploymentStatus.ERROR, changes={"error": message[:2000]})
        except TransitionRefused:
            return None

    def fail_if_pending(self, deployment_id: str, message: str) -> DeploymentRecord | None:
        try:
            return self.transition(
                deployment_id, DeploymentStatus.ERROR, expected=[DeploymentStatus.PENDING], changes={"error": message}
            )
        except TransitionRefused:
            return None

    def update(self, deployment_id: str, **fields: Any) -> None:
        """Set fields directly (what the tenancy store's writes do to a deployment item)."""
        with self._lock:
            self.records[deployment_id] = self.records[deployment_id].model_copy(update=fields)

    def acquire_poll(self, deployment_id: str, *, min_interval: float, now: float | None = None) -> bool:
        moment = now if now is not None else time.time()
        with self._lock:
            record = self.records.get(deployment_id)
            last = self.polled_at.get(deployment_id)
            if record is None or record.status is not DeploymentStatus.BUILDING:
                return False
            if last is not None and moment - last < min_interval:
                return False
            self.polled_at[deployment_id] = moment
            return True

    def list_in_flight(
        self, status: DeploymentStatus, *, updated_before: str, page_size: int = 100
    ) -> Iterator[DeploymentRecord]:
        with self._lock:
            found = [r for r in self.records.values() if r.status is status and r.updated_at < updated_before]
        return iter([r.model_copy(deep=True) for r in sorted(found, key=lambda r: r.updated_at)])

    def list_ended(self, *, updated_before: str, page_size: int = 100) -> Iterator[DeploymentRecord]:
        with self._lock:
            found = [r for d in self.ended if (r := self.records.get(d)) is not None and r.updated_at < updated_before]
        return iter([r.model_copy(deep=True) for r in sorted(found, key=lambda r: r.updated_at)])

    # -- for tests ------------------------------------------------------------------------------

    def age(self, deployment_id: str, *, minutes: float) -> None:
        """Pretend the deployment last moved ``minutes`` ago (what the sweeper looks at)."""
        with self._lock:
            record = self.records[deployment_id]
            moment = clock.iso(clock.now() - timedelta(minutes=minutes))
            self.records[deployment_id] = record.model_copy(update={"updated_at": moment, "started_at": moment})


class InMemorySites:
    def __init__(self) -> None:
        self.sites: dict[str, SiteRecord] = {}
        # site id → when its kept versions are next refreshed (the Queued index's "keep" part).
        self.keep_due: dict[str, str] = {}
        self._lock = threading.RLock()

    def get(self, site_id: str) -> SiteRecord | None:
        with self._lock:
            found = self.sites.get(site_id)
            return found.model_copy(deep=True) if found else None

    def get_for_owner(self, site_id: str, owner_id: str) -> SiteRecord | None:
        site = self.get(site_id)
        return site if site and site.owner_id == owner_id else None

    def set_url(self, site_id: str, url: str, *, deployment_id: str | None = None) -> bool:
        with self._lock:
            site = self.sites.get(site_id)
            if site is None or site.deleted_at is not None:
                return False
            if deployment_id is not None and site.last_deployment_id != deployment_id:
                return False
            self.sites[site_id] = site.model_copy(update={"url": url})
            return True

    def set_address(self, site_id: str, account_id: str) -> None:
        with self._lock:
            if site_id in self.sites and self.sites[site_id].deleted_at is None:
                self.sites[site_id] = self.sites[site_id].model_copy(update={"account_id": account_id})

    def list_for_owner(self, owner_id: str, *, limit: int = 100) -> list[SiteRecord]:
        with self._lock:
            return [s.model_copy(deep=True) for s in self.sites.values() if s.owner_id == owner_id][:limit]

    def record_version(
        self,
        site_id: str,
        deployment_id: str,
        *,
        generation: str | None,
        keep: int,
        live: bool,
        keep_due: str,
        live_key: str = "",
        read: SiteRecord | None = None,  # unused: the fake reads and writes under one lock
    ) -> SiteRecord | None:
        with self._lock:
            site = self.sites.get(site_id)
            if site is None or site.deleted_at is not None or site.generation != generation:
                return None
            versions = [deployment_id, *(v for v in site.versions if v != deployment_id)][: max(1, keep)]
            update: dict[str, Any] = {"versions": versions}
            if live and (site.live_key is None or site.live_key < live_key):
                update["live_deployment_id"] = deployment_id
                update["live_key"] = live_key
            self.sites[site_id] = site.model_copy(update=update)
            self.keep_due.setdefault(site_id, keep_due)
            return self.sites[site_id].model_copy(deep=True)

    def due_for_keeping(self, before: str, *, limit: int = 100) -> list[SiteRecord]:
        with self._lock:
            due = sorted((when, site_id) for site_id, when in self.keep_due.items() if when <= before)
            return [self.sites[i].model_copy(deep=True) for _, i in due[:limit] if i in self.sites]

    def kept(self, site_id: str, *, due: str | None) -> None:
        with self._lock:
            if due is None:
                self.keep_due.pop(site_id, None)
            elif site_id in self.sites:
                self.keep_due[site_id] = due

    # -- for tests ------------------------------------------------------------------------------

    def expire(self, site_id: str) -> dict[str, Any]:
        """What DynamoDB's TTL does: the item goes, its old image rides the stream."""
        with self._lock:
            site = self.sites.pop(site_id)
        return {"entity": "Site", **site.model_dump(by_alias=True, mode="json")}


@dataclass
class ClaimItem:
    """A name claim item, as ``stores.tenancy`` writes it."""

    platform: Platform
    namespace: str
    name: str
    site_id: str
    generation: str | None
    owner_id: str
    member_id: str | None
    account_id: str | None
    region: str | None
    claimed_at: str
    released_until: float | None = None
    listed: bool = True

    @property
    def active(self) -> bool:
        return self.released_until is None

    @classmethod
    def of(cls, site: SiteRecord, place: NewPlace) -> ClaimItem:
        """The claim a commit (or a rename) writes for ``site``'s new place."""
        return cls(
            platform=place.claim.platform,
            namespace=place.claim.namespace,
            name=place.claim.name,
            site_id=site.site_id,
            generation=site.generation,
            owner_id=site.owner_id,
            member_id=place.member_id,
            account_id=place.account_id,
            region=place.region,
            claimed_at=clock.now_iso(),
        )

    def record(self) -> ClaimRecord:
        return ClaimRecord(
            claim=NameClaim(self.platform, self.namespace, self.name),
            site_id=self.site_id,
            generation=self.generation,
            owner_id=self.owner_id,
            member_id=self.member_id,
            region=self.region,
            claimed_at=self.claimed_at,
        )


class InMemoryTenancy:
    """Claims, pool members, owners' quotas, publish gates and the queue, with the transactions'
    all-or-nothing: every method checks all its conditions, then writes, under one lock."""

    def __init__(self, deployments: InMemoryDeployments, sites: InMemorySites) -> None:
        self._deployments = deployments
        self._sites = sites
        self.claims: dict[str, ClaimItem] = {}
        self.pool: dict[str, PoolMember] = {}
        self.pool_sizes: dict[tuple[Platform, str | None], int] = {}
        self.slots: dict[str, int] = {}
        # (owner key, item) → attributes: counters {"n"}, entries {"platform", "profile"}, {"refs"}, {"bytes"}
        self.quota: dict[tuple[str, str], dict[str, Any]] = {}
        self.woken: list[str] = []
        self.growing: dict[str, float] = {}  # key → lease until
        self._lock = threading.RLock()

    # -- names ----------------------------------------------------------------------------------

    def holders(self, claims: list[NameClaim]) -> dict[str, ClaimHolder]:
        with self._lock:
            return {
                c.key: ClaimHolder(item.site_id, item.generation, item.released_until)
                for c in claims
                if (item := self.claims.get(c.key)) is not None
            }

    def claims_in(self, platform: Platform, namespace: str) -> list[ClaimRecord]:
        with self._lock:
            return [
                item.record()
                for item in self.claims.values()
                if item.platform == platform and item.namespace == namespace and item.active and item.listed
            ]

    def active_places(self, site: SiteRecord, places: list[Place]) -> list[Place]:
        with self._lock:
            out = []
            for place in places:
                claim = place_claim(site, place)
                item = self.claims.get(claim.key) if claim else None
                if claim is None or (
                    item is not None
                    and item.active
                    and item.site_id == site.site_id
                    and item.generation == site.generation
                ):
                    out.append(place)
            return out

    def claim_record(self, claim: NameClaim) -> tuple[ClaimRecord | None, bool]:
        with self._lock:
            item = self.claims.get(claim.key)
            if item is None or not item.active:
                return None, False
            return item.record(), item.listed

    def index_claim(self, claim: NameClaim, member_id: str | None, region: str | None) -> None:
        with self._lock:
            item = self.claims[claim.key]
            self.claims[claim.key] = replace(item, listed=True, member_id=member_id or item.member_id)

    def release_orphan_claim(self, record: ClaimRecord) -> bool:
        with self._lock:
            item = self.claims.get(record.claim.key)
            if (
                item is None
                or not item.active
                or (item.site_id, item.generation) != (record.site_id, record.generation)
            ):
                return False
            member = self.pool.get(pool_key(record.claim.platform, record.member_id)) if record.member_id else None
            if record.member_id and (member is None or member.used < 1):
                return False
            self._release(item)
            if member is not None:
                self.pool[member.key] = replace(member, used=member.used - 1)
            return True

    def release_quota_entry(self, owner_id: str, platform: Platform, site_id: str, generation: str | None) -> bool:
        with self._lock:
            owner = quota_owner_key(owner_id)
            entry = self.quota.get((owner, site_entry_key(site_id, generation)))
            if entry is None:
                return False
            return self._release_site_quota(owner, platform, site_id, generation, entry.get("profile"))

    def _release(self, item: ClaimItem) -> None:
        key = NameClaim(item.platform, item.namespace, item.name).key
        self.claims[key] = replace(item, released_until=clock.epoch() + NAME_COOLING_SECONDS)

    def _holds(self, site: SiteRecord, claim: NameClaim) -> bool:
        item = self.claims.get(claim.key)
        return item is not None and item.active and item.site_id == site.site_id and item.generation == site.generation

    def _release_places(self, site: SiteRecord, places: list[Place]) -> Callable[[], None] | None:
        """Check that the site holds each place's claim and each member can give its seats back;
        the write to apply (None: a condition failed)."""
        claims = [c for p in places if (c := place_claim(site, p)) is not None]
        if not all(self._holds(site, c) for c in claims):
            return None
        seats = Counter(p.member_id for p in places if p.member_id and place_claim(site, p) is not None)
        for member_id, count in seats.items():
            member = self.pool.get(pool_key(site.platform, member_id))
            if member is None or member.used < count:
                return None

        def apply() -> None:
            for claim in claims:
                self._release(self.claims[claim.key])
            for member_id, count in seats.items():
                member = self.pool[pool_key(site.platform, member_id)]
                self.pool[member.key] = replace(member, used=member.used - count)

        return apply

    # -- pool members ---------------------------------------------------------------------------

    def members(self, platform: Platform, *, region: str | None, profile: str | None) -> list[PoolMember]:
        with self._lock:
            return [
                m for m in self.pool.values() if m.platform == platform and m.region == region and m.profile == profile
            ]

    def all_members(self, platform: Platform) -> list[PoolMember]:
        with self._lock:
            return [m for m in self.pool.values() if m.platform == platform]

    def pool_size(self, platform: Platform, region: str | None) -> int:
        return self.pool_sizes.get((platform, region), 0)

    def set_pool_size(self, platform: Platform, region: str | None, expected: int, size: int) -> bool:
        with self._lock:
            if self.pool_sizes.get((platform, region), 0) != expected:
                return False
            self.pool_sizes[(platform, region)] = size
            return True

    def member(self, platform: Platform, member_id: str) -> PoolMember | None:
        with self._lock:
            return self.pool.get(pool_key(platform, member_id))

    def register(self, member: PoolMember) -> PoolMember:
        with self._lock:
            known = self.pool.get(member.key)
            kept = replace(member, used=known.used, retiring=known.retiring) if known else replace(member, used=0)
            self.pool[member.key] = kept
            return kept

    def lock_growth(self, key: str, *, lease_seconds: float) -> bool:
        with self._lock:
            if self.growing.get(key, 0.0) > clock.epoch():
                return False
            self.growing[key] = clock.epoch() + lease_seconds
            return True

    def unlock_growth(self, key: str) -> None:
        with self._lock:
            self.growing.pop(key, None)

    def reserve_member(self, platform: Platform, region: str | None, limit: int) -> bool:
        with self._lock:
            size = self.pool_sizes.get((platform, region), 0)
            if size >= limit:
                return False
            self.pool_sizes[(platform, region)] = size + 1
            return True

    def unreserve_member(self, platform: Platform, region: str | None) -> None:
        with self._lock:
            self.pool_sizes[(platform, region)] = max(0, self.pool_sizes.get((platform, region), 0) - 1)

    def retire_member(self, member: PoolMember) -> bool:
        with self._lock:
            known = self.pool.get(member.key)
            if known is None or known.used > 0:
                return False
            self.pool[member.key] = replace(known, retiring=True)
            return True

    def adopt_stray(self, member: PoolMember) -> bool:
        with self._lock:
            if member.key in self.pool:
                return False
            self.pool[member.key] = replace(member, used=0, capacity=0, retiring=True)
            return True

    def forget_member(self, member: PoolMember) -> bool:
        with self._lock:
            known = self.pool.get(member.key)
            if known is None or not known.retiring or known.used > 0:
                return False
            del self.pool[member.key]
            size = self.pool_sizes.get((member.platform, member.region), 0)
            if size > 0:
                self.pool_sizes[(member.platform, member.region)] = size - 1
            return True

    def set_used(self, member: PoolMember, used: int) -> bool:
        with self._lock:
            known = self.pool.get(member.key)
            if known is None or known.used != member.used:
                return False
            self.pool[member.key] = replace(known, used=used)
            return True

    # -- accepting, moving, freeing, deleting ------------------------------------------------------

    def commit_deploy(
        self,
        site: SiteRecord,
        deployment: DeploymentRecord,
        *,
        expected_revision: int | None,
        place: NewPlace | None,
        site_quota: SiteQuota | None,
        quotas: Quotas,
    ) -> None:
        with self._lock:
            existing = self._sites.sites.get(site.site_id)
            if expected_revision is None:
                if existing is not None:
                    raise StaleRead("the site exists")
            elif (
                existing is None
                or existing.owner_id != site.owner_id
                or existing.auth_mode != site.auth_mode
                or existing.deleted_at is not None
                or existing.revision != expected_revision
                or existing.generation != site.generation
            ):
                raise StaleRead("the site changed")
            if deployment.deployment_id in self._deployments.records:
                raise ValueError("deployment exists")
            now = clock.epoch()
            if place is not None:
                held = self.claims.get(place.claim.key)
                if held is not None and not (held.released_until is not None and held.released_until < now):
                    raise NameTaken(f"the name {place.claim.name!r} is held by another site", code="name_taken")
                if place.member_id is not None:
                    member = self.pool.get(pool_key(site.platform, place.member_id))
                    if member is None or member.used >= member.capacity or member.retiring:
                        raise MemberFull(place.member_id)
            owner = quota_owner_key(site.owner_id)
            writes: list[Callable[[], None]] = []
            if deployment.quota_key:
                writes.append(self._count_up(owner, "FLIGHT", quotas.deployments_in_flight, Quota.IN_FLIGHT))
            if site_quota is not None:
                writes += self._take_site_quota(site, owner, site_quota, quotas)
            # every condition held: write
            for write in writes:
                write()
            saved = site.model_copy(
                update={
                    "created_at": existing.created_at if existing else site.created_at,
                    "publishing": existing.publishing if existing else None,
                    "generation": existing.generation if existing else site.generation,
                    "revision": (expected_revision or 0) + 1,
                    "url": site.url if site.url is not None else (existing.url if existing else None),
                    "updated_at": clock.now_iso(),
                    "live_deployment_id": existing.live_deployment_id if existing else None,
                    "live_key": existing.live_key if existing else None,
                    "versions": list(existing.versions) if existing else [],
                    "last_deployment_id": site.last_deployment_id
                    or (existing.last_deployment_id if existing else None),
                    "last_preview_id": site.last_preview_id or (existing.last_preview_id if existing else None),
                    "preview_of": site.preview_of or (existing.preview_of if existing else None),
                }
            )
            self._sites.sites[site.site_id] = saved
            self._deployments.create(deployment)
            if place is not None:
                self.claims[place.claim.key] = ClaimItem.of(saved, place)
                if place.member_id is not None:
                    member = self.pool[pool_key(site.platform, place.member_id)]
                    self.pool[member.key] = replace(member, used=member.used + 1)

    def _count_up(self, owner: str, counter: str, limit: int | None, quota: Quota) -> Callable[[], None]:
        current = int(self.quota.get((owner, counter), {}).get("n", 0))
        if limit is not None and current >= limit:
            raise quota_refused(quota, limit)

        def write() -> None:
            self.quota.setdefault((owner, counter), {})["n"] = current + 1

        return write

    def _take_site_quota(
        self, site: SiteRecord, owner: str, quota: SiteQuota, quotas: Quotas
    ) -> list[Callable[[], None]]:
        platform = quota.platform.value
        entry_key = site_entry_key(site.site_id, site.generation)
        entry = self.quota.get((owner, entry_key))
        changes_profile = quota.entry_exists and quota.previous_profile != quota.profile
        writes: list[Callable[[], None]] = []
        if not quota.entry_exists:
            if entry is not None:
                raise StaleRead("the site's quota entry exists")
            limit = quotas.sites_per_platform if quota.new_site else None
            writes.append(self._count_up(owner, f"SITES#{platform}", limit, Quota.SITES))
            body = {"platform": platform, "siteId": site.site_id, "profile": quota.profile}
            writes.append(lambda: self.quota.__setitem__((owner, entry_key), dict(body)))
        elif changes_profile:
            if entry is None or entry.get("profile") != quota.previous_profile:
                raise StaleRead("the site's quota entry changed")
            writes.append(lambda: self.quota[(owner, entry_key)].__setitem__("profile", quota.profile))
            if quota.previous_profile is not None:
                old = (owner, f"PROFILE#{platform}#{quota.previous_profile}")
                if int(self.quota.get(old, {}).get("refs", 0)) < 1:
                    raise StaleRead("a profile's count changed")
                writes.append(lambda: self.quota[old].__setitem__("refs", self.quota[old]["refs"] - 1))
        if quota.profile is None or (quota.entry_exists and not changes_profile):
            return writes
        key = (owner, f"PROFILE#{platform}#{quota.profile}")
        if quota.profile_known:
            if key not in self.quota:
                raise StaleRead("a profile of the owner's went")
            writes.append(lambda: self.quota[key].__setitem__("refs", self.quota[key]["refs"] + 1))
        else:
            if key in self.quota:
                raise StaleRead("a profile of the owner's came")
            limit = quotas.routing_profiles if quota.new_site or changes_profile else None
            writes.append(self._count_up(owner, f"PROFILES#{platform}", limit, Quota.PROFILES))
            writes.append(lambda: self.quota.__setitem__(key, {"refs": 1}))
        return writes

    def tombstone(self, site_id: str, owner_id: str) -> SiteRecord | None:
        with self._lock:
            site = self._sites.sites.get(site_id)
            if site is None or site.owner_id != owner_id:
                return None
            marked = site.model_copy(
                update={"deleted_at": site.deleted_at or clock.now_iso(), "revision": site.revision + 1}
            )
            self._sites.sites[site_id] = marked
            return marked.model_copy(deep=True)

    def _site_at(self, site: SiteRecord) -> SiteRecord:
        current = self._sites.sites.get(site.site_id)
        if current is None or current.revision != site.revision or current.generation != site.generation:
            raise StaleRead("the site changed")
        return current

    def mark_freeing(self, site: SiteRecord, places: list[Place]) -> SiteRecord:
        with self._lock:
            current = self._site_at(site)
            keys = {p.key for p in places}
            former = [p.model_copy(update={"freeing": True}) if p.key in keys else p for p in site.former]
            marked = current.model_copy(update={"former": former, "revision": current.revision + 1})
            self._sites.sites[site.site_id] = marked
            return marked.model_copy(deep=True)

    def free_former(self, site: SiteRecord, places: list[Place]) -> None:
        with self._lock:
            current = self._site_at(site)
            apply = self._release_places(site, self.active_places(site, places))
            if apply is None:
                raise StaleRead("a claim was given back meanwhile")
            keys = {p.key for p in places}
            self._sites.sites[site.site_id] = current.model_copy(
                update={"former": [p for p in site.former if p.key not in keys], "revision": current.revision + 1}
            )
            apply()

    def finish_deletion(self, site: SiteRecord, *, places: list[Place], quota_entry: bool) -> None:
        with self._lock:
            current = self._sites.sites.get(site.site_id)
            if current is None or current.deleted_at is None or current.generation != site.generation:
                raise StaleRead("the site changed")
            if current.publishing is not None:
                raise StaleRead("a publisher holds the site")
            apply = self._release_places(site, places)
            if apply is None:
                raise StaleRead("a claim was given back meanwhile")
            owner = quota_owner_key(site.owner_id)
            if quota_entry and not self._can_release_site_quota(owner, site):
                raise StaleRead("the quota entry went")
            del self._sites.sites[site.site_id]
            apply()
            if quota_entry:
                self._release_site_quota(owner, site.platform, site.site_id, site.generation, site.profile)

    def release_expired(self, site: SiteRecord, *, places: list[Place], quota_entry: bool) -> None:
        with self._lock:
            apply = self._release_places(site, places)
            if apply is None:
                raise StaleRead("a claim was given back meanwhile")
            owner = quota_owner_key(site.owner_id)
            if quota_entry and not self._can_release_site_quota(owner, site):
                raise StaleRead("the quota entry went")
            apply()
            if quota_entry:
                self._release_site_quota(owner, site.platform, site.site_id, site.generation, site.profile)

    def _can_release_site_quota(self, owner: str, site: SiteRecord) -> bool:
        platform = site.platform.value
        if (owner, site_entry_key(site.site_id, site.generation)) not in self.quota:
            return False
        if int(self.quota.get((owner, f"SITES#{platform}"), {}).get("n", 0)) < 1:
            return False
        return (
            site.profile is None
            or int(self.quota.get((owner, f"PROFILE#{platform}#{site.profile}"), {}).get("refs", 0)) >= 1
        )

    def _release_site_quota(
        self, owner: str, platform: Platform, site_id: str, generation: str | None, profile: str | None
    ) -> bool:
        ghost = SiteRecord(
            site_id=site_id, owner_id="", platform=platform, project_name="-", auth_mode=AuthMode.PLATFORM_MANAGED,
            external_name="-", created_at="", updated_at="", generation=generation, profile=profile,
        )  # fmt: skip
        if not self._can_release_site_quota(owner, ghost):
            return False
        del self.quota[(owner, site_entry_key(site_id, generation))]
        self.quota[(owner, f"SITES#{platform.value}")]["n"] -= 1
        if profile is not None:
            self.quota[(owner, f"PROFILE#{platform.value}#{profile}")]["refs"] -= 1
        return True

    def rename(self, site: SiteRecord, deployment_id: str, old: NewPlace, new: NewPlace, url: str | None) -> SiteRecord:
        with self._lock:
            current = self._sites.sites.get(site.site_id)
            if (
                current is None
                or current.deleted_at is not None
                or current.last_deployment_id != deployment_id
                or current.revision != site.revision
            ):
                raise StaleRead("the site changed")
            held = self.claims.get(new.claim.key)
            if held is not None and not (held.released_until is not None and held.released_until < clock.epoch()):
                raise NameTaken(f"the name {new.claim.name!r} is held by another site", code="name_taken")
            if not self._holds(site, old.claim):
                raise StaleRead("the claim was given back meanwhile")
            self._release(self.claims[old.claim.key])
            self.claims[new.claim.key] = ClaimItem.of(site, new)
            update: dict[str, Any] = {"external_name": new.claim.name, "revision": current.revision + 1}
            if url is not None:
                update["url"] = url
            renamed = current.model_copy(update=update)
            self._sites.sites[site.site_id] = renamed
            self._deployments.update(deployment_id, external_name=new.claim.name, **({"url": url} if url else {}))
            return renamed.model_copy(deep=True)

    # -- owners' quotas -------------------------------------------------------------------------

    def site_quota_entry(self, site: SiteRecord) -> tuple[bool, str | None]:
        with self._lock:
            entry = self.quota.get((quota_owner_key(site.owner_id), site_entry_key(site.site_id, site.generation)))
            return (entry is not None, entry.get("profile") if entry else None)

    def owner_profiles(self, owner_id: str, platform: Platform) -> dict[str, int]:
        owner = quota_owner_key(owner_id)
        prefix = f"PROFILE#{platform.value}#"
        with self._lock:
            return {
                sk.removeprefix(prefix): int(item.get("refs", 0))
                for (o, sk), item in self.quota.items()
                if o == owner and sk.startswith(prefix)
            }

    def collect_profile(self, owner_id: str, platform: Platform, profile: str) -> bool:
        owner = quota_owner_key(owner_id)
        with self._lock:
            key = (owner, f"PROFILE#{platform.value}#{profile}")
            counter = self.quota.get((owner, f"PROFILES#{platform.value}"), {})
            if key not in self.quota or self.quota[key].get("refs", 0) > 0 or int(counter.get("n", 0)) < 1:
                return False
            del self.quota[key]
            counter["n"] -= 1
            return True

    def usage(self, owner_id: str) -> dict[str, int]:
        owner = quota_owner_key(owner_id)
        with self._lock:
            out = {}
            for (o, sk), item in self.quota.items():
                if o != owner:
                    continue
                for name in ("n", "bytes", "refs"):
                    if name in item:
                        out[sk] = int(item[name])
            return out

    def add_staged_bytes(self, owner_id: str, day: str, size: int, limit: int) -> bool:
        key = (quota_owner_key(owner_id), f"BYTES#{day}")
        with self._lock:
            current = int(self.quota.get(key, {}).get("bytes", 0))
            if current + size > limit:
                return False
            self.quota.setdefault(key, {})["bytes"] = current + size
            return True

    # -- publish gates and the queue ------------------------------------------------------------

    def acquire_publish(self, record: DeploymentRecord, slots: JobSlots | None) -> PublishGate:
        deployment_id, site_id = record.deployment_id, record.site_id
        with self._lock:
            current = self._deployments.get(deployment_id)
            if current is None or current.status is not DeploymentStatus.PENDING:
                return PublishGate.TAKEN
            site = self._sites.sites.get(site_id)
            if (
                site is None
                or site.deleted_at is not None
                or (record.site_generation is not None and site.generation != record.site_generation)
            ):
                return PublishGate.SITE_DELETED
            if deployment_id not in (site.last_deployment_id, site.last_preview_id):
                return PublishGate.SUPERSEDED
            if site.publishing not in (None, deployment_id):
                return PublishGate.SITE_BUSY
            if slots is not None and self.slots.get(slots.key, 0) >= slots.limit:
                return PublishGate.NO_SLOT
            self._deployments.transition(
                deployment_id,
                DeploymentStatus.UPLOADING,
                expected=[DeploymentStatus.PENDING],
                changes={"startedAt": clock.now_iso(), "progress": 0},
            )
            self._deployments.update(
                deployment_id, holds_site=True, job_slot=slots.key if slots else None, queue=None, queued_at=None
            )
            self._sites.sites[site_id] = site.model_copy(update={"publishing": deployment_id})
            if slots is not None:
                self.slots[slots.key] = self.slots.get(slots.key, 0) + 1
            return PublishGate.CLAIMED

    def site_holder(self, site_id: str) -> str | None:
        site = self._sites.sites.get(site_id)
        return site.publishing if site else None

    def release_site(self, site_id: str, deployment_id: str) -> bool:
        with self._lock:
            site = self._sites.sites.get(site_id)
            if site is None or site.publishing != deployment_id:
                return False
            self._sites.sites[site_id] = site.model_copy(update={"publishing": None})
            return True

    def release_slot(self, key: str) -> None:
        with self._lock:
            self.slots[key] = max(0, self.slots.get(key, 0) - 1)

    def slots_held(self, key: str) -> int:
        return self.slots.get(key, 0)

    def set_slots_held(self, key: str, held: int, *, expected: int | None = None) -> bool:
        with self._lock:
            if expected is not None and self.slots.get(key, 0) != expected:
                return False
            self.slots[key] = held
            return True

    def let_go(self, record: DeploymentRecord) -> None:
        with self._lock:
            current = self._deployments.records.get(record.deployment_id)
            if current is None:
                return
            if record.quota_key and current.quota_key == record.quota_key:
                counter = self.quota.get((record.quota_key, "FLIGHT"))
                if counter is not None and counter.get("n", 0) >= 1:
                    counter["n"] -= 1
            self._deployments.update(record.deployment_id, holds_site=False, job_slot=None, quota_key=None)
            self._deployments.ended.discard(record.deployment_id)

    def enqueue(self, deployment_id: str, queue: str) -> bool:
        with self._lock:
            record = self._deployments.get(deployment_id)
            if record is None or record.status is not DeploymentStatus.PENDING:
                return False
            self._deployments.update(
                deployment_id, queue=queue, queued_at=record.queued_at or f"{clock.now_iso()}#{deployment_id}"
            )
            return True

    def waiting(self, queue: str, *, limit: int = 10) -> list[DeploymentRecord]:
        with self._lock:
            found = [r for r in self._deployments.records.values() if r.queue == queue and r.queued_at]
            return sorted(found, key=lambda r: r.queued_at or "")[:limit]

    def wake(self, deployment: DeploymentRecord) -> None:
        self.woken.append(deployment.deployment_id)


class InMemoryStaging:
    """Blobs by (owner, sha256); reading verifies the bytes against their name, as S3 staging does."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.manifests: dict[str, SiteManifest] = {}
        self.receipts: dict[tuple[str, str], UploadReceipt] = {}
        self.packs: dict[tuple[str, str], bytes] = {}
        self.digests: dict[tuple[str, str], dict[str, str]] = {}
        self.puts = 0
        # When each blob, pack (owner, name) and manifest ("manifest", id) was last written.
        self.written: dict[tuple[str, str], float] = {}

    def missing(self, owner_id: str, hashes: Iterable[str]) -> set[str]:
        return {h for h in set(hashes) if (owner_id, h) not in self.blobs}

    def sizes(self, owner_id: str, hashes: Iterable[str]) -> dict[str, int | None]:
        return {h: (len(self.blobs[(owner_id, h)]) if (owner_id, h) in self.blobs else None) for h in set(hashes)}

    def put_blob(self, owner_id: str, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        self.blobs[(owner_id, digest)] = data
        self.written[(owner_id, digest)] = clock.epoch()
        self.puts += 1
        return digest

    def iter_blob(self, owner_id: str, sha256: str, *, path: str | None = None) -> Iterator[bytes]:
        data = self.blobs.get((owner_id, sha256))
        if data is None:
            raise BlobMissing(sha256)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobCorrupted(sha256, path)
        yield data

    def read_blob(self, owner_id: str, sha256: str, *, path: str | None = None) -> bytes:
        return b"".join(self.iter_blob(owner_id, sha256, path=path))

    def presign_put(self, owner_id: str, sha256: str, size: int, *, expires: int) -> str:
        return f"https://staging.invalid/{owner_id}/{sha256}?size={size}&expires={expires}"

    def read_entry(self, owner_id: str, entry: ManifestEntry) -> bytes:
        if entry.pack is None:
            return self.read_blob(owner_id, entry.sha256, path=entry.path)
        return self.read_packed(owner_id, entry.sha256, Packed(entry.pack, entry.offset or 0, entry.size))

    def presign_pack_put(self, owner_id: str, pack_id: str, size: int, *, expires: int) -> str:
        return f"https://staging.invalid/{owner_id}/packs/{pack_id}?size={size}&expires={expires}"

    def pack_size(self, owner_id: str, pack_id: str) -> int | None:
        data = self.packs.get((owner_id, pack_id))
        return None if data is None else len(data)

    def open_pack(self, owner_id: str, pack_id: str) -> tuple[Any, float]:
        data = self.packs.get((owner_id, pack_id))
        if data is None:
            raise PackMissing(pack_id)
        return _Body(data), time.time()

    def read_packed(self, owner_id: str, sha256: str, where: Packed, *, path: str | None = None) -> bytes:
        data = self.packs.get((owner_id, where.pack))
        if data is None:
            raise BlobMissing(sha256)
        member = data[where.offset : where.offset + where.size]
        if hashlib.sha256(member).hexdigest() != sha256:
            raise BlobCorrupted(sha256, path)
        return member

    def put_receipt(self, owner_id: str, receipt_id: str, receipt: UploadReceipt) -> None:
        self.receipts[(owner_id, receipt_id)] = receipt

    def get_receipt(self, owner_id: str, receipt_id: str) -> UploadReceipt | None:
        return self.receipts.get((owner_id, receipt_id))

    def get_digests(self, owner_id: str, site_id: str) -> dict[str, str]:
        return dict(self.digests.get((owner_id, site_id), {}))

    def put_digests(self, owner_id: str, site_id: str, digests: dict[str, str]) -> None:
        self.digests[(owner_id, site_id)] = dict(digests)

    def put_manifest(self, deployment_id: str, manifest: SiteManifest) -> None:
        self.manifests[deployment_id] = manifest
        self.written[("manifest", deployment_id)] = clock.epoch()

    def get_manifest(self, deployment_id: str) -> SiteManifest:
        return self.manifests[deployment_id]

    def find_manifest(self, deployment_id: str) -> SiteManifest | None:
        return self.manifests.get(deployment_id)

    def keep(self, owner_id: str, blobs: Iterable[str], packs: Iterable[str], *, older_than: float) -> Kept:
        kept = Kept()
        for store, wanted in ((self.blobs, set(blobs)), (self.packs, set(packs))):
            for name in sorted(wanted):
                if (owner_id, name) not in store:
                    kept.missing.append(name)
                elif self.written.get((owner_id, name), 0.0) < older_than:
                    self.written[(owner_id, name)] = clock.epoch()
                    kept.refreshed += 1
        return kept

    def keep_manifests(self, deployment_ids: Iterable[str], *, older_than: float) -> Kept:
        kept = Kept()
        for deployment_id in dict.fromkeys(deployment_ids):
            if deployment_id not in self.manifests:
                kept.missing.append(deployment_id)
            elif self.written.get(("manifest", deployment_id), 0.0) < older_than:
                self.written[("manifest", deployment_id)] = clock.epoch()
                kept.refreshed += 1
        return kept

    def expire_older_than(self, moment: float) -> int:
        """What the bucket's lifecycle does (tests): objects last written before ``moment`` go."""
        gone = [key for key, when in self.written.items() if when < moment]
        for key in gone:
            del self.written[key]
            if key[0] == "manifest":
                self.manifests.pop(key[1], None)
            else:
                self.blobs.pop(key, None)
                self.packs.pop(key, None)
        return len(gone)


class _Body:
    """An S3 streaming body's two methods the pack spool uses."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        for start in range(0, len(self._data), size):
            yield self._data[start : start + size]

    def close(self) -> None:
        return None


class InMemoryPackIndex:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[Packed, int]] = {}

    def lookup(self, owner_id: str, hashes: Iterable[str], *, now: float | None = None) -> dict[str, Packed]:
        cutoff = time.time() if now is None else now
        found = {h: self.items.get((owner_id, h)) for h in set(hashes)}
        return {h: item[0] for h, item in found.items() if item is not None and item[1] > cutoff}

    def record(self, owner_id: str, members: Mapping[str, Packed], *, expires_at: Mapping[str, int]) -> None:
        for sha, where in members.items():
            self.items[(owner_id, sha)] = (where, expires_at[where.pack])


class FakeSealer:
    """Sealing bound to its context: the "ciphertext" is an opaque handle that only the same
    context opens, as KMS's encryption context makes it."""

    def __init__(self) -> None:
        self._sealed: dict[str, tuple[str, dict[str, str]]] = {}
        self._counter = itertools.count()

    def seal(self, payload: Mapping[str, Any], context: Mapping[str, str]) -> str:
        handle = base64.b64encode(f"sealed-{next(self._counter)}".encode()).decode()
        self._sealed[handle] = (json.dumps(dict(payload)), dict(context))
        return handle

    def unseal(self, ciphertext: str, context: Mapping[str, str]) -> dict[str, Any]:
        found = self._sealed.get(ciphertext)
        if found is None or found[1] != dict(context):
            raise CredentialsError("sealed credentials do not decrypt (InvalidCiphertextException)")
        data: dict[str, Any] = json.loads(found[0])
        return data


class InMemoryConnections:
    def __init__(self, sealer: FakeSealer) -> None:
        self._sealer = sealer
        self.items: dict[tuple[str, Platform], tuple[Connection, str]] = {}

    def store(self, owner_id: str, connection: Connection, payload: Mapping[str, Any]) -> Connection:
        sealed = self._sealer.seal(payload, connection_context(owner_id, connection.platform.value))
        self.items[(owner_id, connection.platform)] = (connection, sealed)
        return connection

    def get(self, owner_id: str, platform: Platform) -> Connection | None:
        found = self.items.get((owner_id, platform))
        return found[0] if found else None

    def secret(self, owner_id: str, platform: Platform) -> dict[str, Any] | None:
        found = self.items.get((owner_id, platform))
        if found is None:
            return None
        return self._sealer.unseal(found[1], connection_context(owner_id, platform.value))

    def list(self, owner_id: str) -> list[Connection]:
        return [c for (owner, _), (c, _) in self.items.items() if owner == owner_id]

    def delete(self, owner_id: str, platform: Platform) -> bool:
        return self.items.pop((owner_id, platform), None) is not None


class FakeServiceSecret:
    def __init__(self, sections: dict[str, dict[str, Any]] | None = None) -> None:
        self.sections = sections or {}

    def section(self, name: str) -> Mapping[str, Any] | None:
        return self.sections.get(name)


class InMemoryIdempotency(BasePersistenceLayer):
    """Powertools' idempotency records, kept in a dict (what DynamoDBPersistenceLayer keeps in a table)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key: str) -> DataRecord:
        found = self.records.get(idempotency_key)
        if found is None:
            raise IdempotencyItemNotFoundError
        return copy.copy(found)

    def _put_record(self, data_record: DataRecord) -> None:
        existing = self.records.get(data_record.idempotency_key)
        if existing is not None and not existing.is_expired:
            # As DynamoDBPersistenceLayer does: a different payload under the same key is refused.
            self._validate_payload(data_payload=data_record, stored_data_record=existing)
            raise IdempotencyItemAlreadyExistsError(old_data_record=copy.copy(existing))
        self.records[data_record.idempotency_key] = copy.copy(data_record)

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = copy.copy(data_record)

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


class InMemoryDomains:
    """Hostname → its record (the claim), with when it is next due and when it was last checked."""

    def __init__(self) -> None:
        self.records: dict[str, DomainRecord] = {}
        self.due_at: dict[str, str] = {}
        self.checked: dict[str, int] = {}
        self.hold_until: dict[str, int] = {}  # hostname -> when its hold ("releasing:…") is free
        self._lock = threading.RLock()

    def _free(self, hostname: str) -> bool:
        """No claim, or only a hold past its time (DynamoDB's condition, in memory)."""
        held = self.records.get(hostname)
        if held is None:
            return True
        return held.site_id.startswith(RELEASING) and self.hold_until.get(hostname, 0) < clock.epoch_seconds()

    def claim(self, record: DomainRecord, *, due: str) -> DomainRecord:
        with self._lock:
            held = self.records.get(record.hostname)
            if not self._free(record.hostname):
                assert held is not None
                if held.site_id == record.site_id and held.owner_id == record.owner_id:
                    return held.model_copy(deep=True)
                raise DomainTaken(f"{record.hostname} is attached to another site", code="domain_taken")
            self.records[record.hostname] = record.model_copy(deep=True)
            self.hold_until.pop(record.hostname, None)
            self.due_at[record.hostname] = due
            return record

    def hold(self, record: DomainRecord, *, seconds: int) -> str | None:
        with self._lock:
            if not self._free(record.hostname):
                return None
            holder = RELEASING + record.site_id
            self.records[record.hostname] = record.model_copy(update={"site_id": holder}, deep=True)
            self.hold_until[record.hostname] = clock.epoch_seconds() + seconds
            self.due_at.pop(record.hostname, None)
            return holder

    def get(self, hostname: str) -> DomainRecord | None:
        with self._lock:
            found = self.records.get(hostname)
            return found.model_copy(deep=True) if found else None

    def save(self, record: DomainRecord, *, due: str | None) -> bool:
        with self._lock:
            held = self.records.get(record.hostname)
            if held is None or held.site_id != record.site_id or held.owner_id != record.owner_id:
                return False
            self.records[record.hostname] = record.model_copy(deep=True)
            if due is None:
                self.due_at.pop(record.hostname, None)
            else:
                self.due_at[record.hostname] = due
            return True

    def release(self, hostname: str, site_id: str) -> bool:
        with self._lock:
            held = self.records.get(hostname)
            if held is None or held.site_id != site_id:
                return False
            del self.records[hostname]
            self.due_at.pop(hostname, None)
            self.checked.pop(hostname, None)
            self.hold_until.pop(hostname, None)
            return True

    def list_for_site(self, site_id: str) -> list[DomainRecord]:
        with self._lock:
            return sorted(
                (r.model_copy(deep=True) for r in self.records.values() if r.site_id == site_id),
                key=lambda r: r.hostname,
            )

    def reschedule(self, hostname: str, site_id: str, *, due: str | None) -> bool:
        with self._lock:
            held = self.records.get(hostname)
            if held is None or held.site_id != site_id:
                return False
            if due is None:
                self.due_at.pop(hostname, None)
            else:
                self.due_at[hostname] = due
            return True

    def due(self, before: str, *, page: int = 100) -> Iterator[DomainRecord]:
        with self._lock:
            ready = sorted((when, host) for host, when in self.due_at.items() if when <= before)
            found = [self.records[h].model_copy(deep=True) for _, h in ready]
        yield from found

    def acquire_check(self, hostname: str, *, min_interval: float, now: float | None = None) -> bool:
        moment = int((now if now is not None else time.time()) * 1000)
        with self._lock:
            if hostname not in self.records:
                return False
            last = self.checked.get(hostname)
            if last is not None and last > moment - int(min_interval * 1000):
                return False
            self.checked[hostname] = moment
            return True


def memory_stores(secret: dict[str, dict[str, Any]] | None = None) -> Stores:
    sealer = FakeSealer()
    deployments, sites = InMemoryDeployments(), InMemorySites()
    return Stores(
        deployments=deployments,
        sites=sites,
        tenancy=InMemoryTenancy(deployments, sites),
        staging=InMemoryStaging(),
        packs=InMemoryPackIndex(),
        connections=InMemoryConnections(sealer),
        sealer=sealer,
        service_secret=FakeServiceSecret(secret),
        idempotency=InMemoryIdempotency(),
        domains=InMemoryDomains(),
    )
