"""Pool members: the places Quick Deploy puts sites (Cloudflare accounts, Netlify and Vercel teams
from the secret; Amplify apps the service makes), their capacity and count, and the pool's size.

Items: pk = "POOL#<platform>#<member>", sk = "META", entity PoolMember: capacity, used, profile,
retiring; gsi1pk = "POOL#<platform>#<region>#<profile>" (members by profile), gsi2pk =
"POOLS#<platform>" (all members). pk = "POOLSIZE#<platform>#<region>": members the service made.
pk = "POOLGROW#<platform>#<region>#<profile>": who adds a member, leased."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sitedeploy.domain import clock
from sitedeploy.domain.models import Platform
from sitedeploy.domain.tenancy import PoolMember, pool_key
from sitedeploy.stores.dynamo import Cancelled, TableStore, de, meta_key, ser

BY_GROUP_INDEX = "ByOwner"  # gsi1pk/gsi1sk: owners' listings, and pool members by profile
ALL_MEMBERS_INDEX = "ByChat"  # gsi2pk/gsi2sk: a chat's deployments, and every member of a pool


def _member_group(platform: Platform, region: str | None, profile: str | None) -> str:
    return f"POOL#{platform.value}#{region or '-'}#{profile or '-'}"


def _member(item: Mapping[str, Any]) -> PoolMember:
    data = de(item)
    return PoolMember(
        platform=Platform(data["platform"]),
        member_id=str(data["memberId"]),
        capacity=int(data["capacity"]),
        used=int(data.get("used", 0)),
        profile=data.get("profile"),
        region=data.get("region"),
        domain=data.get("domain"),
        retiring="retiring" in data,
    )


class PoolsStore(TableStore):
    def members(self, platform: Platform, *, region: str | None, profile: str | None) -> list[PoolMember]:
        return [
            _member(item)
            for item in self._query(
                IndexName=BY_GROUP_INDEX,
                KeyConditionExpression="gsi1pk = :g",
                ExpressionAttributeValues=ser({":g": _member_group(platform, region, profile)}),
            )
        ]

    def all_members(self, platform: Platform) -> list[PoolMember]:
        """Every member of the platform's pool, whatever its profile (for the room report)."""
        return [
            _member(item)
            for item in self._query(
                IndexName=ALL_MEMBERS_INDEX,
                KeyConditionExpression="gsi2pk = :g",
                ExpressionAttributeValues=ser({":g": f"POOLS#{platform.value}"}),
            )
        ]

    def pool_size(self, platform: Platform, region: str | None) -> int:
        """How many members the service created in the region."""
        answer = self._client.get_item(
            TableName=self._table, Key=meta_key(f"POOLSIZE#{platform.value}#{region or '-'}"), ConsistentRead=True
        )
        return int(answer.get("Item", {}).get("members", {}).get("N", "0"))

    def set_pool_size(self, platform: Platform, region: str | None, expected: int, size: int) -> bool:
        """The reconciler's repair: only if nobody changed the size since it was read."""
        return self._if(
            "update_item",
            Key=meta_key(f"POOLSIZE#{platform.value}#{region or '-'}"),
            UpdateExpression="SET members = :size",
            ConditionExpression="members = :expected"
            if expected
            else "attribute_not_exists(members) OR members = :expected",
            ExpressionAttributeValues=ser({":size": size, ":expected": expected}),
        )

    def member(self, platform: Platform, member_id: str) -> PoolMember | None:
        answer = self._client.get_item(
            TableName=self._table, Key=meta_key(pool_key(platform, member_id)), ConsistentRead=True
        )
        item = answer.get("Item")
        return _member(item) if item else None

    def register(self, member: PoolMember) -> PoolMember:
        """Record a member (a fixed one from the configuration, or one the service just created);
        its seats in use are kept, its capacity follows the configuration."""
        optional = {name: getattr(member, name) for name in ("profile", "region", "domain") if getattr(member, name)}
        answer = self._client.update_item(
            TableName=self._table,
            Key=meta_key(member.key),
            UpdateExpression=(
                "SET entity = :e, platform = :p, memberId = :m, #capacity = :c, used = if_not_exists(used, :zero), "
                "gsi1pk = :g, gsi1sk = :m, gsi2pk = :all, gsi2sk = :m, createdAt = if_not_exists(createdAt, :now)"
                + "".join(f", #{name} = :{name}" for name in optional)
            ),
            ExpressionAttributeNames={"#capacity": "capacity", **{f"#{name}": name for name in optional}},
            ExpressionAttributeValues=ser(
                {
                    ":e": "PoolMember",
                    ":p": member.platform.value,
                    ":m": member.member_id,
                    ":c": member.capacity,
                    ":zero": 0,
                    ":g": _member_group(member.platform, member.region, member.profile),
                    ":all": f"POOLS#{member.platform.value}",
                    ":now": clock.now_iso(),
                    **{f":{name}": value for name, value in optional.items()},
                }
            ),
            ReturnValues="ALL_NEW",
        )
        return _member(answer["Attributes"])

    def lock_growth(self, key: str, *, lease_seconds: float) -> bool:
        """One request at a time adds a member for a profile (the others wait for it and sit in it,
        instead of each making its own); a lease, so a Lambda that dies holding it blocks nobody long."""
        now = clock.epoch_seconds()
        return self._if(
            "put_item",
            Item=ser(
                {
                    "pk": f"POOLGROW#{key}",
                    "sk": "META",
                    "entity": "PoolGrowth",
                    "until": now + int(lease_seconds),
                    "expiresAt": now + 3600,
                }
            ),
            ConditionExpression="attribute_not_exists(pk) OR #until < :now",
            ExpressionAttributeNames={"#until": "until"},
            ExpressionAttributeValues=ser({":now": now}),
        )

    def unlock_growth(self, key: str) -> None:
        self._client.delete_item(TableName=self._table, Key=meta_key(f"POOLGROW#{key}"))

    def reserve_member(self, platform: Platform, region: str | None, limit: int) -> bool:
        """Room for the service to create one more member (an Amplify app) in the region."""
        return self._if(
            "update_item",
            Key=meta_key(f"POOLSIZE#{platform.value}#{region or '-'}"),
            UpdateExpression="SET members = if_not_exists(members, :zero) + :one",
            ConditionExpression="attribute_not_exists(members) OR members < :limit",
            ExpressionAttributeValues=ser({":zero": 0, ":one": 1, ":limit": limit}),
        )

    def unreserve_member(self, platform: Platform, region: str | None) -> None:
        self._if(
            "update_item",
            Key=meta_key(f"POOLSIZE#{platform.value}#{region or '-'}"),
            UpdateExpression="SET members = members - :one",
            ConditionExpression="members > :zero",
            ExpressionAttributeValues=ser({":zero": 0, ":one": 1}),
        )

    def retire_member(self, member: PoolMember) -> bool:
        """Stop seating anyone in a member nobody sits in (before it is deleted on the platform)."""
        return self._if(
            "update_item",
            Key=meta_key(member.key),
            UpdateExpression="SET retiring = :now",
            ConditionExpression="attribute_exists(pk) AND used <= :zero",
            ExpressionAttributeValues=ser({":zero": 0, ":now": clock.now_iso()}),
        )

    def adopt_stray(self, member: PoolMember) -> bool:
        """Record an app of the pool the books do not know, as retiring (to delete it); False when a
        record of it exists (its maker recorded it meanwhile)."""
        return self._if(
            "put_item",
            Item=ser(
                {
                    "pk": member.key,
                    "sk": "META",
                    "entity": "PoolMember",
                    "platform": member.platform.value,
                    "memberId": member.member_id,
                    "capacity": 0,
                    "used": 0,
                    "retiring": clock.now_iso(),
                    "gsi2pk": f"POOLS#{member.platform.value}",
                    "gsi2sk": member.member_id,
                    **({"region": member.region} if member.region else {}),
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def forget_member(self, member: PoolMember) -> bool:
        """The member is gone from the platform: drop it and its room in the pool's size."""
        transaction = self._transaction()
        transaction.add(
            "Delete",
            {
                "Key": meta_key(member.key),
                "ConditionExpression": "attribute_exists(retiring) AND used <= :zero",
                "ExpressionAttributeValues": ser({":zero": 0}),
            },
        )
        transaction.add(
            "Update",
            {
                "Key": meta_key(f"POOLSIZE#{member.platform.value}#{member.region or '-'}"),
                "UpdateExpression": "SET members = members - :one",
                "ConditionExpression": "members > :zero",
                "ExpressionAttributeValues": ser({":zero": 0, ":one": 1}),
            },
        )
        try:
            transaction.commit()
        except Cancelled as cancelled:
            if 0 in cancelled.failed:
                return False
            # The size was already 0 (an older count): drop the member alone.
            self._client.delete_item(
                TableName=self._table,
                Key=meta_key(member.key),
                ConditionExpression="attribute_exists(retiring) AND used <= :zero",
                ExpressionAttributeValues=ser({":zero": 0}),
            )
        return True

    def set_used(self, member: PoolMember, used: int) -> bool:
        """The reconciler's repair of a member's count: only if it is still what was read."""
        return self._if(
            "update_item",
            Key=meta_key(member.key),
            UpdateExpression="SET used = :used",
            ConditionExpression="used = :was",
            ExpressionAttributeValues=ser({":used": used, ":was": member.used}),
        )
