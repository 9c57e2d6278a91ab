"""Accepting a deployment: everything is checked before anything is written."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from sitedeploy.domain.errors import ApiError
from sitedeploy.domain.models import AuthMode, DeploymentStatus
from sitedeploy.flows import accept
from sitedeploy.services import Services
from sitedeploy.stores.secrets import deployment_context
from tests.fakes.platform import FakeDeployRequest, FakePlatform
from tests.fakes.stores import InMemoryDeployments, InMemorySites, InMemoryStaging
from tests.flows.conftest import OWNER, PLATFORM, request


def _written(services: Services) -> dict[str, Any]:
    deployments, sites, staging = services.stores.deployments, services.stores.sites, services.stores.staging
    assert isinstance(deployments, InMemoryDeployments)
    assert isinstance(sites, InMemorySites)
    assert isinstance(staging, InMemoryStaging)
    return {"deployments": len(deployments.records), "sites": len(sites.sites), "blobs": len(staging.blobs)}


def test_quick_deploy_stages_the_files_and_writes_a_pending_deployment(services: Services) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request(chatId="c1"))
    assert answer.status is DeploymentStatus.PENDING
    record = services.stores.deployments.get(answer.deployment_id)
    assert record is not None
    assert record.auth_mode is AuthMode.PLATFORM_MANAGED
    assert record.account_id == "service-account"
    assert record.sealed_credentials is None
    assert record.file_count == 2
    site = services.stores.sites.get(answer.site_id)
    assert site is not None
    assert site.expires_at is not None  # platform-managed sites expire
    assert site.last_deployment_id == answer.deployment_id
    manifest = services.stores.staging.get_manifest(answer.deployment_id)
    assert [f.path for f in manifest.files] == ["index.html", "logo.png"]
    assert services.stores.staging.read_blob(OWNER, manifest.files[0].sha256) == b"<h1>hi</h1>"


def test_inline_user_credentials_are_sealed_to_the_deployment(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(
        services, PLATFORM, OWNER, request(authMode="user-token", token="user-token-value", accountId="acct-9")
    )
    record = services.stores.deployments.get(answer.deployment_id)
    assert record is not None
    assert record.account_id == "acct-9"
    assert record.sealed_credentials
    assert "user-token-value" not in record.model_dump_json()
    opened = services.stores.sealer.unseal(record.sealed_credentials, deployment_context(answer.deployment_id, OWNER))
    assert opened == {"platform": "cloudflare", "token": "user-token-value", "accountId": "acct-9"}
    with pytest.raises(Exception, match="do not decrypt"):
        services.stores.sealer.unseal(record.sealed_credentials, deployment_context(answer.deployment_id, "thief"))
    site = services.stores.sites.get(answer.site_id)
    assert site is not None
    assert site.expires_at is None  # users' sites never expire


def test_user_token_without_credentials_uses_the_stored_connection(services: Services, platform: FakePlatform) -> None:
    from sitedeploy.domain.models import Connection

    services.stores.connections.store(
        OWNER,
        Connection(platform=PLATFORM, account_id="stored-acct", created_at="t", updated_at="t"),
        {"token": "stored-token", "accountId": "stored-acct"},
    )
    answer = accept.accept(services, PLATFORM, OWNER, request(authMode="user-token"))
    assert platform.called("plan")[0].args["credentials"].account_id == "stored-acct"
    record = services.stores.deployments.get(answer.deployment_id)
    assert record is not None
    assert record.account_id == "stored-acct"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda: request(authMode="user-token"), "connection_required", id="no-connection"),
        pytest.param(lambda: request(manifest={"index.html": "ab" * 32}, files=None), "blobs_missing", id="unstaged"),
    ],
)
def test_a_refused_request_writes_nothing(services: Services, make: Any, code: str) -> None:
    with pytest.raises(ApiError) as refused:
        accept.accept(services, PLATFORM, OWNER, make())
    assert refused.value.code == code
    assert _written(services) == {"deployments": 0, "sites": 0, "blobs": 0}


def test_a_platform_that_refuses_the_plan_leaves_no_staged_blob(services: Services, platform: FakePlatform) -> None:
    platform.quick_deploy = False
    with pytest.raises(ApiError) as refused:
        accept.accept(services, PLATFORM, OWNER, request())
    assert refused.value.code == "platform_not_configured"
    assert _written(services) == {"deployments": 0, "sites": 0, "blobs": 0}


def test_a_staged_blob_over_the_platforms_limit_is_refused(services: Services, platform: FakePlatform) -> None:
    big = b"x" * (platform.max_file_bytes + 1)
    sha = services.stores.staging.put_blob(OWNER, big)
    with pytest.raises(ApiError) as refused:
        accept.accept(services, PLATFORM, OWNER, FakeDeployRequest.model_validate({"manifest": {"big.bin": sha}}))
    assert refused.value.code == "validation_error"
    assert "over the limit" in refused.value.message
    assert _written(services)["deployments"] == 0


def test_a_manifest_of_staged_blobs_is_accepted_without_restaging(services: Services) -> None:
    sha = services.stores.staging.put_blob(OWNER, b"<p>staged</p>")
    staging = services.stores.staging
    assert isinstance(staging, InMemoryStaging)
    puts = staging.puts
    body = FakeDeployRequest.model_validate({"manifest": {"/index.html": sha}, "projectName": "p"})
    answer = accept.accept(services, PLATFORM, OWNER, body)
    assert staging.puts == puts
    assert staging.get_manifest(answer.deployment_id).files[0].size == len(b"<p>staged</p>")


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(services: Services) -> None:
    first = accept.deploy(services, PLATFORM, OWNER, request(), "key-00000001")
    again = accept.deploy(services, PLATFORM, OWNER, request(), "key-00000001")
    assert again == first
    assert _written(services)["deployments"] == 1
    other = accept.deploy(services, PLATFORM, OWNER, request(), "key-00000002")
    assert other.deployment_id != first.deployment_id
    with pytest.raises(ApiError) as reused:
        accept.deploy(services, PLATFORM, OWNER, request(projectName="another"), "key-00000001")
    assert reused.value.code == "idempotency_key_reused"
    # Another owner's key of the same name is theirs alone.
    theirs = accept.deploy(services, PLATFORM, "owner-2", request(), "key-00000001")
    assert theirs.deployment_id != first.deployment_id


def test_inline_bytes_are_staged_under_their_sha256(services: Services) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    for entry in services.stores.staging.get_manifest(answer.deployment_id).files:
        data = services.stores.staging.read_blob(OWNER, entry.sha256)
        assert hashlib.sha256(data).hexdigest() == entry.sha256
        assert len(data) == entry.size
