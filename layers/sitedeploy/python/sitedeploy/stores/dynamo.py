"""What the DynamoDB stores share: typed values, and transactions that say which condition failed.

A transaction is cancelled as a whole; DynamoDB says why per item (``ConditionalCheckFailed`` on
the one whose condition did not hold, ``TransactionConflict`` when another transaction touched an
item at the same moment). ``Transaction`` carries, for each item, what its failed condition means
to the caller, and retries a conflict (with jitter, bounded): a conflict means "try again", never
"refused"."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from sitedeploy.domain.tenancy import Contended

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# A conflict is another writer on the same item a moment ago: tried again this many times in all.
CONFLICT_ATTEMPTS = 6
CONFLICT_BACKOFF_SECONDS = 0.025
_RETRIED_CODES = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def ser(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def val(value: Any) -> dict[str, Any]:
    """One value in DynamoDB's typed form."""
    result: Any = _serializer.serialize(value)
    return dict(result)


def de(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def meta_key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "META"}}


def item_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def cancellation_reasons(exc: ClientError) -> list[str]:
    """The per-item reasons of a cancelled transaction ("ConditionalCheckFailed", "None", ...)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise exc
    reasons: Any = exc.response.get("CancellationReasons") or []
    if not reasons:  # some clients only carry them in the message: "[None, ConditionalCheckFailed]"
        message = str(exc.response.get("Error", {}).get("Message", ""))
        inside = message[message.find("[") + 1 : message.rfind("]")]
        return [part.strip() for part in inside.split(",")] if inside else []
    return [str(reason.get("Code", "None")) for reason in reasons]


class TableStore:
    """A store over one DynamoDB table (what every tenancy part shares)."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        from sitedeploy.stores import aws

        self._table = table_name
        self._client = client or aws.dynamodb()

    def _transaction(self) -> Transaction:
        return Transaction(self._client, self._table)

    def _if(self, kind: str, **params: Any) -> bool:
        """One conditional write (``update_item``, ``put_item`` or ``delete_item``): False, and
        nothing written, when its condition does not hold."""
        try:
            getattr(self._client, kind)(TableName=self._table, **params)
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def _query(self, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a query, every page."""
        while True:
            answer = self._client.query(TableName=self._table, **params)
            yield from answer.get("Items", [])
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last


class Cancelled(Exception):
    """A transaction refused by one of its conditions; ``failed`` are the items' indexes."""

    def __init__(self, failed: set[int]) -> None:
        super().__init__(f"transaction refused by the conditions of items {sorted(failed)}")
        self.failed = failed


class Transaction:
    """Items of one TransactWriteItems, each with what its failed condition means: an exception
    (raised as is), or None (``Cancelled`` with the failed indexes, for the caller to read)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table
        self.items: list[dict[str, Any]] = []
        self._meanings: list[Callable[[], Exception] | None] = []

    def add(self, kind: str, body: dict[str, Any], on_failure: Callable[[], Exception] | None = None) -> int:
        """``kind`` is Put, Update, Delete or ConditionCheck; ``body`` its parameters but the table."""
        self.items.append({kind: {"TableName": self._table, **body}})
        self._meanings.append(on_failure)
        return len(self.items) - 1

    def commit(self) -> None:
        if not self.items:
            return
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=self.items)  # type: ignore[arg-type]
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in {"ThrottlingException", "ProvisionedThroughputExceededException"}:
                    reasons = ["ThrottlingError"]
                else:
                    reasons = cancellation_reasons(exc)
            failed = {i for i, reason in enumerate(reasons) if reason == "ConditionalCheckFailed"}
            if failed:
                for index in sorted(failed):
                    meaning = self._meanings[index] if index < len(self._meanings) else None
                    if meaning is not None:
                        raise meaning() from None
                raise Cancelled(failed)
            if not any(reason in _RETRIED_CODES for reason in reasons):
                raise Cancelled(set())
            if attempt + 1 == CONFLICT_ATTEMPTS:
                raise Contended("the service is busy with the same records: try again in a moment")
            time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2**attempt))  # noqa: S311 - jitter
