"""The status API through the local gateway over real HTTP: the authorizer, ownership, validation,
pagination and the one error shape."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sitedeploy.domain import clock
from sitedeploy.domain.models import DeploymentStatus, Platform
from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy_local.auth import KEY_ID, LOCAL_AUDIENCE, LOCAL_ISSUER
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.factories import deployment


@pytest.fixture
def repo(clean: LocalStack) -> DeploymentsRepository:
    return DeploymentsRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb"))


def _forged(claims: dict[str, Any], key: rsa.RSAPrivateKey | None = None) -> str:
    signer = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": KEY_ID})


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "sub": "u1", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return claims


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-token"),
        pytest.param("Bearer not-a-jwt", id="garbage"),
        pytest.param("Bearer " + _forged(_claims()), id="bad-signature"),
    ],
)
def test_unauthorized_without_a_valid_token(clean: LocalStack, authorization: str | None) -> None:
    api = Api(clean, None)
    headers = {"Authorization": authorization} if authorization else {}
    status, body, response = api.get("/deployments", headers=headers)
    assert status == 401
    assert body == {"message": "Unauthorized"}
    assert "invalid_token" in response.headers.get("www-authenticate", "")


def test_wrong_audience_is_refused(clean: LocalStack) -> None:
    assert clean.issuer is not None
    token = _forged(_claims(aud="some-other-app"), clean.issuer.private_key)
    assert Api(clean, token).get("/deployments")[0] == 401


def test_wrong_issuer_is_refused(clean: LocalStack) -> None:
    assert clean.issuer is not None
    token = _forged(_claims(iss="https://evil.example/"), clean.issuer.private_key)
    assert Api(clean, token).get("/deployments")[0] == 401


def test_expired_token_is_refused(clean: LocalStack) -> None:
    token = clean.mint_token("u1", ttl=-60)
    assert Api(clean, token).get("/deployments")[0] == 401


def test_token_without_bearer_prefix_is_accepted_like_api_gateway(clean: LocalStack) -> None:
    token = clean.mint_token("u1")
    status, body, _ = Api(clean, None).get("/deployments", headers={"Authorization": token})
    assert status == 200
    assert body == {"deployments": [], "nextCursor": None}


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
        ("?platform=netlify&deploymentId=dpl_x", "netlify"),
        ("?platform=vercel&deploymentId=dpl_x", "vercel"),
    ],
)
def test_deploy_status_bad_parameters_are_400(api: Api, query: str, mentions: str) -> None:
    status, body, _ = api.get(f"/deploy-status{query}")
    assert status == 400
    assert set(body) == {"error", "code"}
    assert mentions in body["error"]


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


def test_unknown_route_is_404(api: Api) -> None:
    status, body, _ = api.get("/nope")
    assert status == 404
    assert body == {"message": "Not Found"}


@pytest.mark.parametrize("method", ["QUERY", "PROPFIND", "PATCH", "HEAD"])
@pytest.mark.parametrize("path", ["/deployments", "/nope"])
def test_a_method_no_route_takes_is_api_gateways_404_never_a_5xx(api: Api, method: str, path: str) -> None:
    status, body, response = api.request(method, path)
    assert status == 404
    if method != "HEAD":
        assert body == {"message": "Not Found"}
        assert response.headers["Content-Type"] == "application/json"


def test_path_parameters_reach_the_function_decoded(api: Api, owner: str, repo: DeploymentsRepository) -> None:
    record = deployment(owner, status=DeploymentStatus.UPLOADING)
    repo.create(record)
    # %64 is "d", %5F is "_": API Gateway decodes the path before the function sees it.
    encoded = "%64pl%5F" + record.deployment_id.removeprefix("dpl_")
    status, body, _ = api.get(f"/deployments/{encoded}")
    assert status == 200, body
    assert body["deploymentId"] == record.deployment_id
    # A decoded "/" inside a parameter is no route of the function's: a 404, not a 5xx.
    status, body, _ = api.request("DELETE", "/sites/a%2Fb")
    assert status == 404
    assert body["code"] == "route_not_found"


def test_cors_preflight_and_headers_for_an_allowed_origin(api: Api, stack: LocalStack) -> None:
    origin = stack.console.url
    status, _, response = api.request(
        "OPTIONS",
        "/deployments",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert status == 204
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "authorization" in response.headers["Access-Control-Allow-Headers"]
    status, _, response = api.get("/deployments", headers={"Origin": origin})
    assert status == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin


def test_cors_refuses_an_origin_not_allowed(api: Api) -> None:
    origin = "https://elsewhere.example"
    status, _, response = api.request(
        "OPTIONS", "/deployments", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    status, _, response = api.get("/deployments", headers={"Origin": origin})
    assert status == 200  # answered, but no browser will hand the answer to the page
    assert "Access-Control-Allow-Origin" not in response.headers
