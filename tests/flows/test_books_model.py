"""Model-based: random interleavings of everything that touches Quick Deploy's books, with failures
and crashes injected at every step, for several owners sharing a pool; the books must balance after
every step (tests/fakes/books.py), nothing a live site uses may ever be deleted (the platform's
guard), and once the sweeper and the reconciler have run, nothing is in flight and nothing is left
over on the platform.

Steps: accept, publish (the platform failing, or the Lambda dying at any call), a build ending,
supersede (a redeploy of a pending site), moves (a site's routing changing), DELETE, TTL expiry and
the reaper (retried), the sweeper and the reconciler, and time passing; any of them may run *inside*
another (before its k-th call to a store or the platform), which is how two requests race. A
publish, a DELETE, an accept or a sweep may also stall before its k-th call (``park``) while any
number of steps go on, and go on later from a step of its own or from inside another (``resume``),
or die there; time passing past its function's timeout kills it, as Lambda does.

The budget is fixed for CI (and derandomized, so a landing never depends on luck);
``SITEDEPLOY_MODEL_EXAMPLES`` raises it for a longer hunt."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

__all__ = ["SETTINGS", "AccountPool", "GrownPool", "settings"]
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sitedeploy.domain import clock
from sitedeploy.domain.errors import ApiError
from sitedeploy.domain.models import DeploymentStatus, SiteRecord, Target
from sitedeploy.domain.naming import site_id
from sitedeploy.domain.tenancy import Quotas
from sitedeploy.flows import accept, placement, publish, reconcile, sites, status, sweep, teardown, versions
from sitedeploy.platforms.base import BuildState, PlatformError
from sitedeploy.services import Services
from tests.fakes import fake_services
from tests.fakes.books import check_books, check_settled, check_versions, expire_site, ledger, safety_guard
from tests.fakes.interleave import Parked, Steps
from tests.fakes.platform import FakePlatform
from tests.flows.conftest import PLATFORM, request

EXAMPLES = int(os.environ.get("SITEDEPLOY_MODEL_EXAMPLES", "40"))
OWNERS = ("ann", "bob", "eve")
PROJECTS = ("shop", "blog")
FILES = {
    "spa": {"/index.html": "<h1>spa</h1>"},
    "plain": {"/index.html": "<h1>plain</h1>", "/404.html": "gone"},
    "headers": {"/index.html": "<h1>h</h1>", "/_headers": "/*\n  X-Frame-Options: DENY\n"},
}
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
# When something else happens inside a step: nothing, a crash at call k, or another step at call k.
INSIDE = st.one_of(
    st.none(),
    st.tuples(st.integers(1, 14), st.just("crash")),
    st.tuples(st.integers(1, 14), st.sampled_from(["delete", "deploy", "publish", "reconcile", "sweep", "resume"])),
)
# What may stall mid-way, and its function's timeout (template.yaml): past it, Lambda has killed it.
PARKABLE = {"publish": 900, "delete": 29, "deploy": 29, "sweep": 300}
# Where a stalled flow stops: before its k-th call, or before its next write of one of these kinds.
WRITES = (
    "acquire_publish", "commit_deploy", "enqueue", "fail", "fail_if_pending", "finish_deletion", "free_former",
    "grow_pool", "let_go", "mark_freeing", "publish", "record_version", "release_site", "release_slot",
    "remove_member", "rename", "set_url", "tear_down", "tombstone", "transition", "wake",
)  # fmt: skip
STOPS = st.one_of(st.integers(1, 28), st.sampled_from(WRITES))
FAULTS = ("publish", "tear_down", "refresh", "remove_member", "grow_pool", "pool_objects")


class Books(RuleBasedStateMachine):
    """The service's flows over the fakes, several owners and two projects each, on one platform."""

    def make_platform(self) -> FakePlatform:
        raise NotImplementedError

    def make_services(self, platform: FakePlatform, **settings: Any) -> Services:
        return fake_services(platform, **settings)

    def who(self, owner: str, project: str) -> tuple[str, str]:
        """The owner and project a step acts for (``OneSite`` sends every step to one site)."""
        return owner, project

    @initialize()
    def start(self) -> None:
        clock.reset()
        random.seed(0)  # the member a new site goes to is picked at random: the same each run
        self.platform = self.make_platform()
        self.services: Services = self.make_services(
            self.platform,
            reconcile_grace_seconds=0.0,
            quotas=Quotas(sites_per_platform=3, routing_profiles=2, deployments_in_flight=4),
        )
        self.platform.guard = safety_guard(self.services)
        self.steps = Steps(self.services, self.platform)
        self.expired: dict[tuple[str, str | None], SiteRecord] = {}
        self.parked: list[Parked] = []

    # -- what happens ---------------------------------------------------------------------------

    def _inside(self, inside: tuple[int, str] | None, flow: Callable[[], Any], pick: int) -> Any:
        """Run ``flow``, with a crash or another step inside it; refusals (4xx, 5xx) are outcomes."""
        if inside is not None:
            step, what = inside
            if what == "crash":
                self.steps.crash(step)
            else:
                self.steps.before(step, lambda: self._quietly(lambda: self._do(what, pick)))
        try:
            return self.steps.run(flow)
        except ApiError:
            return None
        finally:
            self.steps.clear()

    @staticmethod
    def _quietly(flow: Callable[[], Any]) -> None:
        try:
            flow()
        except ApiError:
            pass

    def _do(self, what: str, pick: int) -> None:
        owner, project = self.who(OWNERS[pick % len(OWNERS)], PROJECTS[pick % len(PROJECTS)])
        if what == "delete":
            self._delete(owner, project)
        elif what == "deploy":
            accept.accept(self.services, PLATFORM, owner, request(projectName=project, files=FILES["spa"]))
        elif what == "publish":
            for record in self._in("pending")[pick % 3 :]:
                publish.publish(self.services, record)
                break
        elif what == "reconcile":
            reconcile.reconcile(self.services, settle_seconds=0)
        elif what == "sweep":
            sweep.sweep(self.services)
        elif what == "resume" and self.parked:
            self._resume(self.parked[pick % len(self.parked)], None)

    def _delete(self, owner: str, project: str) -> None:
        sites.delete_site(self.services, owner, site_id(owner, PLATFORM.value, project, "platform-managed"))

    def _in(self, state: str) -> list[str]:
        records = sorted(ledger(self.services).deployments.values(), key=lambda r: r.created_at)  # stable
        return [r.deployment_id for r in records if r.status.value == state]

    @rule(owner=st.sampled_from(OWNERS), project=st.sampled_from(PROJECTS), files=st.sampled_from(sorted(FILES)),
          inside=INSIDE, pick=st.integers(0, 5))  # fmt: skip
    def deploy(self, owner: str, project: str, files: str, inside: tuple[int, str] | None, pick: int) -> None:
        owner, project = self.who(owner, project)
        body = request(projectName=project, files=FILES[files])
        self._inside(inside, lambda: accept.accept(self.services, PLATFORM, owner, body), pick)

    @precondition(lambda self: bool(self._in("pending")))
    @rule(pick=st.integers(0, 5), inside=INSIDE, fails=st.booleans())
    def publish(self, pick: int, inside: tuple[int, str] | None, fails: bool) -> None:
        pending = self._in("pending")
        if fails:
            self.platform.fail_next("publish", PlatformError("the platform failed", status=500))
        target = pending[pick % len(pending)]
        self._inside(inside, lambda: publish.publish(self.services, target), pick)
        self.platform.failures.pop("publish", None)

    @precondition(lambda self: bool(self._in("building")))
    @rule(pick=st.integers(0, 5), ok=st.booleans(), inside=INSIDE)
    def build_ends(self, pick: int, ok: bool, inside: tuple[int, str] | None) -> None:
        building = self._in("building")
        record = self.services.stores.deployments.get(building[pick % len(building)])
        assert record is not None
        outcome = DeploymentStatus.READY if ok else DeploymentStatus.ERROR
        self.platform.build_states.append(BuildState(outcome, 100, None if ok else "the build failed", "DONE"))
        self._inside(inside, lambda: status.refresh(self.services, record, min_interval=0), pick)
        self.platform.build_states.clear()

    @rule(owner=st.sampled_from(OWNERS), project=st.sampled_from(PROJECTS), inside=INSIDE, pick=st.integers(0, 5))
    def delete(self, owner: str, project: str, inside: tuple[int, str] | None, pick: int) -> None:
        owner, project = self.who(owner, project)
        self._inside(inside, lambda: self._delete(owner, project), pick)

    @rule(pick=st.integers(0, 20))
    def expire(self, pick: int) -> None:
        """DynamoDB's TTL removes a site that stopped moving (one with nothing in flight: a deploy
        pushes its expiry days ahead)."""
        books = ledger(self.services)
        idle = [
            s
            for s in sorted(books.sites.values(), key=lambda s: s.site_id)
            if s.publishing is None
            and all(r.status.terminal for r in books.deployments.values() if r.site_id == s.site_id)
        ]
        if not idle:
            return
        image = expire_site(self.services, idle[pick % len(idle)].site_id)
        site = SiteRecord.model_validate(image)
        self.expired[(site.site_id, site.generation)] = site

    @precondition(lambda self: bool(self.expired))
    @rule(pick=st.integers(0, 5), inside=INSIDE)
    def reap(self, pick: int, inside: tuple[int, str] | None) -> None:
        key = list(self.expired)[pick % len(self.expired)]
        image = {"entity": "Site", **self.expired[key].model_dump(by_alias=True, mode="json")}
        try:
            done = self._inside(inside, lambda: teardown.reap(self.services, TTL, image) is not None or True, pick)
        except PlatformError:  # the record fails: Lambda delivers it again
            return
        if done:  # a reap that ended is done; one that died is delivered again
            del self.expired[key]

    @rule(inside=INSIDE, pick=st.integers(0, 5))
    def sweep(self, inside: tuple[int, str] | None, pick: int) -> None:
        self._inside(inside, lambda: sweep.sweep(self.services), pick)

    @rule(inside=INSIDE, pick=st.integers(0, 5))
    def reconcile(self, inside: tuple[int, str] | None, pick: int) -> None:
        self._inside(inside, lambda: reconcile.reconcile(self.services, settle_seconds=0), pick)

    @rule(minutes=st.sampled_from([1, 5, 25]))
    def time_passes(self, minutes: int) -> None:
        now = clock.now().timestamp() + minutes * 60
        for flow in list(self.parked):  # Lambda ends a function at its timeout
            if now - flow.started >= PARKABLE[flow.name]:
                flow.crash()
                self.parked.remove(flow)
        clock.travel(minutes * 60)

    @rule(owner=st.sampled_from(OWNERS), project=st.sampled_from(PROJECTS), chat=st.sampled_from(["c1", "c2"]),
          inside=INSIDE, pick=st.integers(0, 5))  # fmt: skip
    def preview(self, owner: str, project: str, chat: str, inside: tuple[int, str] | None, pick: int) -> None:
        owner, project = self.who(owner, project)
        body = request(projectName=project, files=FILES["spa"], target="preview", chatId=chat)
        self._inside(inside, lambda: accept.accept(self.services, PLATFORM, owner, body), pick)

    @rule(owner=st.sampled_from(OWNERS), project=st.sampled_from(PROJECTS), inside=INSIDE, pick=st.integers(0, 5))
    def rollback(self, owner: str, project: str, inside: tuple[int, str] | None, pick: int) -> None:
        owner, project = self.who(owner, project)
        site = site_id(owner, PLATFORM.value, project, "platform-managed")
        body = versions.VersionRequest()
        self._inside(inside, lambda: versions.rollback(self.services, owner, site, body), pick)

    @rule(pick=st.integers(0, 20), inside=INSIDE)
    def promote(self, pick: int, inside: tuple[int, str] | None) -> None:
        ready = [
            r
            for r in sorted(ledger(self.services).deployments.values(), key=lambda r: r.created_at)
            if r.target is Target.PREVIEW and r.status is DeploymentStatus.READY
        ]
        if not ready:
            return
        chosen = ready[pick % len(ready)]
        body = versions.VersionRequest()
        self._inside(inside, lambda: versions.promote(self.services, chosen.owner_id, chosen.deployment_id, body), pick)

    @rule(method=st.sampled_from(FAULTS))
    def platform_fault(self, method: str) -> None:
        self.platform.fail_next(method, PlatformError(f"{method} failed", status=503))

    @precondition(lambda self: len(self.parked) < 2)
    @rule(what=st.sampled_from(sorted(PARKABLE)), at=STOPS, pick=st.integers(0, 5))
    def park(self, what: str, at: int | str, pick: int) -> None:
        """Start a flow that stalls before its ``at``-th call (it may end before getting there)."""
        if what == "publish" and not self._in("pending"):
            return
        flow = Parked(
            self.steps,
            what,
            lambda: self._do(what, pick),
            at,
            outcomes=(ApiError, PlatformError),
            started=clock.now().timestamp(),
        )
        if not flow.done:
            self.parked.append(flow)

    @precondition(lambda self: bool(self.parked))
    @rule(pick=st.integers(0, 5), again=st.one_of(st.none(), STOPS), dies=st.booleans())
    def resume(self, pick: int, again: int | str | None, dies: bool) -> None:
        """A stalled flow goes on (to its end, or until it stalls again), or its Lambda dies there."""
        flow = self.parked[pick % len(self.parked)]
        if dies:
            flow.crash()
            self.parked.remove(flow)
        else:
            self._resume(flow, again)

    def _resume(self, flow: Parked, again: int | str | None) -> None:
        if not flow.done:
            flow.resume(again)
        if flow.done and flow in self.parked:
            self.parked.remove(flow)

    # -- what must hold -------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        if hasattr(self, "services"):
            check_books(self.services, self.platform, expired=self.expired.values())

    @invariant()
    def versions_agree(self) -> None:
        if hasattr(self, "services"):
            check_versions(self.services)

    def teardown(self) -> None:
        if not hasattr(self, "services"):
            return
        try:
            self.platform.failures.clear()
            self.platform.taken_outside.clear()
            for flow in self.parked:  # a slow Lambda ends in the end
                if not flow.done:
                    flow.resume()
            self.parked.clear()
            for key in list(self.expired):
                image = {"entity": "Site", **self.expired.pop(key).model_dump(by_alias=True, mode="json")}
                teardown.reap(self.services, TTL, image)
            for _ in range(10):  # builds end, the stuck time out, stalled work is finished
                for deployment_id in self._in("building"):
                    record = self.services.stores.deployments.get(deployment_id)
                    assert record is not None
                    self.platform.build_states.append(BuildState(DeploymentStatus.READY, 100, None, "SUCCEED"))
                    status.refresh(self.services, record, min_interval=0)
                    self.platform.build_states.clear()
                for deployment_id in self._in("pending"):
                    publish.publish(self.services, deployment_id)
                clock.travel(30 * 60)
                sweep.sweep(self.services)
                reconcile.reconcile(self.services, settle_seconds=0)
                if not self._in("pending") and not self._in("building") and not self._in("uploading"):
                    break
            sweep.sweep(self.services)  # what ended in the last round lets go
            reconcile.reconcile(self.services, settle_seconds=0)
            check_settled(self.services, self.platform)
        finally:
            clock.reset()


