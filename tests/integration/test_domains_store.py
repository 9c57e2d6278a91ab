"""The custom domains store on moto over real HTTP: the hostname's item is its claim (one site
across all owners, the same site's retry answered with what is there), a site's domains listed
through the BySite index, pending ones queued by due time, the check lease, and giving back only
what is still the site's."""

from __future__ import annotations

import uuid

import pytest

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DomainRecord, DomainStatus
from sitedeploy.domain.models import AuthMode, Platform
from sitedeploy.stores.domains import DomainsRepository, DomainTaken
from sitedeploy_local.stack import LocalStack
from tests.helpers import scratch_table


@pytest.fixture(scope="module")
def table(stack: LocalStack) -> str:
    return scratch_table(stack, "domains-tests")


@pytest.fixture
def repo(stack: LocalStack, table: str) -> DomainsRepository:
    return DomainsRepository(table, stack.moto.client("dynamodb"))


def record(hostname: str, site_id: str, owner: str) -> DomainRecord:
    now = clock.now_iso()
    return DomainRecord(
        hostname=hostname,
        site_id=site_id,
        owner_id=owner,
        platform=Platform.VERCEL,
        auth_mode=AuthMode.PLATFORM_MANAGED,
        created_at=now,
        updated_at=now,
    )


def test_a_hostname_is_one_sites_and_a_retry_gets_what_is_there(repo: DomainsRepository) -> None:
    host = f"www.{uuid.uuid4().hex[:8]}.example"
    mine = record(host, "site_a", "ann")
    assert repo.claim(mine, due="2026") == mine
    again = repo.claim(mine.model_copy(update={"updated_at": "later"}), due="2026")
    assert again.updated_at == mine.updated_at  # the one stored
    with pytest.raises(DomainTaken):
        repo.claim(record(host, "site_b", "bob"), due="2026")
    with pytest.raises(DomainTaken):
        repo.claim(record(host, "site_c", "ann"), due="2026")  # one site, even of the same owner
    assert repo.get(host) == mine


def test_saving_and_giving_back_only_while_it_is_the_sites(repo: DomainsRepository) -> None:
    host = f"api.{uuid.uuid4().hex[:8]}.example"
    mine = record(host, "site_a", "ann")
    repo.claim(mine, due="2026")
    assert not repo.save(record(host, "site_b", "bob"), due=None)
    assert repo.save(mine.model_copy(update={"status": DomainStatus.ACTIVE}), due=None)
    assert repo.get(host).status is DomainStatus.ACTIVE  # type: ignore[union-attr]
    assert not repo.release(host, "site_b")
    assert repo.release(host, "site_a")
    assert repo.get(host) is None


def test_a_sites_domains_and_the_pending_ones_due(repo: DomainsRepository) -> None:
    site = f"site_{uuid.uuid4().hex[:12]}"
    hosts = sorted(f"{n}.{uuid.uuid4().hex[:6]}.example" for n in ("a", "b", "c"))
    for n, host in enumerate(hosts):
        repo.claim(record(host, site, "ann"), due=f"2026-01-0{n + 1}")
    assert [r.hostname for r in repo.list_for_site(site)] == hosts
    settled = repo.get(hosts[0])
    assert settled is not None
    repo.save(settled.model_copy(update={"status": DomainStatus.ACTIVE}), due=None)
    due = [r.hostname for r in repo.due("2026-01-02T99", page=100) if r.site_id == site]
    assert due == [hosts[1]]


def test_the_check_lease_lets_one_reader_through_per_interval(repo: DomainsRepository) -> None:
    host = f"lease.{uuid.uuid4().hex[:8]}.example"
    repo.claim(record(host, "site_a", "ann"), due="2026")
    assert repo.acquire_check(host, min_interval=5, now=1000.0)
    assert not repo.acquire_check(host, min_interval=5, now=1003.0)
    assert repo.acquire_check(host, min_interval=5, now=1006.0)
    assert not repo.acquire_check("missing.example", min_interval=5, now=1006.0)


