"""The stream pump: FilterCriteria from the template's syntax, Lambda-shaped batches delivered to a
function running in its own execution environment, TTL expiry as service-identity REMOVE records."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from sitedeploy_local.runtime import FunctionHost
from sitedeploy_local.stack import LocalStack
from sitedeploy_local.streams import StreamPump, _Consumer
from sitedeploy_local.template import FunctionSpec, StreamSubscription

RECORDER = Path(__file__).resolve().parents[1] / "fixtures" / "functions" / "recorder"
PENDING_DEPLOYMENTS = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {"entity": {"S": ["Deployment"]}, "status": {"S": ["pending"]}}},
}
TTL_REMOVALS = {
    "eventName": ["REMOVE"],
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
}


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def records(self) -> list[dict[str, Any]]:
        return [r for e in self.events() for r in e["Records"]]


@pytest.fixture
def subscribe(clean: LocalStack, tmp_path: Path) -> Iterator[Any]:
    """Subscribe a fresh recorder function to the deployments table's stream with a pattern."""
    hosts: list[FunctionHost] = []

    def make(*patterns: dict[str, Any], report_failures: bool = False, retries: int = 1) -> Recorder:
        out = tmp_path / f"recorded-{uuid.uuid4().hex[:6]}.jsonl"
        name = f"Recorder{len(hosts)}"
        spec = FunctionSpec(
            logical_id=name, code_dir=RECORDER, handler="app.handler", timeout=10, memory=128, environment={}
        )
        host = FunctionHost(spec, {**clean.function_environment(spec), "RECORDER_FILE": str(out)})
        hosts.append(host)
        assert clean.pump is not None
        clean.pump.subscribe(
            StreamSubscription(
                function=name,
                table="DeploymentsTable",
                patterns=tuple(patterns),
                maximum_retry_attempts=retries,
                report_batch_item_failures=report_failures,
            ),
            host,
        )
        return Recorder(out)

    yield make
    for host in hosts:
        host.stop()
    # Unsubscribe: the pump keeps consumers per table; drop the recorders we added.
    assert clean.pump is not None
    consumers = clean.pump._consumers.get("DeploymentsTable", [])
    for consumer in [c for c in consumers if c.subscription.function.startswith("Recorder")]:
        consumer.stop()
        consumers.remove(consumer)


