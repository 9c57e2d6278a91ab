"""The stores behind versions, on moto over real HTTP: a site's kept versions and its live one
(written with conditions, never taken back by a late report), the versions index and its cursor,
the keeper's queue, record expiry pushed forward, and staged objects refreshed by a copy onto
themselves so that the bucket's own lifecycle (applied as S3 would, on the moved clock) expires
only what nothing keeps."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from sitedeploy.domain import clock
from sitedeploy.domain.errors import InvalidCursor
from sitedeploy.domain.models import AuthMode, Platform, SiteRecord
from sitedeploy.domain.sitefiles import ManifestEntry, SiteManifest
from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy.stores.sites import SitesRepository, site_update
from sitedeploy.stores.staging import Staging, blob_key, manifest_key
from sitedeploy_local.aws import apply_lifecycle
from sitedeploy_local.stack import LocalStack
from tests.factories import deployment
from tests.helpers import calls_of, scratch_table

DAY = 86400


def travel(seconds: float) -> None:
    """Move the clock just after a second begins: S3 stamps whole seconds (see ``clock.at_wall``)."""
    time.sleep(1.02 - time.time() % 1)
    clock.travel(seconds)


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture(scope="module")
def table(stack: LocalStack) -> str:
    return scratch_table(stack, "versions-tests")


@pytest.fixture
def sites(stack: LocalStack, table: str) -> SitesRepository:
    return SitesRepository(table, stack.moto.client("dynamodb"))


@pytest.fixture
def records(stack: LocalStack, table: str) -> DeploymentsRepository:
    return DeploymentsRepository(table, stack.moto.client("dynamodb"))


@pytest.fixture
def staging(stack: LocalStack) -> Staging:
    return Staging(stack.resource("StagingBucket"), stack.moto.client("s3"))


def _site(stack: LocalStack, table: str, owner: str, generation: str = "g1") -> SiteRecord:
    now = clock.now_iso()
    site = SiteRecord(
        site_id=f"site_{uuid.uuid4().hex[:24]}",
        owner_id=owner,
        platform=Platform.CLOUDFLARE,
        project_name="p",
        auth_mode=AuthMode.PLATFORM_MANAGED,
        external_name="sd-p-abc",
        created_at=now,
        updated_at=now,
        generation=generation,
    )
    stack.moto.client("dynamodb").update_item(TableName=table, **site_update(site, None))
    return site


def test_versions_are_kept_newest_first_up_to_the_promise(
    stack: LocalStack, table: str, sites: SitesRepository, owner: str
) -> None:
    site = _site(stack, table, owner)
    due = clock.iso(clock.now())
    for n in range(5):
        sites.record_version(
            site.site_id, f"dpl_{n}", generation="g1", keep=3, live=True, keep_due=due, live_key=f"k{n}"
        )
    kept = sites.get(site.site_id)
    assert kept is not None
    assert kept.versions == ["dpl_4", "dpl_3", "dpl_2"]
    assert kept.live_deployment_id == "dpl_4"
    # A late report of an older deployment being served never takes production back.
    sites.record_version(site.site_id, "dpl_1", generation="g1", keep=3, live=True, keep_due=due, live_key="k1")
    again = sites.get(site.site_id)
    assert again is not None
    assert again.live_deployment_id == "dpl_4"
    assert again.versions[0] == "dpl_1"
    # A preview is kept but is not production's.
    sites.record_version(site.site_id, "dpl_p", generation="g1", keep=3, live=False, keep_due=due, live_key="k9")
    assert sites.get(site.site_id).live_deployment_id == "dpl_4"  # type: ignore[union-attr]


def test_a_site_the_caller_read_spares_a_read_and_a_stale_one_is_read_again(
    stack: LocalStack, table: str, sites: SitesRepository, owner: str
) -> None:
    """The publisher hands over the site it just read: the first attempt writes on it, with no
    GetItem of its own. Read before another version was recorded, it fails the write's condition
    and the next attempt reads the site afresh: nothing recorded meanwhile is lost."""
    site = _site(stack, table, owner)
    due = clock.iso(clock.now())
    read = sites.get(site.site_id)
    with calls_of(sites._client, "dynamodb.GetItem") as asked:  # the store's own client
        kept = sites.record_version(
            site.site_id, "dpl_1", generation="g1", keep=3, live=True, keep_due=due, live_key="k1", read=read
        )
        assert kept is not None
        assert (asked, kept.versions) == ([], ["dpl_1"])
        kept = sites.record_version(
            site.site_id, "dpl_2", generation="g1", keep=3, live=True, keep_due=due, live_key="k2", read=read
        )
    assert kept is not None
    assert (len(asked), kept.versions, kept.live_deployment_id) == (1, ["dpl_2", "dpl_1"], "dpl_2")


def test_another_generation_records_nothing(stack: LocalStack, table: str, sites: SitesRepository, owner: str) -> None:
    site = _site(stack, table, owner, generation="new")
    assert (
        sites.record_version(site.site_id, "dpl_x", generation="old", keep=3, live=True, keep_due="z", live_key="k")
        is None
    )
    assert sites.get(site.site_id).versions == []  # type: ignore[union-attr]


def test_the_keeper_queue_answers_sites_when_due(
    stack: LocalStack, table: str, sites: SitesRepository, owner: str
) -> None:
    site = _site(stack, table, owner)
    later = clock.iso(clock.now())
    sites.record_version(site.site_id, "dpl_1", generation="g1", keep=3, live=True, keep_due=later, live_key="k")
    clock.travel(60)
    assert site.site_id in [s.site_id for s in sites.due_for_keeping(clock.now_iso(), limit=100)]
    sites.kept(site.site_id, due=clock.iso(clock.now() + timedelta(days=10)))
    assert site.site_id not in [s.site_id for s in sites.due_for_keeping(clock.now_iso(), limit=100)]
    sites.kept(site.site_id, due=None)
    clock.travel(30 * DAY)
    assert site.site_id not in [s.site_id for s in sites.due_for_keeping(clock.now_iso(), limit=100)]


def test_a_sites_versions_list_newest_first_with_a_cursor_of_its_own(
    records: DeploymentsRepository, owner: str
) -> None:
    site_id = f"site_{uuid.uuid4().hex[:24]}"
    made = []
    for n in range(3):
        record = deployment(owner, site_id=site_id, created_at=f"2026-12-0{n + 1}T00:00:00.000Z")
        records.create(record)
        made.append(record.deployment_id)
    first = records.list_for_site(site_id, limit=2)
    assert [r.deployment_id for r in first.records] == made[::-1][:2]
    assert first.next_cursor
    rest = records.list_for_site(site_id, limit=2, cursor=first.next_cursor)
    assert [r.deployment_id for r in rest.records] == [made[0]]
    with pytest.raises(InvalidCursor):
        records.list_for_site(f"site_{uuid.uuid4().hex[:24]}", cursor=first.next_cursor)
    found = records.get_many([*made, "dpl_" + "z" * 26])
    assert set(found) == set(made)


def test_keeping_pushes_a_records_expiry_forward_never_back(records: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner, expires_at=2_000_000_000)
    records.create(record)
    records.keep([record.deployment_id], 1_900_000_000)
    assert records.get(record.deployment_id).expires_at == 2_000_000_000  # type: ignore[union-attr]
    records.keep([record.deployment_id, "dpl_" + "q" * 26], 2_100_000_000)
    assert records.get(record.deployment_id).expires_at == 2_100_000_000  # type: ignore[union-attr]


def test_refreshed_objects_outlive_the_lifecycle_and_the_rest_expire(
    stack: LocalStack, staging: Staging, owner: str
) -> None:
    s3 = stack.moto.client("s3")
    kept = staging.put_blob(owner, b"a kept version's file")
    stray = staging.put_blob(owner, b"staged, never deployed")
    manifest = SiteManifest(files=[ManifestEntry(path="index.html", sha256=kept, size=21, contentType="text/html")])
    deployment_id = f"dpl_{uuid.uuid4().hex[:26]}"
    staging.put_manifest(deployment_id, manifest)
    travel(20 * DAY)
    gone = hashlib.sha256(b"gone").hexdigest()
    report = staging.keep(owner, {kept, gone}, set(), older_than=clock.epoch() - 10 * DAY)
    assert report.refreshed == 1
    assert report.missing == [gone]
    assert staging.keep_manifests([deployment_id], older_than=clock.epoch() - 10 * DAY).refreshed == 1
    head = s3.head_object(Bucket=staging.bucket, Key=blob_key(owner, kept))
    assert head["Metadata"].get("kept")
    # Nothing is refreshed twice within an interval.
    assert staging.keep(owner, {kept}, set(), older_than=clock.epoch() - 10 * DAY).refreshed == 0
    travel(20 * DAY)
    deleted = apply_lifecycle(s3, staging.bucket)
    assert blob_key(owner, stray) in deleted
    assert blob_key(owner, kept) not in deleted
    assert manifest_key(deployment_id) not in deleted
    assert staging.read_blob(owner, kept) == b"a kept version's file"
    assert staging.find_manifest(deployment_id) == manifest
