"""Custom domains in DynamoDB: one item per hostname, which is its claim (a hostname belongs to at
most one site across all owners: the item is written only where none is, or where it is this
site's already).

Item layout (in the deployments table):
    pk = "DOMAIN#<hostname>", sk = "META", entity = "Domain"
    gsi3pk = "DOMAINS#<siteId>", gsi3sk = "<hostname>"   (BySite: a site's domains)
    queue = "domains", queuedAt = <when it is next asked about>   (sparse Queued index: pending ones)
    lastCheckedAt: epoch ms of the last time the platform was asked (a lease: once per interval)

A hostname whose claim went while the platform was attaching or checking it may be on the platform
still. It is taken off under a hold: an item like a claim, for the site "releasing:<siteId>", with
releaseUntil (epoch seconds). Nobody can claim the hostname (and have it attached) until the detach
is done, so the detach never takes it from a new holder; a hold past its time is free, since the
function holding it may have died.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DomainRecord
from sitedeploy.domain.errors import Conflict
from sitedeploy.stores import aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ENTITY_DOMAIN = "Domain"
RELEASING = "releasing:"
# Where no claim is, or only a hold past its time.
_FREE = "attribute_not_exists(pk) OR (begins_with(siteId, :releasing) AND releaseUntil < :now)"
DOMAIN_QUEUE = "domains"
# What a save writes or, when the record leaves it unset, removes (never the lease, lastCheckedAt).
_SAVED_ATTRIBUTES = frozenset(
    {field.alias or name for name, field in DomainRecord.model_fields.items()} | {"queue", "queuedAt"}
)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DomainTaken(Conflict):
    """The hostname is attached to another site (anyone's)."""

    code = "domain_taken"


def _key(hostname: str) -> dict[str, Any]:
    return {"pk": {"S": f"DOMAIN#{hostname}"}, "sk": {"S": "META"}}


def _ser(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _from_item(item: Mapping[str, Any]) -> DomainRecord:
    return DomainRecord.model_validate({k: _deserializer.deserialize(v) for k, v in item.items()})


def _failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DomainsRepository:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or aws.dynamodb()

    def _item(self, record: DomainRecord, due: str | None) -> dict[str, Any]:
        data: dict[str, Any] = record.model_dump(mode="json", by_alias=True, exclude_none=True)
        data.update(
            pk=f"DOMAIN#{record.hostname}",
            sk="META",
            entity=ENTITY_DOMAIN,
            gsi3pk=f"DOMAINS#{record.site_id}",
            gsi3sk=record.hostname,
        )
        if due is not None:
            data.update(queue=DOMAIN_QUEUE, queuedAt=due)
        return _ser(data)

    def claim(self, record: DomainRecord, *, due: str) -> DomainRecord:
        """Write the hostname's item for this site: where none is, or where it is this site's
        already (then the one there is answered). Raises DomainTaken when another site holds it."""
        if not self._put_where_free(self._item(record, due)):
            held = self.get(record.hostname)
            if held is not None and held.site_id == record.site_id and held.owner_id == record.owner_id:
                return held
            if held is not None and held.site_id.startswith(RELEASING):
                raise DomainTaken(
                    f"{record.hostname} is being taken off the site it was removed from: try again in a minute",
                    code="domain_taken",
                )
            raise DomainTaken(
                f"{record.hostname} is attached to another site: remove it there first", code="domain_taken"
            )
        return record

    def hold(self, record: DomainRecord, *, seconds: int) -> str | None:
        """Hold an unclaimed hostname while what the platform may still route for ``record`` is
        taken off; the hold's site id (for ``release``), or None when someone holds the hostname."""
        holder = RELEASING + record.site_id
        item = self._item(record.model_copy(update={"site_id": holder}), None)
        item["releaseUntil"] = {"N": str(clock.epoch_seconds() + seconds)}
        return holder if self._put_where_free(item) else None

    def _put_where_free(self, item: dict[str, Any]) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=_FREE,
                ExpressionAttributeValues=_ser({":releasing": RELEASING, ":now": clock.epoch_seconds()}),
            )
        except ClientError as exc:
            if _failed(exc):
                return False
            raise
        return True

    def get(self, hostname: str) -> DomainRecord | None:
        answer = self._client.get_item(TableName=self._table, Key=_key(hostname), ConsistentRead=True)
        item = answer.get("Item")
        return _from_item(item) if item else None

    def save(self, record: DomainRecord, *, due: str | None) -> bool:
        """Record what the platform said, while the hostname is still this site's; ``due``: when to
        ask again (None: it is settled, no more asking). False when it is no longer this site's."""
        # An update, not a put: the item also carries the check lease (lastCheckedAt), which a put of
        # the record would erase, letting every reader ask the platform again at once.
        item = self._item(record, due)
        written = [name for name in item if name not in ("pk", "sk")]
        cleared = sorted(_SAVED_ATTRIBUTES - set(written))
        names = {f"#w{i}": name for i, name in enumerate(written)} | {f"#c{i}": n for i, n in enumerate(cleared)}
        values = {f":w{i}": item[name] for i, name in enumerate(written)}
        expression = "SET " + ", ".join(f"#w{i} = :w{i}" for i in range(len(written)))
        if cleared:
            expression += " REMOVE " + ", ".join(f"#c{i}" for i in range(len(cleared)))
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(record.hostname),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk) AND siteId = :site AND ownerId = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values | _ser({":site": record.site_id, ":owner": record.owner_id}),
            )
        except ClientError as exc:
            if _failed(exc):
                return False
            raise
        return True

    def release(self, hostname: str, site_id: str) -> bool:
        """Forget the hostname, if it is still this site's."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_key(hostname),
                ConditionExpression="siteId = :site",
                ExpressionAttributeValues=_ser({":site": site_id}),
            )
        except ClientError as exc:
            if _failed(exc):
                return False
            raise
        return True

    def list_for_site(self, site_id: str) -> list[DomainRecord]:
        found: list[DomainRecord] = []
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "BySite",
            "KeyConditionExpression": "gsi3pk = :pk",
            "ExpressionAttributeValues": _ser({":pk": f"DOMAINS#{site_id}"}),
        }
        while True:
            answer = self._client.query(**params)
            found += [_from_item(item) for item in answer.get("Items", [])]
            last = answer.get("LastEvaluatedKey")
            if not last:
                return found
            params["ExclusiveStartKey"] = last

    def reschedule(self, hostname: str, site_id: str, *, due: str | None) -> bool:
        """Move when the hostname is next asked about (None: never again), touching nothing else:
        a refresher holding an old copy must not write it back over a newer one."""
        if due is None:
            update, values = "REMOVE #queue, queuedAt", _ser({":site": site_id})
        else:
            update = "SET #queue = :q, queuedAt = :due"
            values = _ser({":site": site_id, ":q": DOMAIN_QUEUE, ":due": due})
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(hostname),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND siteId = :site",
                ExpressionAttributeNames={"#queue": "queue"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _failed(exc):
                return False
            raise
        return True

    def due(self, before: str, *, page: int = 100) -> Iterator[DomainRecord]:
        """Pending hostnames due to be asked about again, oldest due first, a page at a time (the
        caller stops when its time is up; the rest are next run's)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "Queued",
            "KeyConditionExpression": "#queue = :q AND queuedAt <= :before",
            "ExpressionAttributeNames": {"#queue": "queue"},
            "ExpressionAttributeValues": _ser({":q": DOMAIN_QUEUE, ":before": before}),
            "Limit": page,
        }
        while True:
            answer = self._client.query(**params)
            yield from (_from_item(item) for item in answer.get("Items", []))
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def acquire_check(self, hostname: str, *, min_interval: float, now: float | None = None) -> bool:
        """At most one platform check per ``min_interval`` per hostname, however many read it."""
        moment = int((now if now is not None else time.time()) * 1000)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(hostname),
                UpdateExpression="SET lastCheckedAt = :now",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(lastCheckedAt) OR lastCheckedAt <= :cutoff)"
                ),
                ExpressionAttributeValues=_ser({":now": moment, ":cutoff": moment - int(min_interval * 1000)}),
            )
        except ClientError as exc:
            if _failed(exc):
                return False
            raise
        return True
