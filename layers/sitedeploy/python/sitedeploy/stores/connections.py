"""Stored platform connections: a user's own credentials, kept once so the browser need not.

Each is KMS ciphertext bound to the encryption context {ownerId, platform}: a ciphertext moved to
another owner's item, or to another platform, does not decrypt. Only non-secret metadata (account
or app id, region, the verified account name, timestamps) ever leaves this module as a Connection.
Table layout (PlatformTokensTable): pk ownerId, sk platform."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from sitedeploy.domain import clock
from sitedeploy.domain.models import Connection, Platform
from sitedeploy.stores import aws
from sitedeploy.stores.secrets import KmsSealer, connection_context

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ConnectionsRepository:
    def __init__(self, table_name: str, sealer: KmsSealer, client: Any = None) -> None:
        self._table = table_name
        self._sealer = sealer
        self._client = client

    @property
    def _ddb(self) -> Any:
        return self._client or aws.dynamodb()

    def _key(self, owner_id: str, platform: Platform) -> dict[str, Any]:
        return {"ownerId": {"S": owner_id}, "platform": {"S": platform.value}}

    def store(self, owner_id: str, connection: Connection, payload: Mapping[str, Any]) -> Connection:
        """Seal and write; createdAt survives a replacement, updatedAt moves."""
        sealed = self._sealer.seal(payload, connection_context(owner_id, connection.platform.value))
        now = clock.now_iso()
        values = {k: v for k, v in connection.model_dump(by_alias=True, mode="json").items() if v is not None}
        values.update(updatedAt=now, sealed=sealed)
        values.pop("createdAt", None)
        values.pop("platform", None)
        names = {f"#a{i}": k for i, k in enumerate(values)}
        exprs = {f":a{i}": _serializer.serialize(v) for i, v in enumerate(values.values())}
        parts = [f"#a{i} = :a{i}" for i in range(len(values))]
        names["#created"] = "createdAt"
        exprs[":now"] = _serializer.serialize(now)
        parts.append("#created = if_not_exists(#created, :now)")
        answer = self._ddb.update_item(
            TableName=self._table,
            Key=self._key(owner_id, connection.platform),
            UpdateExpression="SET " + ", ".join(parts),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=exprs,
            ReturnValues="ALL_NEW",
        )
        return _connection(answer["Attributes"])

    def _item(self, owner_id: str, platform: Platform) -> dict[str, Any] | None:
        answer = self._ddb.get_item(TableName=self._table, Key=self._key(owner_id, platform), ConsistentRead=True)
        item = answer.get("Item")
        return dict(item) if item else None

    def get(self, owner_id: str, platform: Platform) -> Connection | None:
        item = self._item(owner_id, platform)
        return _connection(item) if item else None

    def secret(self, owner_id: str, platform: Platform) -> dict[str, Any] | None:
        """The decrypted credentials, for a deploy that uses the stored connection."""
        item = self._item(owner_id, platform)
        if item is None:
            return None
        return self._sealer.unseal(item["sealed"]["S"], connection_context(owner_id, platform.value))

    def list(self, owner_id: str) -> list[Connection]:
        answer = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="ownerId = :o",
            ExpressionAttributeValues={":o": {"S": owner_id}},
            ConsistentRead=True,
        )
        return [_connection(item) for item in answer.get("Items", [])]

    def delete(self, owner_id: str, platform: Platform) -> bool:
        answer = self._ddb.delete_item(TableName=self._table, Key=self._key(owner_id, platform), ReturnValues="ALL_OLD")
        return bool(answer.get("Attributes"))


def _connection(item: Mapping[str, Any]) -> Connection:
    data = {k: _deserializer.deserialize(v) for k, v in item.items() if k not in {"sealed", "ownerId"}}
    return Connection.model_validate(data)
