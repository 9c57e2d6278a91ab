"""Lambda's DynamoDB event source mappings, locally: read each table's stream, keep the records a
function's FilterCriteria admit, and invoke the function with Lambda-shaped batches.

moto never expires TTL items, so the pump also plays DynamoDB's TTL process: it deletes items
whose TTL attribute has passed and marks the REMOVE records of those deletions with the service
identity (``userIdentity: {type: Service, principalId: dynamodb.amazonaws.com}``), as DynamoDB does.
For a table with a stream it knows each item's TTL from the stream's own records (a scan of every
item every second made moto the bottleneck of a stack holding thousands of sites); a table without
one is scanned, every ``scan_interval`` seconds (its expired items are already invisible to readers).

Per function, records are processed in order per item key (ParallelizationFactor lanes, each lane
strictly in order); a failed batch is retried from the first failure (ReportBatchItemFailures),
split in two when BisectBatchOnFunctionError is on, and given up after MaximumRetryAttempts, when
it goes to the on-failure list (the local stand-in for the on-failure destination).

The streams are read every ``poll_interval`` while there is work: records came, or a function just
returned (``kick``: functions are what write to the tables). A stack with nothing to do reads less
and less often, down to every ``idle_interval``; each read is a call to moto, and ten a second
made an idle stack cost 6% of a core (a test session runs several stacks side by side)."""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sitedeploy_local.aws import LOCAL_CREDENTIALS
from sitedeploy_local.filters import any_of
from sitedeploy_local.runtime import FunctionHost, InvokeError
from sitedeploy_local.template import REGION, StreamSubscription

TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
LOCAL_RETRY_CAP = 3  # Lambda's default (-1) retries until the record expires; locally we stop sooner.

Invoker = Callable[[dict[str, Any]], Any]


