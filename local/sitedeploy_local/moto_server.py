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
- it is served by waitress, which keeps connections alive: werkzeug's development server (moto's
  own) answers every request with ``Connection: close``, so each boto3 call paid a new TCP
  connection and a new server thread, on both sides, about a millisecond of CPU apiece; waitress
  also sends without Nagle's algorithm, so a kept-alive client never waits on a delayed ACK (it
  still closes the connection after an answer with no body and no length, such as S3's 204 to a
  delete: rare enough to leave);
- the list of moto's services, and each handler's methods, are read once, not on every request;
- the item calls' answers (already in DynamoDB's wire shape) are written as JSON directly: moto's
  model-driven serializer walked every attribute of every item against botocore's shapes, and was
  half of all the time the server spent under the lock once a stack held thousands of items;
- a query reads only the partition it names (``moto_index``), as DynamoDB's does;
- an update expression is parsed once, not twice per UpdateItem, and the validator copies its
  tree by pickle rather than ``deepcopy``; the validators walk the tree in one pass each, and
  the two that only check the expression do not check one that passed before (together, a small
  deploy's DynamoDB calls take about a fifth less of the server's CPU);
- no access-log line per request (``SITEDEPLOY_MOTO_ACCESS_LOG=1`` writes one to stderr).

    python -m sitedeploy_local.moto_server -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import os
import pickle
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
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


MIB = 1024 * 1024
PARSED_EXPRESSIONS = 4096  # distinct update expressions kept parsed (the service sends a few dozen)
# waitress's defaults are for a server behind a proxy on the internet; this one is loopback only.
SERVING: dict[str, Any] = {
    "threads": 32,  # requests at once: sixteen Lambda environments, each with a few calls in flight
    # Kept-alive connections, not requests: every environment's boto3 pool holds some open.
    "connection_limit": 4096,
    "channel_timeout": 300,
    "recv_bytes": 256 * 1024,  # uploads of packs and zips are megabytes: read them in big pieces
    "send_bytes": 18000,
    "inbuf_overflow": 64 * MIB,  # bodies up to this stay in memory (above it, a temporary file)
    "outbuf_overflow": 64 * MIB,
    "outbuf_high_watermark": 256 * MIB,
    "max_request_body_size": 5 * 1024 * MIB,  # S3's limit for one PUT
    "clear_untrusted_proxy_headers": False,
    "ident": "amazon.com",
}


def _access_log(app: Callable[..., Any]) -> Callable[..., Any]:
    """One line per request on stderr: when it was answered (epoch seconds), method, path, the
    operation (X-Amz-Target), status."""

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            line = f"{time.time():.3f} {environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')} {target} {status}"
            print(line, file=sys.stderr, flush=True)
            return start_response(status, headers, exc_info)

        result: Iterable[bytes] = app(environ, start)
        return result

    return logged


