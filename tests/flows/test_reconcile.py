"""The reconciler over the fakes: each kind of drift it repairs, that it leaves alone what is being
made right now, that it never deletes what the platform says is in use, and that a second pass
changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from sitedeploy.domain import clock
from sitedeploy.domain.tenancy import NameClaim, PoolMember
from sitedeploy.flows import accept, publish, reconcile, sites
from sitedeploy.platforms.base import PlatformError
from sitedeploy.services import Services
from tests.fakes import fake_services
from tests.fakes.books import check_books, check_settled, drift_count, expire_site, ledger, safety_guard
from tests.fakes.interleave import Steps
from tests.fakes.platform import FakePlatform
from tests.fakes.stores import InMemoryTenancy
from tests.flows.conftest import PLATFORM, request


def _services(platform: FakePlatform, grace: float = 0.0) -> Services:
    services = fake_services(platform, reconcile_grace_seconds=grace)
    platform.guard = safety_guard(services)
    return services


def _deployed(services: Services, owner: str, project: str = "shop") -> str:
    answer = accept.accept(services, PLATFORM, owner, request(projectName=project))
    publish.publish(services, answer.deployment_id)
    return answer.site_id


def _pass(services: Services) -> dict[str, int]:
    return dict(reconcile.reconcile(services, settle_seconds=0).drift)


@pytest.fixture(autouse=True)
def _clock() -> Any:
    clock.reset()
    yield
    clock.reset()


def test_books_that_agree_are_left_alone_and_a_pass_is_idempotent() -> None:
    platform = FakePlatform()
    services = _services(platform)
    _deployed(services, "a")
    _deployed(services, "b")
    before = dict(platform.objects)
    assert _pass(services) == {}
    assert _pass(services) == {}
    assert platform.objects == before
    assert platform.called("tear_down") == []


def test_an_orphan_on_the_platform_is_deleted_only_after_the_grace_period() -> None:
    platform = FakePlatform()
    services = _services(platform, grace=900)
    site_id = _deployed(services, "a")
    platform.objects[("service-account", "fk-stray-1234abcd")] = clock.epoch()  # made a moment ago
    assert _pass(services) == {}  # perhaps being made right now: left alone
    clock.travel(901)
    assert _pass(services) == {"orphan_object": 1}
    assert ("service-account", "fk-stray-1234abcd") not in platform.objects
    site = services.stores.sites.get(site_id)
    assert site is not None
    assert ("service-account", site.external_name) in platform.objects
    assert _pass(services) == {}


def test_the_claim_of_a_site_the_reaper_never_handled_is_torn_down_and_given_back() -> None:
    platform = FakePlatform()
    services = _services(platform)
    site_id = _deployed(services, "a")
    expire_site(services, site_id)  # TTL removed it; the reaper's record was lost (the DLQ)
    assert _pass(services) == {"claim_of_gone_site": 1}
    check_settled(services, platform)
    assert platform.objects == {}
    assert ledger(services).quota[next(k for k in ledger(services).quota if k[1] == "SITES#cloudflare")]["n"] == 0


def test_a_stalled_deletion_is_finished() -> None:
    platform = FakePlatform()
    services = _services(platform, grace=60)
    site_id = _deployed(services, "a")
    platform.fail_next("tear_down", PlatformError("down"))
    with pytest.raises(Exception, match="could not be deleted"):
        sites.delete_site(services, "a", site_id)
    assert _pass(services) == {}  # a moment ago: the owner may be retrying it
    clock.travel(61)
    assert _pass(services) == {"deletion_stalled": 1}
    check_settled(services, platform)


def test_counts_drifted_by_older_books_are_set_right_and_unlisted_claims_adopted() -> None:
    platform = FakePlatform()
    services = _services(platform)
    site_id = _deployed(services, "a")
    _deployed(services, "b")
    member = services.stores.tenancy.member(PLATFORM, "service-account")
    assert member is not None
    drift_count(services, member, 7)
    tenancy = services.stores.tenancy
    assert isinstance(tenancy, InMemoryTenancy)
    site = services.stores.sites.get(site_id)
    assert site is not None
    key = NameClaim(PLATFORM, "service-account", site.external_name).key
    tenancy.claims[key] = tenancy.claims[key].__class__(**{**tenancy.claims[key].__dict__, "listed": False})
    drift = _pass(services)
    assert drift == {"claim_unlisted": 1, "count_drift": 1}
    check_books(services, platform)
    assert _pass(services) == {}


def test_an_app_a_dead_lambda_made_is_deleted_and_one_being_made_now_is_not() -> None:
    platform = FakePlatform(accounts=(), growable=3, member_capacity=2, profiles=True)
    services = _services(platform)
    platform.apps["stray-app"] = clock.epoch()  # made, never recorded
    services.stores.tenancy.reserve_member(PLATFORM, "test-1", 3)
    assert _pass(services) == {"orphan_member": 1}
    assert "stray-app" not in platform.apps
    assert services.stores.tenancy.pool_size(PLATFORM, "test-1") == 0
    # A reconciler pass that runs while a request makes an app and seats a site in it.
    steps = Steps(services, platform)
    answer: dict[str, Any] = {}

    def deploy() -> None:
        answer["a"] = accept.accept(services, PLATFORM, "owner", request(projectName="new"))

    steps.before_call("unlisted_members", deploy)
    steps.run(lambda: reconcile.reconcile(services, settle_seconds=0))
    assert platform.removed == ["stray-app"]  # the new app is kept
    publish.publish(services, answer["a"].deployment_id)
    check_settled(services, platform)


def test_a_member_the_platform_says_is_in_use_is_never_deleted() -> None:
    platform = FakePlatform(accounts=(), growable=3, member_capacity=2, profiles=True)
    services = _services(platform)
    site_id = _deployed(services, "a")
    site = services.stores.sites.get(site_id)
    assert site is not None
    member = services.stores.tenancy.member(PLATFORM, site.member_id or "")
    assert member is not None
    drift_count(services, member, 0)
    platform.fail_next("pool_objects", PlatformError("x"))
    assert _pass(services) == {"platform_unreachable": 1}  # a listing that fails repairs nothing
    assert platform.removed == []
    assert "count_drift" in _pass(services)
    assert platform.removed == []
    check_books(services, platform)
    assert isinstance(services.stores.tenancy.member(PLATFORM, member.member_id), PoolMember)
