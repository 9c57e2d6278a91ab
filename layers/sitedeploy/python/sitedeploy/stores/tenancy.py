"""Tenancy in DynamoDB: the writes that must happen together, as transactions — accepting a
deployment (the Site, the Deployment, a new place's claim and seat, the owner's quotas), deleting a
site, freeing a moved site's former places, giving back what an expired site held, renaming a site
whose name is held outside the service — over the parts each module keeps: name claims
(``stores.claims``), pool members (``stores.pools``), owners' quotas (``stores.quotas``) and the
publish gates and queue (``stores.gates``). All in the deployments table."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentRecord, Place, SiteRecord
from sitedeploy.domain.tenancy import MemberFull, Quota, Quotas, SiteQuota, StaleRead, pool_key, quota_owner_key
from sitedeploy.stores.claims import ClaimRecord, ClaimsStore, NewPlace, place_claim
from sitedeploy.stores.deployments import deployment_item, deployment_key
from sitedeploy.stores.dynamo import Transaction, condition_failed, meta_key, ser, val
from sitedeploy.stores.gates import GatesStore
from sitedeploy.stores.pools import PoolsStore
from sitedeploy.stores.quotas import QuotasStore, count_up, site_entry_key
from sitedeploy.stores.sites import (
    generation_condition,
    revision_condition,
    site_from_item,
    site_key,
    site_update,
)


class TenancyRepository(ClaimsStore, PoolsStore, QuotasStore, GatesStore):
    def commit_deploy(
        self,
        site: SiteRecord,
        deployment: DeploymentRecord,
        *,
        expected_revision: int | None,
        place: NewPlace | None,
        site_quota: SiteQuota | None,
        quotas: Quotas,
    ) -> None:
        """The Site (new, or at the revision read), the Deployment, a new place's claim and seat,
        and what the owner's quotas count, in one transaction: all or none. The site is not read
        back (a read per deploy): what the caller passed is what was written, and a value it left
        empty (a URL not known yet) was kept as it was."""
        transaction = self._transaction()
        transaction.add(
            "Update",
            site_update(site, expected_revision),
            (lambda: StaleRead("the site changed"))
            if expected_revision is not None
            else (lambda: StaleRead("the site exists")),
        )
        transaction.add(
            "Put",
            {"Item": ser(deployment_item(deployment)), "ConditionExpression": "attribute_not_exists(pk)"},
        )
        owner = quota_owner_key(site.owner_id)
        if place is not None:
            self._claim_put(transaction, site, place, owner=site.owner_id)
            if place.member_id is not None:
                member_id = place.member_id
                transaction.add(
                    "Update",
                    {
                        "Key": meta_key(pool_key(site.platform, member_id)),
                        "UpdateExpression": "SET used = used + :one",
                        "ConditionExpression": (
                            "attribute_exists(pk) AND used < #capacity AND attribute_not_exists(retiring)"
                        ),
                        "ExpressionAttributeNames": {"#capacity": "capacity"},
                        "ExpressionAttributeValues": ser({":one": 1}),
                    },
                    lambda: MemberFull(member_id),
                )
        if deployment.quota_key:
            count_up(transaction, owner, "FLIGHT", quotas.deployments_in_flight, Quota.IN_FLIGHT)
        if site_quota is not None:
            self._take_site_quota(transaction, site, owner, site_quota, quotas)
        transaction.commit()

    def tombstone(self, site_id: str, owner_id: str) -> SiteRecord | None:
        """Mark the site as being deleted (again, if it already is); None when it is not the owner's."""
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=site_key(site_id),
                UpdateExpression=(
                    "SET deletedAt = if_not_exists(deletedAt, :now), revision = if_not_exists(revision, :zero) + :one"
                ),
                ConditionExpression="attribute_exists(pk) AND ownerId = :owner",
                ExpressionAttributeValues=ser({":now": clock.now_iso(), ":owner": owner_id, ":zero": 0, ":one": 1}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return site_from_item(answer["Attributes"])

    def mark_freeing(self, site: SiteRecord, places: list[Place]) -> SiteRecord:
        """Former places about to be torn down: never reused from now on (raises StaleRead when the
        site moved meanwhile)."""
        keys = {p.key for p in places}
        former = [p.model_copy(update={"freeing": True}) if p.key in keys else p for p in site.former]
        self._write_former(site, former)
        return site.model_copy(update={"former": former, "revision": site.revision + 1})

    def _write_former(self, site: SiteRecord, former: list[Place], transaction: Transaction | None = None) -> None:
        values: dict[str, Any] = {
            ":former": val([p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in former]),
            ":next": val(site.revision + 1),
        }
        condition = f"attribute_exists(pk) AND {revision_condition(site.revision, values)}"
        condition += f" AND {generation_condition(site.generation, values)}"
        body = {
            "Key": site_key(site.site_id),
            "UpdateExpression": "SET former = :former, revision = :next",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        own = transaction if transaction is not None else self._transaction()
        own.add("Update", body, lambda: StaleRead("the site changed"))
        if transaction is None:
            own.commit()

    def free_former(self, site: SiteRecord, places: list[Place]) -> None:
        """Torn down: drop the places from the site and give back their claims and seats."""
        keys = {p.key for p in places}
        transaction = self._transaction()
        self._write_former(site, [p for p in site.former if p.key not in keys], transaction)
        self._claims_release(transaction, site, self.active_places(site, places))
        transaction.commit()

    def finish_deletion(self, site: SiteRecord, *, places: list[Place], quota_entry: bool) -> None:
        """Everything of a torn-down site, at once: the Site item, its claims and seats, its entry in
        the owner's quota. Raises StaleRead when another writer got there first, or when a publisher
        holds the site (it finishes the deletion when it ends)."""
        transaction = self._transaction()
        values: dict[str, Any] = {}
        condition = (
            "attribute_exists(deletedAt) AND attribute_not_exists(publishing) AND "
            f"{generation_condition(site.generation, values)}"
        )
        transaction.add(
            "Delete",
            {"Key": site_key(site.site_id), "ConditionExpression": condition, "ExpressionAttributeValues": values}
            if values
            else {"Key": site_key(site.site_id), "ConditionExpression": condition},
            lambda: StaleRead("the site changed"),
        )
        self._claims_release(transaction, site, places)
        if quota_entry:
            self._release_site_quota(transaction, site)
        transaction.commit()

    def release_expired(self, site: SiteRecord, *, places: list[Place], quota_entry: bool) -> None:
        """What a site DynamoDB's TTL removed held: its claims and seats, its quota entry."""
        transaction = self._transaction()
        self._claims_release(transaction, site, places)
        if quota_entry:
            self._release_site_quota(transaction, site)
        transaction.commit()

    def rename(self, site: SiteRecord, deployment_id: str, old: NewPlace, new: NewPlace, url: str | None) -> SiteRecord:
        """Move the site to another name in the same member (its name was taken outside the
        service): the new claim takes the seat the old one gives back."""
        transaction = self._transaction()
        values: dict[str, Any] = {
            ":name": val(new.claim.name),
            ":next": val(site.revision + 1),
            ":dep": val(deployment_id),
        }
        sets = "externalName = :name, revision = :next"
        if url is not None:
            values[":url"] = val(url)
            sets += ", #url = :url"
        condition = (
            f"attribute_exists(pk) AND attribute_not_exists(deletedAt) AND lastDeploymentId = :dep AND "
            f"{revision_condition(site.revision, values)}"
        )
        transaction.add(
            "Update",
            {
                "Key": site_key(site.site_id),
                "UpdateExpression": f"SET {sets}",
                "ConditionExpression": condition,
                **({"ExpressionAttributeNames": {"#url": "url"}} if url is not None else {}),
                "ExpressionAttributeValues": values,
            },
            lambda: StaleRead("the site changed"),
        )
        self._claim_put(transaction, site, new, owner=site.owner_id)
        # The old claim is given back without its seat: the new claim sits in it.
        self._release_claim(transaction, site, old.claim)
        changes: dict[str, Any] = {":name": new.claim.name}
        expression = "SET externalName = :name"
        if url is not None:
            changes[":url"] = url
            expression += ", #url = :url"
        transaction.add(
            "Update",
            {
                "Key": deployment_key(deployment_id),
                "UpdateExpression": expression,
                "ConditionExpression": "attribute_exists(pk)",
                **({"ExpressionAttributeNames": {"#url": "url"}} if url is not None else {}),
                "ExpressionAttributeValues": ser(changes),
            },
        )
        transaction.commit()
        answer = self._client.get_item(TableName=self._table, Key=site_key(site.site_id), ConsistentRead=True)
        return site_from_item(answer["Item"])


__all__ = ["ClaimRecord", "NewPlace", "TenancyRepository", "place_claim", "site_entry_key"]
