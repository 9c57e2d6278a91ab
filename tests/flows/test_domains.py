"""Custom domains over the fakes: attach (the records to create), follow to active as the DNS gets
them, fail at the deadline, one site per hostname across all owners, bad hostnames refused, and a
site's domains going with it when it is deleted or expires."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DomainStatus, normalize_hostname
from sitedeploy.domain.errors import BadRequest, Conflict, NotFound, PlatformFailed
from sitedeploy.domain.models import DeploymentRecord, DeploymentStatus, SiteAddress
from sitedeploy.flows import accept, domains, publish, sites, teardown
from sitedeploy.platforms.base import PlatformError
from sitedeploy.services import Services
from tests.fakes.platform import FakePlatform
from tests.fakes.stores import InMemoryDomains, InMemorySites
from tests.flows.conftest import OWNER, PLATFORM, request


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


def live_site(services: Services, owner: str = OWNER, project: str = "shop") -> DeploymentRecord:
    answer = accept.accept(services, PLATFORM, owner, request(projectName=project))
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.READY
    return done


def address(record: DeploymentRecord) -> SiteAddress:
    return SiteAddress(record.account_id, record.external_name or "")


def settle(services: Services, site_id: str, owner: str = OWNER) -> list[DomainStatus]:
    """Read the site's domains as a client polls (the check lease passes with time)."""
    clock.travel(domains.CHECK_SECONDS + 1)
    return [d.status for d in domains.list_domains(services, owner, site_id).domains]


def test_attach_the_records_then_active_once_the_dns_has_them(services: Services, platform: FakePlatform) -> None:
    site = live_site(services)
    view = domains.add(services, OWNER, site.site_id, "WWW.Example.com.")
    assert view.hostname == "www.example.com"
    assert view.status is DomainStatus.PENDING_VERIFICATION
    assert {(r.type, r.purpose) for r in view.records} == {("CNAME", "routing"), ("TXT", "ownership")}
    assert settle(services, site.site_id) == [DomainStatus.PENDING_VERIFICATION]
    platform.create_records(address(site), "www.example.com")
    assert settle(services, site.site_id) == [DomainStatus.PENDING_CERTIFICATE]
    assert settle(services, site.site_id) == [DomainStatus.ACTIVE]
    checks = len(platform.called("domain_state"))
    assert settle(services, site.site_id) == [DomainStatus.ACTIVE]
    assert len(platform.called("domain_state")) == checks  # an active domain is not asked about


def test_reading_asks_the_platform_at_most_once_per_interval(services: Services, platform: FakePlatform) -> None:
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "a.example.com")
    clock.travel(domains.CHECK_SECONDS + 1)
    for _ in range(5):
        domains.list_domains(services, OWNER, site.site_id)
    assert len(platform.called("domain_state")) == 2  # attach's own, then one for the five reads


def test_attaching_again_is_the_same_answer_and_another_owner_is_refused(
    services: Services, platform: FakePlatform
) -> None:
    mine = live_site(services)
    theirs = live_site(services, owner="someone-else")
    first = domains.add(services, OWNER, mine.site_id, "shop.example.com")
    again = domains.add(services, OWNER, mine.site_id, "shop.example.com")
    assert again.hostname == first.hostname
    assert len(platform.called("attach_domain")) == 1
    attaches = len(platform.called("attach_domain"))
    with pytest.raises(Conflict) as taken:
        domains.add(services, "someone-else", theirs.site_id, "shop.example.com")
    assert taken.value.code == "domain_taken"
    assert len(platform.called("attach_domain")) == attaches  # nothing asked of the platform
    other = live_site(services, project="blog")
    with pytest.raises(Conflict):
        domains.add(services, OWNER, other.site_id, "shop.example.com")  # one site per hostname, even mine


@pytest.mark.parametrize(
    "hostname",
    [
        "*.example.com",
        "localhost",
        "https://www.example.com",
        "www.example.com:8080",
        "192.0.2.1",
        "-bad.example.com",
        "a" * 64 + ".example.com",
        ".".join(["abcdefghij"] * 25) + ".com",
        "shop.example.123",
        "mysite.netlify.app",
        "x.fake.example",
        "",
    ],
)
def test_a_bad_hostname_is_a_400_naming_it_and_writes_nothing(
    services: Services, platform: FakePlatform, hostname: str
) -> None:
    site = live_site(services)
    with pytest.raises(BadRequest) as bad:
        domains.add(services, OWNER, site.site_id, hostname)
    assert bad.value.code == "invalid_hostname"
    stored = services.stores.domains
    assert isinstance(stored, InMemoryDomains)
    assert stored.records == {}
    assert not platform.called("attach_domain")


