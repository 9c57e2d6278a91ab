"""Sites: the stable target of redeploys, keyed by (owner, platform, project, mode).

A Site item lives in the deployments table so that its TTL removal rides the same stream the
reaper reads; only platform-managed sites carry ``expiresAt`` (pushed forward on every deploy),
so only they are ever torn down by TTL. Item layout:
    pk = "SITE#<siteId>", sk = "META", entity = "Site"
    gsi1pk = "SITES#<owner>", gsi1sk = "<createdAt>#<siteId>"   (ByOwner index, apart from deployments)
    memberId, profile: where a platform-managed site sits; publishing: the deployment holding it
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from sitedeploy.domain import clock
from sitedeploy.domain.models import SiteRecord
from sitedeploy.stores import aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ENTITY_SITE = "Site"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class SiteConflict(Exception):
    """The site id exists for another owner (a hash collision); never overwrite it."""


def _key(site_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SITE#{site_id}"}, "sk": {"S": "META"}}


site_key = _key


def _from_item(item: Mapping[str, Any]) -> SiteRecord:
    return SiteRecord.model_validate({k: _deserializer.deserialize(v) for k, v in item.items()})


site_from_item = _from_item


def site_update(site: SiteRecord) -> dict[str, Any]:
    """The write that creates a site or points it at a new deployment (the Key, expressions and
    values of an UpdateItem, alone or in a transaction): createdAt is kept; expiry is pushed forward
    (platform-managed) or removed (user-token, which never expires). It is refused for a site of
    another owner or of the other mode: a site never changes hands or mode."""
    now = clock.now_iso()
    sets: dict[str, Any] = {
        "entity": ENTITY_SITE,
        "siteId": site.site_id,
        "ownerId": site.owner_id,
        "platform": site.platform.value,
        "projectName": site.project_name,
        "authMode": site.auth_mode.value,
        "externalName": site.external_name,
        "updatedAt": now,
        "gsi1pk": f"SITES#{site.owner_id}",
    }
    optional = {
        "accountId": site.account_id,
        "region": site.region,
        "url": site.url,
        "lastDeploymentId": site.last_deployment_id,
        "expiresAt": site.expires_at,
        "memberId": site.member_id,
        "profile": site.profile,
    }
    removes = [name for name, value in optional.items() if value is None and name in {"expiresAt"}]
    sets.update({name: value for name, value in optional.items() if value is not None})
    names = {f"#a{i}": name for i, name in enumerate(sets)}
    values = {f":a{i}": _serializer.serialize(value) for i, value in enumerate(sets.values())}
    parts = [f"#a{i} = :a{i}" for i in range(len(sets))]
    names["#created"] = "createdAt"
    names["#gsi1sk"] = "gsi1sk"
    values[":now"] = _serializer.serialize(now)
    values[":sortkey"] = _serializer.serialize(f"{now}#{site.site_id}")
    parts += ["#created = if_not_exists(#created, :now)", "#gsi1sk = if_not_exists(#gsi1sk, :sortkey)"]
    expression = "SET " + ", ".join(parts)
    for i, name in enumerate(removes):
        names[f"#r{i}"] = name
    if removes:
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
    names["#owner"] = "ownerId"
    names["#mode"] = "authMode"
    values[":owner"] = _serializer.serialize(site.owner_id)
    values[":mode"] = _serializer.serialize(site.auth_mode.value)
    return {
        "Key": _key(site.site_id),
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_not_exists(pk) OR (#owner = :owner AND #mode = :mode)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


class SitesRepository:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or aws.dynamodb()

    def get(self, site_id: str) -> SiteRecord | None:
        answer = self._client.get_item(TableName=self._table, Key=_key(site_id), ConsistentRead=True)
        item = answer.get("Item")
        return _from_item(item) if item else None

    def get_for_owner(self, site_id: str, owner_id: str) -> SiteRecord | None:
        site = self.get(site_id)
        if site is None or not secrets.compare_digest(site.owner_id, owner_id):
            return None
        return site

    def record_deploy(self, site: SiteRecord) -> SiteRecord:
        """Create the site or point it at a new deployment, in one write (see ``site_update``)."""
        try:
            answer = self._client.update_item(TableName=self._table, **site_update(site), ReturnValues="ALL_NEW")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise SiteConflict(site.site_id) from None
            raise
        return _from_item(answer["Attributes"])

    def set_address(self, site_id: str, account_id: str) -> None:
        """Record the account a site was placed in while publishing (a user's new Amplify app)."""
        self._client.update_item(
            TableName=self._table,
            Key=_key(site_id),
            UpdateExpression="SET accountId = :a, updatedAt = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":a": _serializer.serialize(account_id),
                ":now": _serializer.serialize(clock.now_iso()),
            },
        )

    def set_url(self, site_id: str, url: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=_key(site_id),
            UpdateExpression="SET #url = :url, #updated = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#url": "url", "#updated": "updatedAt"},
            ExpressionAttributeValues={
                ":url": _serializer.serialize(url),
                ":now": _serializer.serialize(clock.now_iso()),
            },
        )

    def list_for_owner(self, owner_id: str, *, limit: int = 100) -> list[SiteRecord]:
        answer = self._client.query(
            TableName=self._table,
            IndexName="ByOwner",
            KeyConditionExpression="gsi1pk = :o",
            ExpressionAttributeValues={":o": _serializer.serialize(f"SITES#{owner_id}")},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_from_item(item) for item in answer.get("Items", [])]

    def delete(self, site_id: str, owner_id: str) -> bool:
        """Remove the site item (an ordinary delete: the reaper only acts on TTL removals)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_key(site_id),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "ownerId"},
                ExpressionAttributeValues={":owner": _serializer.serialize(owner_id)},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
