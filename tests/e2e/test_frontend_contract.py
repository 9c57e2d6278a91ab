"""The front end's contract at the API (../shared/reference/frontend-contract.md): what its types
allow is accepted with its meaning, and nothing it sends for another mode is used or kept."""

from __future__ import annotations

from typing import Any

import pytest

from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import deploy, wait_terminal

pytestmark = pytest.mark.e2e

CF_ACCOUNT = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
CF_TOKEN = "contract-user-cloudflare-token"
LEAKY = "should-never-be-used-or-kept-7f3a"
FILES = {"/index.html": "<h1>contract</h1>"}


@pytest.fixture
def cloudflare_user(stack: LocalStack) -> str:
    stack.cloudflare.add_account(CF_ACCOUNT, name="Contract user", subdomain="contract")
    stack.cloudflare.add_token(CF_TOKEN, [CF_ACCOUNT])
    return CF_ACCOUNT


def _record(stack: LocalStack, deployment_id: str) -> dict[str, Any]:
    item = stack.moto.client("dynamodb").get_item(
        TableName=stack.resource("DeploymentsTable"),
        Key={"pk": {"S": f"DEPLOYMENT#{deployment_id}"}, "sk": {"S": "META"}},
    )["Item"]
    return dict(item)


@pytest.mark.parametrize(
    ("platform", "credentials"),
    [
        ("cloudflare", {"token": LEAKY, "accountId": "not an account!", "workerName": "NOT VALID", "projectId": 7}),
        ("cloudflare", {"token": "", "accountId": ""}),
        (
            "amplify",
            {"accessKeyId": LEAKY, "secretAccessKey": LEAKY, "region": "mars-1", "projectId": {"x": 1}, "appId": "!"},
        ),
        ("amplify", {"accessKeyId": "", "secretAccessKey": "", "region": "us-east-1"}),
    ],
)
def test_quick_deploy_ignores_whatever_the_credential_fields_hold(
    api: Api, stack: LocalStack, platform: str, credentials: dict[str, Any]
) -> None:
    accepted = deploy(api, platform, {"files": FILES, "chatId": "c1", "authMode": "platform-managed", **credentials})
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready", final
    assert final["authMode"] == "platform-managed"
    item = _record(stack, accepted["deploymentId"])
    assert "sealedCredentials" not in item
    assert LEAKY not in str(item)
    logged = [line for path in stack.log_dir.glob("*.log") for line in path.read_text().splitlines()]
    assert not [line for line in logged if LEAKY in line]


def test_the_default_mode_is_quick_deploy_even_with_credential_fields(api: Api) -> None:
    accepted = deploy(api, "cloudflare", {"files": FILES, "chatId": "c1", "token": LEAKY, "accountId": CF_ACCOUNT})
    assert wait_terminal(api, accepted["deploymentId"])["authMode"] == "platform-managed"


@pytest.mark.usefixtures("cloudflare_user")
def test_user_token_empty_fields_mean_the_stored_connection(api: Api) -> None:
    api.request("PUT", "/platform-tokens/cloudflare", body={"token": CF_TOKEN, "accountId": CF_ACCOUNT})
    accepted = deploy(api, "cloudflare", {"files": FILES, "authMode": "user-token", "token": "", "accountId": ""})
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready", final
    assert final["url"].endswith(".contract.workers.dev")


@pytest.mark.usefixtures("cloudflare_user")
def test_cloudflare_project_id_names_the_worker_to_update(api: Api, stack: LocalStack) -> None:
    body = {"files": FILES, "authMode": "user-token", "token": CF_TOKEN, "accountId": CF_ACCOUNT}
    accepted = deploy(api, "cloudflare", {**body, "projectId": "existing-worker"})
    assert wait_terminal(api, accepted["deploymentId"])["status"] == "ready"
    assert stack.cloudflare.script(CF_ACCOUNT, "existing-worker") is not None
    status, answer, _ = api.request("POST", "/deployments/cloudflare", body={**body, "projectId": "Not A Worker"})
    assert status == 400
    assert answer["code"] == "validation_error"
    assert "projectId" in answer["error"]
    status, answer, _ = api.request(
        "POST", "/deployments/cloudflare", body={**body, "projectId": "one", "workerName": "two"}
    )
    assert status == 400
    assert "different Workers" in answer["error"]


def test_an_unknown_field_is_still_refused(api: Api, stack: LocalStack) -> None:
    before = stack.moto.client("dynamodb").scan(TableName=stack.resource("DeploymentsTable"))["Count"]
    status, answer, _ = api.request("POST", "/deployments/cloudflare", body={"files": FILES, "tokn": "typo"})
    assert status == 400
    assert answer == {"error": "tokn: unknown field", "code": "validation_error"}
    assert stack.moto.client("dynamodb").scan(TableName=stack.resource("DeploymentsTable"))["Count"] == before


def test_status_routes_ignore_extra_query_parameters(api: Api) -> None:
    accepted = deploy(api, "amplify", {"files": FILES, "chatId": "c1"})
    query = f"platform=amplify&deploymentId={accepted['deploymentId']}&externalId=undefined&_=123"
    status, answer, _ = api.get(f"/deploy-status?{query}")
    assert status == 200, answer
    assert answer["deploymentId"] == accepted["deploymentId"]
    status, answer, _ = api.get(f"/deployments/{accepted['deploymentId']}?externalId=undefined")
    assert status == 200
    status, answer, _ = api.get("/deployments?chatId=c1&externalId=x")
    assert status == 200
    assert [d["deploymentId"] for d in answer["deployments"]] == [accepted["deploymentId"]]
    assert wait_terminal(api, accepted["deploymentId"])["status"] == "ready"
