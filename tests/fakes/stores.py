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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from sitedeploy.domain import clock
from sitedeploy.domain.errors import DeploymentNotFound, InvalidCursor
from sitedeploy.domain.models import (
    TERMINAL_STATUSES,
    Connection,
    DeploymentRecord,
    DeploymentStatus,
    Platform,
    SiteRecord,
    sources_of,
)
from sitedeploy.domain.sitefiles import ManifestEntry, SiteManifest
from sitedeploy.domain.tenancy import JobSlots, MemberFull, NameClaim, NameTaken, PoolMember, PublishGate, Seat
from sitedeploy.stores import Stores
from sitedeploy.stores.deployments import Page, TransitionRefused
from sitedeploy.stores.secrets import CredentialsError, connection_context
from sitedeploy.stores.sites import SiteConflict
from sitedeploy.stores.staging import BlobCorrupted, BlobMissing, Packed, PackMissing, UploadReceipt

# Attribute names a transition may set (camelCase, as stored) → the record's field names.
_FIELDS = {field.alias or name: name for name, field in DeploymentRecord.model_fields.items()}


class InMemoryDeployments:
    def __init__(self) -> None:
        self.records: dict[str, DeploymentRecord] = {}
        self.polled_at: dict[str, float] = {}
        self._lock = threading.Lock()

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

    def transition(
        self,
        deployment_id: str,
        to: DeploymentStatus,
        *,
        expected: Iterable[DeploymentStatus] | None = None,
        changes: Mapping[str, Any] | None = None,
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
        self, status: DeploymentStatus, *, updated_before: str, limit: int = 100
    ) -> list[DeploymentRecord]:
        with self._lock:
            found = [r for r in self.records.values() if r.status is status and r.updated_at < updated_before]
        return [r.model_copy(deep=True) for r in sorted(found, key=lambda r: r.updated_at)[:limit]]

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

    def get(self, site_id: str) -> SiteRecord | None:
        found = self.sites.get(site_id)
        return found.model_copy() if found else None

    def get_for_owner(self, site_id: str, owner_id: str) -> SiteRecord | None:
        site = self.get(site_id)
        return site if site and site.owner_id == owner_id else None

    def record_deploy(self, site: SiteRecord) -> SiteRecord:
        existing = self.sites.get(site.site_id)
        if existing and (existing.owner_id != site.owner_id or existing.auth_mode != site.auth_mode):
            raise SiteConflict(site.site_id)
        kept = {"created_at": existing.created_at, "publishing": existing.publishing} if existing else {}
        merged = site.model_copy(update={**kept, "updated_at": clock.now_iso()})
        if existing and merged.url is None:
            merged = merged.model_copy(update={"url": existing.url})
        self.sites[site.site_id] = merged
        return merged.model_copy()

    def set_url(self, site_id: str, url: str) -> None:
        if site_id in self.sites:
            self.sites[site_id] = self.sites[site_id].model_copy(update={"url": url})

    def set_address(self, site_id: str, account_id: str) -> None:
        if site_id in self.sites:
            self.sites[site_id] = self.sites[site_id].model_copy(update={"account_id": account_id})

    def list_for_owner(self, owner_id: str, *, limit: int = 100) -> list[SiteRecord]:
        return [s for s in self.sites.values() if s.owner_id == owner_id][:limit]

    def delete(self, site_id: str, owner_id: str) -> bool:
        site = self.sites.get(site_id)
        if site is None or site.owner_id != owner_id:
            return False
        del self.sites[site_id]
        return True


