"""The local gateway over real HTTP, standing in for API Gateway (HTTP API): its JWT authorizer
(signature, issuer, audience, expiry, the bearer prefix), its own 404s for what no route takes,
path parameters handed to the function decoded, and CORS for the allowed origins."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sitedeploy.domain.models import DeploymentStatus
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


def test_answers_on_one_kept_alive_connection_are_framed_whole(api: Api, stack: LocalStack) -> None:
    """Each answer is written in one piece (head and body together): several on one connection,
    errors among them, must each arrive complete and leave the connection usable."""
    where = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=10)
    headers = {"Authorization": f"Bearer {api.token}"}
    try:
        connection.request("GET", "/deployments", headers=headers)
        first = connection.getresponse()
        assert first.status == 200
        assert json.loads(first.read()) == {"deployments": [], "nextCursor": None}
        socket_before = connection.sock
        connection.request("GET", "/no-such-route", headers=headers)
        missing = connection.getresponse()
        assert missing.status == 404
        assert missing.read()
        connection.request("GET", "/deployments?limit=1", headers=headers)
        again = connection.getresponse()
        assert again.status == 200
        assert json.loads(again.read())["deployments"] == []
        assert connection.sock is socket_before  # the same connection throughout
    finally:
        connection.close()
