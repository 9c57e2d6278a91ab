"""The status API through the local gateway over real HTTP: reading one's own deployments,
ownership (another owner's deployment is a 404), validation, pagination and the one error shape."""

from __future__ import annotations

from typing import Any

import pytest

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentStatus, Platform
from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.factories import deployment


@pytest.fixture
def repo(clean: LocalStack) -> DeploymentsRepository:
    return DeploymentsRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb"))


def test_get_own_deployment(api: Api, owner: str, repo: DeploymentsRepository) -> None:
    # Written in flight: a pending INSERT would wake the live publisher, which would claim it first.
    record = deployment(
        owner, url="https://my-site.acct.workers.dev", status=DeploymentStatus.UPLOADING, started_at=clock.now_iso()
    )
    repo.create(record)
    status, body, _ = api.get(f"/deployments/{record.deployment_id}")
    assert status == 200
    assert body["deploymentId"] == record.deployment_id
    assert body["platform"] == "cloudflare"
    assert body["status"] == "uploading"
    assert body["url"] == "https://my-site.acct.workers.dev"
    assert body["error"] is None
    assert body["progress"] == 0
    assert body["startedAt"]
    assert body["completedAt"] is None
    assert "sealedCredentials" not in body
    assert "ownerId" not in body


def test_another_owners_deployment_is_404_like_a_missing_one(
    api: Api, api_for: Any, repo: DeploymentsRepository, owner: str
) -> None:
    record = deployment(owner)
    repo.create(record)
    intruder = api_for("intruder")
    foreign = intruder.get(f"/deployments/{record.deployment_id}")
    missing = intruder.get("/deployments/dpl_" + "c" * 26)
    assert foreign[0] == missing[0] == 404
    assert foreign[1]["code"] == missing[1]["code"] == "not_found"
    assert intruder.get(f"/deploy-status?platform=cloudflare&deploymentId={record.deployment_id}")[0] == 404
    listing = intruder.get("/deployments")
    assert listing[1]["deployments"] == []


def test_malformed_deployment_id_is_404(api: Api) -> None:
    status, body, _ = api.get("/deployments/..%2F..%2Fetc")
    assert status == 404
    assert set(body) == {"error", "code"}


def test_deploy_status_front_end_polling_url(api: Api, owner: str, repo: DeploymentsRepository) -> None:
    record = deployment(owner, platform=Platform.AMPLIFY, status=DeploymentStatus.UPLOADING)
    repo.create(record)
    repo.transition(record.deployment_id, DeploymentStatus.BUILDING, changes={"progress": 60})
    status, body, _ = api.get(f"/deploy-status?platform=amplify&deploymentId={record.deployment_id}")
    assert status == 200
    assert body["status"] == "building"
    assert body["progress"] == 60
    # The same deployment asked for under the wrong platform is not found.
    assert api.get(f"/deploy-status?platform=cloudflare&deploymentId={record.deployment_id}")[0] == 404


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("?platform=cloudflare", "deploymentId"),
        ("?deploymentId=dpl_x", "platform"),
        ("", "platform"),
        ("?platform=heroku&deploymentId=dpl_x", "platform"),
        ("?platform=amplify&deploymentId=", "deploymentId"),
    ],
)
def test_deploy_status_bad_parameters_are_400(api: Api, query: str, mentions: str) -> None:
    status, body, _ = api.get(f"/deploy-status{query}")
    assert status == 400
    assert set(body) == {"error", "code"}
    assert mentions in body["error"]


@pytest.mark.parametrize("platform", ["cloudflare", "amplify", "netlify", "vercel"])
def test_deploy_status_answers_every_platform_and_an_unknown_id_is_404(api: Api, platform: str) -> None:
    status, body, _ = api.get(f"/deploy-status?platform={platform}&deploymentId=dpl_aaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert status == 404
    assert body["code"] == "not_found"


def test_pagination_over_http(api: Api, owner: str, repo: DeploymentsRepository) -> None:
    created = [deployment(owner, minutes_ago=m) for m in range(5)]
    for record in created:
        repo.create(record)
    seen: list[str] = []
    path = "/deployments?limit=2"
    for _ in range(10):
        status, body, _ = api.get(path)
        assert status == 200
        assert len(body["deployments"]) <= 2
        seen += [d["deploymentId"] for d in body["deployments"]]
        if not body["nextCursor"]:
            break
        path = f"/deployments?limit=2&cursor={body['nextCursor']}"
    assert seen == [r.deployment_id for r in created]


def test_list_filtered_by_chat(api: Api, owner: str, repo: DeploymentsRepository) -> None:
    mine = deployment(owner, chat_id="chat-z")
    repo.create(mine)
    repo.create(deployment(owner, chat_id="chat-y"))
    status, body, _ = api.get("/deployments?chatId=chat-z")
    assert status == 200
    assert [d["deploymentId"] for d in body["deployments"]] == [mine.deployment_id]
    assert body["deployments"][0]["chatId"] == "chat-z"


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=101", "?limit=ten", "?cursor=zzz", "?chatId=" + "x" * 200, "?chatId=a%20b"]
)
def test_list_bad_parameters_are_400(api: Api, query: str) -> None:
    status, body, _ = api.get(f"/deployments{query}")
    assert status == 400
    assert set(body) == {"error", "code"}


def test_another_owners_cursor_is_refused(api: Api, api_for: Any, owner: str, repo: DeploymentsRepository) -> None:
    for m in range(3):
        repo.create(deployment(owner, minutes_ago=m))
    cursor = api.get("/deployments?limit=1")[1]["nextCursor"]
    status, body, _ = api_for("intruder").get(f"/deployments?limit=1&cursor={cursor}")
    assert status == 400
    assert body["code"] == "invalid_cursor"
