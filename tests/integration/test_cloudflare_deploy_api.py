"""POST /deployments/cloudflare: every refusal is a 4xx that names the culprit and writes nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from sitedeploy.stores.staging import owner_key
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import deploy, wait_terminal


def _written(stack: LocalStack, owner: str) -> dict[str, int]:
    ddb = stack.moto.client("dynamodb")
    items = ddb.scan(TableName=stack.resource("DeploymentsTable"))["Items"]
    mine = [i for i in items if i.get("ownerId", {}).get("S") == owner]
    s3 = stack.moto.client("s3")
    bucket = stack.resource("StagingBucket")
    blobs = s3.list_objects_v2(Bucket=bucket, Prefix=f"blobs/{owner_key(owner)}/").get("KeyCount", 0)
    return {"items": len(mine), "blobs": blobs}


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("dotdot", {"files": {"../etc/passwd": "x"}}, "'..'"),
    ("absolute", {"files": {"//etc/passwd": "x"}}, "absolute"),
    ("backslash", {"files": {"a\\b.html": "x"}}, "backslash"),
    ("control", {"files": {"a\u0001.html": "x"}}, "control"),
    ("empty-segment", {"files": {"a//b.html": "x"}}, "empty segment"),
    ("folder", {"files": {"dir/": "x"}}, "folder"),
    ("duplicate", {"files": {"/a.html": "x", "a.html": "y"}}, "same file"),
    ("bad-base64", {"files": {"img.png": {"data": "%%%not base64%%%", "encoding": "base64"}}}, "'img.png'"),
    ("unknown-field", {"files": {"a.html": "x"}, "flavour": "vanilla"}, "flavour"),
    ("unknown-file-field", {"files": {"a.png": {"data": "", "encoding": "base64", "mode": 7}}}, "mode"),
    ("unknown-auth-mode", {"files": {"a.html": "x"}, "authMode": "god-mode"}, "authMode"),
    ("unknown-encoding", {"files": {"a.png": {"data": "", "encoding": "rot13"}}}, "encoding"),
    ("files-wrong-type", {"files": ["a.html"]}, "files"),
    ("no-files", {"files": {}}, "files"),
    ("missing-files", {"chatId": "c"}, "files"),
    ("spa-wrong-type", {"files": {"a.html": "x"}, "spa": "yes"}, "spa"),
    ("file-wrong-type", {"files": {"a.html": 42}}, "a.html"),
    ("bad-chat-id", {"files": {"a.html": "x"}, "chatId": "has spaces"}, "chatId"),
    ("bad-html-handling", {"files": {"a.html": "x"}, "htmlHandling": "sometimes"}, "htmlHandling"),
    (
        "bad-worker-name",
        {"files": {"a.html": "x"}, "authMode": "user-token", "token": "t", "accountId": "a", "workerName": "Not_Valid"},
        "workerName",
    ),
    ("token-without-account", {"files": {"a.html": "x"}, "authMode": "user-token", "token": "t"}, "accountId"),
    ("account-without-token", {"files": {"a.html": "x"}, "authMode": "user-token", "accountId": "a"}, "token"),
    ("too-many-files", {"files": {f"f{i}.txt": "" for i in range(20_001)}}, "20000"),
    ("unicode-twins", {"files": {"caf\u00e9.html": "a", "cafe\u0301.html": "b"}}, "same file"),
]


@pytest.mark.parametrize(("body", "mentions"), [(b, m) for _, b, m in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES])
def test_bad_requests_are_400_and_write_nothing(api: Api, owner: str, body: Any, mentions: str) -> None:
    status, answer, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 400, answer
    assert set(answer) == {"error", "code"}
    assert mentions in answer["error"]
    assert _written(api.local, owner) == {"items": 0, "blobs": 0}


def test_secrets_never_come_back_in_errors(api: Api) -> None:
    secret = "cf-secret-token-value-123"
    body = {"files": {"../x": "x"}, "authMode": "user-token", "token": secret, "accountId": "acct"}
    _, answer, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert secret not in str(answer)


def test_body_that_is_not_json_is_400(api: Api) -> None:
    status, _answer, _ = api.request(
        "POST", "/deployments/cloudflare", headers={"Content-Type": "application/json"}, body=None
    )
    assert status == 400
    raw = api.http.request(
        "POST",
        api.local.api_url + "/deployments/cloudflare",
        body=b"{not json",
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    assert raw.status == 400


def test_a_body_nested_too_deeply_is_400_not_500(api: Api, owner: str) -> None:
    """Reproduced: a few thousand nested arrays answered 500 (the parser's RecursionError)."""
    deep = "[" * 100_000 + "]" * 100_000
    raw = api.http.request(
        "POST",
        api.local.api_url + "/deployments/cloudflare",
        body=('{"files": {"a.html": "x"}, "chatId": ' + deep + "}").encode(),
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    assert raw.status == 400, raw.data
    assert b"nested too deeply" in raw.data
    assert _written(api.local, owner) == {"items": 0, "blobs": 0}


def test_request_over_lambdas_limit_is_413(api: Api, owner: str) -> None:
    big = base64.b64encode(b"\0" * (5 * 1024 * 1024)).decode()
    status, _, _ = api.request("POST", "/deployments/cloudflare", body={"files": {"big.bin": {"data": big}}})
    assert status == 413
    assert _written(api.local, owner) == {"items": 0, "blobs": 0}


@pytest.fixture
def no_platform_credentials(stack: LocalStack) -> Iterator[None]:
    stack.set_platform_secret({})
    stack.hosts["CloudflareDeployFunction"].kill_all()  # a cold start reads the secret afresh
    yield
    stack.set_platform_secret()
    stack.hosts["CloudflareDeployFunction"].kill_all()


@pytest.mark.usefixtures("no_platform_credentials")
def test_quick_deploy_without_platform_credentials_is_refused(api: Api, owner: str) -> None:
    status, answer, _ = api.request("POST", "/deployments/cloudflare", body={"files": {"index.html": "x"}})
    assert status == 400
    assert answer["code"] == "platform_not_configured"
    assert _written(api.local, owner) == {"items": 0, "blobs": 0}


def test_accepted_answer_shape_and_owner_isolation(api: Api, api_for: Any, owner: str) -> None:
    answer = deploy(api, "cloudflare", {"files": {"index.html": "<p>x</p>"}, "projectName": "Shape Test"})
    assert answer["success"] is True
    assert answer["status"] == "pending"
    assert answer["deploymentId"].startswith("dpl_")
    assert answer["statusUrl"] == f"/deployments/{answer['deploymentId']}"
    assert answer["url"].startswith("https://sd-shape-test-")
    assert answer["url"].endswith(".sitedeploy-local.workers.dev")
    assert answer["siteId"].startswith("site_")
    intruder = api_for("intruder")
    assert intruder.get(answer["statusUrl"])[0] == 404
    wait_terminal(api, answer["deploymentId"])
    assert intruder.get(answer["statusUrl"])[0] == 404
