"""Quick Deploy for many tenants, over fakes: owned names, sites that keep their mode, pools with
capacity, newest-wins per site, builds beyond the quota waiting their turn, and nothing written for
a refused request."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from sitedeploy.domain.errors import ApiError
from sitedeploy.domain.models import AuthMode, DeploymentStatus
from sitedeploy.domain.naming import derived_names, site_id
from sitedeploy.domain.tenancy import NameClaim
from sitedeploy.flows import accept, publish, sites, status, sweep
from sitedeploy.platforms.base import BuildState
from sitedeploy.services import Services
from tests.fakes import fake_services
from tests.fakes.platform import FakePlatform
from tests.fakes.stores import InMemoryDeployments, InMemoryStaging, InMemoryTenancy
from tests.flows.conftest import OWNER, PLATFORM, request


def _tenancy(services: Services) -> InMemoryTenancy:
    tenancy = services.stores.tenancy
    assert isinstance(tenancy, InMemoryTenancy)
    return tenancy


def _snapshot(services: Services) -> dict[str, Any]:
    deployments, staging = services.stores.deployments, services.stores.staging
    assert isinstance(deployments, InMemoryDeployments)
    assert isinstance(staging, InMemoryStaging)
    tenancy = _tenancy(services)
    return {
        "deployments": len(deployments.records),
        "sites": len(services.stores.sites.list_for_owner(OWNER)),
        "blobs": len(staging.blobs),
        "manifests": len(staging.manifests),
        "claims": dict(tenancy.claims),
        "seats": {k: m.used for k, m in tenancy.pool.items()},
        "quota": {k: dict(v) for k, v in tenancy.quota.items()},
    }


def test_a_name_another_site_holds_is_never_reused() -> None:
    """Defect 1: two projects that derive the same name (as a 2^40 search could make them) get
    two names; the second never lands on the first's Worker."""
    services = fake_services(FakePlatform())
    victim = accept.accept(services, PLATFORM, "victim", request(projectName="shop"))
    victim_site = services.stores.sites.get(victim.site_id)
    assert victim_site is not None
    # The attacker's project derives exactly the victim's name.
    attacker_names = derived_names("fk", "attacker", "shop")
    victim_claim = next(iter(_tenancy(services).claims.values()))
    squatted = NameClaim(PLATFORM, "service-account", attacker_names[0])
    _tenancy(services).claims[squatted.key] = replace(victim_claim, name=squatted.name)
    attacker = accept.accept(services, PLATFORM, "attacker", request(projectName="shop"))
    attacker_site = services.stores.sites.get(attacker.site_id)
    assert attacker_site is not None
    assert attacker_site.external_name != attacker_names[0]
    assert attacker_site.external_name == attacker_names[1]
    assert attacker_site.external_name.startswith("fk-shop-")  # still readable
    assert services.stores.sites.get(victim.site_id) == victim_site


def test_a_user_token_deploy_of_a_quick_deploy_project_is_another_site() -> None:
    """Defect 2: the platform site keeps its expiry and its place; the user's site is apart."""
    services = fake_services(FakePlatform())
    managed = accept.accept(services, PLATFORM, OWNER, request(projectName="p"))
    before = services.stores.sites.get(managed.site_id)
    user = accept.accept(services, PLATFORM, OWNER, request(projectName="p", authMode="user-token", token="bogus"))
    assert user.site_id != managed.site_id
    assert user.site_id == site_id(OWNER, PLATFORM.value, "p", AuthMode.USER_TOKEN.value)
    after = services.stores.sites.get(managed.site_id)
    assert after == before
    assert after is not None
    assert after.expires_at is not None
    assert after.auth_mode is AuthMode.PLATFORM_MANAGED


