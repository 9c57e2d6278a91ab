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


def _truncate(local: LocalStack, logical_id: str) -> None:
    ddb = local.moto.client("dynamodb")
    table = local.resource(logical_id)
    keys = [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})


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
