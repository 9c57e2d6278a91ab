"""The local stack's moto server: a cancelled transaction writes nothing and leaves the table's
stream (and the stream pump reading it) alive — what DynamoDB promises and moto alone does not keep."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import random
import threading
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sitedeploy_local import moto_server
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


def _answers(ddb: Any, **query: Any) -> list[dict[str, Any]]:
    """Every page of a query (or scan), three items a page, so moto's paging runs too."""
    call = ddb.query if "KeyConditionExpression" in query else ddb.scan
    found: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page = call(**query, Limit=3, **({"ExclusiveStartKey": start} if start else {}))
        found += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


@pytest.mark.parametrize("seed", [7, 8])
def test_queries_read_their_partition_and_agree_with_a_scan_after_every_kind_of_write(
    stack: LocalStack, seed: int
) -> None:
    """Queries read a partition map kept current by the writes themselves (``moto_index``): after
    random puts, updates that move an item between index partitions or out of the index, deletes,
    batch writes and transactions (cancelled ones too), every query, on the table and on the index,
    forwards and backwards, answers exactly the items a full scan finds, in DynamoDB's order."""
    ddb = stack.moto.client("dynamodb")
    table = f"index-check-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "group", "order")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByGroup",
                "KeySchema": [
                    {"AttributeName": "group", "KeyType": "HASH"},
                    {"AttributeName": "order", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    rng = random.Random(seed)
    pks, sks, groups = ["p1", "p2", "p3"], [f"s{n}" for n in range(6)], ["g1", "g2", "g3"]

    def key() -> dict[str, Any]:
        return {"pk": {"S": rng.choice(pks)}, "sk": {"S": rng.choice(sks)}}

    def item() -> dict[str, Any]:
        body = {**key(), "n": {"N": str(rng.randrange(100))}}
        if rng.random() < 0.8:  # the rest are not in the index at all
            body |= {"group": {"S": rng.choice(groups)}, "order": {"S": f"{rng.randrange(50):02d}"}}
        return body

    def check() -> None:
        everything = _answers(ddb, TableName=table)
        for pk in pks:
            for forward in (True, False):
                want = sorted((i for i in everything if i["pk"]["S"] == pk), key=_key, reverse=not forward)
                got = _answers(
                    ddb,
                    TableName=table,
                    KeyConditionExpression="pk = :v",
                    ExpressionAttributeValues={":v": {"S": pk}},
                    ScanIndexForward=forward,
                )
                assert got == want
        for group in groups:
            want = sorted(
                (i for i in everything if i.get("group", {}).get("S") == group),
                key=lambda i: (i["order"]["S"], *_key(i)),
            )
            got = _answers(
                ddb,
                TableName=table,
                IndexName="ByGroup",
                KeyConditionExpression="#g = :v",
                ExpressionAttributeNames={"#g": "group"},
                ExpressionAttributeValues={":v": {"S": group}},
            )
            assert [_key(i) for i in got] == [_key(i) for i in want]
            assert got == want

    check()  # builds the maps on an empty table
    for step in range(160):
        kind = rng.choice(["put", "put", "move", "unindex", "delete", "batch", "transact"])
        if kind == "put":
            ddb.put_item(TableName=table, Item=item())
        elif kind == "move":
            ddb.update_item(
                TableName=table,
                Key=key(),
                UpdateExpression="SET #g = :g, #o = :o",
                ExpressionAttributeNames={"#g": "group", "#o": "order"},
                ExpressionAttributeValues={":g": {"S": rng.choice(groups)}, ":o": {"S": f"{rng.randrange(50):02d}"}},
            )
        elif kind == "unindex":
            ddb.update_item(
                TableName=table, Key=key(), UpdateExpression="REMOVE #g", ExpressionAttributeNames={"#g": "group"}
            )
        elif kind == "delete":
            ddb.delete_item(TableName=table, Key=key())
        elif kind == "batch":
            requests: dict[tuple[str, str], dict[str, Any]] = {}
            for _ in range(rng.randrange(1, 5)):
                request = {"PutRequest": {"Item": item()}} if rng.random() < 0.6 else {"DeleteRequest": {"Key": key()}}
                body = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
                requests[_key(body)] = request  # one request per key, as DynamoDB demands
            ddb.batch_write_item(RequestItems={table: list(requests.values())})
        else:
            first, second = item(), key()
            if _key(first) == _key(second):
                continue
            transaction = [
                {"Put": {"TableName": table, "Item": first}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": second,
                        "UpdateExpression": "SET #g = :g, #o = :o",
                        "ExpressionAttributeNames": {"#g": "group", "#o": "order"},
                        "ExpressionAttributeValues": {":g": {"S": rng.choice(groups)}, ":o": {"S": "00"}},
                        **({"ConditionExpression": "attribute_exists(pk)"} if rng.random() < 0.5 else {}),
                    }
                },
            ]
            try:
                ddb.transact_write_items(TransactItems=transaction)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
        if step % 8 == 7:
            check()
    check()
    ddb.delete_table(TableName=table)


def test_connections_are_kept_alive_and_metadata_names_come_back_as_s3_sends_them(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    """One connection for many calls (moto's own development server closed each one, and every
    boto3 call paid a new connection and a new server thread); object metadata lower-cased, as S3
    answers it (the server that keeps connections alive capitalises header names)."""
    ddb = stack.moto.client("dynamodb")
    s3 = stack.moto.client("s3")
    table, bucket = stack.resource("DeploymentsTable"), stack.resource("StagingBucket")
    key, large_key = f"test/{uuid.uuid4().hex}", f"test/{uuid.uuid4().hex}"
    large = os.urandom(3 * 1024 * 1024 + 17)
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        for _ in range(5):
            ddb.get_item(TableName=table, Key={"pk": {"S": "TEST#none"}, "sk": {"S": "META"}})
        s3.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"kept": "yes", "Mixed-Case": "1"})
        head = s3.head_object(Bucket=bucket, Key=key)
        # A large body is sent from a file, not through the server's buffer: the same bytes.
        s3.put_object(Bucket=bucket, Key=large_key, Body=large)
        answer = s3.get_object(Bucket=bucket, Key=large_key)
        whole = (answer["ContentLength"], answer["Body"].read())
        ranged = s3.get_object(Bucket=bucket, Key=large_key, Range="bytes=1000-2999999")["Body"].read()
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}, {"Key": large_key}]})
    mine = [r.getMessage() for r in caplog.records if r.thread == threading.get_ident()]  # not the pump's
    assert sum("Starting new HTTP connection" in m for m in mine) == 2  # one per client
    assert not [m for m in mine if "Resetting dropped connection" in m]
    assert head["Metadata"] == {"kept": "yes", "mixed-case": "1"}
    assert whole == (len(large), large)
    assert ranged == large[1000:3000000]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Starting new HTTP connection" in m for m in messages) == 2  # one per client
    assert not [m for m in messages if "Resetting dropped connection" in m]
    assert head["Metadata"] == {"kept": "yes", "mixed-case": "1"}


