"""moto's server, with DynamoDB's requests taken one at a time and its transactions made safe.

moto runs a transaction by deep-copying every table it touches and, when a condition fails,
putting the copies back. That loses two things the local stack relies on: a write another thread
made in between (its server answers requests on threads), and the table's stream — the copy's
stream shard is a new object, so every open shard iterator (the stream pump's) goes on reading the
abandoned one and never sees another record. The service cancels transactions on purpose every
day (a name already held, a pool member that filled, a publish that must wait its turn), so here:

- DynamoDB's requests (and the stream reads beside them) are serialised behind one lock;
- a transaction checks every condition first and writes only when all hold (no copy, no
  put-back): all or nothing, as DynamoDB promises, with the stream intact;
- answers are sent without Nagle's algorithm, so a kept-alive client never waits on a delayed ACK;
- the list of moto's services is read once, not on every request;
- the item calls' answers (already in DynamoDB's wire shape) are written as JSON directly: moto's
  model-driven serializer walked every attribute of every item against botocore's shapes, and was
  half of all the time the server spent under the lock once a stack held thousands of items;
- a query reads only the partition it names (``moto_index``), as DynamoDB's does;
- no access-log line per request (``SITEDEPLOY_MOTO_ACCESS_LOG=1`` brings them back).

    python -m sitedeploy_local.moto_server -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sitedeploy_local import moto_index

_lock = threading.RLock()
# Answers that are items, keys and counts: plain JSON with bytes as base64 and times as epoch seconds.
_WIRE_SHAPED = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
        "GetRecords",
        "GetShardIterator",
    }
)


class _NotWire(Exception):
    """A value the direct path does not know how to write: moto's own serializer takes it."""


def _wire(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    raise _NotWire(type(value).__name__)


def _direct(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute_result(self: Any, context: Any) -> Any:
        operation = context.operation_model.name
        service = context.service_model
        if operation in _WIRE_SHAPED and service.service_name in ("dynamodb", "dynamodbstreams"):
            try:
                body = json.dumps(_wire(self.result), separators=(",", ":"))
            except _NotWire:
                return original(self, context)
            content_type = f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"
            return 200, {"Content-Type": content_type}, body
        return original(self, context)

    return execute_result


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    return call


def _indexed(method: Callable[..., Any]) -> Callable[..., Any]:
    """After each DynamoDB request, move the items it wrote in the query maps (``moto_index``)."""

    def call(self: Any) -> Any:
        try:
            return method(self)
        finally:
            action = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2] or None
            moto_index.after_request(self.dynamodb_backend, action, getattr(self, "body", None))

    return call


def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    """Check every item's condition, then write every item; a failed check cancels the whole."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        kind, op = next(iter(entry.items()))
        if kind not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table = backend.get_table(op["TableName"])
        if kind == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = backend.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            test = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not test.expr(current):
                old = (
                    current.to_json()["Attributes"]
                    if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                    else None
                )
                reasons.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        reasons.append((None, None, None))
        planned.append((kind, op, key))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    for kind, op, key in planned:
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if kind == "Put":
            backend.put_item(
                op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values
            )
        elif kind == "Delete":
            backend.delete_item(
                op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values
            )
        elif kind == "Update":
            backend.update_item(
                op["TableName"],
                key,
                update_expression=op["UpdateExpression"],
                expression_attribute_names=names,
                expression_attribute_values=values,
            )


def main() -> None:
    import moto.backends
    from moto.core.responses import ActionResult
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.server import main as serve
    from werkzeug.serving import WSGIRequestHandler

    # werkzeug writes an answer's head and body separately: without Nagle, the body does not wait
    # for the client to acknowledge the head (a delayed ACK: up to 40 ms on a kept-alive call).
    WSGIRequestHandler.disable_nagle_algorithm = True
    # A line per request, formatted and written through logging, is a twentieth of this process's
    # CPU under the test suite; errors are still logged. SITEDEPLOY_MOTO_ACCESS_LOG=1 keeps them.
    if os.environ.get("SITEDEPLOY_MOTO_ACCESS_LOG") != "1":
        WSGIRequestHandler.log_request = lambda *_args, **_kwargs: None  # type: ignore[method-assign]
    # moto finds which service a request is for by listing its own package folder (a listdir and a
    # stat per service) on every request: a third of an S3 call's time. The folder does not change.
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    DynamoHandler.call_action = _serialised(_indexed(DynamoHandler.call_action))  # type: ignore[method-assign]
    DynamoDBStreamsHandler.call_action = _serialised(DynamoDBStreamsHandler.call_action)  # type: ignore[method-assign]
    Table.query = moto_index.partitioned_query(Table.query)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign,assignment]
    ActionResult.execute_result = _direct(ActionResult.execute_result)  # type: ignore[method-assign]
    serve()


if __name__ == "__main__":
    main()