class AccountPool(Books):
    """Cloudflare-like: two operator accounts of three sites each; Workers serve at once."""

    def make_platform(self) -> FakePlatform:
        return FakePlatform(accounts=(("acct-1", 3), ("acct-2", 3)))


class OneSite(AccountPool):
    """Every step on one owner's one site: the stale reads and lost races of a single site, which
    a hunt over several owners reaches rarely (without the generation condition on a commit, such
    a hunt found a redeploy landing on the site made again after its deletion in under a minute)."""

    def who(self, owner: str, project: str) -> tuple[str, str]:
        return OWNERS[0], PROJECTS[0]


class GrownPool(Books):
    """Amplify-like: apps the service makes (three sites each, one routing profile each, at most
    three apps), builds that run after the upload, a build quota of two."""

    def make_platform(self) -> FakePlatform:
        return FakePlatform(accounts=(), growable=3, member_capacity=3, profiles=True, builds=True, concurrent_builds=2)


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=int(os.environ.get("SITEDEPLOY_MODEL_STEPS", "25")),
    deadline=None,
    derandomize=os.environ.get("SITEDEPLOY_MODEL_RANDOM") is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(autouse=True)
def _quick_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request waiting for another to add a pool member waits moments here, not 20 s."""
    monkeypatch.setattr(placement, "GROWTH_WAIT_SECONDS", 0.02)
    monkeypatch.setattr(placement, "GROWTH_POLL_SECONDS", 0.005)


def test_the_books_of_an_account_pool_always_balance() -> None:
    AccountPool.TestCase.settings = SETTINGS
    AccountPool.TestCase().runTest()


def test_the_books_of_a_grown_pool_always_balance() -> None:
    GrownPool.TestCase.settings = SETTINGS
    GrownPool.TestCase().runTest()


def test_the_books_of_one_busy_site_always_balance() -> None:
    """Five times the budget (one site's steps are cheap): at this budget the derandomized run
    finds the commit landing on a site made again when the generation condition is taken away."""
    OneSite.TestCase.settings = settings(parent=SETTINGS, max_examples=EXAMPLES * 5)
    OneSite.TestCase().runTest()


def test_a_publisher_letting_go_never_finishes_a_deletion_under_the_next() -> None:
    """A run of the model, written out: E gives its site back and stalls before the rest of its
    letting go; the redeploy D takes the site and stalls before writing to the platform; a DELETE
    marks the site and leaves the rest to D; E goes on and finds the site marked. Finishing the
    deletion there would tear the site down under D (whose write then makes an orphan): the books
    must balance after every step (a deployment uploading holds its site), and everything settles."""
    machine = AccountPool()
    machine.start()
    try:
        machine.deploy("ann", "shop", "spa", None, 0)
        machine.park("publish", "let_go", 0)
        machine.deploy("ann", "shop", "spa", None, 0)
        machine.park("publish", "publish", 0)
        assert [flow.stopped_before for flow in machine.parked] == ["let_go", "publish"]
        machine.delete("ann", "shop", None, 0)
        machine.books_balance()
        while machine.parked:
            machine.resume(0, None, False)
            machine.books_balance()
        assert not machine.parked
    finally:
        machine.teardown()
