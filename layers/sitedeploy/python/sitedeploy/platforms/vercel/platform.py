"""Vercel as a hosting platform of the service: a project per site, on the service's accounts
(Quick Deploy; a team or a token's personal account) or on the user's own, deployed from files."""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

from pydantic import SecretStr

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DnsRecord, DomainState, DomainStatus
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
    WorkerSummary,
)
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.domain.tenancy import JobSlots, PoolMember
from sitedeploy.observability import logger
from sitedeploy.platforms.accounts import AccountPool, AccountPoolPlatform, AccountToken
from sitedeploy.platforms.base import (
    BuildState,
    DeployPlan,
    PlatformError,
    PlatformLimits,
    Published,
    PublishJob,
    UserCredentials,
    client_bounds,
)
from sitedeploy.platforms.vercel.api import VercelApi, VercelError
from sitedeploy.platforms.vercel.credentials import VercelServiceAccount, VercelServicePool, VercelToken
from sitedeploy.platforms.vercel.deploy import (
    FOLLOW_SECONDS,
    EarlyUploads,
    VercelDeployer,
    deployment_url,
    map_ready_state,
)
from sitedeploy.platforms.vercel.requests import MAX_FILE_BYTES, VercelDeployRequest
from sitedeploy.platforms.vercel.routing import vercel_routing
from sitedeploy.settings import Settings
from sitedeploy.stores import SecretSource
from sitedeploy.stores.secrets import CredentialsError

# Vercel's CLI limits a deployment to 15,000 source files (Hobby), below the service's 20,000.
MAX_FILES = 15_000


APEX_IP = "76.76.21.21"  # Vercel's documented address for an apex domain


def _rank_one(recommended: object) -> object:
    """The rank-1 value of a ``recommendedIPv4`` / ``recommendedCNAME`` list."""
    if isinstance(recommended, list):
        for item in recommended:
            if isinstance(item, dict) and item.get("rank") == 1:
                return item.get("value")
    return None


def preview_alias(project: str, key: str) -> str:
    """``<project>-<key>.vercel.app``: one preview URL per chat, a DNS label of its own."""
    head = project[: 63 - len(key) - 1].rstrip("-")
    return f"{head}-{key}.vercel.app"