def test_a_full_pool_answers_503_and_writes_nothing() -> None:
    services = fake_services(FakePlatform(accounts=(("acct-1", 1), ("acct-2", 1))))
    accept.accept(services, PLATFORM, OWNER, request(projectName="a"))
    accept.accept(services, PLATFORM, OWNER, request(projectName="b"))
    before = _snapshot(services)
    assert before["seats"] == {"POOL#cloudflare#acct-1": 1, "POOL#cloudflare#acct-2": 1}
    with pytest.raises(ApiError) as refused:
        accept.accept(services, PLATFORM, OWNER, request(projectName="c", files={"/new.html": "<p>new bytes</p>"}))
    assert refused.value.status == 503
    assert refused.value.code == "capacity_exhausted"
    assert _snapshot(services) == before
    # A redeploy of a placed site needs no new seat: still accepted.
    accept.accept(services, PLATFORM, OWNER, request(projectName="a"))


def test_sites_share_a_member_only_with_the_same_routing_profile_and_empty_members_go() -> None:
    """Defect 3: app-wide settings are shared only by sites that want the same ones."""
    platform = FakePlatform(accounts=(), growable=2, member_capacity=2, profiles=True)
    services = fake_services(platform)
    spa = [accept.accept(services, PLATFORM, OWNER, request(projectName=f"spa-{i}")) for i in range(3)]
    placed = [services.stores.sites.get(a.site_id) for a in spa]
    assert [site.profile for site in placed if site] == ["spa", "spa", "spa"]
    assert len({site.member_id for site in placed if site}) == 2  # two per member
    assert platform.grown == ["app-1", "app-2"]
    plain_body = request(projectName="plain", files={"/404.html": "x", "/a.html": "y"})
    with pytest.raises(ApiError) as refused:  # a plain site shares no SPA app, and no third app may be made
        accept.accept(services, PLATFORM, OWNER, plain_body)
    assert refused.value.code == "capacity_exhausted"
    # The third SPA site alone in its app: tearing it down deletes the app and gives its room back.
    alone = placed[2]
    assert alone is not None
    sites.delete_site(services, OWNER, alone.site_id)
    assert platform.removed == [alone.member_id]
    assert _tenancy(services).pool_size(PLATFORM, "test-1") == 1
    given_back = _tenancy(services).claims[NameClaim(PLATFORM, alone.member_id or "", alone.external_name).key]
    assert given_back.released_until is not None  # given back; it cools down before anyone takes it
    plain = accept.accept(services, PLATFORM, OWNER, plain_body)
    plain_site = services.stores.sites.get(plain.site_id)
    assert plain_site is not None
    assert (plain_site.profile, plain_site.member_id) == ("plain", "app-3")


def test_a_newer_deployment_supersedes_an_older_one_not_yet_published(
    services: Services, platform: FakePlatform
) -> None:
    older = accept.accept(services, PLATFORM, OWNER, request())
    newer = accept.accept(services, PLATFORM, OWNER, request())
    record = services.stores.deployments.get(older.deployment_id)
    assert record is not None
    assert record.status is DeploymentStatus.ERROR
    assert record.error == f"superseded by {newer.deployment_id}"
    assert publish.publish(services, older.deployment_id) is None
    assert publish.publish(services, newer.deployment_id) is not None
    assert [c.args["job"].deployment_id for c in platform.called("publish")] == [newer.deployment_id]


