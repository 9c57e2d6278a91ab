"""Name claims, which are also seats: who holds a name in a pool member or a user's account.

Item: pk = "NAME#<platform>#<namespace>#<name>", sk = "META", entity NameClaim: siteId, generation,
ownerId, memberId (a seat there), accountId, externalName, region; gsi2pk = "NAMES#<platform>#
<namespace>", gsi2sk = <name> while active (a member's seats, listed); once given back,
releasedUntil (cooling) and a TTL. A claim is taken and given back only inside the transactions of
``stores.tenancy``, with its member's counter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sitedeploy.domain import clock
from sitedeploy.domain.models import AuthMode, Place, Platform, SiteRecord
from sitedeploy.domain.tenancy import (
    NAME_COOLING_SECONDS,
    ClaimHolder,
    NameClaim,
    NameTaken,
    StaleRead,
    names_index_key,
    pool_key,
    user_namespace,
)
from sitedeploy.stores.dynamo import Cancelled, TableStore, Transaction, de, meta_key, ser, val
from sitedeploy.stores.sites import generation_condition

ALL_MEMBERS_INDEX = "ByChat"  # gsi2pk/gsi2sk: a chat's deployments, every member of a pool, a member's seats
DAY_SECONDS = 86400


@dataclass(frozen=True)
class ClaimRecord:
    """An active claim as the reconciler reads it."""

    claim: NameClaim
    site_id: str
    generation: str | None
    owner_id: str | None
    member_id: str | None
    region: str | None
    claimed_at: str | None

    @property
    def place(self) -> Place:
        return Place(
            account_id=self.claim.namespace if self.member_id else None,
            external_name=self.claim.name,
            region=self.region,
            member_id=self.member_id,
        )


@dataclass(frozen=True)
class NewPlace:
    """A place a commit takes: its name claim and, in a pool member, the seat it counts as."""

    claim: NameClaim
    member_id: str | None
    account_id: str | None
    region: str | None


def _record(claim: NameClaim, data: Mapping[str, Any]) -> ClaimRecord:
    return ClaimRecord(
        claim=claim,
        site_id=str(data["siteId"]),
        generation=data.get("generation"),
        owner_id=data.get("ownerId"),
        member_id=data.get("memberId"),
        region=data.get("region"),
        claimed_at=data.get("claimedAt"),
    )


def _holder(data: Mapping[str, Any]) -> ClaimHolder:
    released = data.get("releasedUntil")
    return ClaimHolder(
        site_id=str(data.get("siteId", "")),
        generation=data.get("generation"),
        released_until=float(released) if released is not None else None,
    )


def place_claim(site: SiteRecord, place: Place) -> NameClaim | None:
    """The claim that holds a place: its name in the pool member, or in the user's account (per
    owner); a user's place whose account is still to be made has none."""
    if place.member_id:
        return NameClaim(site.platform, place.member_id, place.external_name)
    if place.account_id and site.auth_mode is AuthMode.USER_TOKEN:
        return NameClaim(site.platform, user_namespace(site.owner_id, place.account_id), place.external_name)
    return None


