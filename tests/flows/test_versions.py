"""Versions: every ready deployment is one, rollback and promote make one live again (by the
platform's own means where it holds it, else from the kept files), previews leave production
alone, a claim moves a Quick Deploy site into the user's account, and the keeper keeps what the
kept versions need while the bucket expires everything else."""

from __future__ import annotations

from typing import Any

import pytest

from sitedeploy.domain import clock
from sitedeploy.domain.errors import ApiError, BadRequest, Conflict, NotFound, VersionExpired
from sitedeploy.domain.models import (
    AuthMode,
    DeploymentKind,
    DeploymentRecord,
    DeploymentStatus,
    PreviewMode,
    SiteAddress,
    Target,
)
from sitedeploy.domain.tenancy import StaleRead
from sitedeploy.flows import accept, keeper, publish, versions
from sitedeploy.services import Services
from tests.fakes import fake_services
from tests.fakes.platform import FakePlatform
from tests.fakes.stores import InMemoryStaging
from tests.flows.conftest import OWNER, PLATFORM, request

DAY = 86400


@pytest.fixture(autouse=True)
def _clock() -> object:
    clock.reset()
    yield
    clock.reset()


def deploy(services: Services, text: str, **fields: object) -> DeploymentRecord:
    answer = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": text}, **fields))
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.READY, done.error
    return done


def rollback(services: Services, site_id: str, deployment_id: str | None = None) -> DeploymentRecord:
    answer = versions.rollback(services, OWNER, site_id, versions.VersionRequest(deployment_id=deployment_id))
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    return done


def served(platform: FakePlatform, record: DeploymentRecord) -> bytes | None:
    files = platform.served(SiteAddress(record.account_id, record.external_name or ""))
    return files.get("index.html") if files else None


def snapshot(services: Services) -> tuple[int, list[tuple[str, int]]]:
    deployments = services.stores.deployments.records  # type: ignore[attr-defined]
    sites = services.stores.sites.sites  # type: ignore[attr-defined]
    return len(deployments), sorted((s.site_id, s.revision) for s in sites.values())


# -- rollback -----------------------------------------------------------------------------------------


def test_a_rollback_makes_the_version_before_live_again_without_an_upload(
    services: Services, platform: FakePlatform
) -> None:
    v1 = deploy(services, "v1")
    v2 = deploy(services, "v2")
    assert served(platform, v2) == b"v2"
    publishes = len(platform.called("publish"))
    back = rollback(services, v1.site_id)
    assert back.status is DeploymentStatus.READY
    assert back.kind is DeploymentKind.ROLLBACK
    assert back.source_deployment_id == v1.deployment_id
    assert served(platform, back) == b"v1"
    assert len(platform.called("publish")) == publishes  # made live by the platform: nothing sent
    assert platform.called("activate")[-1].args["version_ref"] == v1.version_ref
    site = services.stores.sites.get(v1.site_id)
    assert site is not None
    assert site.live_deployment_id == back.deployment_id
    assert site.versions[:3] == [back.deployment_id, v2.deployment_id, v1.deployment_id]


def test_the_listing_says_which_version_is_live_and_which_can_come_back(services: Services) -> None:
    v1 = deploy(services, "v1")
    v2 = deploy(services, "v2")
    listing = versions.list_versions(services, OWNER, v1.site_id)
    assert [v.deployment_id for v in listing.deployments] == [v2.deployment_id, v1.deployment_id]
    assert [(v.live, v.rollback_available) for v in listing.deployments] == [(True, False), (False, True)]
    assert listing.live_deployment_id == v2.deployment_id
    assert listing.versions_kept == services.settings.versions_per_site
    with pytest.raises(NotFound):
        versions.list_versions(services, "someone-else", v1.site_id)


