"""A hosting platform that records what the flows ask of it and fails on cue.

``FakePlatform(builds=True)`` behaves like a platform that builds after an upload (Amplify):
``publish`` answers ``building`` and ``refresh`` walks the build through the states queued in
``build_states``; otherwise it is served at once (Cloudflare)."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, SecretStr

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DnsRecord, DomainState, DomainStatus
from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import (
    AuthMode,
    Connection,
    DeploymentRecord,
    DeploymentStatus,
    Platform,
    PlatformStats,
    PreviewMode,
    SiteAddress,
    Target,
)
from sitedeploy.domain.naming import derived_names
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.domain.tenancy import JobSlots, PoolMember
from sitedeploy.platforms.base import (
    NAME_UNAVAILABLE,
    BuildState,
    DeployPlan,
    PlacedObject,
    PlatformError,
    PlatformLimits,
    Published,
    PublishJob,
    SiteConfig,
    UserCredentials,
)


class FakeCredentials(UserCredentials):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    token: SecretStr = Field(min_length=1)
    account_id: str = Field(alias="accountId")

    def payload(self) -> dict[str, Any]:
        return {"token": self.token.get_secret_value(), "accountId": self.account_id}


class FakeDeployRequest(DeployRequest):
    USER_TOKEN_FIELDS: ClassVar[frozenset[str]] = frozenset({"token", "accountId"})

    token: SecretStr | None = None
    account_id: str | None = None

    def inline_credentials(self) -> FakeCredentials | None:
        if self.token is None:
            return None
        return FakeCredentials.model_validate({"token": self.token, "accountId": self.account_id or ""})


@dataclass
class Call:
    name: str
    args: dict[str, Any]


@dataclass
class FakePlatform:
    platform: ClassVar[Platform] = Platform.CLOUDFLARE
    credentials_model: ClassVar[type[UserCredentials]] = FakeCredentials
    request_model: ClassVar[type[DeployRequest]] = FakeDeployRequest

    builds: bool = False
    quick_deploy: bool = True
    max_file_bytes: int = 1024 * 1024
    # The service's pool: fixed members (account, capacity), or members grown on demand.
    accounts: tuple[tuple[str, int], ...] = (("service-account", 100),)
    growable: int = 0
    member_capacity: int = 2
    # Sites share a member only with sites of the same routing profile (spa / plain).
    profiles: bool = False
    # Builds at once (0: no quota).
    concurrent_builds: int = 0
    grown: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    # name of a method → the exceptions its next calls raise, in order.
    failures: dict[str, deque[Exception]] = field(default_factory=dict)
    build_states: deque[BuildState] = field(default_factory=deque)
    published: dict[str, dict[str, bytes]] = field(default_factory=dict)
    torn_down: list[SiteAddress] = field(default_factory=list)
    # Address files by SHA-1 too (as Netlify and Vercel do): deployment id → path → SHA-1 it was given.
    wants_sha1: bool = False
    sha1s: dict[str, dict[str, str]] = field(default_factory=dict)
    # deployment id → the (SHA-1, bytes) the SHA-1 pass handed on as new to the site (early uploads).
    fresh: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    # What the platform holds, as its own listing shows it: (account, name) → when it last changed.
    objects: dict[tuple[str, str], float] = field(default_factory=dict)
    # Members it made and still has (apps): id → when made.
    apps: dict[str, float] = field(default_factory=dict)
    # Names held by somebody outside the service (Netlify's global names).
    taken_outside: set[str] = field(default_factory=set)
    # Called before anything is deleted, with what and where: a test's safety check.
    guard: Callable[[str, SiteAddress | PoolMember], None] | None = None
    # Whether it keeps versions it can make live again without an upload (Amplify does not).
    versions: bool = True
    previews: PreviewMode = PreviewMode.IN_PLACE
    # Custom domains: why a site cannot take them (None: it can), the DNS the tests control
    # (name → (type, value) records the user "created"), and what is attached (hostname → site name,
    # checks since its records were right).
    domains_refused: str | None = None
    dns: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    attached: dict[str, tuple[str, int]] = field(default_factory=dict)
    # version ref → (where, its files); where → the version production serves there.
    version_files: dict[str, tuple[tuple[str, str], dict[str, bytes]]] = field(default_factory=dict)
    serving: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(max_files=1000, max_file_bytes=self.max_file_bytes)

    def fail_next(self, method: str, error: Exception, *, times: int = 1) -> None:
        self.failures.setdefault(method, deque()).extend([error] * times)

    def _record(self, name: str, **args: Any) -> None:
        self.calls.append(Call(name, args))
        queued = self.failures.get(name)
        if queued:
            raise queued.popleft()

    def called(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    # -- HostingPlatform ------------------------------------------------------------------------

    def quick_deploy_available(self) -> bool:
        return self.quick_deploy

    def quick_deploy_isolated(self) -> bool:
        return False

    def plan(
        self,
        owner_id: str,
        request: DeployRequest,
        credentials: UserCredentials | None,
        config: SiteConfig,
        paths: frozenset[str],
    ) -> DeployPlan:
        self._record("plan", owner_id=owner_id, credentials=credentials, config=config)
        names = tuple(derived_names("fk", owner_id, request.project()))
        if isinstance(credentials, FakeCredentials):
            return DeployPlan(names=names, pooled=False, account_id=credentials.account_id)
        if not self.quick_deploy:
            raise BadRequest("Quick Deploy is not available", code="platform_not_configured")
        profile = "spa" if config.spa or ("index.html" in paths and "404.html" not in paths) else "plain"
        if config.headers_text:  # app-wide headers of its own: a profile of its own (as on Amplify)
            profile = f"h-{hashlib.sha256(config.headers_text.encode()).hexdigest()[:8]}"
        return DeployPlan(names=names, pooled=True, region="test-1", profile=profile if self.profiles else None)

    def fixed_members(self) -> list[PoolMember]:
        return [PoolMember(self.platform, account, capacity=limit, region="test-1") for account, limit in self.accounts]

    def pool_limit(self) -> int:
        return self.growable

    def grow_pool(self, plan: DeployPlan) -> PoolMember:
        self._record("grow_pool", profile=plan.profile)
        member = PoolMember(
            self.platform,
            f"app-{len(self.called('grow_pool'))}",
            capacity=self.member_capacity,
            profile=plan.profile,
            region=plan.region,
            domain="apps.fake.example",
        )
        self.grown.append(member.member_id)
        self.apps[member.member_id] = clock.epoch()
        return member

    def remove_member(self, member: PoolMember) -> None:
        self._record("remove_member", member=member)
        inside = [name for (account, name) in self.objects if account == member.member_id]
        if inside:
            raise PlatformError(f"the app {member.member_id} still has {len(inside)} branch(es): not deleted")
        if self.guard is not None:
            self.guard("remove_member", member)
        if self.apps.pop(member.member_id, None) is not None:
            self.removed.append(member.member_id)

    def pool_objects(self, member: PoolMember) -> list[PlacedObject]:
        self._record("pool_objects", member=member)
        return [PlacedObject(name, at) for (account, name), at in self.objects.items() if account == member.member_id]

    def unlisted_members(self) -> list[PlacedObject]:
        self._record("unlisted_members")
        return [PlacedObject(app, at, "test-1") for app, at in self.apps.items()]

    def site_url(
        self, address: SiteAddress, member: PoolMember | None, credentials: UserCredentials | None = None
    ) -> str | None:
        return f"https://{address.name}.{address.account_id}.fake.example"

    def job_slots(self, record: DeploymentRecord) -> JobSlots | None:
        return JobSlots(key="fake#test-1", limit=self.concurrent_builds) if self.concurrent_builds else None

    def publish(self, job: PublishJob, credentials: UserCredentials | None) -> Published:
        self._record("publish", job=job, credentials=credentials)
        if job.address.name in self.taken_outside:
            raise PlatformError(f"the name {job.address.name!r} is taken outside", status=409, code=NAME_UNAVAILABLE)
        if self.wants_sha1:
            heard = self.fresh.setdefault(job.deployment_id, [])
            digests = job.sha1s(job.files, fresh=lambda sha256, sha1, data: heard.append((sha1, data)))
            self.sha1s[job.deployment_id] = {f.path: digests[f.sha256] for f in job.files}
        files = {f.path: job.read_all(f) for f in job.files}
        job.progress(sum(map(len, files.values())), sum(map(len, files.values())))
        self.published[job.deployment_id] = files
        where = (job.address.account_id or "", job.address.name)
        self.objects[where] = clock.epoch()
        ref = f"v-{job.deployment_id}"
        self.version_files[ref] = (where, files)
        preview = job.target is Target.PREVIEW
        if not preview:
            self.serving[where] = ref
        return Published(
            status=DeploymentStatus.BUILDING if self.builds else DeploymentStatus.READY,
            progress=55 if self.builds else 100,
            url=f"https://{job.address.name}.{job.address.account_id}.fake.example",
            external_id=f"job-{len(self.published)}",
            uploaded_files=len(files),
            uploaded_bytes=sum(map(len, files.values())),
            version_ref=ref if self.versions else None,
            # A preview in a place of its own (an Amplify branch) is served at that place's URL.
            preview_url=f"https://{ref}--{job.address.name}.fake.example"
            if preview and self.previews is not PreviewMode.OWN_SITE
            else None,
        )

    def preview_mode(self, plan: DeployPlan) -> PreviewMode:
        return self.previews

    # -- custom domains: routing CNAME and ownership TXT; the certificate a check after both --------

    def domain_support(self, auth_mode: AuthMode, member_id: str | None) -> str | None:
        return self.domains_refused

    def own_domains(self) -> tuple[str, ...]:
        return ("fake.example",)

    def domain_deadline_seconds(self) -> int:
        return 3600

    def domain_records(self, address: SiteAddress, hostname: str) -> list[DnsRecord]:
        return [
            DnsRecord(type="CNAME", name=hostname, value=f"{address.name}.fake.example", purpose="routing"),
            DnsRecord(type="TXT", name=f"_fake.{hostname}", value=f"own-{hostname}", purpose="ownership"),
        ]

    def attach_domain(self, address: SiteAddress, hostname: str, credentials: UserCredentials | None) -> DomainState:
        self._record("attach_domain", address=address, hostname=hostname, credentials=credentials)
        held = self.attached.get(hostname)
        if held is not None and held[0] != address.name:
            raise PlatformError(f"{hostname} is attached to another site of the platform", status=409)
        self.attached[hostname] = (address.name, 0)
        return self.domain_state(address, hostname, f"dom-{hostname}", credentials)

    def domain_state(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> DomainState:
        self._record("domain_state", address=address, hostname=hostname)
        if hostname not in self.attached:
            raise PlatformError(f"{hostname} is not attached", status=404)
        records = self.domain_records(address, hostname)
        present = all((r.type, r.value) in self.dns.get(r.name, set()) for r in records)
        name, checks = self.attached[hostname]
        if not present:
            self.attached[hostname] = (name, 0)
            return DomainState(DomainStatus.PENDING_VERIFICATION, records, "the records are not there yet", ref)
        self.attached[hostname] = (name, checks + 1)
        status = DomainStatus.ACTIVE if checks >= 1 else DomainStatus.PENDING_CERTIFICATE
        return DomainState(status, records, None, ref)

    def detach_domain(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> None:
        self._record("detach_domain", address=address, hostname=hostname)
        if self.attached.pop(hostname, None) is None:
            raise PlatformError(f"{hostname} is not attached", status=404)

    def create_records(self, address: SiteAddress, hostname: str) -> None:
        """What the user does at their DNS provider (tests)."""
        for record in self.domain_records(address, hostname):
            self.dns.setdefault(record.name, set()).add((record.type, record.value))

    def activate(self, address: SiteAddress, version_ref: str, credentials: UserCredentials | None) -> Published | None:
        self._record("activate", address=address, version_ref=version_ref, credentials=credentials)
        where = (address.account_id or "", address.name)
        held = self.version_files.get(version_ref)
        if not self.versions or held is None or held[0] != where or where not in self.objects:
            return None
        self.serving[where] = version_ref
        return Published(
            status=DeploymentStatus.READY,
            progress=100,
            url=f"https://{address.name}.{address.account_id}.fake.example",
            external_id=None,
            uploaded_files=0,
            uploaded_bytes=0,
            version_ref=version_ref,
        )

    def served(self, address: SiteAddress) -> dict[str, bytes] | None:
        """What production serves at ``address`` now (tests)."""
        ref = self.serving.get((address.account_id or "", address.name))
        return self.version_files[ref][1] if ref else None

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        self._record("refresh", address=address, external_id=external_id, credentials=credentials)
        if not self.build_states:
            raise PlatformError("no build state queued")
        return self.build_states.popleft()

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        self._record("tear_down", address=address, credentials=credentials)
        if self.guard is not None:
            self.guard("tear_down", address)
        existed = self.objects.pop((address.account_id or "", address.name), None) is not None
        self.serving.pop((address.account_id or "", address.name), None)
        self.torn_down.append(address)
        return existed

    def verify(self, credentials: UserCredentials) -> Connection:
        self._record("verify", credentials=credentials)
        assert isinstance(credentials, FakeCredentials)
        if credentials.token.get_secret_value() != "good-token":
            raise PlatformError("the token is not active")
        now = clock.now_iso()
        return Connection(
            platform=self.platform,
            account_id=credentials.account_id,
            account_name="Fake Co",
            created_at=now,
            updated_at=now,
        )

    def stats(self, credentials: UserCredentials) -> PlatformStats:
        self._record("stats", credentials=credentials)
        return PlatformStats(platform=self.platform, workers=[])
