"""The publish gates: a site is published by one deployment at a time (its ``publishing``), a
platform's builds by at most its quota at a time (job slots), and what waits for them is queued.

Items: pk = "SLOTS#<key>" (held: job slots in use); pk = "WAKE#<deployment>", sk = <time> (entity
Wake: a waiting deployment's turn; its INSERT is what hands it back to the publisher). Deployments
waiting carry ``queue`` and ``queuedAt`` (the sparse Queued index)."""

from __future__ import annotations

from typing import Any

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentRecord, DeploymentStatus
from sitedeploy.domain.tenancy import JobSlots, PublishGate
from sitedeploy.stores.deployments import deployment_key, record_from_item
from sitedeploy.stores.dynamo import Cancelled, TableStore, meta_key, ser, val
from sitedeploy.stores.quotas import give_back_flight
from sitedeploy.stores.sites import generation_condition, site_from_item, site_key

QUEUED_INDEX = "Queued"


class GatesStore(TableStore):
    def acquire_publish(self, record: DeploymentRecord, slots: JobSlots | None) -> PublishGate:
        """pending → uploading, holding the site (this must be its newest deployment, of the same
        site generation, not being deleted, and no other may be publishing it) and, where builds are
        limited, a job slot: all or nothing."""
        deployment_id, site_id = record.deployment_id, record.site_id
        now = clock.now_iso()
        transaction = self._transaction()
        transaction.add(
            "Update",
            {
                "Key": deployment_key(deployment_id),
                "UpdateExpression": (
                    "SET #status = :uploading, inflightStatus = :uploading, startedAt = :now, updatedAt = :now, "
                    "progress = :zero, holdsSite = :true"
                    + (", jobSlot = :slot" if slots else "")
                    + " REMOVE queue, queuedAt"
                ),
                "ConditionExpression": "#status = :pending",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": ser(
                    {
                        ":uploading": DeploymentStatus.UPLOADING.value,
                        ":pending": DeploymentStatus.PENDING.value,
                        ":now": now,
                        ":zero": 0,
                        ":true": True,
                        **({":slot": slots.key} if slots else {}),
                    }
                ),
            },
        )
        site_values: dict[str, Any] = {":dep": val(deployment_id)}
        site_condition = (
            "attribute_exists(pk) AND attribute_not_exists(deletedAt) "
            "AND (lastDeploymentId = :dep OR lastPreviewId = :dep) "
            "AND (attribute_not_exists(publishing) OR publishing = :dep)"
        )
        if record.site_generation is not None:
            site_condition += f" AND {generation_condition(record.site_generation, site_values)}"
        transaction.add(
            "Update",
            {
                "Key": site_key(site_id),
                "UpdateExpression": "SET publishing = :dep",
                "ConditionExpression": site_condition,
                "ExpressionAttributeValues": site_values,
            },
        )
        if slots:
            transaction.add(
                "Update",
                {
                    "Key": meta_key(f"SLOTS#{slots.key}"),
                    "UpdateExpression": "SET held = if_not_exists(held, :zero) + :one",
                    "ConditionExpression": "attribute_not_exists(held) OR held < :limit",
                    "ExpressionAttributeValues": ser({":zero": 0, ":one": 1, ":limit": slots.limit}),
                },
            )
        try:
            transaction.commit()
        except Cancelled as cancelled:
            if 0 in cancelled.failed:
                return PublishGate.TAKEN
            if 1 in cancelled.failed:
                answer = self._client.get_item(TableName=self._table, Key=site_key(site_id), ConsistentRead=True)
                item = answer.get("Item")
                site = site_from_item(item) if item else None
                if (
                    site is None
                    or site.deleted_at is not None
                    or (record.site_generation is not None and site.generation != record.site_generation)
                ):
                    return PublishGate.SITE_DELETED
                newest = deployment_id in (site.last_deployment_id, site.last_preview_id)
                return PublishGate.SITE_BUSY if newest else PublishGate.SUPERSEDED
            if 2 in cancelled.failed:
                return PublishGate.NO_SLOT
            raise
        return PublishGate.CLAIMED

    def site_holder(self, site_id: str) -> str | None:
        """The deployment publishing the site now, if any."""
        answer = self._client.get_item(TableName=self._table, Key=site_key(site_id), ConsistentRead=True)
        value = answer.get("Item", {}).get("publishing", {}).get("S")
        return str(value) if value else None

    def release_site(self, site_id: str, deployment_id: str) -> bool:
        return self._if(
            "update_item",
            Key=site_key(site_id),
            UpdateExpression="REMOVE publishing",
            ConditionExpression="publishing = :dep",
            ExpressionAttributeValues=ser({":dep": deployment_id}),
        )

    def release_slot(self, key: str) -> None:
        self._if(
            "update_item",
            Key=meta_key(f"SLOTS#{key}"),
            UpdateExpression="SET held = held - :one",
            ConditionExpression="held > :zero",
            ExpressionAttributeValues=ser({":one": 1, ":zero": 0}),
        )

    def slots_held(self, key: str) -> int:
        answer = self._client.get_item(TableName=self._table, Key=meta_key(f"SLOTS#{key}"), ConsistentRead=True)
        return int(answer.get("Item", {}).get("held", {}).get("N", "0"))

    def set_slots_held(self, key: str, held: int, *, expected: int | None = None) -> bool:
        """Set the count (the sweeper's repair); with ``expected``, only if it is still that."""
        params: dict[str, Any] = {}
        if expected is not None:
            params = {
                "ConditionExpression": "attribute_not_exists(held) OR held = :was",
                "ExpressionAttributeValues": ser({":was": expected}),
            }
        return self._if(
            "put_item",
            Item=ser({"pk": f"SLOTS#{key}", "sk": "META", "entity": "JobSlots", "held": held}),
            **params,
        )

    def let_go(self, record: DeploymentRecord) -> None:
        """The deployment has ended and holds nothing any more: its gates were released; its place in
        the owner's in-flight count is given back with it (once: the condition is the deployment's
        own quota mark). It leaves the InFlight index."""
        expression = "REMOVE holdsSite, jobSlot, inflightStatus, quotaKey"
        if not record.quota_key:
            self._client.update_item(
                TableName=self._table,
                Key=deployment_key(record.deployment_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
            )
            return
        transaction = self._transaction()
        transaction.add(
            "Update",
            {
                "Key": deployment_key(record.deployment_id),
                "UpdateExpression": expression,
                "ConditionExpression": "quotaKey = :k",
                "ExpressionAttributeValues": ser({":k": record.quota_key}),
            },
        )
        give_back_flight(transaction, record.quota_key)
        try:
            transaction.commit()
        except Cancelled:
            # Its count was given back already (by its terminal move, or an earlier let_go: the
            # record read before may still name it), or the count was lower than what it counts (a
            # drift): let go without it. The rest is idempotent.
            self._if(
                "update_item",
                Key=deployment_key(record.deployment_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
            )

    def enqueue(self, deployment_id: str, queue: str) -> bool:
        """Mark a pending deployment as waiting on ``queue`` (its place is kept on re-queueing)."""
        now = clock.now_iso()
        return self._if(
            "update_item",
            Key=deployment_key(deployment_id),
            UpdateExpression="SET queue = :q, queuedAt = if_not_exists(queuedAt, :sort)",
            ConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=ser(
                {":q": queue, ":sort": f"{now}#{deployment_id}", ":pending": DeploymentStatus.PENDING.value}
            ),
        )

    def waiting(self, queue: str, *, limit: int = 10) -> list[DeploymentRecord]:
        """The oldest deployments waiting on ``queue``, first come first."""
        answer = self._client.query(
            TableName=self._table,
            IndexName=QUEUED_INDEX,
            KeyConditionExpression="queue = :q",
            ExpressionAttributeValues=ser({":q": queue}),
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
            Item=ser(
                {
                    "pk": f"WAKE#{deployment.deployment_id}",
                    "sk": now,
                    "entity": "Wake",
                    "deploymentId": deployment.deployment_id,
                    "expiresAt": clock.epoch_seconds() + 3600,
                }
            ),
        )