def _put(local: LocalStack, **attrs: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": f"TEST#{uuid.uuid4().hex}"}, "sk": {"S": "META"}}
    for name, value in attrs.items():
        if isinstance(value, bool):
            item[name] = {"BOOL": value}
        elif isinstance(value, int):
            item[name] = {"N": str(value)}
        else:
            item[name] = {"S": str(value)}
    local.moto.client("dynamodb").put_item(TableName=local.resource("DeploymentsTable"), Item=item)
    return item


def test_insert_reaches_a_subscribed_function_only_when_its_filter_matches(clean: LocalStack, subscribe: Any) -> None:
    recorder = subscribe(PENDING_DEPLOYMENTS)
    matching = _put(clean, entity="Deployment", status="pending")
    _put(clean, entity="Deployment", status="ready")  # wrong status
    _put(clean, entity="Site", status="pending")  # wrong entity
    assert clean.pump is not None
    clean.pump.wait_idle()
    records = recorder.records()
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == [matching["pk"]["S"]]
    record = records[0]
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == clean.template.attributes[("DeploymentsTable", "StreamArn")]  # type: ignore[union-attr]
    assert record["dynamodb"]["NewImage"]["status"] == {"S": "pending"}
    assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert "userIdentity" not in record


def test_the_pumps_records_are_what_boto3_reads_from_the_stream_as_json(clean: LocalStack) -> None:
    """The pump reads GetRecords' JSON as sent, not through botocore's parser: every record, image
    and attribute type (bytes as base64, numbers, sets, lists, maps, nulls) is the same as boto3's
    reading of the same records made JSON, and nothing boto3 would drop is added."""
    from sitedeploy_local.streams import _jsonable

    pump = clean.pump
    assert pump is not None
    table, arn = clean.resource("DeploymentsTable"), clean.template.attributes[("DeploymentsTable", "StreamArn")]  # type: ignore[union-attr]
    streams = clean.moto.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][-1]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    ddb = clean.moto.client("dynamodb")
    item = {
        "pk": {"S": f"TEST#{uuid.uuid4().hex}"},
        "sk": {"S": "META"},
        "blob": {"B": bytes(range(256))},
        "n": {"N": "12.5"},
        "tags": {"SS": ["a", "b"]},
        "nums": {"NS": ["1", "2"]},
        "blobs": {"BS": [b"\x00\xff", b"x"]},
        "list": {"L": [{"S": "x"}, {"BOOL": False}, {"NULL": True}]},
        "map": {"M": {"inner": {"B": b"\x01"}, "deep": {"M": {"n": {"N": "3"}}}}},
    }
    ddb.put_item(TableName=table, Item=item)
    ddb.update_item(
        TableName=table,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET n = :n REMOVE #blob",
        ExpressionAttributeNames={"#blob": "blob"},
        ExpressionAttributeValues={":n": {"N": "13"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    theirs = [_jsonable(r) for r in streams.get_records(ShardIterator=iterator)["Records"]]
    ours = pump._get_records(iterator)["Records"]  # the same records, read again from the same place
    assert [r["eventName"] for r in theirs] == ["INSERT", "MODIFY", "REMOVE"]
    for record in ours:
        record["dynamodb"]["ApproximateCreationDateTime"] = int(record["dynamodb"]["ApproximateCreationDateTime"])
    assert ours == theirs
    assert theirs[0]["dynamodb"]["NewImage"]["blob"] == {"B": base64.b64encode(bytes(range(256))).decode()}


def test_modify_and_remove_do_not_match_an_insert_filter(clean: LocalStack, subscribe: Any) -> None:
    recorder = subscribe(PENDING_DEPLOYMENTS)
    item = _put(clean, entity="Deployment", status="ready")
    ddb = clean.moto.client("dynamodb")
    table = clean.resource("DeploymentsTable")
    ddb.put_item(TableName=table, Item={**item, "status": {"S": "pending"}})  # MODIFY into pending
    ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    assert clean.pump is not None
    clean.pump.wait_idle()
    assert recorder.records() == []


def test_expired_item_becomes_a_ttl_remove_record(clean: LocalStack, subscribe: Any) -> None:
    recorder = subscribe(TTL_REMOVALS)
    every_remove = subscribe({"eventName": ["REMOVE"]})
    now = int(time.time())
    expired = _put(clean, entity="Site", expiresAt=now - 10)
    alive = _put(clean, entity="Site", expiresAt=now + 3600)
    by_hand = _put(clean, entity="Site")
    clean.moto.client("dynamodb").delete_item(
        TableName=clean.resource("DeploymentsTable"), Key={"pk": by_hand["pk"], "sk": by_hand["sk"]}
    )
    assert clean.pump is not None
    clean.pump.expire_now()  # the pump's own TTL pass may already have done it; either way it is gone
    clean.pump.wait_idle()
    ttl_records = recorder.records()
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in ttl_records] == [expired["pk"]["S"]]
    assert ttl_records[0]["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert ttl_records[0]["dynamodb"]["OldImage"]["entity"] == {"S": "Site"}
    removes = {r["dynamodb"]["Keys"]["pk"]["S"]: r for r in every_remove.records()}
    assert set(removes) == {expired["pk"]["S"], by_hand["pk"]["S"]}
    assert "userIdentity" not in removes[by_hand["pk"]["S"]]
    item = clean.moto.client("dynamodb").get_item(
        TableName=clean.resource("DeploymentsTable"), Key={"pk": alive["pk"], "sk": alive["sk"]}
    )
    assert "Item" in item


def test_overlapping_ttl_passes_still_mark_every_expiry_as_ttl(clean: LocalStack, subscribe: Any) -> None:
    """The pump's own TTL pass and a test's (or two of anything) may overlap: each expired item
    must still reach the reaper as DynamoDB's REMOVE, never as a user's delete that it ignores."""
    every_remove = subscribe({"eventName": ["REMOVE"]})
    now = int(time.time())
    expired = {_put(clean, entity="Site", expiresAt=now - 10)["pk"]["S"] for _ in range(12)}
    assert clean.pump is not None
    pump = clean.pump
    start = threading.Barrier(4)

    def one_pass() -> None:
        start.wait()
        pump.expire_now()

    threads = [threading.Thread(target=one_pass) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pump.wait_idle()
    removes = {r["dynamodb"]["Keys"]["pk"]["S"]: r for r in every_remove.records()}
    assert set(removes) == expired
    assert [pk for pk, r in removes.items() if "userIdentity" not in r] == []


def test_batch_item_failures_are_retried_then_given_up(clean: LocalStack, subscribe: Any) -> None:
    recorder = subscribe(
        {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["Probe"]}}}},
        report_failures=True,
        retries=2,
    )
    failing = _put(clean, entity="Probe", fail=True)
    assert clean.pump is not None
    clean.pump.wait_idle(timeout=30)
    seen = [r["dynamodb"]["Keys"]["pk"]["S"] for r in recorder.records()]
    assert seen.count(failing["pk"]["S"]) == 3  # the first try and two retries
    dropped = [d for d in clean.pump.deliveries if d.outcome == "dropped"]
    assert any(r["dynamodb"]["Keys"]["pk"]["S"] == failing["pk"]["S"] for d in dropped for r in d.records)


def _timed_pump(
    stack: LocalStack, *, idle_interval: float, ttl_interval: float | None = None
) -> tuple[StreamPump, list[float]]:
    """A second pump on the session stack's deployments stream, no consumers, no TTL unless given
    its interval: the times at which it reads the stream."""
    table = stack.resource("DeploymentsTable")
    arn = stack.moto.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    pump = StreamPump(
        stack.moto.client,
        {"DeploymentsTable": table},
        {"DeploymentsTable": arn},
        {"DeploymentsTable": "expiresAt"} if ttl_interval is not None else {},
        poll_interval=0.05,
        idle_interval=idle_interval,
        ttl_interval=ttl_interval or 1.0,
    )
    reads: list[float] = []
    poll_once = pump.poll_once

    def timed() -> int:
        reads.append(time.monotonic())
        return poll_once()

    pump.poll_once = timed  # type: ignore[method-assign]
    return pump, reads


def test_a_ttl_pass_that_deleted_nothing_is_its_turns_only_read(clean: LocalStack) -> None:
    """A TTL pass reads the streams first (a TTL just written counts); when it deletes nothing,
    there is nothing new for the turn's own read: one read a pass, where there were two."""
    pump, reads = _timed_pump(clean, idle_interval=0.4, ttl_interval=0.1)  # idle: a pass every turn
    passes: list[float] = []
    expire = pump._expire

    def counted(now: float | None, *, scan: bool) -> tuple[int | None, int]:
        passes.append(time.monotonic())
        return expire(now, scan=scan)

    pump._expire = counted  # type: ignore[method-assign]
    pump.start()
    try:
        _put(clean, entity="Site", expiresAt=int(time.time()) + 3600)  # one item the pump must watch
        deadline = time.monotonic() + 10
        while not pump._expiring["DeploymentsTable"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # the backoff reaches its idle wait
        reads.clear()
        passes.clear()
        time.sleep(2.0)
        counts = len(passes), len(reads)
    finally:
        pump.stop()
    assert counts[0] >= 3, counts
    assert counts[1] <= counts[0] + 1, counts  # one read a turn (two before)


def test_an_idle_pump_reads_less_and_less_often_and_a_kick_brings_it_back(clean: LocalStack) -> None:
    """Ten reads a second made an idle stack cost 6% of a core: idle, the pump backs off (doubling
    up to idle_interval); a function returning (``kick``) ends the wait."""
    pump, reads = _timed_pump(clean, idle_interval=0.4)
    pump.start()
    try:
        time.sleep(2.0)
        idle_reads = len(reads)
    finally:
        pump.stop()
    assert 3 <= idle_reads <= 15, idle_reads  # at the busy pace: about 40

    pump, reads = _timed_pump(clean, idle_interval=60.0)
    pump.start()
    try:
        deadline = time.monotonic() + 20
        while len(reads) < 2 or reads[-1] - reads[-2] < 1.0:  # backed off to a wait of seconds
            assert time.monotonic() < deadline
            time.sleep(0.05)
        waiting = len(reads)
        kicked = time.monotonic()
        pump.kick()
        while len(reads) == waiting:
            assert time.monotonic() - kicked < 1.5, "the kick did not end the idle wait"
            time.sleep(0.01)
    finally:
        pump.stop()


def test_a_delivery_cut_off_by_the_stack_stopping_ends_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopping the stack stops the function hosts and the zygote while a lane may be delivering:
    its invoke then fails ("the zygote is not running"), and the lane ends without a traceback.
    A failure while the stack runs still surfaces."""
    escaped: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))

    class Pump:
        def record(self, delivery: object) -> None:
            pass

    def consumer_invoking(invoke: Any) -> _Consumer:
        subscription = StreamSubscription(function="Fn", table="t", patterns=())
        consumer = _Consumer(cast(StreamPump, Pump()), subscription, invoke)
        consumer.start()
        consumer.offer({"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "a"}}}})
        return consumer

    invoked, cut_off = threading.Event(), threading.Event()

    def invoke_until_stopped(event: dict[str, Any]) -> Any:
        invoked.set()
        assert cut_off.wait(10)
        raise RuntimeError("the local Lambda zygote is not running")

    stopping = consumer_invoking(invoke_until_stopped)
    assert invoked.wait(10)
    stopping.stop()
    cut_off.set()
    for thread in stopping._threads:
        thread.join(10)
    assert escaped == []

    def broken(event: dict[str, Any]) -> Any:
        raise RuntimeError("broken while running")

    running = consumer_invoking(broken)
    deadline = time.monotonic() + 10
    while not escaped and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [str(e) for e in escaped] == ["broken while running"]
    running.stop()
