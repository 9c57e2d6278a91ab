"""Every sample event in events/ through its function's handler, in-process: the Docker-free
equivalent of `sam local invoke -e events/...`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sitedeploy.models import DeploymentStatus
from sitedeploy.records import DeploymentsRepository
from sitedeploy_local.stack import LocalStack
from tests.factories import deployment

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "events").rglob("*.json"))
SAMPLE_ID = "dpl_abcdefghijklmnopqrstuvwxyz"
SAMPLE_OWNER = "user-123"


class Context:
    function_name = "local"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:local"
    memory_limit_in_mb = 512
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/local"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _load_handler(function_dir: str) -> Any:
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"fn_{function_dir}", path)
    assert spec
    assert spec.loader
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


SAMPLE_CF_TOKEN = "sample-cloudflare-api-token"
SAMPLE_CF_ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def seeded(clean: LocalStack) -> None:
    clean.cloudflare.add_account(SAMPLE_CF_ACCOUNT, name="Sample account", subdomain="sample")
    clean.cloudflare.add_token(SAMPLE_CF_TOKEN, [SAMPLE_CF_ACCOUNT])
    from sitedeploy.connections import Connection, ConnectionsRepository
    from sitedeploy.models import Platform

    ConnectionsRepository(clean.resource("PlatformTokensTable"), clean.moto.client("dynamodb")).store(
        SAMPLE_OWNER,
        Connection(platform=Platform.CLOUDFLARE, account_id=SAMPLE_CF_ACCOUNT, created_at="x", updated_at="x"),
        {"token": SAMPLE_CF_TOKEN, "accountId": SAMPLE_CF_ACCOUNT},
    )
    from sitedeploy.sites import SiteRecord, SitesRepository

    SitesRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb")).record_deploy(
        SiteRecord(
            site_id="site_sample",
            owner_id=SAMPLE_OWNER,
            platform=Platform.CLOUDFLARE,
            project_name="sample",
            auth_mode="platform-managed",
            external_name="sd-sample",
            created_at="x",
            updated_at="x",
        )
    )
    repo = DeploymentsRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb"))
    # Written in flight: a pending INSERT would wake the live publisher, which would claim it first.
    record = deployment(SAMPLE_OWNER, deployment_id=SAMPLE_ID, chat_id="chat-1", status=DeploymentStatus.UPLOADING)
    repo.create(record)
    repo.transition(SAMPLE_ID, DeploymentStatus.READY, changes={"url": "https://example.workers.dev"})


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", EVENTS, ids=[str(p.relative_to(ROOT / "events")) for p in EVENTS])
def test_sample_event_runs_through_its_handler(path: Path) -> None:
    handler = _load_handler(path.parent.name)
    event = json.loads(path.read_text())
    response = handler(event, Context())
    if "Records" in event:  # a stream consumer: the sample's deployment is unknown, nothing fails
        assert response == {"batchItemFailures": []}
        return
    if event.get("detail-type") == "Scheduled Event":  # the sweeper: nothing is stuck
        assert response == {"timedOut": [], "polled": [], "finished": []}
        return
    assert response["statusCode"] in (200, 202, 204), response
    if response["statusCode"] == 204:  # DELETE of the seeded connection or site
        assert event["routeKey"] in {"DELETE /platform-tokens/{platform}", "DELETE /sites/{siteId}"}
        return
    body = json.loads(response["body"])
    if event["routeKey"] == "GET /openapi.json":  # no authorizer claims: the packaged document, as is
        assert response["headers"]["Content-Type"] == "application/json"
        assert response["body"] == (ROOT / "layers/sitedeploy/python/sitedeploy/openapi.json").read_text()
        assert body["info"]["title"] == "sitedeploy"
        return
    if "sites" in body:
        assert [site["siteId"] for site in body["sites"]] == ["site_sample"]
    elif "connections" in body:
        assert [c["platform"] for c in body["connections"]] == ["cloudflare"]
    elif "platforms" in body:
        assert {p["platform"]: p["connected"] for p in body["platforms"]} == {"cloudflare": True, "amplify": False}
    elif "workers" in body or "connection" in body or "accountName" in body:
        assert SAMPLE_CF_TOKEN not in response["body"]
    elif "uploads" in body:  # the sample's blobs were never staged: both are asked for
        assert sorted(u["sha256"] for u in body["uploads"]) == ["a" * 64, "b" * 64]
        assert body["alreadyStaged"] == 0
    elif "deployments" in body:
        assert [d["deploymentId"] for d in body["deployments"]] == [SAMPLE_ID]
    elif event["routeKey"].startswith("POST /deployments/"):
        assert response["statusCode"] == 202
        assert body["status"] == "pending"
        assert body["deploymentId"].startswith("dpl_")
    else:
        assert body["deploymentId"] == SAMPLE_ID
        assert body["status"] == "ready"
