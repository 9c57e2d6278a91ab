"""Tenancy in DynamoDB: name claims, pool members and their seats, the publish gates (the site's
lock and a platform's job slots) and the queue of what waits for them — and the writes that must
happen together, as transactions.

Item layout (the deployments table):
    pk = "NAME#<platform>#<namespace>#<name>", sk = "META"    entity NameClaim: siteId, ownerId
    pk = "POOL#<platform>#<member>",           sk = "META"    entity PoolMember: capacity, used, profile,
        gsi1pk = "POOL#<platform>#<region>#<profile>", gsi1sk = "<member>"  (members by profile)
        gsi2pk = "POOLS#<platform>", gsi2sk = "<member>"                     (all members)
    pk = "POOLSIZE#<platform>#<region>",       sk = "META"    members: how many the service created
    pk = "SLOTS#<key>",                        sk = "META"    held: job slots in use
    pk = "POOLGROW#<platform>#<region>#<profile>", sk = "META"  until: who adds a member, leased
    pk = "WAKE#<deployment>",                  sk = "<time>"  entity Wake: a waiting deployment's turn
Deployments waiting for a gate carry ``queue`` and ``queuedAt`` (the sparse Queued index); a Wake
item's INSERT is what hands one back to the publisher."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentRecord, DeploymentStatus, Platform, SiteRecord
from sitedeploy.domain.tenancy import JobSlots, MemberFull, NameClaim, NameTaken, PoolMember, PublishGate, Seat
from sitedeploy.stores import aws
from sitedeploy.stores.deployments import deployment_item, deployment_key, record_from_item
from sitedeploy.stores.sites import SiteConflict, site_from_item, site_key, site_update

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

QUEUED_INDEX = "Queued"
BY_GROUP_INDEX = "ByOwner"  # gsi1pk/gsi1sk: owners' listings, and pool members by profile
ALL_MEMBERS_INDEX = "ByChat"  # gsi2pk/gsi2sk: a chat's deployments, and every member of a pool

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _ser(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "META"}}


def _member_group(platform: Platform, region: str | None, profile: str | None) -> str:
    return f"POOL#{platform.value}#{region or '-'}#{profile or '-'}"


def _member(item: Mapping[str, Any]) -> PoolMember:
    data = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return PoolMember(
        platform=Platform(data["platform"]),
        member_id=str(data["memberId"]),
        capacity=int(data["capacity"]),
        used=int(data.get("used", 0)),
        profile=data.get("profile"),
        region=data.get("region"),
        domain=data.get("domain"),
    )


def _cancelled(exc: ClientError) -> list[str]:
    """The per-item reasons of a cancelled transaction ("ConditionalCheckFailed", "None", ...)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise exc
    reasons: Any = exc.response.get("CancellationReasons") or []
    if not reasons:  # some clients only carry them in the message: "[None, ConditionalCheckFailed]"
        message = str(exc.response.get("Error", {}).get("Message", ""))
        inside = message[message.find("[") + 1 : message.rfind("]")]
        return [part.strip() for part in inside.split(",")] if inside else []
    return [str(reason.get("Code", "None")) for reason in reasons]