def test_a_redeploy_reads_its_site_once_and_asks_nothing_of_a_deployment_already_live(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual redeploy: the one before is live, so it cannot be pending and is not superseded
    (no read, no refused write), and the site read for the quotas is the one the placement uses."""
    first = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "v1"}))
    assert publish.publish(services, first.deployment_id) is not None
    asked: list[str] = []  # every site read goes through get (get_for_owner too)
    ended: list[str] = []
    get, fail_if_pending = services.stores.sites.get, services.stores.deployments.fail_if_pending

    def read(site_id: str) -> Any:
        asked.append(site_id)
        return get(site_id)

    def end(deployment_id: str, message: str) -> Any:
        ended.append(deployment_id)
        return fail_if_pending(deployment_id, message)

    monkeypatch.setattr(services.stores.sites, "get", read)
    monkeypatch.setattr(services.stores.deployments, "fail_if_pending", end)
    second = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "v2"}))
    assert (asked, ended) == ([second.site_id], [])
    done = publish.publish(services, second.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.READY
    site = services.stores.sites.get(second.site_id)
    assert site is not None
    assert site.versions == [second.deployment_id, first.deployment_id]
    assert site.live_deployment_id == second.deployment_id
    # One still pending is superseded, as before.
    third = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "v3"}))
    fourth = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "v4"}))
    assert ended == [third.deployment_id]
    record = services.stores.deployments.get(third.deployment_id)
    assert record is not None
    assert record.error == f"superseded by {fourth.deployment_id}"


def test_one_publish_per_site_at_a_time_and_the_newest_goes_last() -> None:
    """Defect 4: a newer deployment accepted while an older one builds waits for it, then wins."""
    platform = FakePlatform(builds=True)
    services = fake_services(platform)
    older = accept.accept(services, PLATFORM, OWNER, request())
    assert publish.publish(services, older.deployment_id) is not None  # building now, holding the site
    newer = accept.accept(services, PLATFORM, OWNER, request(files={"/index.html": "<h1>v2</h1>"}))
    assert publish.publish(services, newer.deployment_id) is None  # waits for its site
    waiting = services.stores.deployments.get(newer.deployment_id)
    assert waiting is not None
    assert (waiting.status, waiting.queue) == (DeploymentStatus.PENDING, f"site#{newer.site_id}")
    platform.build_states.append(BuildState(DeploymentStatus.READY, 100, None, "SUCCEED"))
    built = services.stores.deployments.get(older.deployment_id)
    assert built is not None
    assert status.refresh(services, built, min_interval=0).status is DeploymentStatus.READY
    assert _tenancy(services).woken == [newer.deployment_id]  # its turn, handed back to the publisher
    assert publish.publish(services, newer.deployment_id) is not None
    assert [c.args["job"].deployment_id for c in platform.called("publish")] == [
        older.deployment_id,
        newer.deployment_id,
    ]


def test_builds_beyond_the_quota_wait_in_order_and_start_as_slots_free() -> None:
    platform = FakePlatform(builds=True, concurrent_builds=1)
    services = fake_services(platform, stuck_deployment_minutes=20)
    first = accept.accept(services, PLATFORM, OWNER, request(projectName="one"))
    second = accept.accept(services, PLATFORM, OWNER, request(projectName="two"))
    third = accept.accept(services, PLATFORM, OWNER, request(projectName="three"))
    assert publish.publish(services, first.deployment_id) is not None
    assert publish.publish(services, second.deployment_id) is None
    time.sleep(0.002)  # queued a moment later: its place in line is after the second's
    assert publish.publish(services, third.deployment_id) is None
    queued = [services.stores.deployments.get(a.deployment_id) for a in (second, third)]
    assert [(r.status, r.queue) for r in queued if r] == [(DeploymentStatus.PENDING, "fake#test-1")] * 2
    # Waiting is not being stuck: the sweeper leaves them pending (and hands them back).
    deployments = services.stores.deployments
    assert isinstance(deployments, InMemoryDeployments)
    deployments.age(second.deployment_id, minutes=60)
    report = sweep.sweep(services)
    assert second.deployment_id not in report.timed_out
    assert second.deployment_id in report.woken
    _tenancy(services).woken.clear()
    platform.build_states.append(BuildState(DeploymentStatus.READY, 100, None, "SUCCEED"))
    done = deployments.get(first.deployment_id)
    assert done is not None
    status.refresh(services, done, min_interval=0)
    assert _tenancy(services).woken == [second.deployment_id]  # the oldest waiting one
    started = publish.publish(services, second.deployment_id)
    assert started is not None
    assert started.status is DeploymentStatus.BUILDING
    assert _tenancy(services).slots_held("fake#test-1") == 1


def test_the_sweeper_gives_back_slots_a_dead_publisher_kept() -> None:
    services = fake_services(FakePlatform(builds=True, concurrent_builds=2))
    _tenancy(services).set_slots_held("fake#test-1", 2)  # nothing in flight holds them
    answer = accept.accept(services, PLATFORM, OWNER, request())
    assert publish.publish(services, answer.deployment_id) is None  # no slot
    report = sweep.sweep(services)
    assert report.slots_freed == 2
    assert publish.publish(services, answer.deployment_id) is not None
