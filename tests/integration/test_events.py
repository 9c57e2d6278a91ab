"""Every sample event in events/ replayed with ``sitedeploy-local invoke`` against the session's
local stack: the Docker-free equivalent of `sam local invoke -e events/...`. Each runs in an
execution environment of its own, with its function's template environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sitedeploy.domain.domains import DomainRecord
from sitedeploy.domain.models import AuthMode, DeploymentStatus, Platform, SiteRecord, Target
from sitedeploy.domain.sitefiles import ManifestEntry, SiteManifest
from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy.stores.domains import DomainsRepository
from sitedeploy.stores.sites import SitesRepository
from sitedeploy.stores.staging import Staging
from sitedeploy_local.__main__ import main as local_main
from sitedeploy_local.stack import LocalStack
from tests.factories import deployment

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "events").rglob("*.json"))
SAMPLE_ID = "dpl_abcdefghijklmnopqrstuvwxyz"
LATER_ID = "dpl_zyxwvutsrqponmlkjihgfedcba"
PREVIEW_ID = "dpl_aaaaaaaaaaaaaaaaaaaaaaaaaa"  # events/versions/promote.json
VERSION_ACTIONS = {
    "POST /sites/{siteId}/rollback",
    "POST /deployments/{deploymentId}/promote",
    "POST /sites/{siteId}/claim",
}
SAMPLE_OWNER = "user-123"


def invoke(function: str, event_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    """The command, as a person runs it; (exit code, the JSON it printed on stdout)."""
    code = local_main(["invoke", function, "--event", str(event_path), "--state-dir", str(state_dir), "--quiet"])
    out = capsys.readouterr().out
    return code, json.loads(out)


SAMPLE_CF_TOKEN = "sample-cloudflare-api-token"
SAMPLE_CF_ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def seeded(clean: LocalStack) -> None:
    clean.cloudflare.add_account(SAMPLE_CF_ACCOUNT, name="Sample account", subdomain="sample")
    clean.cloudflare.add_token(SAMPLE_CF_TOKEN, [SAMPLE_CF_ACCOUNT])
    from sitedeploy.domain.models import Connection
    from sitedeploy.stores.connections import ConnectionsRepository
    from sitedeploy.stores.secrets import KmsSealer

    sealer = KmsSealer(clean.resource("UserTokensKey"), clean.moto.client("kms"))
    ConnectionsRepository(clean.resource("PlatformTokensTable"), sealer, clean.moto.client("dynamodb")).store(
        SAMPLE_OWNER,
        Connection(platform=Platform.CLOUDFLARE, account_id=SAMPLE_CF_ACCOUNT, created_at="x", updated_at="x"),
        {"token": SAMPLE_CF_TOKEN, "accountId": SAMPLE_CF_ACCOUNT},
    )
    from sitedeploy.stores.sites import site_update

    clean.moto.client("dynamodb").update_item(
        TableName=clean.resource("DeploymentsTable"),
        **site_update(
            SiteRecord(
                site_id="site_sample",
                owner_id=SAMPLE_OWNER,
                platform=Platform.CLOUDFLARE,
                project_name="sample",
                auth_mode="platform-managed",
                external_name="sd-sample",
                created_at="x",
                updated_at="x",
            ),
            None,
        ),
    )
    # A Vercel site with www.example.com attached (events/domains/*.json).
    clean.moto.client("dynamodb").update_item(
        TableName=clean.resource("DeploymentsTable"),
        **site_update(
            SiteRecord(
                site_id="site_domains_sample",
                owner_id=SAMPLE_OWNER,
                platform=Platform.VERCEL,
                project_name="domains-sample",
                auth_mode="platform-managed",
                external_name="sd-domains-sample",
                created_at="x",
                updated_at="x",
            ),
            None,
        ),
    )
    DomainsRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb")).claim(
        DomainRecord(
            hostname="www.example.com",
            site_id="site_domains_sample",
            owner_id=SAMPLE_OWNER,
            platform=Platform.VERCEL,
            auth_mode=AuthMode.PLATFORM_MANAGED,
            created_at="2026-12-01T00:00:00.000Z",
            updated_at="2026-12-01T00:00:00.000Z",
        ),
        due="9999",
    )
    repo = DeploymentsRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb"))
    sites = SitesRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb"))
    staging = Staging(clean.resource("StagingBucket"), clean.moto.client("s3"))
    page = b"<!doctype html><h1>sample</h1>"
    manifest = SiteManifest(
        files=[ManifestEntry(path="index.html", sha256=staging.put_blob(SAMPLE_OWNER, page), size=len(page),
                             contentType="text/html")]
    )  # fmt: skip
    # The site's versions: the sample deployment, a later one live now, and a preview (the sample
    # events roll back to the first, promote the preview, claim the live one). Written in flight
    # first: a pending INSERT would wake the live publisher, which would claim it.
    for deployment_id, chat, target, minutes_ago in (
        (SAMPLE_ID, "chat-1", Target.PRODUCTION, 3),
        (LATER_ID, None, Target.PRODUCTION, 2),
        (PREVIEW_ID, None, Target.PREVIEW, 1),
    ):
        record = deployment(
            SAMPLE_OWNER,
            minutes_ago=minutes_ago,
            deployment_id=deployment_id,
            chat_id=chat,
            site_id="site_sample",
            external_name="sd-sample",
            target=target,
            status=DeploymentStatus.UPLOADING,
        )
        repo.create(record)
        staging.put_manifest(deployment_id, manifest)
        sites.record_version(
            "site_sample",
            deployment_id,
            generation=None,
            keep=10,
            live=target is Target.PRODUCTION,
            keep_due="9999",
            live_key=f"{record.created_at}#{deployment_id}",
        )
        repo.transition(deployment_id, DeploymentStatus.READY, changes={"url": "https://example.workers.dev"})


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", EVENTS, ids=[str(p.relative_to(ROOT / "events")) for p in EVENTS])
def test_sample_event_replays_with_sitedeploy_local_invoke(
    path: Path, stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.loads(path.read_text())
    code, response = invoke(path.parent.name, path, stack.state_dir, capsys)
    assert code == 0, response
    if "Records" in event:  # a stream consumer: the sample's deployment is unknown, nothing fails
        assert response == {"batchItemFailures": []}
        return
    if path.parent.name == "sweeper":  # nothing is stuck
        assert response == {"timedOut": [], "polled": [], "finished": [], "letGo": []}
        return
    if path.parent.name == "domain_refresher":  # the sample domain is not due yet
        assert response == {"checked": 0}
        return
    if path.parent.name == "keeper":  # nothing is due yet; nothing kept is lost
        assert response["lost"] == {}
        return
    if path.parent.name == "reconciler":  # the pools agree with the platforms: nothing to repair
        assert response["drift"] == {}
        assert response["repaired"] == {}
        assert response["members"] >= 1
        return
    assert response["statusCode"] in (200, 202, 204), response
    if response["statusCode"] == 204:  # DELETE of the seeded connection, site or domain
        assert event["routeKey"] in {
            "DELETE /platform-tokens/{platform}",
            "DELETE /sites/{siteId}",
            "DELETE /sites/{siteId}/domains/{hostname}",
        }
        return
    body = json.loads(response["body"])
    if event["routeKey"] == "GET /openapi.json":  # no authorizer claims: the packaged document, as is
        assert response["headers"]["Content-Type"] == "application/json"
        assert response["body"] == (ROOT / "layers/sitedeploy/python/sitedeploy/openapi.json").read_text()
        assert body["info"]["title"] == "sitedeploy"
        return
    if event["routeKey"].endswith("/domains"):  # the sample site's one domain
        found = body.get("domains", [body])
        assert [d["hostname"] for d in found] == ["www.example.com"]
        return
    if "sites" in body:
        assert sorted(site["siteId"] for site in body["sites"]) == ["site_domains_sample", "site_sample"]
    elif "connections" in body:
        assert [c["platform"] for c in body["connections"]] == ["cloudflare"]
    elif "platforms" in body:
        assert {p["platform"]: p["connected"] for p in body["platforms"]} == {
            "cloudflare": True,
            "amplify": False,
            "netlify": False,
            "vercel": False,
        }
    elif "workers" in body or "connection" in body or "accountName" in body:
        assert SAMPLE_CF_TOKEN not in response["body"]
    elif "uploads" in body:  # the sample's blobs were never staged: both are asked for
        assert sorted(u["sha256"] for u in body["uploads"]) == ["a" * 64, "b" * 64]
        assert body["alreadyStaged"] == 0
    elif "deployments" in body and "versionsKept" in body:  # the sample site's versions, newest first
        assert [d["deploymentId"] for d in body["deployments"]] == [PREVIEW_ID, LATER_ID, SAMPLE_ID]
        assert [d["live"] for d in body["deployments"]] == [False, True, False]
    elif "deployments" in body:
        assert [d["deploymentId"] for d in body["deployments"]] == [SAMPLE_ID]
    elif event["routeKey"] in VERSION_ACTIONS:
        assert response["statusCode"] == 202
        assert body["kind"] in {"rollback", "promote", "claim"}
        assert body["status"] == "pending"
    elif event["routeKey"].startswith("POST /deployments/"):
        assert response["statusCode"] == 202
        assert body["status"] == "pending"
        assert body["deploymentId"].startswith("dpl_")
    else:
        assert body["deploymentId"] == SAMPLE_ID
        assert body["status"] == "ready"


def test_a_function_error_is_printed_and_exits_1(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "not-an-event.json"
    broken.write_text(json.dumps(["not", "an", "event"]))
    code, response = invoke("DeployStatusFunction", broken, stack.state_dir, capsys)
    assert code == 1
    assert set(response) == {"errorType", "errorMessage"}
    assert response["errorType"]


def test_an_unknown_function_is_a_usage_error(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    code = local_main(["invoke", "no_such_fn", "--event", str(EVENTS[0]), "--state-dir", str(stack.state_dir)])
    assert code == 2
    assert "no function 'no_such_fn'" in capsys.readouterr().err


def test_with_no_stack_running_invoke_starts_one_for_the_call(tmp_path: Path) -> None:
    event = ROOT / "events" / "deploy_status" / "list_deployments.json"
    done = subprocess.run(
        [sys.executable, "-m", "sitedeploy_local", "invoke", "deploy_status", "--event", str(event)],
        cwd=tmp_path,  # no .sitedeploy/ here: nothing is running
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "starting one for this invocation" in done.stderr
    response = json.loads(done.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"deployments": [], "nextCursor": None}
