"""Session-wide local stack: moto's server, the functions' execution environments, the gateway and
the stream pump start once; each test gets clean tables and its own owners."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from sitedeploy_local.stack import REPO_ROOT, LocalStack, StackOptions

ROOT = REPO_ROOT
# The modules that each hold minutes of work on a stack of their own, with what they take on two
# vCPUs (seconds, measured). Each worker starts with its share of them, the longest spread first:
# started last, the 600-site one alone kept a worker busy minutes after the others had finished.
HEAVY_MODULES = {
    "tests/e2e/test_workers_for_platforms.py": 350,
    "tests/e2e/test_tenancy_at_scale.py": 185,
    "tests/e2e/test_books_e2e.py": 110,
    "tests/e2e/test_tenancy.py": 75,
    "tests/e2e/test_load.py": 65,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order for pytest-xdist's worksteal, which first hands worker i the i-th contiguous share of
    the list: put each worker's heavy modules at the head of its share (whole, so a module's stack
    starts once). Only the order changes; every worker computes the same one."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
    if workers < 2:
        return
    heavy = {module: [i for i in items if i.nodeid.startswith(module + "::")] for module in HEAVY_MODULES}
    placed = {id(i) for group in heavy.values() for i in group}
    rest = [i for i in items if id(i) not in placed]
    buckets: list[list[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for module, weight in sorted(HEAVY_MODULES.items(), key=lambda kv: -kv[1]):
        lightest = loads.index(min(loads))
        buckets[lightest] += heavy[module]
        loads[lightest] += weight
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for n, bucket in enumerate(buckets):
        share = remaining // (workers - n)  # worksteal's first share for the n-th worker
        fill = max(0, share - len(bucket))
        ordered += bucket + rest[:fill]
        rest = rest[fill:]
        remaining -= share
    items[:] = ordered + rest


@pytest.fixture(scope="session", autouse=True)
def _cli_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI remembers hashes in a cache folder: the tests' own, never the user's."""
    saved = os.environ.get("SITEDEPLOY_CACHE_DIR")
    os.environ["SITEDEPLOY_CACHE_DIR"] = str(tmp_path_factory.mktemp("cli-cache"))
    yield
    if saved is None:
        os.environ.pop("SITEDEPLOY_CACHE_DIR", None)
    else:
        os.environ["SITEDEPLOY_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The load and fault tests drive one owner hard: the session's stack keeps owners' quotas out of
    # their way (tests/e2e/test_quotas.py runs a stack of its own with small ones).
    options = StackOptions(
        state_dir=tmp_path_factory.mktemp("sitedeploy-state"),
        write_local_json=False,
        parameters={"DeploymentsInFlightPerOwner": 1000, "QuickDeploySitesPerOwner": 1000},
    )
    local = LocalStack(options).start()
    # In-process code (repository tests, handlers invoked directly) reaches the same moto server.
    saved = dict(os.environ)
    # The environment the template gives the functions (tables, bucket, secret, key, emulator URLs).
    function_env = local.function_environment(local.functions["PublisherFunction"])
    os.environ.update({k: v for k, v in function_env.items() if k not in {"PATH", "HOME", "LANG", "TMPDIR"}})
    os.environ["PLATFORM_TOKENS_TABLE"] = local.resource("PlatformTokensTable")
    os.environ["POWERTOOLS_SERVICE_NAME"] = "sitedeploy-tests"
    os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)


_KEYS: dict[str, list[str]] = {}  # a table's key attributes, by its name (every stack's template is the same)


def _truncate(local: LocalStack, logical_id: str) -> None:
    """Every item deleted, 25 to a call (every test's setup: one call per item was most of it)."""
    ddb = local.moto.shared("dynamodb")
    table = local.resource(logical_id)
    keys = _KEYS.get(table)
    if keys is None:
        keys = _KEYS[table] = [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
    projection = {
        "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys))),
        "ExpressionAttributeNames": {f"#k{i}": name for i, name in enumerate(keys)},
    }
    found = [
        {name: item[name] for name in keys}
        for page in ddb.get_paginator("scan").paginate(TableName=table, **projection)
        for item in page.get("Items", [])
    ]
    for start in range(0, len(found), 25):
        requests = [{"DeleteRequest": {"Key": key}} for key in found[start : start + 25]]
        while requests:
            answer = ddb.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])


@pytest.fixture
def clean(stack: LocalStack) -> LocalStack:
    """Empty tables before the test, and the sites they knew of on the platforms (the service's pool
    and the apps it made: what the tables counted must match what the platforms hold); the stream
    pump is drained so no record leaks across tests."""
    stack.pump.wait_idle() if stack.pump else None
    for logical_id in ("DeploymentsTable", "PlatformTokensTable"):
        _truncate(stack, logical_id)
    stack.cloudflare.forget_workers()
    stack.amplify.delete_apps("sitedeploy-")
    stack.netlify.reset()
    stack.vercel.reset()
    stack.dns.clear()
    stack.pump.wait_idle() if stack.pump else None
    return stack


@pytest.fixture
def owner() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


class Api:
    """A caller of the local gateway, over real HTTP, with a token for one owner."""

    def __init__(self, local: LocalStack, token: str | None) -> None:
        self.local = local
        self.token = token
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=60))

    def request(
        self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, urllib3.BaseHTTPResponse]:
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        response = self.http.request(method, self.local.api_url + path, body=data, headers=sent)
        try:
            payload = json.loads(response.data) if response.data else None
        except ValueError:
            payload = response.data
        return response.status, payload, response

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any, urllib3.BaseHTTPResponse]:
        return self.request("GET", path, **kwargs)


@pytest.fixture
def api(clean: LocalStack, owner: str) -> Api:
    return Api(clean, clean.mint_token(owner))


@pytest.fixture
def api_for(clean: LocalStack) -> Any:
    def make(sub: str) -> Api:
        return Api(clean, clean.mint_token(sub))

    return make


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