def _metadata_names_as_s3(build: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """waitress capitalises every response header's name (``X-Amz-Meta-Kept``); S3 sends object
    metadata lower-cased, and botocore hands the name after ``x-amz-meta-`` to the caller as sent."""

    def build_response_header(task: Any) -> bytes:
        lines = build(task).split(b"\r\n")
        for n, line in enumerate(lines):
            if line[:11].lower() == b"x-amz-meta-":
                name, _, value = line.partition(b":")
                lines[n] = name.lower() + b":" + value
        return b"\r\n".join(lines)

    return build_response_header


LARGE_BODY = 256 * 1024


def _large_bodies_as_files(app: Callable[..., Any]) -> Callable[..., Any]:
    """waitress copies an answer's body into its buffer and out again piece by piece, where
    werkzeug wrote it to the socket at once (S3 reads of packs were a fifth slower for it). A large
    body is handed over as a file instead, which waitress sends from without copying."""

    def served(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        answer = app(environ, start_response)
        wrapper = environ.get("wsgi.file_wrapper")
        try:
            chunks = list(answer)  # moto's answers are whole already
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        if wrapper is not None and len(chunks) == 1 and len(chunks[0]) >= LARGE_BODY:
            result: Iterable[bytes] = wrapper(io.BytesIO(chunks[0]))
            return result
        return chunks

    return served


def _dynamodb_first(app: Callable[..., Any], handlers: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    """DynamoDB's requests (and its streams'), told apart by their ``X-Amz-Target``, go straight to
    moto's handler, as moto's Flask view would call it: the same request class, the same handler,
    the same answer made the same way. Finding the backend by the request's signature, then Flask's
    request context and URL routing, were a quarter of a GetItem's CPU in moto (1.05 ms; 0.8 ms
    without them). Anything else (S3, the rest) still goes that way."""
    from botocore.exceptions import ClientError
    from flask import Response
    from moto.moto_server.werkzeug_app import BackendRequest

    def served(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        dispatch = handlers.get(str(environ.get("HTTP_X_AMZ_TARGET", "")).partition(".")[0])
        if dispatch is None or environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/":
            passed: Iterable[bytes] = app(environ, start_response)
            return passed
        request = BackendRequest(environ)
        try:
            result = dispatch(request, request.raw_url, dict(request.headers))
        except ClientError as exc:  # as moto's view (``convert_to_flask_response``) answers it
            result = 400, {}, exc.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        answer: Iterable[bytes] = Response(response=content, status=status, headers=headers)(environ, start_response)
        return answer

    return served


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


class _Parses:
    """moto parses an UpdateItem's expression twice (the handler lists the names it uses, the
    backend hands it to the validator), 0.4 ms each, and the service sends a few dozen distinct
    expressions. Each is parsed once and the parse is shared: the handler only reads it, and the
    validator, the one part of moto that rewrites a tree, deep-copies it first. Its copy of a kept
    parse is unpickled from bytes kept beside it, a seventh of ``deepcopy``'s time; any other tree
    goes through a pickle round trip (a third), anything else through ``deepcopy`` as before. An
    expression that does not parse raises as before and is not kept."""

    def __init__(self, make: Callable[[str], Any], deepcopy: Callable[..., Any], node_type: type) -> None:
        self._make = make
        self._deepcopy = deepcopy
        self._node_type = node_type
        self._kept: dict[str, tuple[Any, bytes]] = {}

    def make(self, expression: str) -> Any:
        kept = self._kept.get(expression)
        if kept is not None:
            return kept[0]
        tree = self._make(expression)
        tree.sitedeploy_expression = expression  # what _checked_once remembers a passed check by
        if len(self._kept) < PARSED_EXPRESSIONS:
            self._kept[expression] = (tree, pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL))
        return tree

    def copy(self, value: Any, memo: Any = None) -> Any:
        if not isinstance(value, self._node_type):
            return self._deepcopy(value, memo)
        kept = self._kept.get(getattr(value, "sitedeploy_expression", ""))
        if kept is not None and kept[0] is value:
            return pickle.loads(kept[1])  # noqa: S301 - bytes this process pickled itself
        return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301


def _walked_once(node_type: type) -> Callable[[Any, Any], Any]:
    """Each of moto's ten update-expression validators walks the tree depth first, and at every
    node rebuilds its map of node classes to handlers twice and tests the node against each class
    (abstract classes: every test goes through ``ABCMeta``). That was most of an UpdateItem's
    validation. This is the same walk (the same order, hooks and replacements) with the map built
    once per walk and a node's handler found once per class."""

    def traverse(self: Any, root: Any) -> Any:
        handlers = tuple(self._processing_map().items())
        before_child = self.pre_processing_of_child
        kinds: dict[type, tuple[bool, Any]] = {}

        def kind_of(node: Any) -> tuple[bool, Any]:
            kind = type(node)
            known = kinds.get(kind)
            if known is None:
                handler = next((h for k, h in handlers if issubclass(kind, k)), None)
                known = kinds[kind] = (issubclass(kind, node_type), handler)
            return known

        def visit(node: Any, child_id: int) -> Any:
            is_node, handler = kind_of(node)
            if not is_node:
                return node
            parent = node.parent
            if node.children is not None:
                for i, child in enumerate(node.children):
                    before_child(node, i)
                    visit(child, i)
            if handler is not None:
                node = handler(node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
            return node

        return visit(root, -1)

    return traverse


def _checked_once(traverse: Callable[[Any, Any], Any], *, by_names: bool) -> Callable[[Any, Any], Any]:
    """Two of the validators only check the expression (at every node, each check searching the
    node's whole subtree) and change nothing: how many SET/REMOVE/ADD clauses, and whether two
    actions touch overlapping paths (which also reads the attribute names). Their verdict depends
    on nothing else, so an expression (with its names) that passed once is not checked again; one
    that fails is checked, and raises, every time."""
    passed: set[Any] = set()

    def checked(self: Any, root: Any) -> Any:
        expression = getattr(root, "sitedeploy_expression", None)
        names = getattr(self, "expression_attribute_names", None) if by_names else None
        key = None if expression is None else (expression, tuple(sorted((names or {}).items())))
        if key is not None and key in passed:
            return root
        checked_root = traverse(self, root)
        if key is not None and len(passed) < PARSED_EXPRESSIONS:
            passed.add(key)
        return checked_root

    return checked


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


def main(argv: list[str] | None = None) -> None:
    import moto.backends
    import moto.core.responses
    from moto.core.responses import ActionResult
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from waitress import serve
    from waitress.adjustments import Adjustments
    from waitress.task import WSGITask

    parser = argparse.ArgumentParser(prog="python -m sitedeploy_local.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto's own main: its URLs name the port
    # moto finds which service a request is for by listing its own package folder (a listdir and a
    # stat per service) on every request: a third of an S3 call's time. The folder does not change.
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    # It also lists a handler class's methods (``inspect.getmembers``) on every request to find the
    # action's. A class's methods do not change once the server runs.
    listed = moto.core.responses.method_names_from_class  # type: ignore[attr-defined]
    moto.core.responses.method_names_from_class = functools.cache(lambda handler: frozenset(listed(handler)))  # type: ignore[attr-defined,assignment]
    DynamoHandler.call_action = _serialised(_indexed(DynamoHandler.call_action))  # type: ignore[method-assign]
    DynamoDBStreamsHandler.call_action = _serialised(DynamoDBStreamsHandler.call_action)  # type: ignore[method-assign]
    Table.query = moto_index.partitioned_query(Table.query)  # type: ignore[method-assign]
    parses = _Parses(UpdateExpressionParser.make, validators.deepcopy, Node)  # type: ignore[attr-defined]
    UpdateExpressionParser.make = staticmethod(parses.make)
    validators.deepcopy = parses.copy  # type: ignore[attr-defined,assignment]
    DepthFirstTraverser.traverse = _walked_once(Node)
    validators.ActionCountValidator.traverse = _checked_once(_walked_once(Node), by_names=False)
    validators.OverlappingPathsValidator.traverse = _checked_once(_walked_once(Node), by_names=True)
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign,assignment]
    ActionResult.execute_result = _direct(ActionResult.execute_result)  # type: ignore[method-assign]
    WSGITask.build_response_header = _metadata_names_as_s3(WSGITask.build_response_header)
    # waitress hands the socket one send buffer's worth at a time, as it reads it at accept: a
    # loopback socket's first 16 KB, so a 5 MB object went out in 320 copies and sends (three
    # times the CPU of werkzeug's single write). A buffer set to 4 MB takes it in one or two.
    Adjustments.socket_options = [*Adjustments.socket_options, (socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MIB)]
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]
    served = _dynamodb_first(
        app,
        {"DynamoDB_20120810": DynamoHandler.dispatch, "DynamoDBStreams_20120810": DynamoDBStreamsHandler.dispatch},
    )
    served = _large_bodies_as_files(served)
    served = _access_log(served) if os.environ.get("SITEDEPLOY_MOTO_ACCESS_LOG") == "1" else served
    serve(served, host=args.host, port=args.port, **SERVING)


if __name__ == "__main__":
    main()