class TenancyRepository:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or aws.dynamodb()

    # -- names ----------------------------------------------------------------------------------

    def holders(self, claims: list[NameClaim]) -> dict[str, str]:
        """Claim key → the site holding it, for those that are held (one batch read)."""
        if not claims:
            return {}
        keys = [_key(claim.key) for claim in dict.fromkeys(claims)]
        answer = self._client.batch_get_item(
            RequestItems={self._table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk, siteId"}}
        )
        found = answer.get("Responses", {}).get(self._table, [])
        return {item["pk"]["S"]: item["siteId"]["S"] for item in found if "siteId" in item}

    def release_name(self, claim: NameClaim, site_id: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_key(claim.key),
                ConditionExpression="siteId = :site",
                ExpressionAttributeValues=_ser({":site": site_id}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise  # held by another site (or gone): not ours to release

    # -- pool members ---------------------------------------------------------------------------

    def members(self, platform: Platform, *, region: str | None, profile: str | None) -> list[PoolMember]:
        answer = self._client.query(
            TableName=self._table,
            IndexName=BY_GROUP_INDEX,
            KeyConditionExpression="gsi1pk = :g",
            ExpressionAttributeValues=_ser({":g": _member_group(platform, region, profile)}),
        )
        return [_member(item) for item in answer.get("Items", [])]

    def all_members(self, platform: Platform) -> list[PoolMember]:
        """Every member of the platform's pool, whatever its profile (for the room report)."""
        answer = self._client.query(
            TableName=self._table,
            IndexName=ALL_MEMBERS_INDEX,
            KeyConditionExpression="gsi2pk = :g",
            ExpressionAttributeValues=_ser({":g": f"POOLS#{platform.value}"}),
        )
        return [_member(item) for item in answer.get("Items", [])]

    def pool_size(self, platform: Platform, region: str | None) -> int:
        """How many members the service created in the region."""
        answer = self._client.get_item(
            TableName=self._table, Key=_key(f"POOLSIZE#{platform.value}#{region or '-'}"), ConsistentRead=True
        )
        return int(answer.get("Item", {}).get("members", {}).get("N", "0"))

    def member(self, platform: Platform, member_id: str) -> PoolMember | None:
        answer = self._client.get_item(
            TableName=self._table, Key=_key(Seat(platform, member_id).key), ConsistentRead=True
        )
        item = answer.get("Item")
        return _member(item) if item else None

    def register(self, member: PoolMember) -> PoolMember:
        """Record a member (a fixed one from the configuration, or one the service just created);
        its seats in use are kept, its capacity follows the configuration."""
        optional = {name: getattr(member, name) for name in ("profile", "region", "domain") if getattr(member, name)}
        answer = self._client.update_item(
            TableName=self._table,
            Key=_key(member.key),
            UpdateExpression=(
                "SET entity = :e, platform = :p, memberId = :m, #capacity = :c, used = if_not_exists(used, :zero), "
                "gsi1pk = :g, gsi1sk = :m, gsi2pk = :all, gsi2sk = :m, createdAt = if_not_exists(createdAt, :now)"
                + "".join(f", #{name} = :{name}" for name in optional)
            ),
            ExpressionAttributeNames={"#capacity": "capacity", **{f"#{name}": name for name in optional}},
            ExpressionAttributeValues=_ser(
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
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_ser(
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
                ExpressionAttributeValues=_ser({":now": now}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def unlock_growth(self, key: str) -> None:
        self._client.delete_item(TableName=self._table, Key=_key(f"POOLGROW#{key}"))

    def reserve_member(self, platform: Platform, region: str | None, limit: int) -> bool:
        """Room for the service to create one more member (an Amplify app) in the region."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(f"POOLSIZE#{platform.value}#{region or '-'}"),
                UpdateExpression="SET members = if_not_exists(members, :zero) + :one",
                ConditionExpression="attribute_not_exists(members) OR members < :limit",
                ExpressionAttributeValues=_ser({":zero": 0, ":one": 1, ":limit": limit}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def unreserve_member(self, platform: Platform, region: str | None) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=_key(f"POOLSIZE#{platform.value}#{region or '-'}"),
            UpdateExpression="SET members = members - :one",
            ConditionExpression="members > :zero",
            ExpressionAttributeValues=_ser({":zero": 0, ":one": 1}),
        )

    def remove_if_empty(self, member: PoolMember) -> bool:
        """Forget a member nobody sits in any more (the caller deletes it on the platform)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_key(member.key),
                ConditionExpression="used <= :zero",
                ExpressionAttributeValues=_ser({":zero": 0}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- accepting a deployment: everything at once -----------------------------------------------

    def commit_deploy(
        self,
        site: SiteRecord,
        deployment: DeploymentRecord,
        *,
        claim: NameClaim | None,
        seat: Seat | None,
    ) -> SiteRecord:
        """The Site, the Deployment, the name claim and the seat, in one transaction: all or none."""
        update = site_update(site)
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self._table, **update}},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _ser(deployment_item(deployment)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if claim is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _ser(
                            {
                                "pk": claim.key,
                                "sk": "META",
                                "entity": "NameClaim",
                                "siteId": site.site_id,
                                "ownerId": site.owner_id,
                                "claimedAt": clock.now_iso(),
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk) OR siteId = :site",
                        "ExpressionAttributeValues": _ser({":site": site.site_id}),
                    }
                }
            )
        if seat is not None:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(seat.key),
                        "UpdateExpression": "SET used = used + :one",
                        "ConditionExpression": "attribute_exists(pk) AND used < #capacity",
                        "ExpressionAttributeNames": {"#capacity": "capacity"},
                        "ExpressionAttributeValues": _ser({":one": 1}),
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as exc:
            reasons = _cancelled(exc)
            failed = {i for i, reason in enumerate(reasons) if reason == "ConditionalCheckFailed"}
            if 0 in failed:
                raise SiteConflict(site.site_id) from None
            if claim is not None and 2 in failed:
                raise NameTaken(f"the name {claim.name!r} is held by another site", code="name_taken") from None
            if seat is not None and (3 if claim is not None else 2) in failed:
                raise MemberFull(seat.member_id) from None
            raise
        answer = self._client.get_item(TableName=self._table, Key=site_key(site.site_id), ConsistentRead=True)
        return site_from_item(answer["Item"])

    def give_back_seat(self, seat: Seat) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(seat.key),
                UpdateExpression="SET used = used - :one",
                ConditionExpression="attribute_exists(pk) AND used > :zero",
                ExpressionAttributeValues=_ser({":one": 1, ":zero": 0}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    # -- the publish gates ----------------------------------------------------------------------

    def acquire_publish(self, deployment_id: str, site_id: str, slots: JobSlots | None) -> PublishGate:
        """pending → uploading, holding the site (this must be its newest deployment and no other
        may be publishing it) and, where builds are limited, a job slot: all or nothing."""
        now = clock.now_iso()
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": deployment_key(deployment_id),
                    "UpdateExpression": (
                        "SET #status = :uploading, inflightStatus = :uploading, startedAt = :now, updatedAt = :now, "
                        "progress = :zero, holdsSite = :true"
                        + (", jobSlot = :slot" if slots else "")
                        + " REMOVE queue, queuedAt"
                    ),
                    "ConditionExpression": "#status = :pending",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": _ser(
                        {
                            ":uploading": DeploymentStatus.UPLOADING.value,
                            ":pending": DeploymentStatus.PENDING.value,
                            ":now": now,
                            ":zero": 0,
                            ":true": True,
                            **({":slot": slots.key} if slots else {}),
                        }
                    ),
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": site_key(site_id),
                    "UpdateExpression": "SET publishing = :dep",
                    "ConditionExpression": (
                        "attribute_exists(pk) AND lastDeploymentId = :dep "
                        "AND (attribute_not_exists(publishing) OR publishing = :dep)"
                    ),
                    "ExpressionAttributeValues": _ser({":dep": deployment_id}),
                }
            },
        ]
        if slots:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(f"SLOTS#{slots.key}"),
                        "UpdateExpression": "SET held = if_not_exists(held, :zero) + :one",
                        "ConditionExpression": "attribute_not_exists(held) OR held < :limit",
                        "ExpressionAttributeValues": _ser({":zero": 0, ":one": 1, ":limit": slots.limit}),
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as exc:
            failed = {i for i, reason in enumerate(_cancelled(exc)) if reason == "ConditionalCheckFailed"}
            if 0 in failed:
                return PublishGate.TAKEN
            if 1 in failed:
                site = self._client.get_item(TableName=self._table, Key=site_key(site_id), ConsistentRead=True)
                latest = site.get("Item", {}).get("lastDeploymentId", {}).get("S")
                return PublishGate.SITE_BUSY if latest == deployment_id else PublishGate.SUPERSEDED
            if 2 in failed:
                return PublishGate.NO_SLOT
            raise
        return PublishGate.CLAIMED

    def site_holder(self, site_id: str) -> str | None:
        """The deployment publishing the site now, if any."""
        answer = self._client.get_item(TableName=self._table, Key=site_key(site_id), ConsistentRead=True)
        value = answer.get("Item", {}).get("publishing", {}).get("S")
        return str(value) if value else None

    def release_site(self, site_id: str, deployment_id: str) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=site_key(site_id),
                UpdateExpression="REMOVE publishing",
                ConditionExpression="publishing = :dep",
                ExpressionAttributeValues=_ser({":dep": deployment_id}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_slot(self, key: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(f"SLOTS#{key}"),
                UpdateExpression="SET held = held - :one",
                ConditionExpression="held > :zero",
                ExpressionAttributeValues=_ser({":one": 1, ":zero": 0}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def slots_held(self, key: str) -> int:
        answer = self._client.get_item(TableName=self._table, Key=_key(f"SLOTS#{key}"), ConsistentRead=True)
        return int(answer.get("Item", {}).get("held", {}).get("N", "0"))

    def set_slots_held(self, key: str, held: int) -> None:
        self._client.put_item(
            TableName=self._table, Item=_ser({"pk": f"SLOTS#{key}", "sk": "META", "entity": "JobSlots", "held": held})
        )

    def let_go(self, deployment_id: str) -> None:
        """The deployment holds nothing any more (its gates were released)."""
        self._client.update_item(
            TableName=self._table,
            Key=deployment_key(deployment_id),
            UpdateExpression="REMOVE holdsSite, jobSlot",
            ConditionExpression="attribute_exists(pk)",
        )

    # -- the queue ------------------------------------------------------------------------------

    def enqueue(self, deployment_id: str, queue: str) -> bool:
        """Mark a pending deployment as waiting on ``queue`` (its place is kept on re-queueing)."""
        now = clock.now_iso()
        try:
            self._client.update_item(
                TableName=self._table,
                Key=deployment_key(deployment_id),
                UpdateExpression="SET queue = :q, queuedAt = if_not_exists(queuedAt, :sort)",
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_ser(
                    {":q": queue, ":sort": f"{now}#{deployment_id}", ":pending": DeploymentStatus.PENDING.value}
                ),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def waiting(self, queue: str, *, limit: int = 10) -> list[DeploymentRecord]:
        """The oldest deployments waiting on ``queue``, first come first."""
        answer = self._client.query(
            TableName=self._table,
            IndexName=QUEUED_INDEX,
            KeyConditionExpression="queue = :q",
            ExpressionAttributeValues=_ser({":q": queue}),
            Limit=limit,
        )
        return [record_from_item(item) for item in answer.get("Items", [])]

    def wake(self, deployment: DeploymentRecord) -> None:
        """Hand a waiting deployment back to the publisher: a Wake item, whose INSERT the publisher's
        stream filter admits (a change to the deployment itself would wake it again and again).
        Wake items expire by TTL within the hour."""
        now = clock.now_iso()
        self._client.put_item(
            TableName=self._table,
            Item=_ser(
                {
                    "pk": f"WAKE#{deployment.deployment_id}",
                    "sk": now,
                    "entity": "Wake",
                    "deploymentId": deployment.deployment_id,
                    "expiresAt": clock.epoch_seconds() + 3600,
                }
            ),
        )