def test_a_version_whose_deployment_ended_otherwise_is_never_offered_for_rollback(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform served it and the site recorded it, then its deployment was ended elsewhere
    (the sweeper's deadline) before it read ready: a rollback to it is refused
    (version_not_ready), so the listing must not offer it."""
    from sitedeploy.flows import lifecycle

    v1 = deploy(services, "v1")
    record = lifecycle.record_version
    records = services.stores.deployments.records  # type: ignore[attr-defined]

    def then_ended_elsewhere(services_: Services, deployment: DeploymentRecord, **known: Any) -> None:
        record(services_, deployment, **known)
        held = records[deployment.deployment_id]
        records[deployment.deployment_id] = held.model_copy(update={"status": DeploymentStatus.ERROR})

    monkeypatch.setattr(lifecycle, "record_version", then_ended_elsewhere)
    answer = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "v2"}))
    publish.publish(services, answer.deployment_id)
    monkeypatch.undo()
    v3 = deploy(services, "v3")
    listing = versions.list_versions(services, OWNER, v1.site_id)
    offered = {v.deployment_id: v.rollback_available for v in listing.deployments}
    assert offered == {v3.deployment_id: False, answer.deployment_id: False, v1.deployment_id: True}
    with pytest.raises(Conflict) as refused:
        versions.rollback(services, OWNER, v1.site_id, versions.VersionRequest(deployment_id=answer.deployment_id))
    assert refused.value.code == "version_not_ready"


def test_rolling_back_a_rollback_goes_to_the_version_live_before_it(services: Services, platform: FakePlatform) -> None:
    v1 = deploy(services, "v1")
    deploy(services, "v2")
    back = rollback(services, v1.site_id)
    assert served(platform, back) == b"v1"
    again = rollback(services, v1.site_id)
    assert served(platform, again) == b"v2"


@pytest.mark.parametrize(
    ("case", "error", "code"),
    [
        ("live", Conflict, "already_live"),
        ("unknown", NotFound, "not_found"),
        ("foreign", NotFound, "site_not_found"),
        ("failed", Conflict, "version_not_ready"),
    ],
)
def test_a_rollback_that_cannot_be_answers_clearly_and_writes_nothing(
    services: Services, platform: FakePlatform, case: str, error: type[ApiError], code: str
) -> None:
    v1 = deploy(services, "v1")
    v2 = deploy(services, "v2")
    target, owner = v2.deployment_id, OWNER
    if case == "unknown":
        target = "dpl_" + "a" * 26
    elif case == "foreign":
        owner = "someone-else"
        target = v1.deployment_id
    elif case == "failed":
        platform.fail_next("publish", RuntimeError("boom"))
        answer = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "v3"}))
        publish.publish(services, answer.deployment_id)
        target = answer.deployment_id
    before = snapshot(services)
    with pytest.raises(error) as raised:
        versions.rollback(services, owner, v1.site_id, versions.VersionRequest(deployment_id=target))
    assert raised.value.code == code
    assert snapshot(services) == before


def test_a_site_with_one_version_has_nothing_to_roll_back_to(services: Services) -> None:
    only = deploy(services, "v1")
    with pytest.raises(Conflict) as raised:
        versions.rollback(services, OWNER, only.site_id, versions.VersionRequest())
    assert raised.value.code == "no_earlier_version"


def test_a_version_older_than_the_promise_is_expired_and_nothing_is_written(platform: FakePlatform) -> None:
    services = fake_services(platform, versions_per_site=3)
    first = deploy(services, "v0")
    for n in range(1, 4):
        deploy(services, f"v{n}")
    before = snapshot(services)
    with pytest.raises(VersionExpired) as raised:
        versions.rollback(services, OWNER, first.site_id, versions.VersionRequest(deployment_id=first.deployment_id))
    assert raised.value.code == "version_expired"
    assert snapshot(services) == before
    listing = versions.list_versions(services, OWNER, first.site_id)
    assert [v.rollback_available for v in listing.deployments] == [False, True, True, False]


def test_without_platform_versions_a_rollback_sends_the_kept_files_again(platform: FakePlatform) -> None:
    platform.versions = False  # Amplify's manual deploys
    services = fake_services(platform)
    v1 = deploy(services, "v1")
    deploy(services, "v2")
    back = rollback(services, v1.site_id)
    assert back.status is DeploymentStatus.READY
    assert platform.published[back.deployment_id] == {"index.html": b"v1"}
    assert not platform.called("activate")


def test_a_version_the_platform_lost_is_published_again_from_the_kept_files(
    services: Services, platform: FakePlatform
) -> None:
    v1 = deploy(services, "v1")
    deploy(services, "v2")
    platform.version_files.pop(v1.version_ref or "")
    back = rollback(services, v1.site_id)
    assert back.status is DeploymentStatus.READY
    assert platform.published[back.deployment_id] == {"index.html": b"v1"}
    assert served(platform, back) == b"v1"


def test_a_rollback_needing_files_that_expired_is_refused(platform: FakePlatform) -> None:
    platform.versions = False
    services = fake_services(platform)
    v1 = deploy(services, "v1")
    deploy(services, "v2")
    staging = services.stores.staging
    assert isinstance(staging, InMemoryStaging)
    staging.blobs.clear()
    before = snapshot(services)
    with pytest.raises(VersionExpired):
        versions.rollback(services, OWNER, v1.site_id, versions.VersionRequest())
    assert snapshot(services) == before


def test_a_retried_rollback_with_its_key_is_one_rollback(services: Services) -> None:
    v1 = deploy(services, "v1")
    deploy(services, "v2")
    body = versions.VersionRequest()
    first = versions.rollback_once(services, OWNER, v1.site_id, body, "retry-key-1")
    second = versions.rollback_once(services, OWNER, v1.site_id, body, "retry-key-1")
    assert first.deployment_id == second.deployment_id
    with pytest.raises(Conflict):
        versions.rollback_once(
            services, OWNER, v1.site_id, versions.VersionRequest(deployment_id=v1.deployment_id), "retry-key-1"
        )


def test_quick_deploy_rollbacks_take_no_credentials(services: Services) -> None:
    v1 = deploy(services, "v1")
    deploy(services, "v2")
    with pytest.raises(BadRequest):
        versions.rollback(services, OWNER, v1.site_id, versions.VersionRequest(credentials={"token": "x"}))


# -- previews and promote ---------------------------------------------------------------------------


def test_a_preview_leaves_production_alone_and_promote_makes_it_live(
    services: Services, platform: FakePlatform
) -> None:
    live = deploy(services, "live")
    preview = deploy(services, "preview", target="preview", chatId="chat-1")
    assert preview.target is Target.PREVIEW
    assert preview.preview_url
    assert served(platform, live) == b"live"
    site = services.stores.sites.get(live.site_id)
    assert site is not None
    assert site.live_deployment_id == live.deployment_id
    assert site.last_preview_id == preview.deployment_id
    answer = versions.promote(services, OWNER, preview.deployment_id, versions.VersionRequest())
    promoted = publish.publish(services, answer.deployment_id)
    assert promoted is not None
    assert promoted.kind is DeploymentKind.PROMOTE
    assert served(platform, promoted) == b"preview"
    assert len(platform.called("publish")) == 2  # the promote sent nothing


def test_a_preview_does_not_supersede_a_production_deploy_waiting_to_publish(services: Services) -> None:
    waiting = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "prod"}))
    preview = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "pv"}, target="preview"))
    newer = accept.accept(services, PLATFORM, OWNER, request(files={"index.html": "pv2"}, target="preview"))
    statuses = {
        d: services.stores.deployments.get(d).status  # type: ignore[union-attr]
        for d in (waiting.deployment_id, preview.deployment_id, newer.deployment_id)
    }
    assert statuses[waiting.deployment_id] is DeploymentStatus.PENDING
    assert statuses[preview.deployment_id] is DeploymentStatus.ERROR  # superseded by the newer preview
    assert statuses[newer.deployment_id] is DeploymentStatus.PENDING
    assert publish.publish(services, waiting.deployment_id) is not None
    done = publish.publish(services, newer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.READY


def test_only_a_ready_recent_preview_can_be_promoted(services: Services) -> None:
    live = deploy(services, "live")
    with pytest.raises(Conflict) as raised:
        versions.promote(services, OWNER, live.deployment_id, versions.VersionRequest())
    assert raised.value.code == "not_a_preview"
    preview = deploy(services, "preview", target="preview")
    clock.travel((services.settings.preview_ttl_days + 1) * DAY)
    with pytest.raises(VersionExpired):
        versions.promote(services, OWNER, preview.deployment_id, versions.VersionRequest())


def test_where_production_must_come_first_a_first_preview_is_refused(platform: FakePlatform) -> None:
    platform.previews = PreviewMode.IN_PLACE_AFTER_PRODUCTION  # Vercel
    services = fake_services(platform)
    with pytest.raises(Conflict) as raised:
        accept.accept(services, PLATFORM, OWNER, request(target="preview"))
    assert raised.value.code == "production_first"
    assert snapshot(services) == (0, [])
    deploy(services, "live")
    assert deploy(services, "preview", target="preview").preview_url


def test_a_preview_in_a_place_of_its_own_is_a_site_of_its_own_that_expires_sooner(platform: FakePlatform) -> None:
    platform.previews = PreviewMode.OWN_SITE  # an Amplify branch
    platform.versions = False
    services = fake_services(platform)
    live = deploy(services, "live")
    preview = deploy(services, "preview", target="preview", chatId="chat-1")
    assert preview.site_id != live.site_id
    assert preview.external_name != live.external_name
    assert preview.preview_url == preview.url
    preview_site = services.stores.sites.get(preview.site_id)
    assert preview_site is not None
    assert preview_site.preview_of == live.site_id
    assert preview_site.expires_at is not None
    assert preview_site.expires_at < clock.epoch() + services.settings.site_ttl_days * DAY
    assert served(platform, live) == b"live"
    answer = versions.promote(services, OWNER, preview.deployment_id, versions.VersionRequest())
    assert answer.site_id == live.site_id
    promoted = publish.publish(services, answer.deployment_id)
    assert promoted is not None
    assert served(platform, promoted) == b"preview"


def test_promoting_a_preview_of_a_project_never_deployed_makes_its_site(platform: FakePlatform) -> None:
    platform.previews = PreviewMode.OWN_SITE
    services = fake_services(platform)
    preview = deploy(services, "first", target="preview")
    answer = versions.promote(services, OWNER, preview.deployment_id, versions.VersionRequest())
    promoted = publish.publish(services, answer.deployment_id)
    assert promoted is not None
    assert promoted.status is DeploymentStatus.READY
    assert promoted.project_name == "site-a"
    assert promoted.site_id != preview.site_id
    assert served(platform, promoted) == b"first"


# -- claim -------------------------------------------------------------------------------------------


def test_a_claim_moves_a_quick_deploy_site_into_the_users_account(services: Services, platform: FakePlatform) -> None:
    quick = deploy(services, "mine now")
    claim = versions.ClaimRequest(credentials={"token": "t", "accountId": "users-own"}, release=True)
    answer = versions.claim(services, OWNER, quick.site_id, claim)
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.READY
    assert done.kind is DeploymentKind.CLAIM
    assert done.auth_mode is AuthMode.USER_TOKEN
    assert done.account_id == "users-own"
    assert platform.published[done.deployment_id] == {"index.html": b"mine now"}
    assert platform.called("publish")[-1].args["credentials"] is not None
    gone = services.stores.sites.get(quick.site_id)
    assert gone is None or gone.deleted_at is not None  # released once the copy was live
    assert (quick.account_id, quick.external_name) in [(a.account_id, a.name) for a in platform.torn_down]


def test_without_release_the_quick_deploy_site_stays_until_it_expires(services: Services) -> None:
    quick = deploy(services, "both")
    answer = versions.claim(
        services, OWNER, quick.site_id, versions.ClaimRequest(credentials={"token": "t", "accountId": "a"})
    )
    assert publish.publish(services, answer.deployment_id) is not None
    site = services.stores.sites.get(quick.site_id)
    assert site is not None
    assert site.deleted_at is None


def test_only_a_live_quick_deploy_site_of_ones_own_can_be_claimed(services: Services) -> None:
    own = deploy(services, "own", authMode="user-token", token="t", accountId="a")
    with pytest.raises(Conflict) as raised:
        versions.claim(services, OWNER, own.site_id, versions.ClaimRequest())
    assert raised.value.code == "not_quick_deploy"
    quick = deploy(services, "quick")
    with pytest.raises(NotFound):
        versions.claim(services, "someone-else", quick.site_id, versions.ClaimRequest())
    with pytest.raises(BadRequest) as bad:
        versions.claim(services, OWNER, quick.site_id, versions.ClaimRequest())
    assert bad.value.code == "connection_required"  # no connection, no inline credentials


# -- keeping what versions need ------------------------------------------------------------------------


def test_retention_follows_use_the_bucket_expires_only_what_no_kept_version_needs(platform: FakePlatform) -> None:
    platform.versions = False  # so a rollback needs the kept files
    services = fake_services(platform, staged_blob_retention_days=30, history_retention_days=90)
    staging = services.stores.staging
    assert isinstance(staging, InMemoryStaging)
    v1 = deploy(services, "kept v1")
    deploy(services, "kept v2")
    stray = staging.put_blob(OWNER, b"staged, never deployed")
    for _ in range(4):  # 40 days, the keeper running as scheduled
        clock.travel(10 * DAY)
        keeper.keep(services)
    gone = staging.expire_older_than(clock.epoch() - 30 * DAY)
    assert gone >= 1
    assert (OWNER, stray) not in staging.blobs
    back = rollback(services, v1.site_id, v1.deployment_id)
    assert back.status is DeploymentStatus.READY
    assert platform.published[back.deployment_id] == {"index.html": b"kept v1"}


def test_without_the_keeper_the_files_expire_and_the_version_with_them(platform: FakePlatform) -> None:
    platform.versions = False
    services = fake_services(platform, staged_blob_retention_days=30)
    staging = services.stores.staging
    assert isinstance(staging, InMemoryStaging)
    v1 = deploy(services, "v1")
    deploy(services, "v2")
    clock.travel(40 * DAY)
    staging.expire_older_than(clock.epoch() - 30 * DAY)
    with pytest.raises(VersionExpired):
        versions.rollback(services, OWNER, v1.site_id, versions.VersionRequest(deployment_id=v1.deployment_id))


def test_the_keeper_pushes_the_records_of_kept_versions_past_the_history(platform: FakePlatform) -> None:
    services = fake_services(platform, history_retention_days=90)
    v1 = deploy(services, "v1")
    clock.travel(80 * DAY)
    keeper.keep(services)
    kept = services.stores.deployments.get(v1.deployment_id)
    assert kept is not None
    assert kept.expires_at is not None
    assert kept.expires_at > clock.epoch_seconds() + 80 * DAY
    report = keeper.keep(services)
    assert report.sites == 0  # not due again until a keeping interval has passed


def test_a_rollback_whose_site_was_deleted_and_made_again_meanwhile_is_refused(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit finds the site changed; read again, it is another generation of the same id (a
    DELETE and a new deploy landed between): the old site's version must not go onto the new one."""
    v1 = deploy(services, "v1")
    deploy(services, "v2")
    tenancy, sites_store = services.stores.tenancy, services.stores.sites
    commit, read = tenancy.commit_deploy, sites_store.get_for_owner
    calls: list[str] = []

    def commit_once_stale(*args: object, **kwargs: object) -> object:
        calls.append("commit")
        if len(calls) == 1:
            raise StaleRead("the site changed")
        return commit(*args, **kwargs)  # type: ignore[arg-type]

    def read_a_new_generation(site_id: str, owner_id: str) -> object:
        found = read(site_id, owner_id)
        if calls and found is not None:
            return found.model_copy(update={"generation": f"{found.generation}-again"})
        return found

    monkeypatch.setattr(tenancy, "commit_deploy", commit_once_stale)
    monkeypatch.setattr(sites_store, "get_for_owner", read_a_new_generation)
    before = snapshot(services)
    with pytest.raises(ApiError) as refused:
        versions.rollback(services, OWNER, v1.site_id, versions.VersionRequest(deployment_id=v1.deployment_id))
    assert refused.value.code == "site_deleting"
    assert calls == ["commit"]
    assert snapshot(services) == before