def _jsonable(value: Any) -> Any:
    """boto3's stream records → the JSON Lambda receives (bytes as base64, datetimes as epoch)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def _key_id(keys: dict[str, Any]) -> str:
    return json.dumps(keys, sort_keys=True)


@dataclass
class Delivery:
    function: str
    records: list[dict[str, Any]]
    outcome: str  # "ok" | "partial" | "failed" | "dropped"


@dataclass
class _Lane:
    inbox: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)


class _Consumer:
    """One event source mapping: a function and the filtered records bound for it."""

    def __init__(self, pump: StreamPump, subscription: StreamSubscription, invoke: Invoker) -> None:
        self.subscription = subscription
        self._admits = any_of(subscription.patterns)
        self._pump = pump
        self._invoke = invoke
        self._lanes = [_Lane() for _ in range(max(1, subscription.parallelization))]
        self._outstanding = 0
        self._count_lock = threading.Lock()
        # Cleared while the mapping is disabled: records wait in their lanes, in order.
        self.enabled = threading.Event()
        self.enabled.set()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(lane,), daemon=True, name=f"pump-{subscription.function}-{i}")
            for i, lane in enumerate(self._lanes)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.enabled.set()
        for lane in self._lanes:
            lane.inbox.put(None)

    def offer(self, record: dict[str, Any]) -> None:
        if not self._admits(record):
            return
        keys = _key_id(record["dynamodb"].get("Keys", {}))
        lane = self._lanes[zlib.crc32(keys.encode()) % len(self._lanes)]
        with self._count_lock:
            self._outstanding += 1
        lane.inbox.put(record)

    @property
    def idle(self) -> bool:
        with self._count_lock:
            return self._outstanding == 0

    def _run(self, lane: _Lane) -> None:
        while True:
            first = lane.inbox.get()
            if first is None:
                return
            self.enabled.wait()
            batch = [first]
            while len(batch) < self.subscription.batch_size:
                try:
                    more = lane.inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    lane.inbox.put(None)
                    break
                batch.append(more)
            try:
                self._deliver(batch)
            except Exception:
                # The stack stopped under this delivery (its function hosts and zygote are gone
                # first): the records end with it, as a mapping's do when its function is deleted.
                if not self._stopping.is_set():
                    raise
                return
            finally:
                with self._count_lock:
                    self._outstanding -= len(batch)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        limit = self.subscription.maximum_retry_attempts
        attempts_left = LOCAL_RETRY_CAP if limit < 0 else min(limit, LOCAL_RETRY_CAP)
        pending = [batch]
        while pending:
            records = pending.pop(0)
            try:
                result = self._invoke({"Records": records})
                failures = _failed_from(result, records) if self.subscription.report_batch_item_failures else None
            except InvokeError:
                failures = 0
            if failures is None:
                self._pump.record(Delivery(self.subscription.function, records, "ok"))
                continue
            failed = records[failures:]
            self._pump.record(Delivery(self.subscription.function, records, "partial" if failures else "failed"))
            if attempts_left <= 0:
                self._pump.record(Delivery(self.subscription.function, failed, "dropped"))
                continue
            attempts_left -= 1
            time.sleep(self._pump.retry_delay)
            if self.subscription.bisect_on_error and len(failed) > 1:
                half = len(failed) // 2
                pending[:0] = [failed[:half], failed[half:]]
            else:
                pending.insert(0, failed)


def _failed_from(result: Any, records: list[dict[str, Any]]) -> int | None:
    """Index of the first failed record per ReportBatchItemFailures, or None when all succeeded."""
    items = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
    if not items:
        return None
    failed_ids = {str(item.get("itemIdentifier")) for item in items}
    for index, record in enumerate(records):
        if record["dynamodb"]["SequenceNumber"] in failed_ids:
            return index
    return 0  # an identifier we never sent: Lambda treats the whole batch as failed


class StreamPump:
    def __init__(
        self,
        moto_client: Callable[[str], Any],
        tables: dict[str, str],
        stream_arns: dict[str, str],
        ttl_attributes: dict[str, str],
        *,
        poll_interval: float = 0.1,
        idle_interval: float = 0.5,
        ttl_interval: float = 1.0,
        scan_interval: float = 30.0,
        retry_delay: float = 0.5,
    ) -> None:
        self._ddb = moto_client("dynamodb")
        self._streams = moto_client("dynamodbstreams")
        self._streams_url = str(self._streams.meta.endpoint_url)
        self._signer = SigV4Auth(
            Credentials(LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"], LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]),
            "dynamodb",
            REGION,
        )
        # A reset or a 5xx is read again at once, as boto3's retries did (a read moves no iterator).
        retry = urllib3.Retry(total=2, backoff_factor=0.05, status_forcelist=(500, 502, 503, 504), allowed_methods=None)
        self._http = urllib3.PoolManager(maxsize=2, retries=retry, timeout=urllib3.Timeout(connect=5, read=30))
        self._tables = tables  # logical id → table name
        self._stream_arns = stream_arns  # logical id → stream arn
        self._ttl = ttl_attributes  # logical id → TTL attribute name
        self._consumers: dict[str, list[_Consumer]] = {}
        self._iterators: dict[str, dict[str, str]] = {}
        self._ttl_keys: set[str] = set()
        # Per streamed table with a TTL: item key id → (its keys, its TTL), fed by the stream.
        self._expiring: dict[str, dict[str, tuple[dict[str, Any], int]]] = {
            table: {} for table in ttl_attributes if table in stream_arns
        }
        self._last_scan = 0.0
        self.scan_interval = scan_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_ttl = 0.0
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        # One TTL pass at a time: two overlapping passes both mark a key, one deletes it and the
        # other's failed condition unmarked it, so the REMOVE reached the reaper as a user's delete.
        self._ttl_pass = threading.Lock()
        self.poll_interval = poll_interval
        self.idle_interval = max(idle_interval, poll_interval)
        self.ttl_interval = ttl_interval
        self.retry_delay = retry_delay
        self.deliveries: list[Delivery] = []
        self.ttl_enabled = True
        self._sqs = moto_client("sqs")
        # Function logical id → queue URL of its on-failure destination.
        self.failure_queues: dict[str, str] = {}

    def subscribe(self, subscription: StreamSubscription, host: FunctionHost | Invoker) -> None:
        invoke: Invoker = host.invoke if isinstance(host, FunctionHost) else host
        consumer = _Consumer(self, subscription, invoke)
        self._consumers.setdefault(subscription.table, []).append(consumer)
        if self._thread is not None:
            consumer.start()

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)
        if delivery.outcome == "dropped":
            self._send_to_destination(delivery)

    def _send_to_destination(self, delivery: Delivery) -> None:
        """What Lambda sends an on-failure destination: the batch's position, not its records."""
        queue_url = self.failure_queues.get(delivery.function)
        if not queue_url:
            return
        first, last = delivery.records[0], delivery.records[-1]
        message = {
            "requestContext": {"functionArn": delivery.function, "condition": "RetryAttemptsExhausted"},
            "DDBStreamBatchInfo": {
                "shardId": "local",
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "batchSize": len(delivery.records),
                "streamArn": first.get("eventSourceARN"),
            },
        }
        try:
            self._sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
        except Exception as exc:  # the destination is best effort, as in Lambda
            print(f"stream pump: on-failure destination: {type(exc).__name__}: {exc}", flush=True)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        for table in self._stream_arns:
            self._iterators[table] = self._latest_iterators(table)
        for consumers in self._consumers.values():
            for consumer in consumers:
                consumer.start()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="stream-pump")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._http.clear()
        for consumers in self._consumers.values():
            for consumer in consumers:
                consumer.stop()

    def _latest_iterators(self, table: str) -> dict[str, str]:
        arn = self._stream_arns[table]
        shards = self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        return {
            shard["ShardId"]: self._streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for shard in shards
        }

    def kick(self) -> None:
        """Something may have written to a table (a function returned): read at the busy pace."""
        self._wake.set()

    def _loop(self) -> None:
        delay = self.poll_interval
        while not self._stop.is_set():
            read = 0
            polled = time.monotonic()
            self._wake.clear()  # before the read: a kick that comes during it is seen after it
            try:
                ttl_read: int | None = None
                deleted = 0
                if self.ttl_enabled and polled - self._last_ttl >= self.ttl_interval:
                    with self._ttl_pass:
                        ttl_read, deleted = self._expire(None, scan=polled - self._last_scan >= self.scan_interval)
                read = ttl_read or 0
                if ttl_read is None or deleted:  # a pass that read and deleted nothing left nothing new
                    read += self.poll_once()
            except Exception as exc:  # the pump must outlive a hiccup of the local AWS
                print(f"stream pump: {type(exc).__name__}: {exc}", flush=True)
            kicked = self._wake.is_set()
            # Busy: the usual pace. Idle: twice as long each time, up to idle_interval; a kick ends
            # an idle wait, though never sooner than poll_interval after the last read.
            delay = self.poll_interval if read or kicked else min(self.idle_interval, delay * 2)
            next_read = polled + delay
            if delay > self.poll_interval and self._wake.wait(max(0.0, next_read - time.monotonic())):
                next_read = polled + self.poll_interval
            self._stop.wait(max(0.0, next_read - time.monotonic()))

    # -- work -----------------------------------------------------------------------------------

    def poll_once(self) -> int:
        """Read whatever the streams hold now and hand it to the consumers; returns the count."""
        count = 0
        with self._read_lock:
            for table, iterators in self._iterators.items():
                for shard, iterator in list(iterators.items()):
                    answer = self._get_records(iterator)
                    iterators[shard] = answer.get("NextShardIterator") or iterator
                    for raw in answer.get("Records", []):
                        record = self._lambda_record(table, raw)
                        self._note_ttl(table, record)
                        count += 1
                        for consumer in self._consumers.get(table, []):
                            consumer.offer(record)
        return count

    def _get_records(self, iterator: str) -> dict[str, Any]:
        """GetRecords as Lambda's poller gets it: the JSON as sent (images in DynamoDB's JSON, bytes
        in base64), signed as a client signs it. Through boto3, botocore's model-driven parser made
        Python values of every attribute of every image, which the pump then turned back into
        JSON: most of its time, in every test process."""
        request = AWSRequest(
            method="POST",
            url=self._streams_url,
            data=json.dumps({"ShardIterator": iterator, "Limit": 1000}).encode(),
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "DynamoDBStreams_20120810.GetRecords",
            },
        )
        self._signer.add_auth(request)
        answer = self._http.request("POST", self._streams_url, body=request.body, headers=dict(request.headers))
        if answer.status != 200:  # the loop prints it and reads again at its next pass
            raise RuntimeError(f"GetRecords answered {answer.status}: {answer.data[:300]!r}")
        result: dict[str, Any] = json.loads(answer.data)
        return result

    def _lambda_record(self, table: str, raw: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = raw
        data = record.get("dynamodb", {})
        if "ApproximateCreationDateTime" in data:  # epoch seconds, whole, as Lambda gives them
            data["ApproximateCreationDateTime"] = int(data["ApproximateCreationDateTime"])
        record["eventVersion"] = "1.1"
        record["awsRegion"] = REGION
        record["eventSourceARN"] = self._stream_arns[table]
        if record.get("eventName") == "REMOVE":
            key = _key_id(record["dynamodb"].get("Keys", {}))
            with self._lock:
                if key in self._ttl_keys:
                    self._ttl_keys.discard(key)
                    record["userIdentity"] = dict(TTL_IDENTITY)
        return record

    def _note_ttl(self, table: str, record: dict[str, Any]) -> None:
        expiring = self._expiring.get(table)
        if expiring is None:
            return
        data = record["dynamodb"]
        keys = data.get("Keys", {})
        key = _key_id(keys)
        value = (data.get("NewImage") or {}).get(self._ttl[table], {}).get("N")
        with self._lock:
            if record.get("eventName") == "REMOVE" or value is None:
                expiring.pop(key, None)
            else:
                expiring[key] = (keys, int(float(value)))

    def expire_now(self, *, now: float | None = None) -> int:
        """Delete every item whose TTL has passed, as DynamoDB's TTL process would; returns the count.
        (DynamoDB may take days; locally it is at most ``ttl_interval`` seconds.)"""
        with self._ttl_pass:
            return self._expire(now, scan=True)[1]

    def _expire(self, now: float | None, *, scan: bool) -> tuple[int | None, int]:
        """(records read first, or None when there was nothing to read for; items deleted)."""
        self._last_ttl = time.monotonic()
        moment = int(now if now is not None else time.time())
        read: int | None = None
        if self._expiring:
            read = self.poll_once()  # what was written up to now is known: a TTL just set in the past counts
        deleted = 0
        for table_id, attribute in self._ttl.items():
            expiring = self._expiring.get(table_id)
            if expiring is not None:
                with self._lock:
                    due = [keys for keys, at in expiring.values() if at <= moment]
                deleted += sum(self._delete_expired(table_id, attribute, keys, moment) for keys in due)
            elif scan:
                deleted += self._scan_expired(table_id, attribute, moment)
        if scan:
            self._last_scan = time.monotonic()
        return read, deleted

    def _scan_expired(self, table_id: str, attribute: str, moment: int) -> int:
        table = self._tables[table_id]
        key_names = [k["AttributeName"] for k in self._ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
        pages = self._ddb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression="#ttl <= :now",
            ProjectionExpression=", ".join(f"#k{i}" for i in range(len(key_names))),
            ExpressionAttributeNames={"#ttl": attribute} | {f"#k{i}": name for i, name in enumerate(key_names)},
            ExpressionAttributeValues={":now": {"N": str(moment)}},
        )
        deleted = 0
        for page in pages:
            for item in page.get("Items", []):
                deleted += self._delete_expired(table_id, attribute, {name: item[name] for name in key_names}, moment)
        return deleted

    def _delete_expired(self, table_id: str, attribute: str, keys: dict[str, Any], moment: int) -> int:
        key = _key_id(_jsonable(keys))
        with self._lock:
            self._ttl_keys.add(key)
        try:
            self._ddb.delete_item(
                TableName=self._tables[table_id],
                Key=keys,
                ConditionExpression="#ttl <= :now",
                ExpressionAttributeNames={"#ttl": attribute},
                ExpressionAttributeValues={":now": {"N": str(moment)}},
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            # Pushed forward (or deleted) since it was read: not expired after all. Its stream
            # record (a MODIFY or a REMOVE) tells the index; until then it is only asked again.
            with self._lock:
                self._ttl_keys.discard(key)
            return 0
        return 1

    def pause(self, function: str) -> None:
        """Disable a function's event source mapping: its records wait (as when Lambda throttles
        or a mapping is disabled), so a test can make two records wait side by side."""
        for consumers in self._consumers.values():
            for consumer in consumers:
                if consumer.subscription.function == function:
                    consumer.enabled.clear()

    def resume(self, function: str) -> None:
        for consumers in self._consumers.values():
            for consumer in consumers:
                if consumer.subscription.function == function:
                    consumer.enabled.set()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every record already in the streams has been delivered (tests, the demo)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            read = self.poll_once()
            if read == 0 and all(c.idle for cs in self._consumers.values() for c in cs):
                return
            time.sleep(0.05)
        raise TimeoutError("stream pump still busy")