def _shape(node: Any) -> Any:
    """A parse tree as nested (node type, children), leaves as they are: what two trees share."""
    children = getattr(node, "children", None)
    if children is None:
        return node
    return (type(node).__name__, [_shape(child) for child in children])


def _parses() -> tuple[Any, list[str], list[Any]]:
    """A ``_Parses`` over moto's parser, with the parses and the deep copies it asked for."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    parses: list[str] = []
    deep_copied: list[Any] = []

    def counted(expression: str) -> Any:
        parses.append(expression)
        return UpdateExpressionParser.make(expression)

    def deepcopy(value: Any, memo: Any = None) -> Any:
        deep_copied.append(value)
        return copy.deepcopy(value, memo)

    return moto_server._Parses(counted, deepcopy, Node), parses, deep_copied


def test_an_update_expression_is_parsed_once_and_the_parse_is_shared() -> None:
    """moto parses an UpdateItem's expression twice: the cache answers the structure the parser
    does, parses it once, and never keeps an expression that does not parse."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    parses, made, _ = _parses()
    expression = "SET #s = :s, #n = if_not_exists(#n, :zero) + :one REMOVE #l"
    first, second = parses.make(expression), parses.make(expression)
    assert made == [expression]
    assert first is second
    assert _shape(first) == _shape(UpdateExpressionParser.make(expression))
    assert "if_not_exists" in str(_shape(first))
    for _ in range(2):
        with pytest.raises(MockValidationException):
            parses.make("SET = broken")
    assert made.count("SET = broken") == 2


