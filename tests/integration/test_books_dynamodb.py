"""The books on DynamoDB: every scenario of tests/flows/test_books.py, and the model-based hunt of
tests/flows/test_books_model.py (a smaller budget), run again with the real deployment, site and
tenancy stores on moto's DynamoDB (over HTTP, through the real boto3 client), so that the table's
transactions and conditions keep the same invariant the in-memory fakes model. Plus what only the
table can show: transactions retried on conflict, and listings read to their last page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from botocore.stub import Stubber

from sitedeploy.domain.models import DeploymentRecord, DeploymentStatus
from sitedeploy.domain.tenancy import Contended, JobSlots
from sitedeploy.flows import sweep
from sitedeploy.services import Services
from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy.stores.dynamo import Transaction
from sitedeploy.stores.sites import SitesRepository
from sitedeploy.stores.tenancy import TenancyRepository
from sitedeploy_local.stack import LocalStack
from tests.factories import deployment
from tests.fakes import fake_services
from tests.fakes.platform import FakePlatform
from tests.flows import test_books as scenarios
from tests.flows import test_books_model as model
from tests.helpers import calls_of, scratch_table


def _new_table(stack: LocalStack) -> str:
    return scratch_table(stack, f"books-{uuid.uuid4().hex[:10]}")


def dynamodb_services(stack: LocalStack, tables: list[str]) -> Callable[..., Services]:
    """``fake_services`` with the deployment, site and tenancy stores on a fresh DynamoDB table."""

    def make(platform: FakePlatform | None = None, **settings: Any) -> Services:
        table = _new_table(stack)
        tables.append(table)
        client = stack.moto.client("dynamodb")
        services = fake_services(platform, **settings)
        stores = replace(
            services.stores,
            deployments=DeploymentsRepository(table, client),
            sites=SitesRepository(table, client),
            tenancy=TenancyRepository(table, client),
        )
        return replace(services, stores=stores)

    return make


@pytest.fixture
def tables(stack: LocalStack) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for table in made:
        stack.moto.client("dynamodb").delete_table(TableName=table)


SCENARIOS = sorted(name for name in dir(scenarios) if name.startswith("test_") and "unicode" not in name)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_keeps_the_books_on_dynamodb(
    scenario: str, stack: LocalStack, tables: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scenarios, "fake_services", dynamodb_services(stack, tables))
    test = getattr(scenarios, scenario)
    if "damage" in test.__code__.co_varnames[: test.__code__.co_argcount]:
        test("missing")
        test("corrupt")
    else:
        test()


def test_the_model_finds_nothing_on_dynamodb(stack: LocalStack, tables: list[str]) -> None:
    make = dynamodb_services(stack, tables)

    class AccountPoolOnDynamoDB(model.AccountPool):
        def make_services(self, platform: FakePlatform, **settings: Any) -> Services:
            return make(platform, **settings)

    class GrownPoolOnDynamoDB(model.GrownPool):
        def make_services(self, platform: FakePlatform, **settings: Any) -> Services:
            return make(platform, **settings)

    budget = model.settings(parent=model.SETTINGS, max_examples=max(4, model.EXAMPLES // 8), stateful_step_count=15)
    for machine in (AccountPoolOnDynamoDB, GrownPoolOnDynamoDB):
        machine.TestCase.settings = budget
        machine.TestCase().runTest()


# -- what only the table shows ----------------------------------------------------------------


def test_a_transaction_conflict_is_tried_again_and_a_lasting_one_is_a_503(stack: LocalStack) -> None:
    client = stack.moto.client("dynamodb")
    conflict = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled [TransactionConflict]"},
        "CancellationReasons": [{"Code": "TransactionConflict"}],
    }
    item = {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "META"}}}}
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error(
                "transact_write_items", service_error_code="TransactionCanceledException", http_status_code=400,
                response_meta={}, modeled_fields={"CancellationReasons": conflict["CancellationReasons"]},
            )  # fmt: skip
        stub.add_response("transact_write_items", {}, {"TransactItems": [item]})
        transaction = Transaction(client, "t")
        transaction.add("Put", {"Item": {"pk": {"S": "a"}, "sk": {"S": "META"}}})
        transaction.commit()  # two conflicts, then through
        stub.assert_no_pending_responses()
    with Stubber(client) as stub:
        for _ in range(6):
            stub.add_client_error(
                "transact_write_items", service_error_code="TransactionCanceledException", http_status_code=400,
                modeled_fields={"CancellationReasons": conflict["CancellationReasons"]},
            )  # fmt: skip
        transaction = Transaction(client, "t")
        transaction.add("Put", {"Item": {"pk": {"S": "a"}, "sk": {"S": "META"}}})
        with pytest.raises(Contended) as busy:
            transaction.commit()
        assert (busy.value.status, busy.value.code) == (503, "busy")


def test_the_sweeper_reads_every_page_and_never_frees_a_slot_a_running_build_holds(
    stack: LocalStack, tables: list[str]
) -> None:
    """Reproduced: with 100 or more older builds, the sweeper read 100, counted the slots they held
    as 0 and gave every slot back while builds ran; pending ones past the first 100 never timed out."""
    services = dynamodb_services(stack, tables)(FakePlatform(builds=True), stuck_deployment_minutes=20)
    repo = services.stores.deployments
    tenancy = services.stores.tenancy
    assert isinstance(repo, DeploymentsRepository)
    slots = JobSlots("amplify#test-1", 1000)
    for _ in range(130):
        record = deployment("owner", status=DeploymentStatus.BUILDING, minutes_ago=30, job_slot=slots.key)
        repo.create(record.model_copy(update={"external_id": "job"}))
    stale = []
    for _ in range(120):
        record = deployment("owner", minutes_ago=60)
        repo.create(record)
        stale.append(record.deployment_id)
    tenancy.set_slots_held(slots.key, 130)
    assert len(list(repo.list_in_flight(DeploymentStatus.BUILDING, updated_before="9999", page_size=40))) == 130
    report = sweep.sweep(services)
    assert tenancy.slots_held(slots.key) == 130  # every build that runs still holds its slot
    assert report.slots_freed == 0
    assert sorted(report.timed_out) == sorted(stale)  # every stuck one, past the first page


def test_a_deployment_that_ends_gives_back_its_in_flight_place_in_the_same_write(
    stack: LocalStack, tables: list[str]
) -> None:
    """The terminal status and the owner's in-flight count move together: no read can see a
    deployment ended while the count still holds it (a deploy at the limit was refused in that
    moment). Letting go afterwards, even from a record read before, gives nothing back twice."""
    from sitedeploy.flows import accept
    from tests.flows.conftest import OWNER, PLATFORM, request

    services = dynamodb_services(stack, tables)()
    store, tenancy = services.stores.deployments, services.stores.tenancy
    first = accept.accept(services, PLATFORM, OWNER, request(projectName="one"))
    second = accept.accept(services, PLATFORM, OWNER, request(projectName="two"))
    assert tenancy.usage(OWNER).get("FLIGHT") == 2
    claimed = store.claim(first.deployment_id)
    assert claimed is not None
    assert claimed.quota_key
    ended = store.transition(
        first.deployment_id, DeploymentStatus.READY, changes={"url": "https://one.example", "progress": 100}
    )
    assert tenancy.usage(OWNER).get("FLIGHT") == 1  # in the write that said ready
    assert ended.status is DeploymentStatus.READY
    assert ended.quota_key is None
    tenancy.let_go(claimed)  # a record read before the end still names the count: nothing twice
    tenancy.let_go(ended)
    assert tenancy.usage(OWNER).get("FLIGHT") == 1
    assert first.deployment_id not in [r.deployment_id for r in store.list_ended(updated_before="9")]  # let go
    assert store.get(second.deployment_id) is not None


def _claimed(services: Services, project: str) -> DeploymentRecord:
    """A Quick Deploy accepted and claimed for publishing: it counts in its owner's in-flight quota."""
    from sitedeploy.flows import accept
    from tests.flows.conftest import OWNER, PLATFORM, request

    answer = accept.accept(services, PLATFORM, OWNER, request(projectName=project))
    claimed = services.stores.deployments.claim(answer.deployment_id)
    assert claimed is not None
    assert claimed.quota_key
    return claimed


