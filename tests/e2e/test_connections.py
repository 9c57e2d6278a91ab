"""Stored connections: verified before storing, sealed with KMS under {ownerId, platform}, never
returned, used by user-token deploys, and gone for good when deleted."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sitedeploy.domain.models import Platform
from sitedeploy.stores.connections import ConnectionsRepository
from sitedeploy.stores.secrets import CredentialsError, KmsSealer
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import deploy, inline_files, wait_terminal

pytestmark = pytest.mark.e2e

CF_ACCOUNT = "c0ffee00c0ffee00c0ffee00c0ffee00"
CF_TOKEN = "connected-cloudflare-token-secret"
AWS_KEY = "AKIACONNECTEDKEYS001"
AWS_SECRET = "connected-aws-secret-access-key"
SECRETS = (CF_TOKEN, AWS_SECRET)


@pytest.fixture
def cloudflare_account(stack: LocalStack) -> str:
    stack.cloudflare.add_account(CF_ACCOUNT, name="Connected Co", subdomain="connected")
    stack.cloudflare.add_token(CF_TOKEN, [CF_ACCOUNT])
    return CF_ACCOUNT


@pytest.fixture
def known_aws_keys(stack: LocalStack) -> Iterator[None]:
    """The Amplify emulator refuses access keys it does not know, as AWS would."""
    stack.amplify.require_access_keys = {AWS_KEY, "AKIAUSEROWNKEYS00001", "AKIAADAPTERTESTS0001", "local"}
    yield
    stack.amplify.require_access_keys = None


def _repo(stack: LocalStack) -> ConnectionsRepository:
    sealer = KmsSealer(stack.resource("UserTokensKey"), stack.moto.client("kms"))
    return ConnectionsRepository(stack.resource("PlatformTokensTable"), sealer, stack.moto.client("dynamodb"))


def _no_secret(payload: Any) -> None:
    text = str(payload)
    for secret in SECRETS:
        assert secret not in text
    for field in ("token", "secretAccessKey", "sessionToken", "sealed"):
        assert f"'{field}'" not in text


@pytest.mark.usefixtures("cloudflare_account")
def test_cloudflare_connection_round_trip(api: Api, owner: str, stack: LocalStack) -> None:
    status, stored, _ = api.request(
        "PUT", "/platform-tokens/cloudflare", body={"token": CF_TOKEN, "accountId": CF_ACCOUNT}
    )
    assert status == 200, stored
    assert stored["platform"] == "cloudflare"
    assert stored["accountId"] == CF_ACCOUNT
    assert stored["accountName"] == "Connected Co"
    assert stored["createdAt"]
    _no_secret(stored)
    listed = api.get("/platform-tokens")[1]
    assert [c["platform"] for c in listed["connections"]] == ["cloudflare"]
    _no_secret(listed)
    overview = {p["platform"]: p for p in api.get("/platforms")[1]["platforms"]}
    assert overview["cloudflare"]["connected"] is True
    assert overview["cloudflare"]["quickDeploy"] is True
    assert overview["amplify"]["connected"] is False
    assert overview["amplify"]["quickDeploy"] is True
    # The item holds ciphertext only.
    item = stack.moto.client("dynamodb").get_item(
        TableName=stack.resource("PlatformTokensTable"), Key={"ownerId": {"S": owner}, "platform": {"S": "cloudflare"}}
    )["Item"]
    assert CF_TOKEN not in str(item)
    assert _repo(stack).secret(owner, Platform.CLOUDFLARE) == {"token": CF_TOKEN, "accountId": CF_ACCOUNT}


@pytest.mark.usefixtures("cloudflare_account")
def test_a_ciphertext_moved_to_another_owner_or_platform_does_not_decrypt(
    api: Api, owner: str, stack: LocalStack
) -> None:
    api.request("PUT", "/platform-tokens/cloudflare", body={"token": CF_TOKEN, "accountId": CF_ACCOUNT})
    ddb = stack.moto.client("dynamodb")
    table = stack.resource("PlatformTokensTable")
    item = ddb.get_item(TableName=table, Key={"ownerId": {"S": owner}, "platform": {"S": "cloudflare"}})["Item"]
    thief = f"thief-{uuid.uuid4().hex[:6]}"
    ddb.put_item(TableName=table, Item={**item, "ownerId": {"S": thief}})
    ddb.put_item(TableName=table, Item={**item, "platform": {"S": "amplify"}})
    repo = _repo(stack)
    with pytest.raises(CredentialsError):
        repo.secret(thief, Platform.CLOUDFLARE)
    with pytest.raises(CredentialsError):
        repo.secret(owner, Platform.AMPLIFY)
    assert repo.secret(owner, Platform.CLOUDFLARE) is not None


@pytest.mark.usefixtures("cloudflare_account", "known_aws_keys")
def test_bad_credentials_are_a_clear_4xx_and_store_nothing(api: Api, owner: str, stack: LocalStack) -> None:
    status, answer, _ = api.request(
        "PUT", "/platform-tokens/cloudflare", body={"token": "not-a-real-token", "accountId": CF_ACCOUNT}
    )
    assert status == 400
    assert answer["code"] == "credentials_rejected"
    assert "Cloudflare" in answer["error"]
    assert any(r.route == "tokens-verify" and r.status == 401 for r in stack.cloudflare.requests)
    status, answer, _ = api.request(
        "PUT",
        "/platform-tokens/amplify",
        body={"accessKeyId": "AKIAUNKNOWNKEYS00001", "secretAccessKey": "nope", "region": "us-east-1"},
    )
    assert status == 400
    assert answer["code"] == "credentials_rejected"
    assert api.get("/platform-tokens")[1]["connections"] == []
    assert _repo(stack).list(owner) == []
    status, answer, _ = api.request("PUT", "/platform-tokens/cloudflare", body={"token": CF_TOKEN})
    assert status == 400
    assert "accountId" in answer["error"]
    assert api.request("PUT", "/platform-tokens/netlify", body={})[0] == 400


@pytest.mark.usefixtures("cloudflare_account", "known_aws_keys")
def test_verify_checks_without_storing(api: Api, owner: str, stack: LocalStack) -> None:
    status, answer, _ = api.request(
        "POST",
        "/platform-tokens/amplify/verify",
        body={"accessKeyId": AWS_KEY, "secretAccessKey": AWS_SECRET, "region": "us-east-1"},
    )
    assert status == 200, answer
    assert answer["valid"] is True
    assert answer["connection"]["region"] == "us-east-1"
    _no_secret(answer)
    assert _repo(stack).list(owner) == []
    assert (
        api.request("POST", "/platform-tokens/cloudflare/verify", body={"token": "bad", "accountId": CF_ACCOUNT})[0]
        == 400
    )


@pytest.mark.usefixtures("cloudflare_account", "known_aws_keys")
def test_deploys_use_the_stored_connection_then_fail_clearly_once_it_is_deleted(api: Api, stack: LocalStack) -> None:
    api.request("PUT", "/platform-tokens/cloudflare", body={"token": CF_TOKEN, "accountId": CF_ACCOUNT})
    api.request(
        "PUT",
        "/platform-tokens/amplify",
        body={"accessKeyId": AWS_KEY, "secretAccessKey": AWS_SECRET, "region": "us-east-1"},
    )
    files = inline_files({"/index.html": b"<h1>connected</h1>", "/a.bin": bytes(range(256))})
    cf = deploy(api, "cloudflare", {"files": files, "authMode": "user-token", "projectName": "conn"})
    amp = deploy(api, "amplify", {"files": files, "authMode": "user-token", "projectName": "conn"})
    cf_final = wait_terminal(api, cf["deploymentId"])
    amp_final = wait_terminal(api, amp["deploymentId"])
    assert cf_final["status"] == "ready", cf_final
    assert amp_final["status"] == "ready", amp_final
    assert cf_final["url"].endswith(".connected.workers.dev")
    assert any(r.route == "CreateDeployment" and r.access_key_id == AWS_KEY for r in stack.amplify.requests)
    stats = api.get("/platforms/cloudflare/stats")[1]
    assert cf_final["url"].removeprefix("https://").split(".")[0] in [w["name"] for w in stats["workers"]]
    assert all(w["hasAssets"] for w in stats["workers"])
    apps = api.get("/platforms/amplify/stats")[1]["apps"]
    assert apps
    assert all(a["defaultDomain"].endswith(".amplifyapp.com") for a in apps)

    assert api.request("DELETE", "/platform-tokens/cloudflare")[0] == 204
    assert api.request("DELETE", "/platform-tokens/cloudflare")[0] == 404
    status, answer, _ = api.request(
        "POST", "/deployments/cloudflare", body={"files": files, "authMode": "user-token", "projectName": "conn"}
    )
    assert status == 400
    assert answer["code"] == "connection_required"
    assert "connect your cloudflare account first" in answer["error"]
    assert api.get("/platforms/cloudflare/stats")[0] == 400
    lines = [line for path in stack.log_dir.glob("*.log") for line in path.read_text().splitlines()]
    assert lines
    for secret in (*SECRETS, api.token or ""):
        assert not [line for line in lines if secret in line]


def test_inline_credentials_take_precedence(api: Api, stack: LocalStack) -> None:
    stack.cloudflare.add_account(CF_ACCOUNT, name="Connected Co", subdomain="connected")
    stack.cloudflare.add_token(CF_TOKEN, [CF_ACCOUNT])
    other_account = "0ther0ther0ther0ther0ther0ther00"
    stack.cloudflare.add_account(other_account, name="Other", subdomain="other")
    stack.cloudflare.add_token("inline-token-value", [other_account])
    api.request("PUT", "/platform-tokens/cloudflare", body={"token": CF_TOKEN, "accountId": CF_ACCOUNT})
    accepted = deploy(
        api,
        "cloudflare",
        {
            "files": {"index.html": "x"},
            "authMode": "user-token",
            "token": "inline-token-value",
            "accountId": other_account,
        },
    )
    assert accepted["url"].endswith(".other.workers.dev")
    assert wait_terminal(api, accepted["deploymentId"])["status"] == "ready"


def test_cli_connect_connections_disconnect(clean: LocalStack, owner: str, tmp_path: Any) -> None:
    clean.cloudflare.add_account(CF_ACCOUNT, name="Connected Co", subdomain="connected")
    clean.cloudflare.add_token(CF_TOKEN, [CF_ACCOUNT])
    env = {"SITEDEPLOY_API_URL": clean.api_url, "SITEDEPLOY_TOKEN": clean.mint_token(owner), "PATH": "/usr/bin:/bin"}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sitedeploy_cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    done = cli("connect", "cloudflare", "--account-id", CF_ACCOUNT, "--secret-stdin", stdin=CF_TOKEN + "\n")
    assert done.returncode == 0, done.stderr
    assert "connected: cloudflare" in done.stdout
    assert "Connected Co" in done.stdout
    listed = cli("--json", "connections")
    assert [c["platform"] for c in json.loads(listed.stdout)["connections"]] == ["cloudflare"]
    refused = cli("connect", "cloudflare", "--account-id", CF_ACCOUNT, "--secret-stdin", stdin="wrong-token\n")
    assert refused.returncode != 0
    assert "Cloudflare refused the credentials" in refused.stderr
    no_terminal = cli("connect", "cloudflare", "--account-id", CF_ACCOUNT)
    assert no_terminal.returncode != 0
    assert "--secret-stdin" in no_terminal.stderr
    gone = cli("disconnect", "cloudflare")
    assert gone.returncode == 0, gone.stderr
    assert "no connected accounts" in cli("connections").stdout
    for run in (done, listed, refused, no_terminal, gone):
        assert CF_TOKEN not in run.stdout + run.stderr
        assert "Traceback" not in run.stderr