def test_the_validators_copy_of_a_parse_tree_is_its_own_and_anything_else_is_deep_copied() -> None:
    """Validation rewrites the tree it copies: a copy of the shared parse, of a tree the cache does
    not hold, or of a plain value is a separate one, and rewriting it leaves the original alone."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    parses, _, deep_copied = _parses()
    shared = parses.make("SET #a = list_append(#a, :more) REMOVE #b")
    other = UpdateExpressionParser.make("SET #c = :c")
    for tree in (shared, other):
        before = _shape(tree)
        copied = parses.copy(tree)
        assert copied is not tree
        assert _shape(copied) == before
        copied.children.clear()  # the validator rewriting its copy
        assert _shape(tree) == before
        assert _shape(parses.copy(tree)) == before
    assert deep_copied == []
    plain = {"L": [{"S": "x"}]}
    kept = parses.copy(plain)
    assert kept == plain
    assert kept is not plain
    assert kept["L"] is not plain["L"]
    assert deep_copied == [plain]


def _validated(expression: str, names: dict[str, str], values: dict[str, Any], attrs: dict[str, Any]) -> Any:
    """What moto's update validator makes of an expression on an item, or the error it raises."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    table = Table(  # type: ignore[abstract]
        "t",
        account_id="123456789012",
        region="us-east-1",
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        attr=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    item = Item(DynamoType({"S": "k"}), None, attrs={"pk": {"S": "k"}, **attrs})
    try:
        tree = UpdateExpressionParser.make(expression)
        return _shape(UpdateExpressionValidator(tree, names, values, item, table).validate())
    except Exception as error:  # the error is the answer compared
        return (type(error).__name__, str(error))


UPDATES = [
    ("SET #s = :s, #n = if_not_exists(#n, :zero) + :one REMOVE #l", {"#s": "s", "#n": "n", "#l": "l"}),
    ("SET #a = list_append(#a, :more), #b = :s ADD #c :one", {"#a": "a", "#b": "b", "#c": "c"}),
    ("SET #a = :s, #b = :s", {"#a": "a", "#b": "a"}),  # two actions on one path
    ("SET a.b = :s, a = :s", {}),  # overlapping paths
    ("SET #a = :s SET #b = :s", {"#a": "a", "#b": "b"}),  # two SET clauses
    ("ADD #a :one ADD #b :one REMOVE x REMOVE y", {"#a": "a", "#b": "b"}),
    ("SET #s = #n + :one", {"#s": "s", "#n": "missing"}),  # a path the item lacks
    ("SET #s = :s + :one", {"#s": "s"}),  # a string plus a number
    ("SET pk = :s", {}),  # the key
    ("SET #s = :nope", {"#s": "s"}),  # a value not given
    ("REMOVE #l[1], #l[0]", {"#l": "l"}),
]


