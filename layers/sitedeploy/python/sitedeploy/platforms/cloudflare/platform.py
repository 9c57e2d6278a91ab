"""Cloudflare Workers Static Assets as a hosting platform of the service: an assets-only Worker per
site, on the service's account (Quick Deploy) or on the user's own."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr, ValidationError

from sitedeploy.domain import clock
from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import (
    Connection,
    DeploymentRecord,
    DeploymentStatus,
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
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError
from sitedeploy.platforms.cloudflare.assets import MAX_FILE_BYTES, AssetsOptions, CloudflarePublisher, CloudflareTarget
from sitedeploy.platforms.cloudflare.credentials import CloudflareServicePool, CloudflareToken
from sitedeploy.platforms.cloudflare.requests import CloudflareDeployRequest
from sitedeploy.settings import Settings
from sitedeploy.stores import SecretSource
from sitedeploy.stores.secrets import CredentialsError

# Names of Workers on a user's own account, when the request names none.
USER_WORKER_PREFIX = "sd"
MAX_FILES = 20_000  # the Free plan's; the Paid plan allows 100,000


class CloudflarePlatform:
    platform: ClassVar[Platform] = Platform.CLOUDFLARE
    credentials_model: ClassVar[type[UserCredentials]] = CloudflareToken
    request_model: ClassVar[type[DeployRequest]] = CloudflareDeployRequest

    def __init__(self, settings: Settings, secret: SecretSource) -> None:
        self._settings = settings
        self._secret = secret

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(max_files=MAX_FILES, max_file_bytes=MAX_FILE_BYTES)

    # -- credentials ----------------------------------------------------------------------------

    def service_pool(self) -> CloudflareServicePool | None:
        section = self._secret.section(self.platform.value)
        if section is None:
            return None
        try:
            return CloudflareServicePool.model_validate(section)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise CredentialsError(f"the platform credentials secret is malformed at cloudflare.{fields}") from None

    def _acting(self, credentials: UserCredentials | None, account_id: str | None) -> tuple[SecretStr, str]:
        """The token to act with on an account: the user's, or the service's for that pool account."""
        if credentials is not None:
            assert isinstance(credentials, CloudflareToken)
            return credentials.token, account_id or credentials.account_id
        pool = self.service_pool()
        # A site recorded before pools (no account) lives in the first account.
        account = (pool.account(account_id) if account_id else pool.accounts[0]) if pool else None
        if pool is None or account is None:
            raise CredentialsError(f"the service has no Cloudflare credentials for account {account_id}")
        return account.api_token, account.account_id

    def _api(self, token: SecretStr, *, attempts: int = 5, timeout: float = 60.0) -> CloudflareApi:
        return CloudflareApi(
            token,
            base_url=self._settings.cloudflare_api_base,
            backoff=self._settings.retry_backoff_seconds,
            retry_after_cap=self._settings.retry_after_cap_seconds,
            attempts=attempts,
            timeout=timeout,
        )

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
        assert isinstance(request, CloudflareDeployRequest)
        project = request.project()
        if credentials is not None:
            assert isinstance(credentials, CloudflareToken)
            if request.worker:
                return DeployPlan(
                    names=(request.worker,), pooled=False, account_id=credentials.account_id, explicit_name=True
                )
            names = derived_names(USER_WORKER_PREFIX, owner_id, project)
            return DeployPlan(names=tuple(names), pooled=False, account_id=credentials.account_id)
        try:
            pool = self.service_pool()
        except CredentialsError as exc:
            logger.error("platform credentials unusable", extra={"reason": str(exc)})
            pool = None
        if pool is None:
            raise BadRequest(
                "Quick Deploy to Cloudflare is not available: the service has no Cloudflare credentials",
                code="platform_not_configured",
            )
        return DeployPlan(names=tuple(derived_names(pool.worker_prefix, owner_id, project)), pooled=True)

    def fixed_members(self) -> list[PoolMember]:
        pool = self.service_pool()
        if pool is None:
            return []
        return [PoolMember(self.platform, a.account_id, capacity=a.worker_limit) for a in pool.accounts]

    def pool_limit(self) -> int:
        return 0  # accounts are the operator's to add, in the platform secret

    def grow_pool(self, plan: DeployPlan) -> PoolMember:
        raise PlatformError("the service does not create Cloudflare accounts")

    def remove_member(self, member: PoolMember) -> None:
        return None  # an account stays, empty or not

    def site_url(
        self, address: SiteAddress, member: PoolMember | None, credentials: UserCredentials | None = None
    ) -> str | None:
        """``https://{name}.{account subdomain}.workers.dev`` (the subdomain is cached). Not knowing
        it yet is fine: publishing records the URL."""
        try:
            token, account_id = self._acting(credentials, address.account_id)
        except CredentialsError:
            return None
        publisher = CloudflarePublisher(self._api(token, attempts=2, timeout=3.0))
        try:
            subdomain = publisher.account_subdomain(account_id)
        except CloudflareError as exc:
            logger.warning("workers.dev subdomain unknown at deploy time", extra={"reason": exc.message})
            return None
        return f"https://{address.name}.{subdomain}.workers.dev"

    def job_slots(self, record: DeploymentRecord) -> JobSlots | None:
        return None  # a Worker serves as soon as it is uploaded: no builds to count

    def publish(self, job: PublishJob, credentials: UserCredentials | None) -> Published:
        token, account_id = self._acting(credentials, job.address.account_id)
        target = CloudflareTarget(account_id, job.address.name)
        options = AssetsOptions(
            spa=job.config.spa,
            html_handling=job.config.html_handling,
            headers_text=job.config.headers_text,
            redirects_text=job.config.redirects_text,
        )
        result = CloudflarePublisher(self._api(token)).publish(
            target, job.files, options, job.read, job.progress, tenant=job.owner_id
        )
        return Published(
            status=DeploymentStatus.READY,
            progress=100,
            url=result.url,
            external_id=result.external_id,
            uploaded_files=result.uploaded_files,
            uploaded_bytes=result.uploaded_bytes,
        )

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        # A Worker serves the moment its upload is accepted: there is never a build to follow.
        raise PlatformError("Cloudflare deployments have no build to follow")

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        token, account_id = self._acting(credentials, address.account_id)
        return CloudflarePublisher(self._api(token)).delete(CloudflareTarget(account_id, address.name))

    # -- a user's account -----------------------------------------------------------------------

    def verify(self, credentials: UserCredentials) -> Connection:
        assert isinstance(credentials, CloudflareToken)
        api = self._api(credentials.token, attempts=2, timeout=10.0)
        try:
            _, verified = api.call("GET", "/user/tokens/verify", what="verifying the token")
            if not isinstance(verified, dict) or verified.get("status") != "active":
                raise PlatformError("Cloudflare says the token is not active")
            _, account = api.call("GET", f"/accounts/{credentials.account_id}", what="reading the account")
        except CloudflareError as exc:
            raise PlatformError(f"Cloudflare refused the credentials: {exc.message}") from None
        name = account.get("name") if isinstance(account, dict) else None
        now = clock.now_iso()
        return Connection(
            platform=self.platform,
            account_id=credentials.account_id,
            account_name=name,
            created_at=now,
            updated_at=now,
        )

    def stats(self, credentials: UserCredentials) -> PlatformStats:
        assert isinstance(credentials, CloudflareToken)
        api = self._api(credentials.token, attempts=2, timeout=10.0)
        try:
            _, scripts = api.call("GET", f"/accounts/{credentials.account_id}/workers/scripts", what="listing Workers")
        except CloudflareError as exc:
            raise PlatformError(f"Cloudflare refused: {exc.message}") from None
        workers = [
            WorkerSummary(name=str(s.get("id")), modified_on=s.get("modified_on"), has_assets=bool(s.get("has_assets")))
            for s in (scripts or [])
            if isinstance(s, dict)
        ]
        return PlatformStats(platform=self.platform, workers=workers)
