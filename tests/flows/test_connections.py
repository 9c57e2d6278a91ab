"""A user's connections: verified before stored, sealed, and what the Deploy button shows."""

from __future__ import annotations

import pytest

from sitedeploy.domain.errors import ApiError
from sitedeploy.flows import connections
from sitedeploy.services import Services
from tests.fakes.platform import FakePlatform
from tests.flows.conftest import OWNER, PLATFORM


def test_good_credentials_are_verified_then_sealed(services: Services) -> None:
    stored = connections.connect(services, OWNER, PLATFORM, {"token": "good-token", "accountId": "acct"})
    assert stored.account_name == "Fake Co"
    assert services.stores.connections.secret(OWNER, PLATFORM) == {"token": "good-token", "accountId": "acct"}
    assert "good-token" not in stored.model_dump_json()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"token": "bad-token", "accountId": "acct"}, "credentials_rejected"),
        ({"token": "good-token"}, "validation_error"),
        ({"token": "good-token", "accountId": "acct", "extra": 1}, "validation_error"),
        (["not", "an", "object"], "validation_error"),
    ],
)
def test_refused_credentials_store_nothing(services: Services, body: object, code: str) -> None:
    with pytest.raises(ApiError) as refused:
        connections.connect(services, OWNER, PLATFORM, body)
    assert refused.value.code == code
    assert "bad-token" not in refused.value.message
    assert services.stores.connections.list(OWNER) == []


def test_the_deploy_button_sees_quick_deploy_and_connections(services: Services, platform: FakePlatform) -> None:
    [row] = connections.overview(services, OWNER).platforms
    assert (row.quick_deploy, row.connected) == (True, False)
    connections.connect(services, OWNER, PLATFORM, {"token": "good-token", "accountId": "acct"})
    platform.quick_deploy = False
    [row] = connections.overview(services, OWNER).platforms
    assert (row.quick_deploy, row.connected) == (False, True)


def test_stats_need_a_connection(services: Services) -> None:
    with pytest.raises(ApiError) as refused:
        connections.stats(services, OWNER, PLATFORM)
    assert refused.value.code == "connection_required"
    connections.connect(services, OWNER, PLATFORM, {"token": "good-token", "accountId": "acct"})
    assert connections.stats(services, OWNER, PLATFORM).workers == []
    connections.disconnect(services, OWNER, PLATFORM)
    with pytest.raises(ApiError):
        connections.disconnect(services, OWNER, PLATFORM)
