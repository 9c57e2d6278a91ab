"""Sites: the stable target of redeploys, keyed by (owner, platform, project, mode).

A Site item lives in the deployments table so that its TTL removal rides the same stream the
reaper reads; only platform-managed sites carry ``expiresAt`` (pushed forward on every deploy),
so only they are ever torn down by TTL. Item layout:
    pk = "SITE#<siteId>", sk = "META", entity = "Site"
    gsi1pk = "SITES#<owner>", gsi1sk = "<createdAt>#<siteId>"   (ByOwner index, apart from deployments)
    memberId, profile: where a platform-managed site sits; publishing: the deployment holding it
    generation, revision, former, deletedAt: see SiteRecord (the books of ``stores.tenancy``)
    liveDeploymentId, versions: the version production serves, and the versions the site keeps
    queue = "keep", queuedAt = <when its kept versions are next refreshed> (sparse Queued index)

Every write that changes where a site is goes through ``stores.tenancy`` in a transaction that
is conditional on the site's ``revision``; this module writes what does not (its URL, the account a
user's new Amplify app got) and reads."""

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
# The Queued index's partition of sites whose kept versions the keeper refreshes, by due time.
KEEP_QUEUE = "keep"
VERSION_WRITE_ATTEMPTS = 8
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class SiteConflict(Exception):
    """The site id exists for another owner or in the other mode (a hash collision); never
    overwrite it."""


