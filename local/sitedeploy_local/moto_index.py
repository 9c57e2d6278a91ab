"""Queries that read one partition, as DynamoDB's do, in the local stack's moto server.

moto answers every Query by walking every item of the table (for an index: testing each item's
index key), so a query's cost grows with the table where DynamoDB's grows with the partition read.
Placement's pool-member query ran 35 ms on an empty stack and 126 ms with 1,000 Quick Deploy sites
in it, and the heavy end-to-end tests spent a quarter of moto's DynamoDB time in queries.

Here a query is handed only its partition: the table's own partition for a base-table query (moto
keeps items by hash key already), and for an index, a map from index hash key to items that is
built on first use and kept current by the requests themselves. DynamoDB's requests run one at a
time behind the server's lock (``moto_server``), and every write names its items' keys, so after
each write the keys it named are read back from the table and moved in the maps; any other
request that may change items (tables created, deleted or restored, PartiQL) drops every map.
moto's own query logic then runs unchanged over that partition: the same order, pages, limits,
filters and projections.

``SITEDEPLOY_MOTO_INDEX_CHECK=1`` runs every index query both ways and fails the request when the
answers differ."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger("sitedeploy.moto_index")

# Requests that never change an item: the maps stay as they are.
READ_ONLY = frozenset(
    {
        "GetItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "TransactGetItems",
        "DescribeTable",
        "ListTables",
        "DescribeTimeToLive",
        "UpdateTimeToLive",
        "ListTagsOfResource",
        "TagResource",
        "UntagResource",
        "DescribeContinuousBackups",
        "DescribeEndpoints",
        "DescribeLimits",
    }
)

ItemKey = tuple[Any, Any]  # (hash key, range key or None), as moto's DynamoTypes


class _Maps:
    """One table's index maps: index → index hash key → items, and each item's index hash key."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.parts: dict[str, dict[tuple[Any, ...], dict[ItemKey, Any]]] = {}
        self.placed: dict[str, dict[ItemKey, tuple[Any, ...]]] = {}

    def partition(self, index_name: str, attrs: list[str], value: tuple[Any, ...]) -> list[Any]:
        if index_name not in self.parts:
            parts: dict[tuple[Any, ...], dict[ItemKey, Any]] = {}
            placed: dict[ItemKey, tuple[Any, ...]] = {}
            for item in self.table.all_items():
                found = _index_hash(item, attrs)
                if found is not None:
                    parts.setdefault(found, {})[(item.hash_key, item.range_key)] = item
                    placed[(item.hash_key, item.range_key)] = found
            self.parts[index_name], self.placed[index_name] = parts, placed
        return list(self.parts[index_name].get(value, {}).values())

    def moved(self, key: ItemKey) -> None:
        """The item at ``key`` was written: put it (or its absence) where its index keys now say."""
        current = _stored(self.table, key)
        for index_name, parts in self.parts.items():
            placed = self.placed[index_name]
            before = placed.pop(key, None)
            if before is not None:
                bucket = parts.get(before, {})
                bucket.pop(key, None)
                if not bucket:
                    parts.pop(before, None)
            if current is not None:
                after = _index_hash(current, _hash_attrs(self.table, index_name))
                if after is not None:
                    parts.setdefault(after, {})[key] = current
                    placed[key] = after


_maps: dict[int, _Maps] = {}


def _hash_attrs(table: Any, index_name: str) -> list[str]:
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return []
    return [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]


def _index_hash(item: Any, attrs: list[str]) -> tuple[Any, ...] | None:
    values = tuple(item.attrs.get(attr) for attr in attrs)
    return values if attrs and all(values) else None


def _stored(table: Any, key: ItemKey) -> Any:
    held = table.items.get(key[0])  # .get: the table's defaultdict must not grow
    if held is None or not table.range_key_attr:
        return held
    return held.get(key[1])


def _maps_for(table: Any) -> _Maps:
    found = _maps.get(id(table))
    if found is None or found.table is not table:
        found = _maps[id(table)] = _Maps(table)
    return found


def forget_all() -> None:
    _maps.clear()


def after_request(backend: Any, action: str | None, body: Any) -> None:
    """Keep the maps current after one DynamoDB request (run under the server's lock)."""
    if action in READ_ONLY or not _maps:
        return
    try:
        written = list(_written_keys(action, body))
    except (KeyError, TypeError, AttributeError, ValueError):
        written = None
    if written is None:
        forget_all()
        return
    from moto.dynamodb.models.dynamo_type import DynamoType

    for table_name, key in written:
        table = backend.tables.get(table_name)
        maps = _maps.get(id(table)) if table is not None else None
        if table is None or maps is None or maps.table is not table:
            continue
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        maps.moved((hash_key, range_key))


def _written_keys(action: str | None, body: Any) -> Iterable[tuple[str, dict[str, Any]]]:
    """The (table, key or whole item) pairs a write names; raises ValueError for any other request."""
    if action == "PutItem":
        return [(body["TableName"], body["Item"])]
    if action in ("UpdateItem", "DeleteItem"):
        return [(body["TableName"], body["Key"])]
    if action == "BatchWriteItem":
        return [
            (table, request["PutRequest"]["Item"] if "PutRequest" in request else request["DeleteRequest"]["Key"])
            for table, requests in body["RequestItems"].items()
            for request in requests
        ]
    if action == "TransactWriteItems":
        pairs = []
        for entry in body["TransactItems"]:
            for kind, part in entry.items():
                if kind == "Put":
                    pairs.append((part["TableName"], part["Item"]))
                elif kind in ("Update", "Delete"):
                    pairs.append((part["TableName"], part["Key"]))
        return pairs
    raise ValueError(action)


def partitioned_query(original: Callable[..., Any]) -> Callable[..., Any]:
    """Table.query over the partition the query names, with moto's own logic."""
    signature = inspect.signature(original)
    check = os.environ.get("SITEDEPLOY_MOTO_INDEX_CHECK") == "1"

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs).arguments
        candidates = _candidates(self, bound.get("hash_key"), bound.get("index_name"), bound.get("hash_key_conditions"))
        if candidates is None:
            return original(self, *args, **kwargs)
        self.all_items = lambda: candidates  # moto's query reads the table through all_items()
        try:
            answer = original(self, *args, **kwargs)
        finally:
            del self.all_items
        if check:
            whole = original(self, *args, **kwargs)
            if _keys(whole) != _keys(answer):
                logger.error("partitioned query differs from moto's: %s / %s", _keys(answer), _keys(whole))
                raise AssertionError("moto_index: the partitioned query's answer differs from moto's")
        return answer

    return query


def _keys(answer: Any) -> tuple[list[Any], Any, Any]:
    items, scanned, last = answer
    return [(i.hash_key, i.range_key, sorted(i.attrs)) for i in items], scanned, last


def _candidates(table: Any, hash_key: Any, index_name: str | None, conditions: Any) -> list[Any] | None:
    if not index_name:
        if hash_key is None:
            return None
        held = table.items.get(hash_key)
        if held is None:
            return []
        return list(held.values()) if table.range_key_attr else [held]
    attrs = _hash_attrs(table, index_name)
    given = dict(conditions or [])
    if not given and hash_key is not None and len(attrs) == 1:
        given = {attrs[0]: hash_key}
    if not attrs or any(attr not in given for attr in attrs):
        return None
    return _maps_for(table).partition(index_name, attrs, tuple(given[attr] for attr in attrs))