def test_saving_what_the_platform_said_keeps_the_check_lease_and_clears_what_is_gone(
    repo: DomainsRepository,
) -> None:
    """A save after a check must not erase the lease the check took (every reader would then ask
    the platform at once); a reason that no longer applies and a settled domain's queue go."""
    host = f"kept.{uuid.uuid4().hex[:8]}.example"
    mine = record(host, "site_a", "ann")
    repo.claim(mine.model_copy(update={"reason": "not verified yet"}), due="2026")
    assert repo.acquire_check(host, min_interval=5, now=2000.0)
    assert repo.save(mine.model_copy(update={"status": DomainStatus.ACTIVE}), due=None)
    assert not repo.acquire_check(host, min_interval=5, now=2001.0)  # the lease survived the save
    stored = repo.get(host)
    assert stored is not None
    assert (stored.status, stored.reason) == (DomainStatus.ACTIVE, None)
    assert host not in [r.hostname for r in repo.due("2099")]


def test_every_due_hostname_is_read_page_after_page(repo: DomainsRepository) -> None:
    site = f"site_{uuid.uuid4().hex[:12]}"
    hosts = [f"p{n}.{uuid.uuid4().hex[:6]}.example" for n in range(5)]
    for n, host in enumerate(hosts):
        repo.claim(record(host, site, "ann"), due=f"2025-06-0{n + 1}")
    found = [r.hostname for r in repo.due("2025-06-09", page=2) if r.site_id == site]
    assert found == hosts  # oldest due first, past the first page


def test_rescheduling_moves_only_when_it_is_asked_about(repo: DomainsRepository) -> None:
    """The refresher holds a copy read from an index: putting it off must not write that copy
    back over what a reader saved meanwhile, nor touch a hostname another site holds now."""
    host = f"later.{uuid.uuid4().hex[:8]}.example"
    mine = record(host, "site_a", "ann")
    repo.claim(mine, due="2025-01-01")
    repo.save(mine.model_copy(update={"status": DomainStatus.PENDING_CERTIFICATE}), due="2025-01-01")
    assert repo.reschedule(host, "site_a", due="2025-03-01")
    stored = repo.get(host)
    assert stored is not None
    assert stored.status is DomainStatus.PENDING_CERTIFICATE
    assert host not in [r.hostname for r in repo.due("2025-02-01")]
    assert host in [r.hostname for r in repo.due("2025-03-01")]
    assert not repo.reschedule(host, "site_b", due=None)
    assert repo.reschedule(host, "site_a", due=None)
    assert host not in [r.hostname for r in repo.due("2099")]
    assert not repo.reschedule("missing.example", "site_a", due="2025-01-01")


def test_a_hold_keeps_everyone_out_until_it_is_released_or_its_time_is_up(repo: DomainsRepository) -> None:
    """While a removed claim's hostname is taken off the platform it is held: no claim, and no second
    hold, gets it. Released, it is free; a hold its function never released is free once past its time."""
    clock.reset()
    try:
        run = uuid.uuid4().hex[:8]
        site_a, site_b = f"site_a_{run}", f"site_b_{run}"
        host = f"held.{run}.example"
        removed = record(host, site_a, "ann")
        holder = repo.hold(removed, seconds=60)
        assert holder == f"releasing:{site_a}"
        assert repo.hold(removed, seconds=60) is None
        with pytest.raises(DomainTaken, match="being taken off"):
            repo.claim(record(host, site_b, "bob"), due="2026")
        assert repo.list_for_site(site_a) == []  # a hold is nobody's domain
        assert not repo.release(host, site_a)  # only the hold's own id gives it back
        assert repo.release(host, holder)
        assert repo.claim(record(host, site_b, "bob"), due="2026").site_id == site_b
        assert repo.hold(removed, seconds=60) is None  # a claim is never held over

        other = f"dead.{uuid.uuid4().hex[:8]}.example"
        assert repo.hold(record(other, site_a, "ann"), seconds=60) is not None  # and never released
        with pytest.raises(DomainTaken):
            repo.claim(record(other, site_b, "bob"), due="2026")
        clock.travel(61)
        assert repo.claim(record(other, site_b, "bob"), due="2026").site_id == site_b
    finally:
        clock.reset()