class VercelPlatform(AccountPoolPlatform[VercelServiceAccount]):
    platform: ClassVar[Platform] = Platform.VERCEL
    credentials_model: ClassVar[type[UserCredentials]] = VercelToken
    request_model: ClassVar[type[DeployRequest]] = VercelDeployRequest
    pool_model: ClassVar[type[AccountPool[Any]]] = VercelServicePool
    TITLE: ClassVar[str] = "Vercel"

    def __init__(self, settings: Settings, secret: SecretSource, *, follow_seconds: float = FOLLOW_SECONDS) -> None:
        super().__init__(settings, secret)
        self._follow_seconds = follow_seconds

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(max_files=MAX_FILES, max_file_bytes=MAX_FILE_BYTES)

    # -- credentials ----------------------------------------------------------------------------

    def _api(
        self, token: SecretStr, team_id: str | None, *, attempts: int = 5, timeout: float = 60.0, quick: bool = False
    ) -> VercelApi:
        """``quick``: for calls made inside an API function (status polls, verify, stats, the URL
        at accept: 10-29 s Lambdas): a 429's wait is capped at two seconds and reads are short, so
        a throttled platform answers the caller rather than timing the function out."""
        settings = self._settings
        bounds = client_bounds(settings, quick=quick, attempts=attempts, timeout=timeout)
        return VercelApi(token, team_id=team_id, base_url=settings.vercel_api_base, **bounds)

    def _deployer(self, credentials: UserCredentials | None, account_id: str | None, **kwargs: Any) -> VercelDeployer:
        token, team_id = self._acting(credentials, account_id)
        return VercelDeployer(self._api(token, team_id, **kwargs), follow_seconds=self._follow_seconds)

    # -- deploying ------------------------------------------------------------------------------

    def site_url(
        self, address: SiteAddress, member: PoolMember | None, credentials: UserCredentials | None = None
    ) -> str | None:
        """The production alias of a project that already serves one; None otherwise (a new
        project's alias is known once its first deployment is ready, and publishing records it)."""
        try:
            deployer = self._deployer(credentials, address.account_id, quick=True)
            project = deployer.project(address.name)
        except (CredentialsError, VercelError) as exc:
            logger.warning("Vercel project URL unknown at deploy time", extra={"reason": str(exc)})
            return None
        targets = project.get("targets") if project else None
        production = targets.get("production") if isinstance(targets, dict) else None
        alias = production.get("alias") if isinstance(production, dict) else None
        if isinstance(alias, list) and alias and isinstance(alias[0], str):
            return f"https://{alias[0]}"
        return None

    def job_slots(self, record: DeploymentRecord) -> JobSlots | None:
        return None  # a static deployment builds nothing: no build quota to count against

    def publish(self, job: PublishJob, credentials: UserCredentials | None) -> Published:
        deployer = self._deployer(credentials, job.address.account_id)
        paths = frozenset(f.path for f in job.files)
        routing = vercel_routing(
            redirects_text=job.config.redirects_text,
            headers_text=job.config.headers_text,
            spa=job.config.single_page_app(paths),
            html_handling=job.config.html_handling,
        )
        if routing.skipped:
            # Only a count: the lines are the user's and may carry anything.
            logger.info("routing lines Vercel has no counterpart for", extra={"skipped": len(routing.skipped)})
        total = sum({f.sha256: f.size for f in job.files}.values())
        with EarlyUploads(deployer, job.progress, total) as early:
            digests = job.sha1s(job.files, fresh=early.offer)
        preview = job.target is Target.PREVIEW
        alias = preview_alias(job.address.name, job.preview_key) if preview and job.preview_key else None
        return deployer.publish(
            job.address.name,
            job.files,
            digests,
            routing,
            read=job.read,
            progress=job.progress,
            preview=preview,
            preview_alias=alias,
            prefetch=job.prefetch,
            sent=early.sent,
            config_new=early.heard_all(job.files),
        )

    # -- custom domains: a project's domains; Vercel issues the certificate once the DNS is right --

    def domain_support(self, auth_mode: AuthMode, member_id: str | None) -> str | None:
        return None  # a project takes custom domains in either mode

    def attach_domain(self, address: SiteAddress, hostname: str, credentials: UserCredentials | None) -> DomainState:
        deployer = self._deployer(credentials, address.account_id, quick=True)
        try:
            deployer.add_domain(address.name, hostname)
        except VercelError as exc:
            # Already on this project (an attach whose answer was lost, finished by the refresher):
            # Vercel answers 400 ``domain_already_in_project``; on another project it is a refusal.
            if exc.status not in (400, 409) or not self._on_project(deployer, address.name, hostname):
                raise
        return self._domain_state(deployer, address.name, hostname)

    @staticmethod
    def _on_project(deployer: VercelDeployer, project: str, hostname: str) -> bool:
        try:
            return bool(deployer.project_domain(project, hostname))
        except VercelError as exc:
            if exc.status == 404:
                return False
            raise

    def domain_state(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> DomainState:
        return self._domain_state(self._deployer(credentials, address.account_id, quick=True), address.name, hostname)

    def detach_domain(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> None:
        self._deployer(credentials, address.account_id, quick=True).remove_domain(address.name, hostname)

    @staticmethod
    def _domain_state(deployer: VercelDeployer, project: str, hostname: str) -> DomainState:
        domain = deployer.project_domain(project, hostname)
        records: list[DnsRecord] = []
        challenges = [v for v in domain.get("verification") or [] if isinstance(v, dict)]
        records += [
            DnsRecord(
                type=str(v.get("type", "TXT")),
                name=str(v.get("domain")),
                value=str(v.get("value")),
                purpose="ownership",
            )
            for v in challenges
        ]
        verified = bool(domain.get("verified"))
        if not verified and challenges:
            verified = deployer.verify_domain(project, hostname)
        config = deployer.domain_config(hostname)
        apex = hostname == str(domain.get("apexName") or hostname)
        if apex:
            ips = _rank_one(config.get("recommendedIPv4"))
            value = ips[0] if isinstance(ips, list) and ips else APEX_IP
            records.append(DnsRecord(type="A", name=hostname, value=str(value), purpose="routing"))
        else:
            cname = _rank_one(config.get("recommendedCNAME")) or "cname.vercel-dns.com."
            records.append(DnsRecord(type="CNAME", name=hostname, value=str(cname).rstrip("."), purpose="routing"))
        if not verified:
            return DomainState(DomainStatus.PENDING_VERIFICATION, records, "Vercel waits for the TXT record")
        if not config.get("configuredBy"):
            return DomainState(DomainStatus.PENDING_VERIFICATION, records, "the DNS does not point at Vercel yet")
        if config.get("misconfigured", True):
            return DomainState(DomainStatus.PENDING_CERTIFICATE, records, "Vercel is issuing the certificate")
        return DomainState(DomainStatus.ACTIVE, records)

    def preview_mode(self, plan: DeployPlan) -> PreviewMode:
        # Vercel makes a project's first deployment production's, whatever its target.
        return PreviewMode.IN_PLACE_AFTER_PRODUCTION

    def activate(self, address: SiteAddress, version_ref: str, credentials: UserCredentials | None) -> Published | None:
        deployer = self._deployer(credentials, address.account_id)
        if not deployer.promote(address.name, version_ref):
            return None
        deployment = deployer.deployment(version_ref)
        return Published(
            status=DeploymentStatus.READY,
            progress=100,
            url=deployment_url(deployment, address.name),
            external_id=version_ref,
            uploaded_files=0,
            uploaded_bytes=0,
            version_ref=version_ref,
        )

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        deployer = self._deployer(credentials, address.account_id, quick=True)
        return map_ready_state(deployer.deployment(external_id))

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        return self._deployer(credentials, address.account_id).delete_project(address.name)

    # -- a user's account -----------------------------------------------------------------------

    def verify(self, credentials: UserCredentials) -> Connection:
        assert isinstance(credentials, VercelToken)
        api = self._api(credentials.token, credentials.team_id, quick=True)
        try:
            _, answer = api.call("GET", "/v2/user", what="reading the user")
            user = answer.get("user") if isinstance(answer, dict) else None
            if not isinstance(user, dict):
                raise PlatformError("Vercel answered no user for the token")
            team: Any = None
            if credentials.team_id:
                _, team = api.call("GET", f"/v2/teams/{credentials.team_id}", what="reading the team")
        except VercelError as exc:
            raise PlatformError(f"Vercel refused the credentials: {exc.message}", status=exc.status) from None
        if isinstance(team, dict):
            account_id, name = credentials.team_id, team.get("name") or team.get("slug")
        else:
            account_id, name = user.get("id"), user.get("username") or user.get("name")
        now = clock.now_iso()
        return Connection(
            platform=self.platform,
            account_id=str(account_id) if account_id else None,
            account_name=str(name) if name else None,
            created_at=now,
            updated_at=now,
        )

    def stats(self, credentials: UserCredentials) -> PlatformStats:
        assert isinstance(credentials, VercelToken)
        return PlatformStats(platform=self.platform, workers=self.list_sites(credentials))

    def list_sites(self, credentials: AccountToken) -> list[WorkerSummary]:
        assert isinstance(credentials, VercelToken)
        deployer = VercelDeployer(self._api(credentials.token, credentials.team_id, quick=True))
        try:
            projects = deployer.projects()
        except VercelError as exc:
            raise PlatformError(f"Vercel refused: {exc.message}", status=exc.status) from None
        # A project is a site of static files here; WorkerSummary is the settings tab's list row.
        return [
            WorkerSummary(name=str(p.get("name")), modified_on=_iso(p.get("updatedAt")), has_assets=True)
            for p in projects
        ]


def _iso(milliseconds: object) -> str | None:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float):
        return None
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000.0, tz=datetime.UTC)
    return moment.isoformat().replace("+00:00", "Z")