def test_internationalised_names_are_stored_in_their_dns_form() -> None:
    assert normalize_hostname("Bücher.example") == "xn--bcher-kva.example"


def test_a_platform_that_refuses_gives_the_hostname_back(services: Services, platform: FakePlatform) -> None:
    site = live_site(services)
    platform.attached["taken.example.com"] = ("somebody-elses-site", 0)  # held on the platform, outside us
    with pytest.raises(Conflict) as refused:
        domains.add(services, OWNER, site.site_id, "taken.example.com")
    assert refused.value.code == "domain_refused"
    assert services.stores.domains.get("taken.example.com") is None


def test_where_the_platform_takes_no_domains_the_409_says_why(services: Services, platform: FakePlatform) -> None:
    platform.domains_refused = "Quick Deploy sites here are served from the platform's own domain"
    site = live_site(services)
    with pytest.raises(Conflict) as unsupported:
        domains.add(services, OWNER, site.site_id, "www.example.com")
    assert unsupported.value.code == "domains_unsupported"
    assert "platform's own domain" in unsupported.value.message


def test_records_never_created_fail_at_the_deadline_with_the_reason(services: Services, platform: FakePlatform) -> None:
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "late.example.com")
    clock.travel(platform.domain_deadline_seconds() + 60)
    assert domains.refresh_due(services) == 1
    view = domains.list_domains(services, OWNER, site.site_id).domains[0]
    assert view.status is DomainStatus.FAILED
    assert view.reason is not None
    assert "deadline" in view.reason


def test_remove_detaches_and_frees_the_hostname(services: Services, platform: FakePlatform) -> None:
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "www.example.com")
    with pytest.raises(NotFound):
        domains.remove(services, "someone-else", site.site_id, "www.example.com")
    domains.remove(services, OWNER, site.site_id, "WWW.example.com")
    assert "www.example.com" not in platform.attached
    with pytest.raises(NotFound):
        domains.remove(services, OWNER, site.site_id, "www.example.com")
    other = live_site(services, owner="someone-else")
    assert domains.add(services, "someone-else", other.site_id, "www.example.com").hostname == "www.example.com"


def test_a_redeploy_keeps_the_domains_and_deleting_the_site_takes_them(
    services: Services, platform: FakePlatform
) -> None:
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "www.example.com")
    live_site(services)  # a redeploy
    assert [d.hostname for d in domains.list_domains(services, OWNER, site.site_id).domains] == ["www.example.com"]
    sites.delete_site(services, OWNER, site.site_id)
    assert "www.example.com" not in platform.attached
    assert services.stores.domains.get("www.example.com") is None


def test_an_expired_site_takes_its_domains_too(services: Services, platform: FakePlatform) -> None:
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "gone.example.com")
    stored_sites = services.stores.sites
    assert isinstance(stored_sites, InMemorySites)
    image = stored_sites.expire(site.site_id)
    teardown.reap(services, {"type": "Service", "principalId": "dynamodb.amazonaws.com"}, image)
    assert "gone.example.com" not in platform.attached
    assert services.stores.domains.get("gone.example.com") is None


def test_adding_a_failed_domain_again_tries_again(services: Services, platform: FakePlatform) -> None:
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "again.example.com")
    clock.travel(platform.domain_deadline_seconds() + 60)
    domains.refresh_due(services)
    assert domains.list_domains(services, OWNER, site.site_id).domains[0].status is DomainStatus.FAILED
    platform.create_records(address(site), "again.example.com")
    retried = domains.add(services, OWNER, site.site_id, "again.example.com")
    assert retried.status is DomainStatus.PENDING_CERTIFICATE
    assert settle(services, site.site_id) == [DomainStatus.ACTIVE]