def test_an_end_on_the_record_the_publisher_read_gives_back_its_place_without_reading_it_again(
    stack: LocalStack, tables: list[str]
) -> None:
    """The publisher ends a deployment on the record it read when it claimed it: the quota key
    comes from that record, not from one more read, and the count moves as before. A record read
    before another end (its key already given back) gives nothing back twice: the move is refused."""
    from sitedeploy.flows import accept
    from sitedeploy.stores.deployments import TransitionRefused
    from tests.flows.conftest import OWNER, PLATFORM, request

    services = dynamodb_services(stack, tables)()
    store, tenancy = services.stores.deployments, services.stores.tenancy
    claimed = _claimed(services, "read-one")
    assert isinstance(store, DeploymentsRepository)
    with calls_of(store._client, "dynamodb.GetItem") as reads:  # the store's own client
        ended = store.transition(claimed.deployment_id, DeploymentStatus.READY, changes={"progress": 100}, read=claimed)
    assert len(reads) == 1  # the ended record, read once after the transaction
    assert (ended.status, ended.quota_key) == (DeploymentStatus.READY, None)
    assert tenancy.usage(OWNER).get("FLIGHT", 0) == 0
    accept.accept(services, PLATFORM, OWNER, request(projectName="read-two"))
    assert tenancy.usage(OWNER).get("FLIGHT") == 1  # another in flight: a second give-back would show
    with pytest.raises(TransitionRefused):
        store.transition(claimed.deployment_id, DeploymentStatus.ERROR, changes={"error": "late"}, read=claimed)
    assert tenancy.usage(OWNER).get("FLIGHT") == 1
    assert store.get(claimed.deployment_id).status is DeploymentStatus.READY  # type: ignore[union-attr]