@pytest.mark.parametrize(("expression", "names"), UPDATES)
def test_the_validators_one_pass_walk_answers_what_moto_s_own_walk_does(
    monkeypatch: pytest.MonkeyPatch, expression: str, names: dict[str, str]
) -> None:
    """The same validation, tree or error, from moto's walk and from the walk in one pass."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]

    values = {":s": {"S": "v"}, ":zero": {"N": "0"}, ":one": {"N": "1"}, ":more": {"L": [{"S": "m"}]}}
    attrs = {"s": {"S": "old"}, "n": {"N": "5"}, "a": {"L": [{"S": "x"}]}, "l": {"L": [{"S": "0"}, {"S": "1"}]}}
    theirs = _validated(expression, names, values, attrs)
    monkeypatch.setattr(DepthFirstTraverser, "traverse", moto_server._walked_once(Node))
    ours = _validated(expression, names, values, attrs)
    assert ours == theirs
    assert isinstance(theirs, list | tuple)


def test_a_check_that_passed_is_not_walked_again_and_one_that_failed_is() -> None:
    """The clause count and the overlapping paths depend on the expression and its names only: a
    pass is remembered for that pair, a failure raises every time, and other names are checked."""
    from moto.dynamodb.exceptions import DuplicateUpdateExpression
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import OverlappingPathsValidator

    parses, _, _ = _parses()
    walked: list[str] = []
    walk = moto_server._walked_once(Node)

    def counted(self: Any, root: Any) -> Any:
        walked.append(getattr(root, "sitedeploy_expression", "?"))
        return walk(self, root)

    check = moto_server._checked_once(counted, by_names=True)
    expression = "SET #a = :s, #b = :s"
    apart, together = {"#a": "a", "#b": "b"}, {"#a": "a", "#b": "a"}
    for _ in range(3):
        check(OverlappingPathsValidator(apart), parses.copy(parses.make(expression)))
    assert walked == [expression]
    for _ in range(2):
        with pytest.raises(DuplicateUpdateExpression):
            check(OverlappingPathsValidator(together), parses.copy(parses.make(expression)))
    assert len(walked) == 3
    unknown = parses.copy(parses.make("SET #c = :s"))
    del unknown.sitedeploy_expression  # a tree the cache did not make is walked every time
    for _ in range(2):
        check(OverlappingPathsValidator({"#c": "c"}), unknown)
    assert walked[3:] == ["?", "?"]


def _wsgi(app: Any, target: str, body: dict[str, Any], service: str = "dynamodb") -> tuple[str, dict[str, str], bytes]:
    """One signed-looking JSON request to a WSGI app, as waitress hands it over."""
    raw = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:5000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(raw)),
        "CONTENT_TYPE": "application/x-amz-json-1.0",
        "HTTP_X_AMZ_TARGET": target,
        "HTTP_X_AMZ_DATE": "20261207T190000Z",
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=local/20261207/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=00",  # streams sign as dynamodb too
    }
    started: list[Any] = []
    answer = b"".join(app(environ, lambda status, headers, exc_info=None: started.append((status, headers))))
    status, headers = started[0]
    return status, {k.lower(): v for k, v in headers if k.lower() not in {"date", "x-amzn-requestid"}}, answer


def test_dynamodb_requests_go_straight_to_moto_s_handler_and_are_answered_as_its_view_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server hands DynamoDB's and its streams' requests to moto's handler without the Flask app
    in between: the answer (status, headers, body) is the one moto's own view makes, for a success
    and for an error, and anything else still reaches the app."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.moto_server import werkzeug_app
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    monkeypatch.setattr(werkzeug_app, "DISABLE_GLOBAL_CORS", True)  # as the server runs (aws.py)
    app = DomainDispatcherApplication(create_backend_app)
    passed_on: list[str] = []

    def spy(environ: dict[str, Any], start_response: Any) -> Any:
        passed_on.append(str(environ.get("HTTP_X_AMZ_TARGET")))
        return app(environ, start_response)

    direct = moto_server._dynamodb_first(
        spy,
        {"DynamoDB_20120810": DynamoHandler.dispatch, "DynamoDBStreams_20120810": DynamoDBStreamsHandler.dispatch},
    )
    table = f"direct-{uuid.uuid4().hex[:8]}"
    schema = {
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
    assert _wsgi(direct, "DynamoDB_20120810.CreateTable", schema)[0] == "200 OK"
    assert (
        _wsgi(direct, "DynamoDB_20120810.PutItem", {"TableName": table, "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}})[0]
        == "200 OK"
    )
    for target, body in (
        ("DynamoDB_20120810.GetItem", {"TableName": table, "Key": {"pk": {"S": "a"}}}),
        ("DynamoDB_20120810.GetItem", {"TableName": "no-such-table", "Key": {"pk": {"S": "a"}}}),
        (
            "DynamoDB_20120810.UpdateItem",
            {"TableName": table, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET", "ReturnValues": "ALL_NEW"},
        ),
        ("DynamoDBStreams_20120810.ListStreams", {"TableName": table}),
    ):
        ours, theirs = _wsgi(direct, target, body), _wsgi(app, target, body)
        assert ours == theirs, target
    assert _wsgi(direct, "DynamoDB_20120810.GetItem", {"TableName": "no-such-table", "Key": {}})[0].startswith("400")

    assert passed_on == []  # none of them went through moto's app
    _wsgi(direct, "AmazonSQS.ListQueues", {}, service="sqs")
    assert passed_on == ["AmazonSQS.ListQueues"]  # anything else does

    def refused(*_: Any) -> Any:
        raise ClientError({"Error": {"Code": "Nope", "Message": "refused by the handler"}}, "GetItem")

    status, _, answer = _wsgi(
        moto_server._dynamodb_first(spy, {"DynamoDB_20120810": refused}), "DynamoDB_20120810.GetItem", {}
    )
    assert (status, answer) == ("400 BAD REQUEST", b"refused by the handler")  # as moto's view answers it
