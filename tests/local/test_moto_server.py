"""The local stack's moto server: a cancelled transaction writes nothing and leaves the table's
stream (and the stream pump reading it) alive — what DynamoDB promises and moto alone does not keep."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from sitedeploy_local.stack import LocalStack


def test_a_cancelled_transaction_writes_nothing_and_the_stream_goes_on(stack: LocalStack) -> None:
    ddb = stack.moto.client("dynamodb")
    streams = stack.moto.client("dynamodbstreams")
    table = stack.resource("DeploymentsTable")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    run = uuid.uuid4().hex
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": f"TEST#{run}#a"}, "sk": {"S": "META"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": f"TEST#{run}#b"}, "sk": {"S": "META"}},
                        "ConditionExpression": "attribute_exists(pk)",  # fails: b does not exist
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": f"TEST#{run}#a"}, "sk": {"S": "META"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": f"TEST#{run}#c"}, "sk": {"S": "META"}})
    records = streams.get_records(ShardIterator=iterator)["Records"]
    keys = [
        r["dynamodb"]["Keys"]["pk"]["S"] for r in records if r["dynamodb"]["Keys"]["pk"]["S"].startswith(f"TEST#{run}")
    ]
    assert keys == [f"TEST#{run}#c"]  # the cancelled writes never happened; the next write is seen
    ddb.delete_item(TableName=table, Key={"pk": {"S": f"TEST#{run}#c"}, "sk": {"S": "META"}})