class InMemoryTenancy:
    """Claims, pool members, publish gates and the queue, with the transactions' all-or-nothing."""

    def __init__(self, deployments: InMemoryDeployments, sites: InMemorySites) -> None:
        self._deployments = deployments
        self._sites = sites
        self.claims: dict[str, str] = {}
        self.pool: dict[str, PoolMember] = {}
        self.pool_sizes: dict[tuple[Platform, str | None], int] = {}
        self.slots: dict[str, int] = {}
        self.woken: list[str] = []
        self.growing: set[str] = set()
        self._lock = threading.RLock()

    def holders(self, claims: list[NameClaim]) -> dict[str, str]:
        with self._lock:
            return {c.key: self.claims[c.key] for c in claims if c.key in self.claims}

    def release_name(self, claim: NameClaim, site_id: str) -> None:
        with self._lock:
            if self.claims.get(claim.key) == site_id:
                del self.claims[claim.key]

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

    def member(self, platform: Platform, member_id: str) -> PoolMember | None:
        return self.pool.get(Seat(platform, member_id).key)

    def register(self, member: PoolMember) -> PoolMember:
        with self._lock:
            known = self.pool.get(member.key)
            kept = replace(member, used=known.used) if known else replace(member, used=0)
            self.pool[member.key] = kept
            return kept

    def lock_growth(self, key: str, *, lease_seconds: float) -> bool:
        with self._lock:
            if key in self.growing:
                return False
            self.growing.add(key)
            return True

    def unlock_growth(self, key: str) -> None:
        with self._lock:
            self.growing.discard(key)

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

    def remove_if_empty(self, member: PoolMember) -> bool:
        with self._lock:
            known = self.pool.get(member.key)
            if known is None or known.used > 0:
                return False
            del self.pool[member.key]
            return True

    def commit_deploy(
        self, site: SiteRecord, deployment: DeploymentRecord, *, claim: NameClaim | None, seat: Seat | None
    ) -> SiteRecord:
        with self._lock:
            existing = self._sites.sites.get(site.site_id)
            if existing and (existing.owner_id != site.owner_id or existing.auth_mode != site.auth_mode):
                raise SiteConflict(site.site_id)
            if deployment.deployment_id in self._deployments.records:
                raise ValueError("deployment exists")
            if claim is not None and self.claims.get(claim.key, site.site_id) != site.site_id:
                raise NameTaken(f"the name {claim.name!r} is held by another site", code="name_taken")
            member = self.pool.get(seat.key) if seat else None
            if seat is not None and (member is None or member.used >= member.capacity):
                raise MemberFull(seat.member_id)
            saved = self._sites.record_deploy(site)
            self._deployments.create(deployment)
            if claim is not None:
                self.claims[claim.key] = site.site_id
            if seat is not None and member is not None:
                self.pool[seat.key] = replace(member, used=member.used + 1)
            return saved

    def give_back_seat(self, seat: Seat) -> None:
        with self._lock:
            member = self.pool.get(seat.key)
            if member is not None and member.used > 0:
                self.pool[seat.key] = replace(member, used=member.used - 1)

    def acquire_publish(self, deployment_id: str, site_id: str, slots: JobSlots | None) -> PublishGate:
        with self._lock:
            record = self._deployments.get(deployment_id)
            if record is None or record.status is not DeploymentStatus.PENDING:
                return PublishGate.TAKEN
            site = self._sites.sites.get(site_id)
            if site is None or site.last_deployment_id != deployment_id:
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

    def set_slots_held(self, key: str, held: int) -> None:
        self.slots[key] = held

    def let_go(self, deployment_id: str) -> None:
        self._deployments.update(deployment_id, holds_site=False, job_slot=None)

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

    def missing(self, owner_id: str, hashes: Iterable[str]) -> set[str]:
        return {h for h in set(hashes) if (owner_id, h) not in self.blobs}

    def sizes(self, owner_id: str, hashes: Iterable[str]) -> dict[str, int | None]:
        return {h: (len(self.blobs[(owner_id, h)]) if (owner_id, h) in self.blobs else None) for h in set(hashes)}

    def put_blob(self, owner_id: str, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        self.blobs[(owner_id, digest)] = data
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

    def get_manifest(self, deployment_id: str) -> SiteManifest:
        return self.manifests[deployment_id]


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
    )
