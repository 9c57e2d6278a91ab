"""Owners' quotas: counters, and what they count, in one partition per owner.

pk = "QUOTA#<owner hash>": sk = "FLIGHT" (n: deployments in flight), "SITES#<platform>" (n: Quick
Deploy sites), "SITE#<siteId>#<gen>" (one per such site: platform, profile), "PROFILES#<platform>"
(n: distinct routing profiles), "PROFILE#<platform>#<profile>" (refs: the owner's sites with it),
"BYTES#<day>" (bytes staged that UTC day, TTL). Each counter moves in the same transaction as what
it counts (``stores.tenancy``), so it cannot drift."""

from __future__ import annotations

from typing import Any

from sitedeploy.domain import clock
from sitedeploy.domain.models import AuthMode, Platform, SiteRecord
from sitedeploy.domain.tenancy import Quota, Quotas, SiteQuota, StaleRead, quota_owner_key, quota_refused
from sitedeploy.stores.dynamo import Cancelled, TableStore, Transaction, de, item_key, ser

DAY_SECONDS = 86400


def site_entry_key(site_id: str, generation: str | None) -> str:
    return f"SITE#{site_id}#{generation or '-'}"


def give_back_flight(transaction: Transaction, quota_key: str) -> None:
    """One less in flight on the owner's count a deployment holds (``quotaKey``). A count already at
    zero (a drift) fails that item's condition, and with it the transaction."""
    transaction.add(
        "Update",
        {
            "Key": item_key(quota_key, "FLIGHT"),
            "UpdateExpression": "SET n = n - :one",
            "ConditionExpression": "n >= :one",
            "ExpressionAttributeValues": ser({":one": 1}),
        },
    )


def count_up(transaction: Transaction, owner: str, counter: str, limit: int | None, quota: Quota) -> None:
    """One more on an owner's counter, refused past ``limit`` (None: counted, never refused)."""

    def refused() -> Exception:
        return quota_refused(quota, limit or 0)

    if limit is None:
        transaction.add(
            "Update",
            {
                "Key": item_key(owner, counter),
                "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one",
                "ExpressionAttributeValues": ser({":zero": 0, ":one": 1}),
            },
        )
        return
    transaction.add(
        "Update",
        {
            "Key": item_key(owner, counter),
            "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one",
            "ConditionExpression": "attribute_not_exists(n) OR n < :limit",
            "ExpressionAttributeValues": ser({":zero": 0, ":one": 1, ":limit": limit}),
        },
        refused,
    )


