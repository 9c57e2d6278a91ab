"""Quick Deploy's books, against a hostile tenant and against the service's own races, retries and
crashes (#19): each scenario the issue reproduced, as it was reproduced, over the in-memory fakes;
after each, the books balance (tests/fakes/books.py) and nothing a live site uses was deleted."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest

from sitedeploy.domain.errors import ApiError
from sitedeploy.domain.models import DeploymentRecord, DeploymentStatus, SiteRecord
from sitedeploy.domain.naming import derived_names
from sitedeploy.domain.tenancy import NameClaim, PublishGate, Quotas, StaleRead
from sitedeploy.flows import accept, lifecycle, publish, reconcile, sites, status, sweep, teardown, uploads
from sitedeploy.platforms.base import BuildState, PlatformError, Published, PublishJob
from sitedeploy.services import Services
from tests.fakes import fake_services
from tests.fakes.books import check_books, check_settled, drift_count, expire_site, ledger, safety_guard
from tests.fakes.interleave import Steps
from tests.fakes.platform import FakePlatform
from tests.flows.conftest import PLATFORM, request

TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
SPA = {"/index.html": "<h1>spa</h1>"}
PLAIN = {"/index.html": "<h1>plain</h1>", "/404.html": "gone"}
HEADERS = {"/index.html": "<h1>h</h1>", "/_headers": "/*\n  X-Frame-Options: DENY\n"}


def amplify_like(**options: Any) -> FakePlatform:
    """A pool the service grows (apps), sites sharing an app only with the same routing profile."""
    return FakePlatform(**{"accounts": (), "growable": 3, "member_capacity": 3, "profiles": True, **options})


def guarded(platform: FakePlatform, **settings: Any) -> Services:
    services = fake_services(platform, reconcile_grace_seconds=0.0, **settings)
    platform.guard = safety_guard(services)
    return services


def deployed(services: Services, owner: str, project: str, files: dict[str, Any] | None = None) -> str:
    answer = accept.accept(services, PLATFORM, owner, request(projectName=project, files=files or SPA))
    publish.publish(services, answer.deployment_id)
    return answer.site_id


def snapshot(services: Services, platform: FakePlatform) -> dict[str, Any]:
    books = ledger(services)
    return {
        "deployments": len(books.deployments),
        "sites": {k: v.model_dump() for k, v in books.sites.items()},
        "claims": dict(books.claims),
        "seats": {k: m.used for k, m in books.pool.items()},
        "quota": books.quota,
        "blobs": len(getattr(services.stores.staging, "blobs", {})),
        "objects": dict(platform.objects),
    }


def seats(services: Services) -> int:
    return sum(m.used for m in ledger(services).pool.values())


def settle(services: Services) -> None:
    """What time and the scheduled functions do: the sweeper, then the reconciler."""
    sweep.sweep(services)
    reconcile.reconcile(services, settle_seconds=0)


# -- 1. a redeploy racing DELETE /sites ---------------------------------------------------------


def test_a_redeploy_racing_its_own_deletion_never_lowers_a_members_count() -> None:
    """Reproduced: two victims and an attacker in one app; the attacker's redeploy loses a race with
    deleting its own site, three times. Each time the count lost one, until the app was deleted
    with both victims in it. Now the redeploy sees the site changed and makes a new one, with a
    seat of its own."""
    platform = amplify_like()
    services = guarded(platform)
    victims = [deployed(services, f"victim-{i}", "shop") for i in range(2)]
    attacker = deployed(services, "attacker", "shop")
    steps = Steps(services, platform)
    for _ in range(3):
        steps.before_call("commit_deploy", lambda: sites.delete_site(services, "attacker", attacker))
        answer = steps.run(lambda: accept.accept(services, PLATFORM, "attacker", request(projectName="shop")))
        assert answer is not None
        publish.publish(services, answer.deployment_id)
        check_books(services, platform)
    victim_sites = [services.stores.sites.get(v) for v in victims]
    assert all(site is not None for site in victim_sites)
    for site in victim_sites:
        assert site is not None
        assert (site.account_id, site.external_name) in platform.objects  # still served
    assert platform.removed == []  # no app was deleted under anyone
    assert seats(services) == 3  # two victims, one attacker site


def test_a_redeploy_that_sees_its_site_being_deleted_is_refused_and_writes_nothing() -> None:
    platform = amplify_like()
    services = guarded(platform)
    site_id = deployed(services, "owner", "shop")
    steps = Steps(services, platform)
    steps.before_call("commit_deploy", lambda: services.stores.tenancy.tombstone(site_id, "owner"))
    before = len(ledger(services).deployments)
    with pytest.raises(ApiError) as refused:
        steps.run(lambda: accept.accept(services, PLATFORM, "owner", request(projectName="shop")))
    assert refused.value.code == "site_deleting"
    assert len(ledger(services).deployments) == before


# -- 2. moves ------------------------------------------------------------------------------------


def test_failed_moves_leak_no_seat_claim_or_site() -> None:
    """Reproduced: 5 failed moves, then deleting the site, left 5 seats used and a claim. A moved
    site keeps its old place as a former one, freed by its next live deployment, its deletion or
    its expiry; moving back takes that place back rather than another."""
    platform = amplify_like()
    services = guarded(platform)
    site_id = deployed(services, "owner", "shop", SPA)
    for i in range(5):
        files = PLAIN if i % 2 == 0 else SPA
        answer = accept.accept(services, PLATFORM, "owner", request(projectName="shop", files=files))
        platform.fail_next("publish", PlatformError("the build failed"))
        assert publish.publish(services, answer.deployment_id).status is DeploymentStatus.ERROR  # type: ignore[union-attr]
        check_books(services, platform)
        site = services.stores.sites.get(site_id)
        assert site is not None
        assert len(site.places()) <= 2  # one place per profile, never more
    sites.delete_site(services, "owner", site_id)
    check_books(services, platform)
    assert seats(services) == 0
    assert not [c for c in ledger(services).claims.values() if c.active]
    assert platform.objects == {}


def test_a_move_frees_its_old_place_once_live_and_a_crash_after_live_is_finished_by_the_reconciler() -> None:
    platform = amplify_like()
    services = guarded(platform)
    site_id = deployed(services, "owner", "shop", SPA)
    old = services.stores.sites.get(site_id)
    assert old is not None
    answer = accept.accept(services, PLATFORM, "owner", request(projectName="shop", files=PLAIN))
    steps = Steps(services, platform)
    steps.crash_at_call("mark_freeing")  # live at the new place, then the Lambda died
    steps.run(lambda: publish.publish(services, answer.deployment_id))
    moved = services.stores.sites.get(site_id)
    assert moved is not None
    assert [p.key for p in moved.former] == [old.current_place.key]  # still held, still counted
    check_books(services, platform)
    settle(services)
    check_settled(services, platform)
    freed = services.stores.sites.get(site_id)
    assert freed is not None
    assert freed.former == []
    assert (old.account_id, old.external_name) not in platform.objects
    assert (freed.account_id, freed.external_name) in platform.objects


def test_a_superseded_move_leaves_its_place_to_the_next_live_deployment() -> None:
    platform = amplify_like()
    services = guarded(platform)
    site_id = deployed(services, "owner", "shop", SPA)
    first_move = accept.accept(services, PLATFORM, "owner", request(projectName="shop", files=PLAIN))
    second = accept.accept(services, PLATFORM, "owner", request(projectName="shop", files=PLAIN))
    assert publish.publish(services, first_move.deployment_id) is None  # superseded before it started
    done = publish.publish(services, second.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.READY
    check_settled(services, platform)
    site = services.stores.sites.get(site_id)
    assert site is not None
    assert site.former == []
    assert seats(services) == 1


# -- 3. DELETE while publishing ------------------------------------------------------------------


def test_deleting_a_site_while_it_uploads_leaves_no_orphan_behind() -> None:
    """Reproduced: teardown freed the name and seat, then the publisher made the Worker again and
    said ready: free hosting nothing tracked. Now the deletion waits for the publisher, which
    tears down what it made and ends "the site was deleted"."""
    platform = FakePlatform()
    services = guarded(platform)
    answer = accept.accept(services, PLATFORM, "owner", request(projectName="shop"))
    steps = Steps(services, platform)
    steps.before_call("publish", lambda: sites.delete_site(services, "owner", answer.site_id))
    ended = steps.run(lambda: publish.publish(services, answer.deployment_id))
    assert ended is not None
    assert ended.status is DeploymentStatus.ERROR
    assert ended.error == "the site was deleted while it was being published"
    assert services.stores.sites.get(answer.site_id) is None
    assert platform.objects == {}
    check_settled(services, platform)
    assert seats(services) == 0


def test_deleting_a_site_while_its_build_runs_ends_the_build_at_once() -> None:
    """The Amplify form: a redeploy accepted just before DELETE stayed building at 55 % for ten
    minutes while every poll failed "Branch not found". Now it ends at once, and says why."""
    platform = amplify_like(builds=True)
    services = guarded(platform)
    site_id = deployed(services, "owner", "shop")
    platform.build_states.append(BuildState(DeploymentStatus.READY, 100, None, "SUCCEED"))
    sweep.sweep(services)  # the first build ends
    platform.calls.clear()
    answer = accept.accept(services, PLATFORM, "owner", request(projectName="shop", files={"/index.html": "v2"}))
    building = publish.publish(services, answer.deployment_id)
    assert building is not None
    assert building.status is DeploymentStatus.BUILDING
    sites.delete_site(services, "owner", site_id)
    ended = services.stores.deployments.get(answer.deployment_id)
    assert ended is not None
    assert (ended.status, ended.error) == (DeploymentStatus.ERROR, lifecycle.SITE_DELETED)
    assert status.refresh(services, ended, min_interval=0).status is DeploymentStatus.ERROR
    assert platform.called("refresh") == []  # nobody asks the platform about it any more
    check_settled(services, platform)


def test_a_build_the_platform_no_longer_knows_ends_with_its_words() -> None:
    platform = FakePlatform(builds=True)
    services = guarded(platform)
    answer = accept.accept(services, PLATFORM, "owner", request(projectName="shop"))
    publish.publish(services, answer.deployment_id)
    platform.fail_next("refresh", PlatformError("Branch sd-shop not found (NotFoundException)", status=404))
    record = services.stores.deployments.get(answer.deployment_id)
    assert record is not None
    ended = status.refresh(services, record, min_interval=0)
    assert ended.status is DeploymentStatus.ERROR
    assert "Branch sd-shop not found" in (ended.error or "")
    platform.fail_next("refresh", PlatformError("throttled", status=429))  # a transient one changes nothing


# -- 4. quotas -------------------------------------------------------------------------------------


def test_one_owner_cannot_fill_a_pool_for_everyone() -> None:
    """Reproduced: 50 sites by one owner, and the next tenant got 503."""
    platform = FakePlatform(accounts=(("acct-1", 50),))
    services = guarded(platform, quotas=Quotas(sites_per_platform=10))
    for i in range(10):
        deployed(services, "greedy", f"p{i}")
    before = snapshot(services, platform)
    with pytest.raises(ApiError) as refused:
        accept.accept(services, PLATFORM, "greedy", request(projectName="p10", files={"/x.html": "new bytes"}))
    assert (refused.value.status, refused.value.code) == (429, "quota_exceeded")
    assert refused.value.details == {"quota": "quickDeploySites", "limit": 10}
    assert "delete a site" in refused.value.message
    assert snapshot(services, platform) == before  # nothing written, not even the new bytes
    deployed(services, "someone-else", "p0")  # another tenant still deploys
    sites.delete_site(
        services, "greedy", accept.accept(services, PLATFORM, "greedy", request(projectName="p0")).site_id
    )
    deployed(services, "greedy", "p10")  # room freed by the deletion
    check_books(services, platform)


def test_distinct_routing_settings_are_limited_per_owner() -> None:
    """Reproduced: a distinct _headers per site gave each its own Amplify app: ~25 requests took
    every app of the region."""
    platform = amplify_like(growable=10)
    services = guarded(platform, quotas=Quotas(routing_profiles=2))

    def with_headers(n: int) -> dict[str, Any]:
        return {"/index.html": "x", "/_headers": f"/*\n  X-Tenant: {n}\n"}

    deployed(services, "owner", "a", with_headers(1))
    deployed(services, "owner", "b", with_headers(2))
    deployed(services, "owner", "c", with_headers(2))  # the same settings as b: no new profile
    before = snapshot(services, platform)
    with pytest.raises(ApiError) as refused:
        accept.accept(services, PLATFORM, "owner", request(projectName="d", files=with_headers(3)))
    assert refused.value.details == {"quota": "routingProfiles", "limit": 2}
    assert snapshot(services, platform) == before
    assert len(platform.grown) == 2
    # Moving a site to new settings counts too; giving it the settings of another frees one.
    with pytest.raises(ApiError):
        accept.accept(services, PLATFORM, "owner", request(projectName="a", files=with_headers(3)))
    deployed(services, "owner", "a", with_headers(2))
    deployed(services, "owner", "d", with_headers(3))
    check_books(services, platform)


def test_deployments_in_flight_are_limited_per_owner_and_room_frees_as_they_end() -> None:
    platform = FakePlatform()
    services = guarded(platform, quotas=Quotas(deployments_in_flight=2))
    first = accept.accept(services, PLATFORM, "owner", request(projectName="a"))
    accept.accept(services, PLATFORM, "owner", request(projectName="b"))
    with pytest.raises(ApiError) as refused:
        accept.accept(services, PLATFORM, "owner", request(projectName="c"))
    assert refused.value.details == {"quota": "deploymentsInFlight", "limit": 2}
    accept.accept(services, PLATFORM, "other-owner", request(projectName="c"))
    publish.publish(services, first.deployment_id)  # one ends: room for one more
    third = accept.accept(services, PLATFORM, "owner", request(projectName="c"))
    with pytest.raises(ApiError):  # a redeploy counts before the one it supersedes is let go
        accept.accept(services, PLATFORM, "owner", request(projectName="c"))
    publish.publish(services, third.deployment_id)
    newer = accept.accept(services, PLATFORM, "owner", request(projectName="c"))
    assert publish.publish(services, newer.deployment_id) is not None
    check_books(services, platform)


def test_staged_bytes_and_files_per_upload_are_limited_per_owner() -> None:
    platform = FakePlatform()
    services = guarded(platform, quotas=Quotas(staged_bytes_per_day=1000, files_per_upload=3))
    with pytest.raises(ApiError) as refused:
        accept.accept(services, PLATFORM, "owner", request(projectName="a", files={"/big.html": "x" * 1200}))
    assert refused.value.details["quota"] == "stagedBytesPerDay"
    assert 0 < int(str(refused.value.details["retryAfter"])) <= 86400
    assert services.stores.staging.missing("owner", [hashlib.sha256(b"x" * 1200).hexdigest()])  # not staged

    def listing(*sizes: int) -> uploads.UploadsRequest:
        files = [{"path": f"f{i}", "sha256": f"{i:064x}", "size": size} for i, size in enumerate(sizes)]
        return uploads.UploadsRequest.model_validate({"files": files})

    with pytest.raises(ApiError) as too_many:
        uploads.plan_uploads(services, "owner", listing(1, 1, 1, 1))
    assert too_many.value.details == {"quota": "filesPerUpload", "limit": 3}
    uploads.plan_uploads(services, "owner", listing(400, 400))
    with pytest.raises(ApiError) as over:
        uploads.plan_uploads(services, "owner", listing(100, 100, 300))
    assert over.value.details["quota"] == "stagedBytesPerDay"
    uploads.plan_uploads(services, "another", listing(400, 400))  # another owner's day is their own


# -- 5. teardown that is repeated, or fails midway ----------------------------------------------


def test_a_repeated_or_retried_teardown_gives_back_once() -> None:
    platform = amplify_like()
    services = guarded(platform)
    neighbour = deployed(services, "neighbour", "shop")
    site_id = deployed(services, "owner", "shop")
    platform.fail_next("tear_down", PlatformError("HTTP 500"))
    with pytest.raises(ApiError):
        sites.delete_site(services, "owner", site_id)
    check_books(services, platform)
    sites.delete_site(services, "owner", site_id)
    with pytest.raises(ApiError):
        sites.delete_site(services, "owner", site_id)  # gone: 404, nothing given back twice
    check_books(services, platform)
    assert seats(services) == 1
    # The reaper's retries of one expiry give back once too.
    image = expire_site(services, neighbour)
    assert teardown.reap(services, TTL, image) is True
    assert teardown.reap(services, TTL, image) is False
    check_books(services, platform)


def test_an_emptied_app_that_cannot_be_deleted_stays_counted_until_the_reconciler_deletes_it() -> None:
    platform = amplify_like()
    services = guarded(platform)
    site_id = deployed(services, "owner", "shop")
    platform.fail_next("remove_member", PlatformError("throttled", status=429))
    sites.delete_site(services, "owner", site_id)
    tenancy = services.stores.tenancy
    [member] = ledger(services).pool.values()
    assert member.retiring  # nobody is seated there any more; it still counts in the pool
    assert tenancy.pool_size(PLATFORM, "test-1") == 1
    settle(services)
    assert ledger(services).pool == {}
    assert tenancy.pool_size(PLATFORM, "test-1") == 0
    check_settled(services, platform)


def test_an_app_the_platform_says_is_in_use_is_never_deleted() -> None:
    """A wrong count must never delete anything: the platform is asked first."""
    platform = amplify_like()
    services = guarded(platform)
    site_id = deployed(services, "owner", "shop")
    site = services.stores.sites.get(site_id)
    assert site is not None
    member_id = site.member_id or ""
    member = services.stores.tenancy.member(PLATFORM, member_id)
    assert member is not None
    drift_count(services, member, 0)  # drifted: the books say nobody sits there
    platform.objects[(member_id, "stray-branch")] = 0.0
    settle(services)
    assert platform.removed == []
    assert (site.account_id, site.external_name) in platform.objects
    check_books(services, platform)  # the count was set right from the seats


# -- 8. squatting ------------------------------------------------------------------------------------


def test_a_user_token_deploy_naming_a_pool_account_is_refused_before_any_write() -> None:
    platform = FakePlatform()
    services = guarded(platform)
    deployed(services, "victim", "shop")
    before = snapshot(services, platform)
    with pytest.raises(ApiError) as refused:
        accept.accept(
            services,
            PLATFORM,
            "attacker",
            request(projectName="shop", authMode="user-token", token="bogus", accountId="service-account"),
        )
    assert (refused.value.status, refused.value.code) == (400, "pool_account")
    assert snapshot(services, platform) == before


def test_a_bogus_token_naming_someone_elses_account_claims_nothing_they_need() -> None:
    platform = FakePlatform()
    services = guarded(platform)
    body = {"authMode": "user-token", "accountId": "victims-own-account"}
    accept.accept(services, PLATFORM, "attacker", request(projectName="shop", token="bogus", **body))
    victim = accept.accept(services, PLATFORM, "victim", request(projectName="shop", token="good-token", **body))
    assert publish.publish(services, victim.deployment_id).status is DeploymentStatus.READY  # type: ignore[union-attr]


def test_a_name_taken_outside_the_service_moves_the_site_to_its_next_name() -> None:
    """Netlify's names are global: an outsider registering an expired site's name made every later
    redeploy of the project fail "taken"."""
    platform = FakePlatform()
    services = guarded(platform)
    first, second = derived_names("fk", "owner", "shop")[:2]
    platform.taken_outside.add(first)
    answer = accept.accept(services, PLATFORM, "owner", request(projectName="shop"))
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert (done.status, done.external_name) == (DeploymentStatus.READY, second)
    site = services.stores.sites.get(answer.site_id)
    assert site is not None
    assert site.external_name == second
    claims = ledger(services).claims
    assert claims[NameClaim(PLATFORM, "service-account", first).key].released_until is not None
    check_settled(services, platform)
    again = accept.accept(services, PLATFORM, "owner", request(projectName="shop"))  # it keeps working
    assert publish.publish(services, again.deployment_id).status is DeploymentStatus.READY  # type: ignore[union-attr]


# -- 9. bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_an_unreadable_config_file_is_a_4xx_that_writes_nothing(damage: str) -> None:
    platform = FakePlatform()
    services = guarded(platform)
    staging = services.stores.staging
    text = b"/old /new 301\n"
    sha = hashlib.sha256(text).hexdigest()
    index = staging.put_blob("owner", b"<h1>x</h1>")
    if damage == "corrupt":
        staging.put_blob("owner", b"/old /evil 200\n", sha)  # bytes that are not what their name says
    before = snapshot(services, platform)
    with pytest.raises(ApiError) as refused:
        accept.accept(
            services, PLATFORM, "owner", request(files=None, manifest={"index.html": index, "_redirects": sha})
        )
    if damage == "missing":
        assert (refused.value.status, refused.value.code) == (409, "blobs_missing")
        assert refused.value.details == {"missing": [sha]}
    else:
        assert (refused.value.status, refused.value.code) == (400, "validation_error")
        assert "_redirects" in refused.value.message
    assert snapshot(services, platform) == before


def test_two_unicode_spellings_of_one_path_are_refused_naming_both() -> None:
    composed, decomposed = "caf\u00e9.html", "cafe\u0301.html"
    with pytest.raises(ValueError, match="name the same file") as refused:
        request(files={composed: "a", decomposed: "b"})
    assert composed in str(refused.value)
    assert decomposed in str(refused.value)
    with pytest.raises(ValueError, match="name the same file"):
        uploads.UploadsRequest.model_validate(
            {
                "files": [
                    {"path": composed, "sha256": "a" * 64, "size": 1},
                    {"path": decomposed, "sha256": "b" * 64, "size": 1},
                ]
            }
        )


def _unused(site: SiteRecord) -> None:
    del site


def test_a_delete_while_a_redeploy_takes_the_site_from_its_predecessor_leaves_nothing_behind() -> None:
    """Seen once in the books e2e test: E ends and gives the site back; in that moment the redeploy
    D takes it and starts writing, and a DELETE marks the site and leaves the rest to D. E, going
    on, found the site marked and finished the deletion under D: the Site item, claim and seat
    went, and D's write then made the Worker again, owned by nobody (drift the reconciler holds
    back for its grace period). Now the deletion is D's to finish, and nothing is left behind."""
    platform = FakePlatform(accounts=(("acct-1", 3), ("acct-2", 3)))
    services = fake_services(platform, reconcile_grace_seconds=900.0)
    first = accept.accept(services, PLATFORM, "attacker", request(projectName="b"))
    site_id = first.site_id
    state: dict[str, object] = {}
    redeploy_writing, go_on = threading.Event(), threading.Event()
    publish_on_platform = platform.publish

    def publish_held(job: PublishJob, credentials: object) -> Published:
        if job.deployment_id == first.deployment_id and "redeploy" not in state:
            again = request(projectName="b", files={"/index.html": "v2"})
            redeploy = accept.accept(services, PLATFORM, "attacker", again)
            state["redeploy"] = redeploy.deployment_id
        if job.deployment_id == state.get("redeploy"):
            redeploy_writing.set()
            assert go_on.wait(10)
        return publish_on_platform(job, credentials)  # type: ignore[arg-type]

    platform.publish = publish_held  # type: ignore[method-assign]
    tenancy = services.stores.tenancy
    let_go = tenancy.let_go

    def let_go_then_race(record: DeploymentRecord) -> None:
        # E has given the site back: D's publish takes it, and the owner deletes the site.
        if record.deployment_id == first.deployment_id and "thread" not in state:
            thread = threading.Thread(
                target=lambda: state.__setitem__("ended", publish.publish(services, str(state["redeploy"])))
            )
            state["thread"] = thread
            thread.start()
            assert redeploy_writing.wait(10)
            sites.delete_site(services, "attacker", site_id)
        let_go(record)

    tenancy.let_go = let_go_then_race  # type: ignore[method-assign]
    publish.publish(services, first.deployment_id)
    go_on.set()
    thread = state["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(10)
    ended = state["ended"]
    assert isinstance(ended, DeploymentRecord)
    assert ended.status is DeploymentStatus.ERROR  # the site was deleted while it was being published
    books = ledger(services)
    assert not books.sites
    assert not [key for key, claim in books.claims.items() if claim.active]
    assert platform.objects == {}  # nothing on the platform that no site owns
    assert reconcile.reconcile(services, settle_seconds=0).drift == {}


def test_a_deletion_is_not_finished_while_a_publisher_holds_the_site() -> None:
    """The store's own guard, for a publisher that takes the site between the flow's read and the
    commit: the final delete is refused while ``publishing`` is set, and goes once it is given back."""
    services = fake_services(FakePlatform(accounts=(("acct-1", 3),)))
    answer = accept.accept(services, PLATFORM, "ann", request(projectName="held"))
    record = services.stores.deployments.get(answer.deployment_id)
    assert record is not None
    tenancy = services.stores.tenancy
    assert tenancy.acquire_publish(record, None) is PublishGate.CLAIMED
    marked = tenancy.tombstone(answer.site_id, "ann")
    assert marked is not None
    assert marked.publishing == answer.deployment_id
    with pytest.raises(StaleRead):
        tenancy.finish_deletion(marked, places=tenancy.active_places(marked, marked.places()), quota_entry=False)
    assert services.stores.sites.get(answer.site_id) is not None
    assert tenancy.release_site(answer.site_id, answer.deployment_id)
    released = services.stores.sites.get(answer.site_id)
    assert released is not None
    tenancy.finish_deletion(released, places=tenancy.active_places(released, released.places()), quota_entry=False)
    assert services.stores.sites.get(answer.site_id) is None


def test_a_redeploy_decided_on_a_deleted_site_never_lands_on_the_site_made_after_it() -> None:
    """A redeploy reads its site (revision 1) and decides where it goes; before it commits, the
    owner deletes the site and deploys again, which makes a new generation of it, starting over at
    revision 1. Conditioned on the revision alone, the late commit landed on the new site with the
    old one's place, whose claim had gone with the old site (free for anyone to take, while the
    record still pointed there), and the new place's claim was left without a site. Now it sees a
    generation it did not read, reads again, and deploys to the new site like any redeploy."""
    platform = FakePlatform(accounts=(("acct-1", 3), ("acct-2", 3)))
    services = guarded(platform)
    site_id = deployed(services, "ann", "shop")
    first = services.stores.sites.get(site_id)
    assert first is not None
    steps = Steps(services, platform)
    made: dict[str, str] = {}

    def delete_and_deploy_again() -> None:
        sites.delete_site(services, "ann", site_id)
        assert services.stores.sites.get(site_id) is None
        made["again"] = accept.accept(services, PLATFORM, "ann", request(projectName="shop")).deployment_id

    steps.before_call("commit_deploy", delete_and_deploy_again)
    late = steps.run(
        lambda: accept.accept(services, PLATFORM, "ann", request(projectName="shop", files={"/index.html": "v2"}))
    )
    assert "again" in made
    assert late is not None
    check_books(services, platform)
    site = services.stores.sites.get(site_id)
    again = services.stores.deployments.get(made["again"])
    record = services.stores.deployments.get(late.deployment_id)
    assert site is not None
    assert again is not None
    assert record is not None
    assert site.generation != first.generation
    assert site.generation == again.site_generation == record.site_generation
    assert site.last_deployment_id == late.deployment_id
    publish.publish(services, late.deployment_id)
    settle(services)
    check_settled(services, platform)
    live = services.stores.sites.get(site_id)
    assert live is not None
    assert live.current_place is not None
    assert platform.served(live.current_place.address) is not None


def test_a_preview_made_before_its_site_moved_keeps_its_place_until_it_ends() -> None:
    """Found by the model: a preview made in place waits its turn at the site's place; a redeploy
    with other routing settings moves the site to another app and goes live there, which freed
    every place the site had left, the preview's too. The preview then published there: an object
    on the platform that no claim held. A place a deployment in flight is addressed to is now kept
    until that deployment ends; then the reconciler frees it."""
    platform = amplify_like(builds=True)
    services = guarded(platform)
    preview_body = request(projectName="shop", files=SPA, target="preview", chatId="c1")
    preview = accept.accept(services, PLATFORM, "bob", preview_body)
    before = services.stores.sites.get(preview.site_id)
    assert before is not None
    assert before.current_place is not None
    moved = accept.accept(services, PLATFORM, "bob", request(projectName="shop", files=HEADERS))
    assert moved.site_id == preview.site_id

    def build_ends(deployment_id: str) -> None:
        record = services.stores.deployments.get(deployment_id)
        assert record is not None
        assert record.status is DeploymentStatus.BUILDING
        platform.build_states.append(BuildState(DeploymentStatus.READY, 100, None, "SUCCEED"))
        assert status.refresh(services, record, min_interval=0).status is DeploymentStatus.READY

    publish.publish(services, moved.deployment_id)
    build_ends(moved.deployment_id)
    check_books(services, platform)
    site = services.stores.sites.get(moved.site_id)
    assert site is not None
    assert site.current_place is not None
    assert site.current_place.key != before.current_place.key
    assert [place.key for place in site.former] == [before.current_place.key]  # kept for the preview
    publish.publish(services, preview.deployment_id)
    build_ends(preview.deployment_id)
    check_books(services, platform)
    settle(services)
    check_settled(services, platform)
    after = services.stores.sites.get(moved.site_id)
    assert after is not None
    assert after.former == []  # freed once the preview ended