def _key(site_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SITE#{site_id}"}, "sk": {"S": "META"}}


site_key = _key


def _from_item(item: Mapping[str, Any]) -> SiteRecord:
    return SiteRecord.model_validate({k: _deserializer.deserialize(v) for k, v in item.items()})


site_from_item = _from_item


def revision_condition(expected: int, values: dict[str, Any]) -> str:
    """The site is still at the revision a decision was made on (0: written before revisions)."""
    if expected == 0:
        return "attribute_not_exists(revision)"
    values[":revision"] = _serializer.serialize(expected)
    return "revision = :revision"


def generation_condition(generation: str | None, values: dict[str, Any], name: str = ":generation") -> str:
    """The item belongs to this site generation (None: a site made before generations)."""
    if generation is None:
        return "attribute_not_exists(generation)"
    values[name] = _serializer.serialize(generation)
    return f"generation = {name}"


def site_update(site: SiteRecord, expected_revision: int | None) -> dict[str, Any]:
    """The write that creates a site (``expected_revision`` None) or points it at a new deployment
    and its places (the Key, expressions and values of an UpdateItem, for a transaction).
    createdAt is kept; expiry is pushed forward (platform-managed) or removed (user-token, which
    never expires). A new site must not exist; an existing one must still be the generation and
    revision read, not being deleted, and of this owner and mode: a site never changes hands or
    mode. The generation matters because a site deleted and made again starts over at revision 1:
    a decision made on the old one (its places, whose claims went with it) would otherwise land on
    the new one when the revisions happen to agree."""
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
        "revision": (expected_revision or 0) + 1,
        "former": [place.model_dump(mode="json", by_alias=True, exclude_none=True) for place in site.former],
    }
    if expected_revision is None and site.generation is not None:
        sets["generation"] = site.generation
    optional = {
        "accountId": site.account_id,
        "region": site.region,
        "url": site.url,
        "lastDeploymentId": site.last_deployment_id,
        "lastPreviewId": site.last_preview_id,
        "previewOf": site.preview_of,
        "expiresAt": site.expires_at,
        "memberId": site.member_id,
        "profile": site.profile,
    }
    removes = [name for name, value in optional.items() if value is None and name in {"expiresAt", "memberId"}]
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
    if expected_revision is None:
        condition = "attribute_not_exists(pk)"
    else:
        names["#owner"] = "ownerId"
        names["#mode"] = "authMode"
        values[":owner"] = _serializer.serialize(site.owner_id)
        values[":mode"] = _serializer.serialize(site.auth_mode.value)
        condition = (
            f"attribute_exists(pk) AND #owner = :owner AND #mode = :mode AND attribute_not_exists(deletedAt) "
            f"AND {revision_condition(expected_revision, values)} AND {generation_condition(site.generation, values)}"
        )
    return {
        "Key": _key(site.site_id),
        "UpdateExpression": expression,
        "ConditionExpression": condition,
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

    def set_address(self, site_id: str, account_id: str) -> None:
        """Record the account a site was placed in while publishing (a user's new Amplify app)."""
        self._client.update_item(
            TableName=self._table,
            Key=_key(site_id),
            UpdateExpression="SET accountId = :a, updatedAt = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deletedAt)",
            ExpressionAttributeValues={
                ":a": _serializer.serialize(account_id),
                ":now": _serializer.serialize(clock.now_iso()),
            },
        )

    def set_url(self, site_id: str, url: str, *, deployment_id: str | None = None) -> bool:
        """Record the site's public URL; with ``deployment_id``, only while that deployment is the
        site's newest (an older one ending late never changes the URL)."""
        values = {":url": _serializer.serialize(url), ":now": _serializer.serialize(clock.now_iso())}
        condition = "attribute_exists(pk) AND attribute_not_exists(deletedAt)"
        if deployment_id is not None:
            values[":dep"] = _serializer.serialize(deployment_id)
            condition += " AND lastDeploymentId = :dep"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(site_id),
                UpdateExpression="SET #url = :url, #updated = :now",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#url": "url", "#updated": "updatedAt"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

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
        read: SiteRecord | None = None,
    ) -> SiteRecord | None:
        """A deployment became ready: it is the newest version the site keeps (the oldest beyond
        ``keep`` are dropped: the promise no longer covers them), and production's when ``live``.
        The site is queued for the keeper by ``keep_due`` unless it already is. None when the site
        is gone, deleted or another generation (nothing to record). ``read``: the site as the caller
        read it a moment ago, which the first attempt uses instead of reading it again (the write
        is conditional on the versions it read; a conflict reads afresh)."""
        for attempt in range(VERSION_WRITE_ATTEMPTS):
            site = read if attempt == 0 and read is not None and read.site_id == site_id else self.get(site_id)
            if site is None or site.deleted_at is not None or site.generation != generation:
                return None
            versions = [deployment_id, *(v for v in site.versions if v != deployment_id)][: max(1, keep)]
            values: dict[str, Any] = {
                ":versions": _serializer.serialize(versions),
                ":now": _serializer.serialize(clock.now_iso()),
                ":keep": _serializer.serialize(KEEP_QUEUE),
                ":due": _serializer.serialize(keep_due),
            }
            sets = [
                "versions = :versions",
                "updatedAt = :now",
                "#queue = :keep",
                "#queued = if_not_exists(#queued, :due)",
            ]
            # Production's version is the newest accepted one the platform served: a late report of
            # an older one (a slow poller) never takes it back.
            if live and (site.live_key is None or site.live_key < live_key):
                values[":live"] = _serializer.serialize(deployment_id)
                values[":livekey"] = _serializer.serialize(live_key)
                sets += ["liveDeploymentId = :live", "liveKey = :livekey"]
            if site.versions:
                values[":old"] = _serializer.serialize(site.versions)
                unchanged = "versions = :old"
            else:
                unchanged = "(attribute_not_exists(versions) OR size(versions) = :zero)"
                values[":zero"] = _serializer.serialize(0)
            condition = (
                f"attribute_exists(pk) AND attribute_not_exists(deletedAt) AND {unchanged} AND "
                f"{generation_condition(generation, values)}"
            )
            try:
                answer = self._client.update_item(
                    TableName=self._table,
                    Key=_key(site_id),
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#queue": "queue", "#queued": "queuedAt"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    continue  # another version was recorded meanwhile: read again
                raise
            return _from_item(answer["Attributes"])
        raise SiteConflict(f"site {site_id}: its versions kept changing")

    def due_for_keeping(self, before: str, *, limit: int = 100) -> list[SiteRecord]:
        """Sites whose kept versions are due to be refreshed, oldest due first."""
        answer = self._client.query(
            TableName=self._table,
            IndexName="Queued",
            KeyConditionExpression="#queue = :keep AND queuedAt <= :before",
            ExpressionAttributeNames={"#queue": "queue"},
            ExpressionAttributeValues={
                ":keep": _serializer.serialize(KEEP_QUEUE),
                ":before": _serializer.serialize(before),
            },
            Limit=limit,
        )
        return [_from_item(item) for item in answer.get("Items", [])]

    def kept(self, site_id: str, *, due: str | None) -> None:
        """The keeper refreshed the site's versions: next due at ``due`` (None: nothing to keep)."""
        write: dict[str, Any] = {"TableName": self._table, "Key": _key(site_id)}
        if due is None:
            write.update(UpdateExpression="REMOVE #queue, #queued")
        else:
            write.update(
                UpdateExpression="SET #queued = :due", ExpressionAttributeValues={":due": _serializer.serialize(due)}
            )
        try:
            self._client.update_item(
                **write,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#queue": "queue", "#queued": "queuedAt"}
                if due is None
                else {"#queued": "queuedAt"},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

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
