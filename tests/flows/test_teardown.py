"""Tearing sites down: the reaper on TTL expiry, and an owner deleting a site now."""

from __future__ import annotations

import pytest

from sitedeploy.domain.errors import ApiError, NotFound
from sitedeploy.domain.models import Connection, SiteRecord
from sitedeploy.flows import accept, publish, sites, teardown
from sitedeploy.platforms.base import PlatformError
from sitedeploy.services import Services
from tests.fakes.platform import FakeCredentials, FakePlatform
from tests.fakes.stores import InMemorySites
from tests.flows.conftest import OWNER, PLATFORM, request

TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def _site_image(services: Services, site_id: str) -> dict[str, object]:
    site = services.stores.sites.get(site_id)
    assert site is not None
    return {"entity": "Site", **site.model_dump(by_alias=True, mode="json")}


def _expire(services: Services, site_id: str) -> dict[str, object]:
    """What DynamoDB's TTL does: the item goes, its old image rides the stream."""
    sites_store = services.stores.sites
    assert isinstance(sites_store, InMemorySites)
    return sites_store.expire(site_id)


def test_the_reaper_tears_down_an_expired_platform_site(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    publish.publish(services, answer.deployment_id)
    image = _expire(services, answer.site_id)
    assert teardown.reap(services, TTL, image) is True
    call = platform.called("tear_down")[0]
    assert call.args["credentials"] is None
    assert call.args["address"].account_id == "service-account"
    [member] = services.stores.tenancy.all_members(PLATFORM)
    assert member.used == 0
    # A second delivery of the same record (the reaper retried) gives nothing back twice.
    assert teardown.reap(services, TTL, image) is False
    assert services.stores.tenancy.all_members(PLATFORM)[0].used == 0
    assert len(platform.called("tear_down")) == 1


def test_a_site_deployed_again_after_its_expiry_is_a_new_site_the_reaper_never_touches(
    services: Services, platform: FakePlatform
) -> None:
    first = accept.accept(services, PLATFORM, OWNER, request())
    publish.publish(services, first.deployment_id)
    image = _expire(services, first.site_id)
    again = accept.accept(services, PLATFORM, OWNER, request())  # the owner deploys again before the reaper runs
    publish.publish(services, again.deployment_id)
    old = SiteRecord.model_validate(image)
    new = services.stores.sites.get(first.site_id)
    assert new is not None
    assert new.generation != old.generation
    assert new.external_name != old.external_name  # the old generation still held its name
    assert teardown.reap(services, TTL, image) is True
    assert [c.args["address"].name for c in platform.called("tear_down")] == [old.external_name]
    [member] = services.stores.tenancy.all_members(PLATFORM)
    assert member.used == 1  # the expired generation's seat given back, the new one kept
    assert (new.account_id or "", new.external_name) in platform.objects


@pytest.mark.parametrize(
    "identity", [{}, {"type": "Service", "principalId": "someone.amazonaws.com"}, {"type": "User"}], ids=str
)
def test_the_reaper_ignores_deletes_that_are_not_ttls(
    services: Services, platform: FakePlatform, identity: dict[str, object]
) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    assert teardown.reap(services, identity, _site_image(services, answer.site_id)) is None
    assert platform.called("tear_down") == []


def test_the_reaper_leaves_users_sites_and_other_items_alone(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request(authMode="user-token", token="t", accountId="a"))
    assert teardown.reap(services, TTL, _site_image(services, answer.site_id)) is None
    assert teardown.reap(services, TTL, {"entity": "Deployment", "id": answer.deployment_id}) is None
    assert teardown.reap(services, TTL, None) is None
    assert platform.called("tear_down") == []


def test_an_owner_deletes_a_site_and_only_their_own(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    publish.publish(services, answer.deployment_id)
    with pytest.raises(NotFound):
        sites.delete_site(services, "someone-else", answer.site_id)
    assert platform.called("tear_down") == []
    assert sites.delete_site(services, OWNER, answer.site_id) is True
    assert services.stores.sites.get(answer.site_id) is None
    assert sites.list_sites(services, OWNER).sites == []


def test_a_users_site_is_deleted_with_their_connection(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request(authMode="user-token", token="t", accountId="a"))
    with pytest.raises(ApiError) as refused:
        sites.delete_site(services, OWNER, answer.site_id)
    assert refused.value.code == "connection_required"
    services.stores.connections.store(
        OWNER,
        Connection(platform=PLATFORM, account_id="a", created_at="t", updated_at="t"),
        {"token": "stored", "accountId": "a"},
    )
    sites.delete_site(services, OWNER, answer.site_id)
    credentials = platform.called("tear_down")[-1].args["credentials"]
    assert isinstance(credentials, FakeCredentials)
    assert credentials.token.get_secret_value() == "stored"


def test_a_platform_failure_leaves_the_site_deleting_and_a_retry_finishes_it(
    services: Services, platform: FakePlatform
) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    publish.publish(services, answer.deployment_id)
    platform.fail_next("tear_down", PlatformError("deleting the Worker failed: HTTP 500"))
    with pytest.raises(ApiError) as refused:
        sites.delete_site(services, OWNER, answer.site_id)
    assert refused.value.status == 502
    assert "HTTP 500" in refused.value.message
    [view] = sites.list_sites(services, OWNER).sites
    assert view.deleting is True  # its place is still its own: nobody else can be put there
    assert services.stores.tenancy.all_members(PLATFORM)[0].used == 1
    with pytest.raises(ApiError) as busy:  # and nothing new goes to it meanwhile
        accept.accept(services, PLATFORM, OWNER, request())
    assert busy.value.code == "site_deleting"
    assert sites.delete_site(services, OWNER, answer.site_id) is True
    assert sites.list_sites(services, OWNER).sites == []
    assert services.stores.tenancy.all_members(PLATFORM)[0].used == 0
