"""The records repository against moto's DynamoDB (over HTTP, through the real boto3 client)."""

from __future__ import annotations

import time

import pytest

from sitedeploy.domain import clock
from sitedeploy.domain.errors import DeploymentNotFound, InvalidCursor
from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.stores.deployments import DeploymentsRepository, TransitionRefused
from sitedeploy_local.stack import LocalStack
from tests.factories import deployment
from tests.helpers import scratch_table


@pytest.fixture(scope="module")
def records_table(stack: LocalStack) -> str:
    """A table no stream consumer watches (see ``scratch_table``)."""
    return scratch_table(stack, "records-tests")


@pytest.fixture
def repo(stack: LocalStack, records_table: str) -> DeploymentsRepository:
    return DeploymentsRepository(records_table, stack.moto.client("dynamodb"))


def test_create_then_get_round_trips_every_field(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner, url="https://x.example.workers.dev", options={"spa": True})
    repo.create(record)
    assert repo.get(record.deployment_id) == record
    assert repo.get_for_owner(record.deployment_id, owner) == record


def test_create_refuses_to_overwrite(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner)
    repo.create(record)
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        repo.create(record.model_copy(update={"project_name": "other"}))
    assert repo.get(record.deployment_id).project_name == "my-site"  # type: ignore[union-attr]


def test_another_owner_sees_not_found_exactly_like_missing(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner)
    repo.create(record)
    with pytest.raises(DeploymentNotFound) as foreign:
        repo.get_for_owner(record.deployment_id, "someone-else")
    with pytest.raises(DeploymentNotFound) as missing:
        repo.get_for_owner("dpl_" + "a" * 26, "someone-else")
    assert type(foreign.value) is type(missing.value)


def test_full_cloudflare_lifecycle(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner)
    repo.create(record)
    claimed = repo.claim(record.deployment_id)
    assert claimed is not None
    assert claimed.status == DeploymentStatus.UPLOADING
    assert claimed.started_at is not None
    progressed = repo.set_progress(record.deployment_id, DeploymentStatus.UPLOADING, 40)
    assert progressed.progress == 40
    done = repo.transition(
        record.deployment_id,
        DeploymentStatus.READY,
        changes={"url": "https://a.b.workers.dev", "progress": 100},
    )
    assert done.status == DeploymentStatus.READY
    assert done.completed_at is not None
    assert done.url == "https://a.b.workers.dev"
    assert done.updated_at >= progressed.updated_at


def test_claim_happens_once(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner)
    repo.create(record)
    assert repo.claim(record.deployment_id) is not None
    assert repo.claim(record.deployment_id) is None


def test_terminal_status_never_moves_again(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner)
    repo.create(record)
    repo.claim(record.deployment_id)
    failed = repo.fail(record.deployment_id, "platform said no")
    assert failed is not None
    assert failed.status == DeploymentStatus.ERROR
    for target in (DeploymentStatus.UPLOADING, DeploymentStatus.BUILDING, DeploymentStatus.READY):
        with pytest.raises(TransitionRefused) as refused:
            repo.transition(record.deployment_id, target)
        assert refused.value.current == DeploymentStatus.ERROR
    assert repo.fail(record.deployment_id, "again") is None
    after = repo.get(record.deployment_id)
    assert after is not None
    assert after.error == "platform said no"


def test_pending_cannot_jump_to_ready(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner)
    repo.create(record)
    with pytest.raises(TransitionRefused) as refused:
        repo.transition(record.deployment_id, DeploymentStatus.READY)
    assert refused.value.current == DeploymentStatus.PENDING


def test_transition_of_missing_deployment_is_refused(repo: DeploymentsRepository) -> None:
    with pytest.raises(TransitionRefused) as refused:
        repo.transition("dpl_" + "b" * 26, DeploymentStatus.ERROR)
    assert refused.value.current is None


def test_updated_at_is_always_kept(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner, minutes_ago=5)
    repo.create(record)
    claimed = repo.claim(record.deployment_id)
    assert claimed is not None
    assert claimed.updated_at > record.updated_at
    time.sleep(0.002)
    later = repo.set_progress(record.deployment_id, DeploymentStatus.UPLOADING, 10)
    assert later.updated_at > claimed.updated_at


def test_expected_can_only_narrow(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner)
    repo.create(record)
    with pytest.raises(ValueError, match="no transition"):
        repo.transition(record.deployment_id, DeploymentStatus.READY, expected=[DeploymentStatus.PENDING])


def test_terminal_transition_drops_sealed_credentials(repo: DeploymentsRepository, owner: str) -> None:
    record = deployment(owner, sealed_credentials="c2VhbGVk")
    repo.create(record)
    repo.claim(record.deployment_id)
    assert repo.get(record.deployment_id).sealed_credentials == "c2VhbGVk"  # type: ignore[union-attr]
    repo.fail(record.deployment_id, "x")
    assert repo.get(record.deployment_id).sealed_credentials is None  # type: ignore[union-attr]


def test_list_is_newest_first_across_pages(repo: DeploymentsRepository, owner: str) -> None:
    created = [deployment(owner, minutes_ago=m) for m in range(7)]
    for record in created:
        repo.create(record)
    repo.create(deployment("someone-else"))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = repo.list_for_owner(owner, limit=3, cursor=cursor)
        pages += 1
        assert len(page.records) <= 3
        seen += [r.deployment_id for r in page.records]
        cursor = page.next_cursor
        if not cursor:
            break
    assert pages >= 3
    assert seen == [r.deployment_id for r in created]  # minutes_ago 0 (newest) first


def test_list_by_chat(repo: DeploymentsRepository, owner: str) -> None:
    in_chat = [deployment(owner, chat_id="chat-a", minutes_ago=m) for m in range(3)]
    for record in in_chat:
        repo.create(record)
    repo.create(deployment(owner, chat_id="chat-b"))
    page = repo.list_for_owner(owner, chat_id="chat-a", limit=10)
    assert [r.deployment_id for r in page.records] == [r.deployment_id for r in in_chat]
    assert page.next_cursor is None


def test_a_cursor_is_bound_to_its_owner_and_listing(repo: DeploymentsRepository, owner: str) -> None:
    for m in range(3):
        repo.create(deployment(owner, minutes_ago=m))
    cursor = repo.list_for_owner(owner, limit=1).next_cursor
    assert cursor
    with pytest.raises(InvalidCursor):
        repo.list_for_owner("someone-else", limit=1, cursor=cursor)
    with pytest.raises(InvalidCursor):
        repo.list_for_owner(owner, chat_id="chat-1", limit=1, cursor=cursor)
    with pytest.raises(InvalidCursor):
        repo.list_for_owner(owner, limit=1, cursor="not-base64-json!!")


def test_in_flight_index_is_sparse(repo: DeploymentsRepository, owner: str) -> None:
    stale = deployment(owner, minutes_ago=30)
    done = deployment(owner, minutes_ago=30)
    repo.create(stale)
    repo.create(done)
    repo.claim(done.deployment_id)
    repo.fail(done.deployment_id, "x")
    later = clock.now_iso()
    pending = [r.deployment_id for r in repo.list_in_flight(DeploymentStatus.PENDING, updated_before=later)]
    assert stale.deployment_id in pending
    assert done.deployment_id not in pending
    for status in DeploymentStatus:
        if status.terminal:
            continue
        found = repo.list_in_flight(status, updated_before=later)
        assert done.deployment_id not in [r.deployment_id for r in found]
    earlier = repo.list_in_flight(DeploymentStatus.PENDING, updated_before=stale.created_at)
    assert stale.deployment_id not in [r.deployment_id for r in earlier]