class QuotasStore(TableStore):
    def _take_site_quota(
        self, transaction: Transaction, site: SiteRecord, owner: str, quota: SiteQuota, quotas: Quotas
    ) -> None:
        platform = quota.platform.value
        entry = site_entry_key(site.site_id, site.generation)
        changes_profile = quota.entry_exists and quota.previous_profile != quota.profile
        if not quota.entry_exists:
            body: dict[str, Any] = {"pk": owner, "sk": entry, "platform": platform, "siteId": site.site_id}
            if quota.profile is not None:
                body["profile"] = quota.profile
            transaction.add(
                "Put",
                {"Item": ser(body), "ConditionExpression": "attribute_not_exists(pk)"},
                lambda: StaleRead("the site's quota entry exists"),
            )
            count_up(
                transaction,
                owner,
                f"SITES#{platform}",
                quotas.sites_per_platform if quota.new_site else None,
                Quota.SITES,
            )
        elif changes_profile:
            values: dict[str, Any] = {}
            if quota.previous_profile is None:
                condition, update = "attribute_not_exists(profile)", "SET profile = :p"
            else:
                condition, update = "profile = :was", "SET profile = :p"
                values[":was"] = quota.previous_profile
            if quota.profile is None:
                update = "REMOVE profile"
            else:
                values[":p"] = quota.profile
            transaction.add(
                "Update",
                {
                    "Key": item_key(owner, entry),
                    "UpdateExpression": update,
                    "ConditionExpression": f"attribute_exists(pk) AND {condition}",
                    **({"ExpressionAttributeValues": ser(values)} if values else {}),
                },
                lambda: StaleRead("the site's quota entry changed"),
            )
            if quota.previous_profile is not None:
                transaction.add(
                    "Update",
                    {
                        "Key": item_key(owner, f"PROFILE#{platform}#{quota.previous_profile}"),
                        "UpdateExpression": "SET refs = refs - :one",
                        "ConditionExpression": "refs >= :one",
                        "ExpressionAttributeValues": ser({":one": 1}),
                    },
                    lambda: StaleRead("a profile's count changed"),
                )
        if quota.profile is None or (quota.entry_exists and not changes_profile):
            return
        profile_key = f"PROFILE#{platform}#{quota.profile}"
        if quota.profile_known:
            transaction.add(
                "Update",
                {
                    "Key": item_key(owner, profile_key),
                    "UpdateExpression": "SET refs = refs + :one",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": ser({":one": 1}),
                },
                lambda: StaleRead("a profile of the owner's went"),
            )
        else:
            transaction.add(
                "Put",
                {
                    "Item": ser({"pk": owner, "sk": profile_key, "refs": 1}),
                    "ConditionExpression": "attribute_not_exists(pk)",
                },
                lambda: StaleRead("a profile of the owner's came"),
            )
            count_up(
                transaction,
                owner,
                f"PROFILES#{platform}",
                quotas.routing_profiles if quota.new_site or changes_profile else None,
                Quota.PROFILES,
            )

    def site_quota_entry(self, site: SiteRecord) -> tuple[bool, str | None]:
        """Whether the site holds an entry in its owner's quota, and the profile it records."""
        answer = self._client.get_item(
            TableName=self._table,
            Key=item_key(quota_owner_key(site.owner_id), site_entry_key(site.site_id, site.generation)),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return (item is not None, de(item).get("profile") if item else None)

    def owner_profiles(self, owner_id: str, platform: Platform) -> dict[str, int]:
        """The owner's routing profiles on the platform, with how many sites use each."""
        found = self._query(
            KeyConditionExpression="pk = :o AND begins_with(sk, :p)",
            ExpressionAttributeValues=ser({":o": quota_owner_key(owner_id), ":p": f"PROFILE#{platform.value}#"}),
            ConsistentRead=True,
        )
        return {str(de(item)["sk"]).split("#", 2)[2]: int(de(item).get("refs", 0)) for item in found}

    def collect_profile(self, owner_id: str, platform: Platform, profile: str) -> bool:
        """Forget a profile none of the owner's sites uses any more, and give back its count."""
        owner = quota_owner_key(owner_id)
        transaction = self._transaction()
        transaction.add(
            "Delete",
            {
                "Key": item_key(owner, f"PROFILE#{platform.value}#{profile}"),
                "ConditionExpression": "refs <= :zero",
                "ExpressionAttributeValues": ser({":zero": 0}),
            },
        )
        transaction.add(
            "Update",
            {
                "Key": item_key(owner, f"PROFILES#{platform.value}"),
                "UpdateExpression": "SET n = n - :one",
                "ConditionExpression": "n >= :one",
                "ExpressionAttributeValues": ser({":one": 1}),
            },
        )
        try:
            transaction.commit()
        except Cancelled:
            return False
        return True

    def usage(self, owner_id: str) -> dict[str, int]:
        """The owner's counters by their item (``FLIGHT``, ``SITES#cloudflare``, ``BYTES#<day>``, and
        each profile's ``PROFILE#<platform>#<profile>`` refs), read at one moment."""
        found = self._query(
            KeyConditionExpression="pk = :o",
            ExpressionAttributeValues=ser({":o": quota_owner_key(owner_id)}),
            ConsistentRead=True,
        )
        out: dict[str, int] = {}
        for item in found:
            data = de(item)
            for name in ("n", "bytes", "refs"):
                if name in data:
                    out[str(data["sk"])] = int(data[name])
        return out

    def add_staged_bytes(self, owner_id: str, day: str, size: int, limit: int) -> bool:
        """Count ``size`` bytes against the owner's day; False (nothing counted) past the limit."""
        if size > limit:
            return False
        return self._if(
            "update_item",
            Key=item_key(quota_owner_key(owner_id), f"BYTES#{day}"),
            UpdateExpression="SET #bytes = if_not_exists(#bytes, :zero) + :n, expiresAt = :expires",
            ConditionExpression="attribute_not_exists(#bytes) OR #bytes <= :room",
            ExpressionAttributeNames={"#bytes": "bytes"},
            ExpressionAttributeValues=ser(
                {":zero": 0, ":n": size, ":room": limit - size, ":expires": clock.epoch_seconds() + 2 * DAY_SECONDS}
            ),
        )

    def release_quota_entry(self, owner_id: str, platform: Platform, site_id: str, generation: str | None) -> bool:
        """Give back a gone site generation's place in its owner's quotas (the reconciler's repair)."""
        owner = quota_owner_key(owner_id)
        answer = self._client.get_item(
            TableName=self._table, Key=item_key(owner, site_entry_key(site_id, generation)), ConsistentRead=True
        )
        item = answer.get("Item")
        if item is None:
            return False
        ghost = SiteRecord(
            site_id=site_id,
            owner_id=owner_id,
            platform=platform,
            project_name="-",
            auth_mode=AuthMode.PLATFORM_MANAGED,
            external_name="-",
            created_at="",
            updated_at="",
            generation=generation,
            profile=de(item).get("profile"),
        )
        transaction = self._transaction()
        self._release_site_quota(transaction, ghost)
        try:
            transaction.commit()
        except (Cancelled, StaleRead):
            return False
        return True

    def _release_site_quota(self, transaction: Transaction, site: SiteRecord) -> None:
        owner = quota_owner_key(site.owner_id)
        platform = site.platform.value
        transaction.add(
            "Delete",
            {
                "Key": item_key(owner, site_entry_key(site.site_id, site.generation)),
                "ConditionExpression": "attribute_exists(pk)",
            },
            lambda: StaleRead("the quota entry went"),
        )
        transaction.add(
            "Update",
            {
                "Key": item_key(owner, f"SITES#{platform}"),
                "UpdateExpression": "SET n = n - :one",
                "ConditionExpression": "n >= :one",
                "ExpressionAttributeValues": ser({":one": 1}),
            },
            lambda: StaleRead("the owner's count is below their sites"),
        )
        if site.profile is not None:
            transaction.add(
                "Update",
                {
                    "Key": item_key(owner, f"PROFILE#{platform}#{site.profile}"),
                    "UpdateExpression": "SET refs = refs - :one",
                    "ConditionExpression": "refs >= :one",
                    "ExpressionAttributeValues": ser({":one": 1}),
                },
                lambda: StaleRead("a profile's count changed"),
            )
