"""Netlify as a hosting platform of the service: a site per project, on the service's teams
(Quick Deploy) or on the user's own, published with the file-digest deploy."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import SecretStr, ValidationError

from sitedeploy.domain import clock
from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import (
    Connection,
    DeploymentRecord,
    Platform,
    PlatformStats,
    SiteAddress,
    WorkerSummary,
)
from sitedeploy.domain.naming import derived_names
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.domain.tenancy import JobSlots, PoolMember
from sitedeploy.observability import logger
from sitedeploy.platforms.base import (
    BuildState,
    DeployPlan,
    PlatformError,
    PlatformLimits,
    Published,
    PublishJob,
    SiteConfig,
    UserCredentials,
)
from sitedeploy.platforms.netlify.api import NetlifyApi, NetlifyError
from sitedeploy.platforms.netlify.credentials import NetlifyServicePool, NetlifyToken
from sitedeploy.platforms.netlify.deploy import APP_DOMAIN, NetlifyDeployer, NetlifyTarget, map_deploy
from sitedeploy.platforms.netlify.requests import MAX_FILE_BYTES, NetlifyDeployRequest
from sitedeploy.settings import Settings
from sitedeploy.stores import SecretSource
from sitedeploy.stores.secrets import CredentialsError

# Names of sites on a user's own team, when the request names none.
USER_SITE_PREFIX = "sd"
# Netlify has no per-deploy file limit (only 54,000 files per directory); the service's own bound.
MAX_FILES = 20_000
STATS_PAGE_SIZE = 100
STATS_MAX_PAGES = 10


class NetlifyPlatform:
    platform: ClassVar[Platform] = Platform.NETLIFY
    credentials_model: ClassVar[type[UserCredentials]] = NetlifyToken
    request_model: ClassVar[type[DeployRequest]] = NetlifyDeployRequest

    def __init__(self, settings: Settings, secret: SecretSource) -> None:
        self._settings = settings
        self._secret = secret

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(max_files=MAX_FILES, max_file_bytes=MAX_FILE_BYTES)

    # -- credentials ----------------------------------------------------------------------------

    def service_pool(self) -> NetlifyServicePool | None:
        section = self._secret.section(self.platform.value)
        if section is None:
            return None
        try:
            return NetlifyServicePool.model_validate(section)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise CredentialsError(f"the platform credentials secret is malformed at netlify.{fields}") from None

    def _acting(self, credentials: UserCredentials | None, account_slug: str | None) -> tuple[SecretStr, str | None]:
        """The token to act with on a team: the user's, or the service's for that pool team."""
        if credentials is not None:
            assert isinstance(credentials, NetlifyToken)
            return credentials.token, account_slug or credentials.account_slug
        pool = self.service_pool()
        account = (pool.account(account_slug) if account_slug else pool.accounts[0]) if pool else None
        if pool is None or account is None:
            raise CredentialsError(f"the service has no Netlify credentials for team {account_slug}")
        return account.access_token, account.account_slug

    def _api(self, token: SecretStr, *, attempts: int = 5, timeout: float = 60.0) -> NetlifyApi:
        return NetlifyApi(
            token,
            base_url=self._settings.netlify_api_base,
            backoff=self._settings.retry_backoff_seconds,
            retry_after_cap=self._settings.retry_after_cap_seconds,
            attempts=attempts,
            timeout=timeout,
        )

    def _deployer(self, token: SecretStr) -> NetlifyDeployer:
        return NetlifyDeployer(self._api(token))

    def quick_deploy_available(self) -> bool:
        try:
            return self.service_pool() is not None
        except CredentialsError:
            return False

    # -- deploying ------------------------------------------------------------------------------

    def plan(
        self,
        owner_id: str,
        request: DeployRequest,
        credentials: UserCredentials | None,
        config: SiteConfig,
        paths: frozenset[str],
    ) -> DeployPlan:
        assert isinstance(request, NetlifyDeployRequest)
        project = request.project()
        if credentials is not None:
            assert isinstance(credentials, NetlifyToken)
            if request.site:
                return DeployPlan(
                    names=(request.site,), pooled=False, account_id=credentials.account_slug, explicit_name=True
                )
            names = derived_names(USER_SITE_PREFIX, owner_id, project)
            return DeployPlan(names=tuple(names), pooled=False, account_id=credentials.account_slug)
        try:
            pool = self.service_pool()
        except CredentialsError as exc:
            logger.error("platform credentials unusable", extra={"reason": str(exc)})
            pool = None
        if pool is None:
            raise BadRequest(
                "Quick Deploy to Netlify is not available: the service has no Netlify credentials",
                code="platform_not_configured",
            )
        return DeployPlan(names=tuple(derived_names(pool.site_prefix, owner_id, project)), pooled=True)

    def fixed_members(self) -> list[PoolMember]:
        pool = self.service_pool()
        if pool is None:
            return []
        return [PoolMember(self.platform, a.account_slug, capacity=a.site_limit) for a in pool.accounts]

    def pool_limit(self) -> int:
        return 0  # teams are the operator's to add, in the platform secret

    def grow_pool(self, plan: DeployPlan) -> PoolMember:
        raise PlatformError("the service does not create Netlify teams")

    def remove_member(self, member: PoolMember) -> None:
        return None  # a team stays, empty or not

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
            target, job.files, job.config, job.read, sha1s=job.sha1s, progress=job.progress
        )

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        token, _ = self._acting(credentials, address.account_id)
        api = self._api(token, attempts=3, timeout=10.0)
        return map_deploy(NetlifyDeployer(api).deploy(external_id))

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        token, account_slug = self._acting(credentials, address.account_id)
        return self._deployer(token).delete(NetlifyTarget(account_slug, address.name))

    # -- a user's account -----------------------------------------------------------------------

    def verify(self, credentials: UserCredentials) -> Connection:
        assert isinstance(credentials, NetlifyToken)
        api = self._api(credentials.token, attempts=2, timeout=10.0)
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
        api = self._api(credentials.token, attempts=2, timeout=10.0)
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
        workers = [
            WorkerSummary(name=str(s.get("name")), modified_on=s.get("updated_at"), has_assets=True) for s in sites
        ]
        return PlatformStats(platform=self.platform, workers=workers)