def test_an_end_with_a_count_already_at_zero_still_ends_and_lets_go(stack: LocalStack, tables: list[str]) -> None:
    """A count lower than what it counts (a drift the sweeper repairs) must not stop a deployment
    from ending: the move is made without the give-back, and letting go leaves the count alone."""
    from sitedeploy.stores.dynamo import item_key
    from tests.flows.conftest import OWNER

    services = dynamodb_services(stack, tables)()
    store, tenancy = services.stores.deployments, services.stores.tenancy
    claimed = _claimed(services, "drifted")
    stack.moto.client("dynamodb").update_item(
        TableName=tables[-1],
        Key=item_key(str(claimed.quota_key), "FLIGHT"),
        UpdateExpression="SET n = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
    ended = store.transition(claimed.deployment_id, DeploymentStatus.ERROR, changes={"error": "it failed"})
    assert ended.status is DeploymentStatus.ERROR
    assert ended.quota_key == claimed.quota_key  # not given back: nothing to give it back to
    tenancy.let_go(ended)
    assert tenancy.usage(OWNER).get("FLIGHT") == 0
    assert claimed.deployment_id not in [r.deployment_id for r in store.list_ended(updated_before="9")]


def test_accept_answers_the_url_it_wrote_without_reading_the_site_back(
    stack: LocalStack, tables: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit is a transaction (which answers nothing): accept answers the URL it wrote, where
    it read the whole site back after every commit. A URL it did not know (a user's account whose
    sites' addresses come with their first publish) was kept by the commit, and a read tells it."""
    from sitedeploy.flows import accept
    from tests.flows.conftest import OWNER, PLATFORM, request

    platform = FakePlatform()
    services = dynamodb_services(stack, tables)(platform)
    with calls_of(services.stores.tenancy._client, "dynamodb") as calls:  # type: ignore[attr-defined]
        answer = accept.accept(services, PLATFORM, OWNER, request(projectName="no-read-back"))
    stored = services.stores.sites.get(answer.site_id)
    assert stored is not None
    assert answer.url is not None
    assert answer.url == stored.url
    assert calls[-1] == "TransactWriteItems", calls  # nothing read after the commit

    own = {"authMode": "user-token", "token": "user-token-value", "accountId": "acct-9", "projectName": "own"}
    first = accept.accept(services, PLATFORM, OWNER, request(**own))
    known = services.stores.sites.get(first.site_id)
    assert known is not None
    assert known.url is not None
    monkeypatch.setattr(platform, "site_url", lambda *args, **kwargs: None)  # not known at placement
    again = accept.accept(services, PLATFORM, OWNER, request(**own, files={"index.html": "v2"}))
    assert (again.site_id, again.url) == (first.site_id, known.url)
