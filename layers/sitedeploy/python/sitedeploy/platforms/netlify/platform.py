"""Netlify as a hosting platform of the service: a site per project, on the service's teams
(Quick Deploy) or on the user's own, published with the file-digest deploy."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import SecretStr

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DomainState
from sitedeploy.domain.models import (
    AuthMode,
    Connection,
    DeploymentRecord,
    Platform,
    PlatformStats,
    SiteAddress,
    Target,
    WorkerSummary,
)
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.domain.tenancy import JobSlots, PoolMember
from sitedeploy.platforms.accounts import AccountPool, AccountPoolPlatform, AccountToken
from sitedeploy.platforms.base import (
    BuildState,
    PlatformError,
    PlatformLimits,
    Published,
    PublishJob,
    UserCredentials,
    client_bounds,
)
from sitedeploy.platforms.netlify.api import NetlifyApi, NetlifyError
from sitedeploy.platforms.netlify.credentials import NetlifyServiceAccount, NetlifyServicePool, NetlifyToken
from sitedeploy.platforms.netlify.deploy import APP_DOMAIN, NetlifyDeployer, NetlifyTarget, map_deploy
from sitedeploy.platforms.netlify.domains import DEADLINE_SECONDS, NetlifyDomains
from sitedeploy.platforms.netlify.requests import MAX_FILE_BYTES, NetlifyDeployRequest

# Netlify has no per-deploy file limit (only 54,000 files per directory); the service's own bound.
MAX_FILES = 20_000
STATS_PAGE_SIZE = 100
STATS_MAX_PAGES = 10


class NetlifyPlatform(AccountPoolPlatform[NetlifyServiceAccount]):
    platform: ClassVar[Platform] = Platform.NETLIFY
    credentials_model: ClassVar[type[UserCredentials]] = NetlifyToken
    request_model: ClassVar[type[DeployRequest]] = NetlifyDeployRequest
    pool_model: ClassVar[type[AccountPool[Any]]] = NetlifyServicePool
    TITLE: ClassVar[str] = "Netlify"
    MEMBER_NOUN: ClassVar[str] = "team"
    USER_NAME_SALT = "user-token"  # site names are global on Netlify

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(max_files=MAX_FILES, max_file_bytes=MAX_FILE_BYTES)

    # -- credentials ----------------------------------------------------------------------------

    def _api(self, token: SecretStr, *, attempts: int = 5, timeout: float = 60.0) -> NetlifyApi:
        return NetlifyApi(
            token,
            base_url=self._settings.netlify_api_base,
            backoff=self._settings.retry_backoff_seconds,
            retry_after_cap=self._settings.retry_after_cap_seconds,
            attempts=attempts,
            timeout=timeout,
        )

    def _quick_api(self, token: SecretStr) -> NetlifyApi:
        """For calls made inside an API function (status polls, verify, stats: 10-20 s Lambdas):
        ``client_bounds(quick=True)``, so that a throttled platform answers the caller rather than
        timing the function out."""
        settings = self._settings
        bounds = client_bounds(settings, quick=True)
        return NetlifyApi(token, base_url=settings.netlify_api_base, **bounds)

    def _deployer(self, token: SecretStr) -> NetlifyDeployer:
        return NetlifyDeployer(self._api(token))

    # -- deploying ------------------------------------------------------------------------------

    def site_url(
        self, address: SiteAddress, member: PoolMember | None, credentials: UserCredentials | None = None
    ) -> str | None:
        """``https://{name}.netlify.app``: site names are global, so the name is the whole address."""
        return f"https://{address.name}.{APP_DOMAIN}"

    def job_slots(self, record: DeploymentRecord) -> JobSlots | None:
        return None  # a file-digest deploy is not a build: nothing counts against a build quota

    def publish(self, job: PublishJob, credentials: UserCredentials | None) -> Published:
        token, account_slug = self._acting(credentials, job.address.account_id)
        target = NetlifyTarget(account_slug, job.address.name)
        return self._deployer(token).publish(
            target,
            job.files,
            job.config,
            job.read,
            sha1s=job.sha1s,
            progress=job.progress,
            preview_alias=job.preview_key if job.target is Target.PREVIEW else None,
            prefetch=job.prefetch,
        )

    def activate(self, address: SiteAddress, version_ref: str, credentials: UserCredentials | None) -> Published | None:
        token, account_slug = self._acting(credentials, address.account_id)
        return self._deployer(token).restore(NetlifyTarget(account_slug, address.name), version_ref)

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        token, _ = self._acting(credentials, address.account_id)
        return map_deploy(NetlifyDeployer(self._quick_api(token)).deploy(external_id))

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        token, account_slug = self._acting(credentials, address.account_id)
        return self._deployer(token).delete(NetlifyTarget(account_slug, address.name))

    # -- custom domains: a site's aliases, served once Netlify's certificate covers them ----------

    def domain_support(self, auth_mode: AuthMode, member_id: str | None) -> str | None:
        return None  # a site takes custom domains on the service's teams and on the user's alike

    def domain_deadline_seconds(self) -> int:
        return DEADLINE_SECONDS

    def _domains(
        self, address: SiteAddress, credentials: UserCredentials | None
    ) -> tuple[NetlifyDomains, NetlifyTarget]:
        """Domain calls are made inside API functions (a request or the refresher): quick calls."""
        token, account_slug = self._acting(credentials, address.account_id)
        return NetlifyDomains(NetlifyDeployer(self._quick_api(token))), NetlifyTarget(account_slug, address.name)

    def attach_domain(self, address: SiteAddress, hostname: str, credentials: UserCredentials | None) -> DomainState:
        domains, target = self._domains(address, credentials)
        return domains.attach(target, hostname)

    def domain_state(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> DomainState:
        domains, target = self._domains(address, credentials)
        return domains.state(target, hostname)

    def detach_domain(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> None:
        domains, target = self._domains(address, credentials)
        domains.detach(target, hostname)

    # -- a user's account -----------------------------------------------------------------------

    def verify(self, credentials: UserCredentials) -> Connection:
        assert isinstance(credentials, NetlifyToken)
        api = self._quick_api(credentials.token)
        try:
            _, user = api.call("GET", "/user", what="reading the token's user")
            account: dict[str, Any] | None = None
            if credentials.account_slug:
                _, accounts = api.call("GET", "/accounts", what="listing the token's teams")
                account = next(
                    (
                        a
                        for a in (accounts if isinstance(accounts, list) else [])
                        if isinstance(a, dict) and a.get("slug") == credentials.account_slug
                    ),
                    None,
                )
                if account is None:
                    raise PlatformError(f"the Netlify token has no access to the team {credentials.account_slug!r}")
        except NetlifyError as exc:
            raise PlatformError(f"Netlify refused the credentials: {exc.message}", status=exc.status) from None
        if account is not None:
            name = account.get("name") or account.get("slug")
        else:
            who = user if isinstance(user, dict) else {}
            name = who.get("full_name") or who.get("email") or who.get("slug")
        now = clock.now_iso()
        return Connection(
            platform=self.platform,
            account_id=credentials.account_slug,
            account_name=str(name) if name else None,
            created_at=now,
            updated_at=now,
        )

    def stats(self, credentials: UserCredentials) -> PlatformStats:
        assert isinstance(credentials, NetlifyToken)
        return PlatformStats(platform=self.platform, workers=self.list_sites(credentials))

    def list_sites(self, credentials: AccountToken) -> list[WorkerSummary]:
        assert isinstance(credentials, NetlifyToken)
        api = self._quick_api(credentials.token)
        base = f"/{credentials.account_slug}/sites" if credentials.account_slug else "/sites"
        sites: list[dict[str, Any]] = []
        try:
            for page in range(1, STATS_MAX_PAGES + 1):
                _, listed = api.call(
                    "GET",
                    f"{base}?filter=all&page={page}&per_page={STATS_PAGE_SIZE}",
                    what="listing sites",
                )
                batch = [s for s in (listed if isinstance(listed, list) else []) if isinstance(s, dict)]
                sites.extend(batch)
                if len(batch) < STATS_PAGE_SIZE:
                    break
        except NetlifyError as exc:
            raise PlatformError(f"Netlify refused: {exc.message}", status=exc.status) from None
        return [WorkerSummary(name=str(s.get("name")), modified_on=s.get("updated_at"), has_assets=True) for s in sites]
