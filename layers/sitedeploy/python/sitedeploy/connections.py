"""Stored platform connections: a user's own credentials, kept once so the browser need not.

Each is KMS ciphertext bound to the encryption context {ownerId, platform}: a ciphertext moved to
another owner's item, or to another platform, does not decrypt. Only non-secret metadata (account
or app id, region, the verified account name, timestamps) ever leaves this module in a response.
Table layout (PlatformTokensTable): pk ownerId, sk platform."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from sitedeploy import aws, clock, credentials
from sitedeploy.models import CamelModel, Platform
from sitedeploy.settings import get_settings

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
AmplifyAppId = Annotated[str, StringConstraints(pattern=r"^d[a-z0-9]{5,20}$")]


class CloudflareSecret(BaseModel):
    """The body of PUT /platform-tokens/cloudflare (and of its verify call)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    token: SecretStr = Field(min_length=1, max_length=400)
    account_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(alias="accountId")


class AmplifySecret(BaseModel):
    """The body of PUT /platform-tokens/amplify (and of its verify call)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    access_key_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{16,128}$")] = Field(alias="accessKeyId")
    secret_access_key: SecretStr = Field(alias="secretAccessKey", min_length=1, max_length=256)
    session_token: SecretStr | None = Field(default=None, alias="sessionToken", min_length=1, max_length=4096)
    region: AwsRegion
    app_id: AmplifyAppId | None = Field(default=None, alias="appId")


class Connection(CamelModel):
    """What the API may show of a connection: never a secret."""

    platform: Platform
    account_id: str | None = None
    account_name: str | None = None
    app_id: str | None = None
    region: str | None = None
    created_at: str
    updated_at: str


def context(owner_id: str, platform: Platform) -> dict[str, str]:
    return {"ownerId": owner_id, "platform": platform.value}


def secret_payload(secret: CloudflareSecret | AmplifySecret) -> dict[str, Any]:
    """The plaintext that is sealed: the same keys a deployment's sealed credentials use."""
    if isinstance(secret, CloudflareSecret):
        return {"token": secret.token.get_secret_value(), "accountId": secret.account_id}
    payload: dict[str, Any] = {
        "accessKeyId": secret.access_key_id,
        "secretAccessKey": secret.secret_access_key.get_secret_value(),
        "region": secret.region,
    }
    if secret.session_token:
        payload["sessionToken"] = secret.session_token.get_secret_value()
    if secret.app_id:
        payload["appId"] = secret.app_id
    return payload


class ConnectionsRepository:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self._table = table_name
        self._client = client or aws.dynamodb()

    def _key(self, owner_id: str, platform: Platform) -> dict[str, Any]:
        return {"ownerId": {"S": owner_id}, "platform": {"S": platform.value}}

    def store(self, owner_id: str, connection: Connection, payload: dict[str, Any]) -> Connection:
        """Seal and write; createdAt survives a replacement, updatedAt moves."""
        sealed = credentials.seal(payload, context(owner_id, connection.platform))
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
        answer = self._client.update_item(
            TableName=self._table,
            Key=self._key(owner_id, connection.platform),
            UpdateExpression="SET " + ", ".join(parts),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=exprs,
            ReturnValues="ALL_NEW",
        )
        return _connection(answer["Attributes"])

    def _item(self, owner_id: str, platform: Platform) -> dict[str, Any] | None:
        answer = self._client.get_item(TableName=self._table, Key=self._key(owner_id, platform), ConsistentRead=True)
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
        return credentials.unseal(item["sealed"]["S"], context(owner_id, platform))

    def list(self, owner_id: str) -> list[Connection]:
        answer = self._client.query(
            TableName=self._table,
            KeyConditionExpression="ownerId = :o",
            ExpressionAttributeValues={":o": {"S": owner_id}},
            ConsistentRead=True,
        )
        return [_connection(item) for item in answer.get("Items", [])]

    def delete(self, owner_id: str, platform: Platform) -> bool:
        answer = self._client.delete_item(
            TableName=self._table, Key=self._key(owner_id, platform), ReturnValues="ALL_OLD"
        )
        return bool(answer.get("Attributes"))


def _connection(item: dict[str, Any]) -> Connection:
    data = {k: _deserializer.deserialize(v) for k, v in item.items() if k not in {"sealed", "ownerId"}}
    return Connection.model_validate(data)


@lru_cache(maxsize=1)
def repository() -> ConnectionsRepository:
    return ConnectionsRepository(get_settings().platform_tokens_table)


def parse_secret(platform: Platform, body: Any) -> CloudflareSecret | AmplifySecret:
    """The credentials body for ``platform``; a 400 naming the fields (never echoing values)."""
    from pydantic import ValidationError

    from sitedeploy.errors import BadRequest

    models: dict[Platform, type[CloudflareSecret] | type[AmplifySecret]] = {
        Platform.CLOUDFLARE: CloudflareSecret,
        Platform.AMPLIFY: AmplifySecret,
    }
    model = models.get(platform)
    if model is None:
        raise BadRequest(f"{platform.value} connections are not supported", code="unsupported_platform")
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="validation_error")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "body"
            reason = (
                "unknown field"
                if err["type"] == "extra_forbidden"
                else ("is required" if err["type"] == "missing" else str(err["msg"]))
            )
            fields.append(f"{loc}: {reason}")
        raise BadRequest("; ".join(fields[:5]), code="validation_error") from None
