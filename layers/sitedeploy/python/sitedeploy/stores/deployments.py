"""Deployment records in DynamoDB: the only module that knows the table's key layout.

Every status change is a conditional write against the statuses it may come from, so two writers
racing (a redelivered stream record, the sweeper, a status poll) can never move a deployment
backwards or out of a terminal status. Nothing here knows about platforms or HTTP.

Item layout (single table, shared with Site items and the tenancy items of ``stores.tenancy``):
    pk = "DEPLOYMENT#<id>", sk = "META", entity = "Deployment"
    gsi1pk = "OWNER#<owner>",               gsi1sk = "<createdAt>#<id>"   (ByOwner: newest first)
    gsi2pk = "OWNER#<owner>#CHAT#<chat>",   gsi2sk = "<createdAt>#<id>"   (ByChat, only with a chat)
    gsi3pk = "SITE#<siteId>",               gsi3sk = "<createdAt>#<id>"   (BySite: a site's versions)
    inflightStatus = <status> while not terminal, then "ended" until it has let go of what it held
        (its site, a job slot, its place in the owner's in-flight count): the sparse InFlight index,
        sort key updatedAt
    queue, queuedAt while it waits for a gate (sparse Queued index)
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from sitedeploy.domain import clock
from sitedeploy.domain.errors import DeploymentNotFound, InvalidCursor, RecordsError
from sitedeploy.domain.models import (
    TERMINAL_STATUSES,
    DeploymentRecord,
    DeploymentStatus,
    sources_of,
)
from sitedeploy.stores import aws
from sitedeploy.stores.dynamo import Cancelled, Transaction
from sitedeploy.stores.quotas import give_back_flight

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ENTITY_DEPLOYMENT = "Deployment"
BY_OWNER_INDEX = "ByOwner"
BY_CHAT_INDEX = "ByChat"
BY_SITE_INDEX = "BySite"
IN_FLIGHT_INDEX = "InFlight"
MAX_PAGE_SIZE = 100
# Where a deployment that ended waits in the InFlight index until it has let go of what it held.
ENDED = "ended"
_UNREAD = "\0unread"  # a quota key not read yet (no quota key is this string)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class TransitionRefused(RecordsError):
    """The conditional write lost: the deployment is not in a status the change may come from."""

    def __init__(self, deployment_id: str, to: DeploymentStatus, current: DeploymentStatus | None) -> None:
        where = current.value if current else "missing"
        super().__init__(f"deployment {deployment_id}: {where} cannot move to {to.value}")
        self.deployment_id = deployment_id
        self.to = to
        self.current = current


def new_deployment_id() -> str:
    """128 random bits, lowercase base32: unguessable and safe in a URL path."""
    return "dpl_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def _pk(deployment_id: str) -> str:
    return f"DEPLOYMENT#{deployment_id}"


def _owner_key(owner_id: str) -> str:
    return f"OWNER#{owner_id}"


def site_versions_key(site_id: str) -> str:
    return f"SITE#{site_id}"


def _chat_key(owner_id: str, chat_id: str) -> str:
    return f"OWNER#{owner_id}#CHAT#{chat_id}"


def _serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def deployment_key(deployment_id: str) -> dict[str, Any]:
    return _serialize({"pk": _pk(deployment_id), "sk": "META"})


def deployment_item(record: DeploymentRecord) -> dict[str, Any]:
    """The item a new deployment is written as (plain values: serialise before writing)."""
    return _to_item(record)


def record_from_item(item: Mapping[str, Any]) -> DeploymentRecord:
    return _from_item(item)


def _to_item(record: DeploymentRecord) -> dict[str, Any]:
    data: dict[str, Any] = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    sort_key = f"{record.created_at}#{record.deployment_id}"
    data.update(
        pk=_pk(record.deployment_id),
        sk="META",
        entity=ENTITY_DEPLOYMENT,
        gsi1pk=_owner_key(record.owner_id),
        gsi1sk=sort_key,
        gsi3pk=site_versions_key(record.site_id),
        gsi3sk=sort_key,
    )
    if record.chat_id:
        data.update(gsi2pk=_chat_key(record.owner_id, record.chat_id), gsi2sk=sort_key)
    if record.status not in TERMINAL_STATUSES:
        data["inflightStatus"] = record.status.value
    return data


def _from_item(item: Mapping[str, Any]) -> DeploymentRecord:
    return DeploymentRecord.model_validate(_deserialize(item))


@dataclass(frozen=True)
class Page:
    records: list[DeploymentRecord]
    next_cursor: str | None


class DeploymentsRepository:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or aws.dynamodb()

    # -- create and read -------------------------------------------------------------------------

    def create(self, record: DeploymentRecord) -> None:
        """Write a new deployment; an id collision fails rather than overwriting."""
        self._client.put_item(
            TableName=self._table,
            Item=_serialize(_to_item(record)),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, deployment_id: str) -> DeploymentRecord | None:
        """Read without an owner check: for the stream consumers, which act for the service."""
        answer = self._client.get_item(
            TableName=self._table,
            Key=_serialize({"pk": _pk(deployment_id), "sk": "META"}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return _from_item(item) if item else None

    def get_for_owner(self, deployment_id: str, owner_id: str) -> DeploymentRecord:
        record = self.get(deployment_id)
        if record is None or not secrets.compare_digest(record.owner_id, owner_id):
            raise DeploymentNotFound(deployment_id)
        return record

    def list_for_owner(
        self, owner_id: str, *, chat_id: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> Page:
        """Newest first, ``limit`` at a time; the cursor is opaque to callers and bound to the query."""
        if chat_id:
            index, pk_name, sk_name, pk_value = (
                BY_CHAT_INDEX,
                "gsi2pk",
                "gsi2sk",
                _chat_key(owner_id, chat_id),
            )
        else:
            index, pk_name, sk_name, pk_value = BY_OWNER_INDEX, "gsi1pk", "gsi1sk", _owner_key(owner_id)
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": _serialize({":pk": pk_value}),
            "ScanIndexForward": False,
            "Limit": max(1, min(limit, MAX_PAGE_SIZE)),
        }
        if cursor:
            params["ExclusiveStartKey"] = _serialize(_decode_cursor(cursor, pk_name, sk_name, pk_value))
        answer = self._client.query(**params)
        records = [_from_item(item) for item in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return Page(records=records, next_cursor=_encode_cursor(_deserialize(last)) if last else None)

    def list_for_site(self, site_id: str, *, limit: int = 20, cursor: str | None = None) -> Page:
        """A site's deployments, newest first (every generation of it: the caller tells them apart)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_SITE_INDEX,
            "KeyConditionExpression": "gsi3pk = :pk",
            "ExpressionAttributeValues": _serialize({":pk": site_versions_key(site_id)}),
            "ScanIndexForward": False,
            "Limit": max(1, min(limit, MAX_PAGE_SIZE)),
        }
        if cursor:
            start = _decode_cursor(cursor, "gsi3pk", "gsi3sk", site_versions_key(site_id))
            params["ExclusiveStartKey"] = _serialize(start)
        answer = self._client.query(**params)
        records = [_from_item(item) for item in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        return Page(records=records, next_cursor=_encode_cursor(_deserialize(last)) if last else None)

    def get_many(self, deployment_ids: Iterable[str]) -> dict[str, DeploymentRecord]:
        """Several deployments by id (missing ones left out), 100 per request."""
        wanted = list(dict.fromkeys(deployment_ids))
        found: dict[str, DeploymentRecord] = {}
        for start in range(0, len(wanted), 100):
            keys = [_serialize({"pk": _pk(i), "sk": "META"}) for i in wanted[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    record = _from_item(item)
                    found[record.deployment_id] = record
                request = answer.get("UnprocessedKeys") or {}
        return found

    def keep(self, deployment_ids: Iterable[str], expires_at: int) -> None:
        """Push the expiry of versions a site keeps to at least ``expires_at``: a record the
        rollback promise still needs outlives the ordinary history."""
        for deployment_id in dict.fromkeys(deployment_ids):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=_serialize({"pk": _pk(deployment_id), "sk": "META"}),
                    UpdateExpression="SET expiresAt = :e",
                    ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(expiresAt) OR expiresAt < :e)",
                    ExpressionAttributeValues=_serialize({":e": expires_at}),
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise

    # -- status changes --------------------------------------------------------------------------

    def transition(
        self,
        deployment_id: str,
        to: DeploymentStatus,
        *,
        expected: Iterable[DeploymentStatus] | None = None,
        changes: Mapping[str, Any] | None = None,
        read: DeploymentRecord | None = None,
    ) -> DeploymentRecord:
        """Move a deployment to ``to`` and apply ``changes`` (camelCase attribute names) in one
        conditional write. ``expected`` narrows the statuses it may come from (it can only narrow).
        Terminal moves stamp completedAt, drop the sealed credentials and move to the InFlight
        index's "ended" part, which ``TenancyRepository.let_go`` (or the sweeper) leaves. ``read``:
        the deployment as the caller read it since it started, whose quota key a terminal move
        uses instead of reading it (a key is only ever removed, by the terminal move itself)."""
        allowed = sources_of(to)
        sources = allowed if expected is None else frozenset(expected)
        if not sources or not sources <= allowed:
            raise ValueError(f"no transition to {to.value} from {sorted(s.value for s in sources)}")
        now = clock.now_iso()
        sets: dict[str, Any] = {"status": to.value, "updatedAt": now}
        removes: list[str] = []
        if to in TERMINAL_STATUSES:
            sets["completedAt"] = now
            sets["inflightStatus"] = ENDED
            removes += ["sealedCredentials", "queue", "queuedAt"]
        else:
            sets["inflightStatus"] = to.value
        for name, value in (changes or {}).items():
            if name in {"pk", "sk", "id", "ownerId", "status", "entity"}:
                raise ValueError(f"{name} cannot be changed by a transition")
            if value is None:
                removes.append(name)
            else:
                sets[name] = value
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        set_parts = []
        for i, (name, value) in enumerate(sets.items()):
            names[f"#s{i}"] = name
            values[f":s{i}"] = value
            set_parts.append(f"#s{i} = :s{i}")
        remove_parts = []
        for i, name in enumerate(dict.fromkeys(removes)):
            if name in sets:
                continue
            names[f"#r{i}"] = name
            remove_parts.append(f"#r{i}")
        source_tokens = []
        for i, source in enumerate(sorted(sources)):
            values[f":from{i}"] = source.value
            source_tokens.append(f":from{i}")
        names["#status"] = "status"
        expression = "SET " + ", ".join(set_parts)
        if remove_parts:
            expression += " REMOVE " + ", ".join(remove_parts)
        condition = f"attribute_exists(pk) AND #status IN ({', '.join(source_tokens)})"
        if to in TERMINAL_STATUSES:
            known = read.quota_key if read is not None and read.deployment_id == deployment_id else _UNREAD
            ended = self._end_counted(deployment_id, expression, condition, names, values, known=known)
            if ended is not None:
                return ended
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=_serialize({"pk": _pk(deployment_id), "sk": "META"}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_serialize(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Any = exc.response.get("Item")
            current = DeploymentStatus(_deserialize(old)["status"]) if isinstance(old, dict) else None
            raise TransitionRefused(deployment_id, to, current) from None
        return _from_item(answer["Attributes"])

    def _end_counted(
        self,
        deployment_id: str,
        expression: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        *,
        known: str | None = _UNREAD,
    ) -> DeploymentRecord | None:
        """A terminal move of a deployment that counts in its owner's in-flight quota: the move and
        the count's give-back in one transaction, so that no status read says it ended while the
        count still holds it (a deploy at the limit would be refused in between). None: it does not
        count (or no longer does), or a condition failed; the plain move then decides."""
        key = _serialize({"pk": _pk(deployment_id), "sk": "META"})
        quota = known
        if quota == _UNREAD:
            held = self._client.get_item(
                TableName=self._table, Key=key, ConsistentRead=True, ProjectionExpression="quotaKey"
            ).get("Item")
            quota = held.get("quotaKey", {}).get("S") if held else None
        if not quota:
            return None
        counted = f"{expression}, #quota" if " REMOVE " in expression else f"{expression} REMOVE #quota"
        transaction = Transaction(self._client, self._table)  # conflicts on the count are tried again
        transaction.add(
            "Update",
            {
                "Key": key,
                "UpdateExpression": counted,
                "ConditionExpression": f"{condition} AND #quota = :quota",
                "ExpressionAttributeNames": names | {"#quota": "quotaKey"},
                "ExpressionAttributeValues": _serialize(values | {":quota": quota}),
            },
        )
        give_back_flight(transaction, quota)
        try:
            transaction.commit()
        except Cancelled:
            return None  # refused (or a count already lower than it counts): the plain move decides
        ended = self.get(deployment_id)
        if ended is None:
            raise DeploymentNotFound(deployment_id)
        return ended

    def claim(self, deployment_id: str) -> DeploymentRecord | None:
        """pending → uploading, once. A second delivery of the same stream record gets None."""
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
        """Record progress within a status (which also tells the sweeper the deployment is alive)."""
        return self.transition(
            deployment_id, status, expected=[status], changes={"progress": max(0, min(100, progress))}
        )

    def fail_if_pending(self, deployment_id: str, message: str) -> DeploymentRecord | None:
        """pending → error (it never started); None when it had started or ended."""
        try:
            return self.transition(
                deployment_id, DeploymentStatus.ERROR, expected=[DeploymentStatus.PENDING], changes={"error": message}
            )
        except TransitionRefused:
            return None

    def fail(self, deployment_id: str, message: str) -> DeploymentRecord | None:
        """Any in-flight status → error. None when it had already ended."""
        try:
            return self.transition(deployment_id, DeploymentStatus.ERROR, changes={"error": message[:2000]})
        except TransitionRefused:
            return None

    def acquire_poll(self, deployment_id: str, *, min_interval: float, now: float | None = None) -> bool:
        """At most one platform poll per ``min_interval`` per deployment, however many clients poll:
        a conditional write on ``lastPolledAt`` (epoch ms) that only one caller in the window wins."""
        moment = int((now if now is not None else time.time()) * 1000)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_serialize({"pk": _pk(deployment_id), "sk": "META"}),
                UpdateExpression="SET #polled = :now",
                ConditionExpression="#status = :building AND (attribute_not_exists(#polled) OR #polled <= :cutoff)",
                ExpressionAttributeNames={"#polled": "lastPolledAt", "#status": "status"},
                ExpressionAttributeValues=_serialize(
                    {
                        ":now": moment,
                        ":cutoff": moment - int(min_interval * 1000),
                        ":building": DeploymentStatus.BUILDING.value,
                    }
                ),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list_in_flight(
        self, status: DeploymentStatus, *, updated_before: str, page_size: int = 100
    ) -> Iterator[DeploymentRecord]:
        """Deployments in ``status`` with no update since ``updated_before``, oldest first, every
        page: the sparse index, no scan."""
        return self._in_flight(status.value, updated_before, page_size)

    def list_ended(self, *, updated_before: str, page_size: int = 100) -> Iterator[DeploymentRecord]:
        """Deployments that ended but have not let go of what they held (a Lambda died between)."""
        return self._in_flight(ENDED, updated_before, page_size)

    def _in_flight(self, partition: str, updated_before: str, page_size: int) -> Iterator[DeploymentRecord]:
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": IN_FLIGHT_INDEX,
            "KeyConditionExpression": "inflightStatus = :s AND updatedAt < :t",
            "ExpressionAttributeValues": _serialize({":s": partition, ":t": updated_before}),
            "Limit": page_size,
        }
        while True:
            answer = self._client.query(**params)
            for item in answer.get("Items", []):
                yield _from_item(item)
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last


def _encode_cursor(key: Mapping[str, Any]) -> str:
    raw = json.dumps({k: str(v) for k, v in key.items()}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, pk_name: str, sk_name: str, pk_value: str) -> dict[str, str]:
    """Accept only a cursor of this very listing: same index keys, same owner (and chat)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("cursor is not valid") from None
    if (
        not isinstance(key, dict)
        or set(key) != {"pk", "sk", pk_name, sk_name}
        or not all(isinstance(v, str) for v in key.values())
        or key[pk_name] != pk_value
        or not key["pk"].startswith("DEPLOYMENT#")
    ):
        raise InvalidCursor("cursor is not valid for this listing")
    return key