class ClaimsStore(TableStore):
    def holders(self, claims: list[NameClaim]) -> dict[str, ClaimHolder]:
        """Claim key → who holds it (given back or not), for the names that have an item."""
        if not claims:
            return {}
        found: list[dict[str, Any]] = []
        keys = [meta_key(claim.key) for claim in dict.fromkeys(claims)]
        for start in range(0, len(keys), 100):
            request: Any = {self._table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            while request:
                answer = self._client.batch_get_item(RequestItems=request)
                found += answer.get("Responses", {}).get(self._table, [])
                request = answer.get("UnprocessedKeys") or None
        return {item["pk"]["S"]: _holder(de(item)) for item in found if "siteId" in item}

    def claims_in(self, platform: Platform, namespace: str) -> list[ClaimRecord]:
        """The active claims in a namespace (a pool member's seats), every page."""
        records: list[ClaimRecord] = []
        for item in self._query(
            IndexName=ALL_MEMBERS_INDEX,
            KeyConditionExpression="gsi2pk = :g",
            ExpressionAttributeValues=ser({":g": names_index_key(platform, namespace)}),
        ):
            data = de(item)
            records.append(_record(NameClaim(platform, namespace, str(data["gsi2sk"])), data))
        return records

    def _claim_put(self, transaction: Transaction, site: SiteRecord, place: NewPlace, *, owner: str) -> None:
        now = clock.epoch_seconds()
        claim = place.claim
        item: dict[str, Any] = {
            "pk": claim.key,
            "sk": "META",
            "entity": "NameClaim",
            "siteId": site.site_id,
            "ownerId": owner,
            "platform": claim.platform.value,
            "namespace": claim.namespace,
            "externalName": claim.name,
            "claimedAt": clock.now_iso(),
            "gsi2pk": claim.index_key,
            "gsi2sk": claim.name,
        }
        optional = {
            "generation": site.generation,
            "memberId": place.member_id,
            "accountId": place.account_id,
            "region": place.region,
        }
        item.update({k: v for k, v in optional.items() if v is not None})
        transaction.add(
            "Put",
            {
                "Item": ser(item),
                "ConditionExpression": "attribute_not_exists(pk) OR releasedUntil < :now",
                "ExpressionAttributeValues": ser({":now": now}),
            },
            lambda: NameTaken(f"the name {claim.name!r} is held by another site", code="name_taken"),
        )

    def _release_claim(self, transaction: Transaction, site: SiteRecord, claim: NameClaim) -> None:
        """Give back one claim the site generation holds: it cools down, then anyone may take it."""
        now = clock.epoch_seconds()
        values: dict[str, Any] = {
            ":site": val(site.site_id),
            ":until": val(now + NAME_COOLING_SECONDS),
            ":expires": val(int(now + NAME_COOLING_SECONDS + DAY_SECONDS)),
            ":at": val(clock.now_iso()),
        }
        condition = f"siteId = :site AND {generation_condition(site.generation, values)}"
        transaction.add(
            "Update",
            {
                "Key": meta_key(claim.key),
                "UpdateExpression": (
                    "SET releasedUntil = :until, releasedAt = :at, expiresAt = :expires REMOVE gsi2pk, gsi2sk"
                ),
                "ConditionExpression": f"{condition} AND attribute_not_exists(releasedUntil)",
                "ExpressionAttributeValues": values,
            },
            lambda: StaleRead("a claim was given back meanwhile"),
        )

    def _claims_release(self, transaction: Transaction, site: SiteRecord, places: list[Place]) -> None:
        """Give back each place's claim and its seat, all in ``transaction``. ``places`` are those
        whose claim the site generation still holds (the caller read them)."""
        seats: Counter[str] = Counter()
        for place in places:
            claim = place_claim(site, place)
            if claim is None:
                continue
            self._release_claim(transaction, site, claim)
            if place.member_id:
                seats[place.member_id] += 1
        for member_id, count in seats.items():
            transaction.add(
                "Update",
                {
                    "Key": meta_key(pool_key(site.platform, member_id)),
                    "UpdateExpression": "SET used = used - :n",
                    "ConditionExpression": "used >= :n",
                    "ExpressionAttributeValues": ser({":n": count}),
                },
                lambda: StaleRead("a member's count is below its seats"),
            )

    def active_places(self, site: SiteRecord, places: list[Place]) -> list[Place]:
        """The places whose claim this site generation still holds, not given back (a place with
        no claim, a user's app still to be made, is always its own)."""
        claims = {p.key: place_claim(site, p) for p in places}
        held = self.holders([c for c in claims.values() if c is not None])
        out = []
        for place in places:
            claim = claims[place.key]
            holder = held.get(claim.key) if claim is not None else None
            if claim is None or (
                holder is not None
                and holder.released_until is None
                and holder.site_id == site.site_id
                and holder.generation == site.generation
            ):
                out.append(place)
        return out

    def claim_record(self, claim: NameClaim) -> tuple[ClaimRecord | None, bool]:
        """The claim, if it is active, and whether it is in its namespace's listing (claims made
        before the listing existed are not, until the reconciler adopts them)."""
        answer = self._client.get_item(TableName=self._table, Key=meta_key(claim.key), ConsistentRead=True)
        item = answer.get("Item")
        if item is None:
            return None, False
        data = de(item)
        if data.get("releasedUntil") is not None or "siteId" not in data:
            return None, False
        return _record(claim, data), "gsi2pk" in data

    def index_claim(self, claim: NameClaim, member_id: str | None, region: str | None) -> None:
        """Adopt a claim made before namespaces were listed: list it (and name its seat)."""
        values: dict[str, Any] = {":g": val(claim.index_key), ":n": val(claim.name)}
        sets = "gsi2pk = :g, gsi2sk = :n"
        if member_id:
            values[":m"] = val(member_id)
            sets += ", memberId = :m"
        if region:
            values[":r"] = val(region)
            sets += ", #region = :r"
        params: dict[str, Any] = {
            "TableName": self._table,
            "Key": meta_key(claim.key),
            "UpdateExpression": f"SET {sets}",
            "ConditionExpression": "attribute_exists(siteId) AND attribute_not_exists(releasedUntil)",
            "ExpressionAttributeValues": values,
        }
        if region:
            params["ExpressionAttributeNames"] = {"#region": "region"}
        self._client.update_item(**params)

    def release_orphan_claim(self, record: ClaimRecord) -> bool:
        """Give back a claim (and its seat) whose site generation holds it no more."""
        ghost = SiteRecord(
            site_id=record.site_id,
            owner_id=record.owner_id or "",
            platform=record.claim.platform,
            project_name="-",
            auth_mode=AuthMode.PLATFORM_MANAGED if record.member_id else AuthMode.USER_TOKEN,
            external_name=record.claim.name,
            created_at="",
            updated_at="",
            generation=record.generation,
        )
        transaction = self._transaction()
        self._release_claim(transaction, ghost, record.claim)
        if record.member_id:
            transaction.add(
                "Update",
                {
                    "Key": meta_key(pool_key(record.claim.platform, record.member_id)),
                    "UpdateExpression": "SET used = used - :one",
                    "ConditionExpression": "used >= :one",
                    "ExpressionAttributeValues": ser({":one": 1}),
                },
            )
        try:
            transaction.commit()
        except (Cancelled, StaleRead):
            return False
        return True