def test_an_add_racing_the_sites_delete_gives_the_hostname_back(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DELETE lists the site's domains (none yet) and detaches them just before the add's claim
    lands: the add must not leave the hostname held by a site that is gone, nor attach it."""
    site = live_site(services)
    store = services.stores.domains
    claim = store.claim

    def claim_after_the_delete(*args: object, **kwargs: object) -> object:
        sites.delete_site(services, OWNER, site.site_id)
        return claim(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "claim", claim_after_the_delete)
    with pytest.raises(Conflict) as refused:
        domains.add(services, OWNER, site.site_id, "late.example.com")
    assert refused.value.code == "site_deleting"
    assert store.get("late.example.com") is None
    assert "late.example.com" not in platform.attached


def _attached_then_lost(platform: FakePlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform attaches the hostname, then its answer is lost (a 502, a reset)."""
    attach = platform.attach_domain

    def lost(*args: object, **kwargs: object) -> object:
        attach(*args, **kwargs)  # type: ignore[arg-type]
        raise PlatformError("bad gateway", status=502)

    monkeypatch.setattr(platform, "attach_domain", lost)


def test_an_attach_whose_answer_is_lost_is_taken_off_before_the_hostname_is_given_back(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = live_site(services)
    _attached_then_lost(platform, monkeypatch)
    with pytest.raises(PlatformFailed):
        domains.add(services, OWNER, site.site_id, "lost.example.com")
    assert "lost.example.com" not in platform.attached  # not left routing to a site nobody records
    assert services.stores.domains.get("lost.example.com") is None


def test_an_attach_that_cannot_be_undone_keeps_its_claim_and_the_refresher_finishes_it(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = live_site(services)
    _attached_then_lost(platform, monkeypatch)
    platform.fail_next("detach_domain", PlatformError("unavailable", status=503))
    with pytest.raises(PlatformFailed):
        domains.add(services, OWNER, site.site_id, "kept.example.com")
    held = services.stores.domains.get("kept.example.com")
    assert held is not None  # another owner cannot take a hostname the platform routes to this site
    assert held.site_id == site.site_id
    monkeypatch.undo()
    clock.travel(domains.REFRESH_SECONDS + 1)
    assert domains.refresh_due(services) == 1
    finished = services.stores.domains.get("kept.example.com")
    assert finished is not None
    assert finished.status is DomainStatus.PENDING_VERIFICATION
    assert {r.purpose for r in finished.records} == {"routing", "ownership"}


def test_a_domain_removed_while_it_is_attached_does_not_stay_on_the_platform(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = live_site(services)
    attach = platform.attach_domain

    def removed_meanwhile(*args: object, **kwargs: object) -> object:
        domains.remove(services, OWNER, site.site_id, "race.example.com")  # nothing on the platform yet
        return attach(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(platform, "attach_domain", removed_meanwhile)
    with pytest.raises(Conflict) as refused:
        domains.add(services, OWNER, site.site_id, "race.example.com")
    assert refused.value.code == "domain_removed"
    assert "race.example.com" not in platform.attached
    assert services.stores.domains.get("race.example.com") is None


def test_a_check_that_put_a_removed_domain_back_takes_it_off_again(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Netlify and Amplify checks add a hostname the site lost: one racing a DELETE of the domain
    must not leave it attached once the DELETE has given it back."""
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "back.example.com")
    store = services.stores.domains
    save = store.save

    def released_first(record: object, **kwargs: object) -> bool:
        store.release("back.example.com", site.site_id)  # the DELETE landed during the check
        return save(record, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "save", released_first)
    clock.travel(domains.CHECK_SECONDS + 1)
    domains.list_domains(services, OWNER, site.site_id)  # its check lands after the DELETE
    assert "back.example.com" not in platform.attached
    assert store.get("back.example.com") is None


def test_a_platform_that_cannot_be_asked_fails_the_domain_at_the_deadline(
    services: Services, platform: FakePlatform
) -> None:
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "silent.example.com")
    platform.fail_next("domain_state", PlatformError("unavailable", status=503), times=1000)
    clock.travel(domains.REFRESH_SECONDS + 1)
    assert domains.refresh_due(services) == 1
    still = services.stores.domains.get("silent.example.com")
    assert still is not None
    assert still.status is DomainStatus.PENDING_VERIFICATION  # before the deadline: asked again later
    assert domains.refresh_due(services) == 0  # put off, not asked again at once
    clock.travel(platform.domain_deadline_seconds())
    assert domains.refresh_due(services) == 1
    failed = services.stores.domains.get("silent.example.com")
    assert failed is not None
    assert failed.status is DomainStatus.FAILED
    assert failed.reason is not None
    assert "could not be asked" in failed.reason
    assert "unavailable" in failed.reason


def test_the_refresher_never_writes_an_old_copy_over_what_a_reader_saved(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "fresh.example.com")
    store = services.stores.domains
    old = store.get("fresh.example.com")
    assert old is not None
    platform.create_records(address(site), "fresh.example.com")
    assert settle(services, site.site_id) == [DomainStatus.PENDING_CERTIFICATE]  # a reader just asked
    monkeypatch.setattr(store, "due", lambda before, page=100: iter([old]))  # the index lags
    assert domains.refresh_due(services) == 0  # the reader holds the lease
    stored = store.get("fresh.example.com")
    assert stored is not None
    assert stored.status is DomainStatus.PENDING_CERTIFICATE


def test_the_refresher_reaches_every_pending_domain_and_stops_when_its_time_is_up(
    services: Services, platform: FakePlatform
) -> None:
    site = live_site(services)
    hosts = [f"h{n}.example.com" for n in range(130)]
    for host in hosts:
        domains.add(services, OWNER, site.site_id, host)
    clock.travel(domains.REFRESH_SECONDS + 1)
    assert domains.refresh_due(services, budget_seconds=-1) == 0
    assert domains.refresh_due(services) == len(hosts)  # more than one page
    assert domains.refresh_due(services) == 0


def test_a_hostname_another_site_took_meanwhile_is_left_on_the_platform(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check of A's hostname lands after A removed it and B attached it: taking it off again
    would take it from B where the platform detaches by hostname alone (Cloudflare for SaaS)."""
    mine = live_site(services)
    theirs = live_site(services, owner="someone-else", project="theirs")
    domains.add(services, OWNER, mine.site_id, "moved.example.com")
    store = services.stores.domains
    save = store.save

    def removed_and_taken(record: object, **kwargs: object) -> bool:
        monkeypatch.setattr(store, "save", save)
        domains.remove(services, OWNER, mine.site_id, "moved.example.com")
        domains.add(services, "someone-else", theirs.site_id, "moved.example.com")
        return save(record, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "save", removed_and_taken)
    clock.travel(domains.CHECK_SECONDS + 1)
    domains.list_domains(services, OWNER, mine.site_id)
    assert platform.attached["moved.example.com"][0] == address(theirs).name
    held = store.get("moved.example.com")
    assert held is not None
    assert held.site_id == theirs.site_id


def test_a_hostname_claimed_while_it_is_being_taken_off_waits_and_then_stays_on(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's attach lands after A's removal, so A takes the hostname off again. B claiming it in
    between (on a platform whose attach adopts the hostname, as Cloudflare for SaaS's does) must not
    have it taken off under B: B waits (a 409) until A's detach is done, then keeps it."""
    mine = live_site(services)
    theirs = live_site(services, owner="someone-else", project="theirs")
    host = "race.example.com"
    attach, detach = platform.attach_domain, platform.detach_domain
    outcomes: list[str] = []

    def removed_meanwhile(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(platform, "attach_domain", adopting)
        domains.remove(services, OWNER, mine.site_id, host)
        monkeypatch.setattr(platform, "detach_domain", claimed_meanwhile)  # the next detach is A's own
        return attach(*args, **kwargs)  # type: ignore[arg-type]

    def adopting(address: SiteAddress, hostname: str, credentials: object) -> object:
        platform.attached.pop(hostname, None)  # the zone's custom hostname, whoever made it
        return attach(address, hostname, credentials)  # type: ignore[arg-type]

    def claimed_meanwhile(*args: object, **kwargs: object) -> None:
        monkeypatch.setattr(platform, "detach_domain", detach)
        try:
            domains.add(services, "someone-else", theirs.site_id, host)
            outcomes.append("attached")
        except Conflict as exc:
            outcomes.append(exc.code)
        detach(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(platform, "attach_domain", removed_meanwhile)
    with pytest.raises(Conflict) as refused:
        domains.add(services, OWNER, mine.site_id, host)
    assert refused.value.code == "domain_removed"
    assert outcomes == ["domain_taken"]  # held while A's detach ran
    assert host not in platform.attached
    assert services.stores.domains.get(host) is None  # the hold is given back

    domains.add(services, "someone-else", theirs.site_id, host)  # the 409 said: try again
    assert platform.attached[host][0] == address(theirs).name
    held = services.stores.domains.get(host)
    assert held is not None
    assert held.site_id == theirs.site_id


def test_a_check_that_never_reached_the_platform_takes_nothing_off(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the deadline with the platform unreachable, and the hostname removed meanwhile: nothing
    was put back, so nothing is detached (with credentials that may never have been read)."""
    site = live_site(services)
    domains.add(services, OWNER, site.site_id, "quiet.example.com")
    platform.fail_next("domain_state", PlatformError("unavailable", status=503))
    store = services.stores.domains
    save = store.save

    def released_first(record: object, **kwargs: object) -> bool:
        store.release("quiet.example.com", site.site_id)
        return save(record, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "save", released_first)
    clock.travel(platform.domain_deadline_seconds() + 60)
    held = store.get("quiet.example.com")
    assert held is not None
    domains.refresh(services, held)
    assert platform.called("detach_domain") == []
