"""Cloudflare Workers Static Assets as a hosting platform of the service: an assets-only Worker per
site, on the service's account (Quick Deploy) or on the user's own."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import SecretStr

from sitedeploy.domain import clock
from sitedeploy.domain.models import (
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
from sitedeploy.platforms.accounts import AccountPool, AccountPoolPlatform, AccountToken, epoch
from sitedeploy.platforms.base import (
    BuildState,
    DeployPlan,
    PlacedObject,
    PlatformError,
    PlatformLimits,
    Published,
    PublishJob,
    UserCredentials,
)
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError
from sitedeploy.platforms.cloudflare.assets import MAX_FILE_BYTES, AssetsOptions, CloudflarePublisher, CloudflareTarget
from sitedeploy.platforms.cloudflare.credentials import (
    DISPATCH_MEMBER,
    CloudflareServiceAccount,
    CloudflareServicePool,
    CloudflareToken,
)
from sitedeploy.platforms.cloudflare.dispatch import ensure_dispatch, namespace_scripts
from sitedeploy.platforms.cloudflare.requests import CloudflareDeployRequest
from sitedeploy.stores.secrets import CredentialsError

MAX_FILES = 20_000  # the Free plan's; the Paid plan allows 100,000


class CloudflarePlatform(AccountPoolPlatform[CloudflareServiceAccount]):
    platform: ClassVar[Platform] = Platform.CLOUDFLARE
    credentials_model: ClassVar[type[UserCredentials]] = CloudflareToken
    request_model: ClassVar[type[DeployRequest]] = CloudflareDeployRequest
    pool_model: ClassVar[type[AccountPool[Any]]] = CloudflareServicePool
    TITLE: ClassVar[str] = "Cloudflare"

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(max_files=MAX_FILES, max_file_bytes=MAX_FILE_BYTES)

    # -- credentials ----------------------------------------------------------------------------

    def _account(self, credentials: UserCredentials | None, account_id: str | None) -> tuple[SecretStr, str]:
        """A Cloudflare token always acts on one account: the user's names it, and so does each pool account."""
        token, scope = self._acting(credentials, account_id)
        assert scope is not None
        return token, scope

    def _target(self, credentials: UserCredentials | None, address: SiteAddress) -> tuple[SecretStr, CloudflareTarget]:
        """Where a site's Worker is: an account's Workers, or (Quick Deploy on Workers for Platforms)
        the dispatch namespace the address's member names."""
        token, account_id = self._account(credentials, address.account_id)
        member = self._dispatch_member(credentials, address.account_id)
        if member is None:
            return token, CloudflareTarget(account_id, address.name)
        return token, CloudflareTarget(account_id, address.name, member.namespace, member.domain)

    def _dispatch_member(
        self, credentials: UserCredentials | None, member_id: str | None
    ) -> CloudflareServiceAccount | None:
        if credentials is not None or not member_id or not member_id.startswith(DISPATCH_MEMBER):
            return None
        pool = self.service_pool()
        found = pool.account(member_id) if pool else None
        return found if isinstance(found, CloudflareServiceAccount) and found.namespace else None

    def quick_deploy_isolated(self) -> bool:
        """Each Quick Deploy site an origin of its own: only with Workers for Platforms under a
        domain the operator listed as a public suffix (an account's Workers share its workers.dev
        subdomain, a registrable domain of its own)."""
        try:
            pool = self.service_pool()
        except CredentialsError:
            return False
        dispatch = pool.dispatch if isinstance(pool, CloudflareServicePool) else None
        return bool(dispatch and dispatch.public_suffix)

    def _api(self, token: SecretStr, *, attempts: int = 5, timeout: float = 60.0) -> CloudflareApi:
        return CloudflareApi(
            token,
            base_url=self._settings.cloudflare_api_base,
            backoff=self._settings.retry_backoff_seconds,
            retry_after_cap=self._settings.retry_after_cap_seconds,
            attempts=attempts,
            timeout=timeout,
        )

    # -- deploying ------------------------------------------------------------------------------

    def site_url(
        self, address: SiteAddress, member: PoolMember | None, credentials: UserCredentials | None = None
    ) -> str | None:
        """``https://{name}.{account subdomain}.workers.dev`` (the subdomain is cached). Not knowing
        it yet is fine: publishing records the URL."""
        try:
            token, target = self._target(credentials, address)
        except CredentialsError:
            return None
        if target.namespace:
            return f"https://{address.name}.{target.domain}"
        account_id = target.account_id
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
        token, target = self._target(credentials, job.address)
        member = self._dispatch_member(credentials, job.address.account_id)
        if member is not None and member.namespace and member.domain:
            ensure_dispatch(
                self._api(token),
                target.account_id,
                member.namespace,
                dispatcher=member.dispatcher,
                domain=member.domain,
                zone_id=member.zone_id,
            )
        options = AssetsOptions(
            spa=job.config.spa,
            html_handling=job.config.html_handling,
            headers_text=job.config.headers_text,
            redirects_text=job.config.redirects_text,
        )
        # A namespace has no preview URLs: a preview there is a Worker of its own (its own site),
        # published as any Worker is.
        preview = job.target is Target.PREVIEW and not target.namespace
        result = CloudflarePublisher(self._api(token)).publish(
            target,
            job.files,
            options,
            job.read,
            job.progress,
            tenant=job.owner_id,
            preview=preview,
            preview_alias=job.preview_key if preview else None,
        )
        return Published(
            status=DeploymentStatus.READY,
            progress=100,
            url=result.url,
            external_id=result.external_id,
            uploaded_files=result.uploaded_files,
            uploaded_bytes=result.uploaded_bytes,
            version_ref=result.version_ref,
            preview_url=result.preview_url,
        )

    def preview_mode(self, plan: DeployPlan) -> PreviewMode:
        """A Worker's versions have preview URLs; a dispatch namespace's Workers have none, so a
        preview there is a Worker of its own."""
        if plan.pooled:
            try:
                pool = self.service_pool()
            except CredentialsError:
                pool = None
            if isinstance(pool, CloudflareServicePool) and pool.dispatch is not None:
                return PreviewMode.OWN_SITE
        return PreviewMode.IN_PLACE

    def activate(self, address: SiteAddress, version_ref: str, credentials: UserCredentials | None) -> Published | None:
        """A Worker version becomes production's again by a deployment of it (Cloudflare keeps
        the newest 100 a rollback can reach); nothing is uploaded."""
        token, target = self._target(credentials, address)
        if target.namespace:
            return None  # a namespace's Workers are published again instead
        publisher = CloudflarePublisher(self._api(token))
        if not publisher.deploy_version(target, version_ref):
            return None
        publisher.enable_workers_dev(target)
        return Published(
            status=DeploymentStatus.READY,
            progress=100,
            url=publisher.site_url(target),
            external_id=None,
            uploaded_files=0,
            uploaded_bytes=0,
            version_ref=version_ref,
        )

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        # A Worker serves the moment its upload is accepted: there is never a build to follow.
        raise PlatformError("Cloudflare deployments have no build to follow")

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        token, target = self._target(credentials, address)
        return CloudflarePublisher(self._api(token)).delete(target)

    def pool_objects(self, member: PoolMember) -> list[PlacedObject]:
        """A pool account's Workers, or the dispatch namespace's, under Quick Deploy's prefix."""
        dispatch = self._dispatch_member(None, member.member_id)
        pool = self.service_pool()
        if dispatch is None or pool is None or not dispatch.namespace:
            return super().pool_objects(member)
        listed = namespace_scripts(self._api(dispatch.api_token), dispatch.account_id, dispatch.namespace)
        prefix = f"{pool.prefix}-"
        return [
            PlacedObject(str(s.get("id")), epoch(str(s.get("modified_on") or "")))
            for s in listed
            if str(s.get("id", "")).startswith(prefix)
        ]

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
        return PlatformStats(platform=self.platform, workers=self.list_sites(credentials))

    def list_sites(self, credentials: AccountToken) -> list[WorkerSummary]:
        assert isinstance(credentials, CloudflareToken)
        api = self._api(credentials.token, attempts=2, timeout=10.0)
        try:
            _, scripts = api.call("GET", f"/accounts/{credentials.account_id}/workers/scripts", what="listing Workers")
        except CloudflareError as exc:
            raise PlatformError(f"Cloudflare refused: {exc.message}") from None
        return [
            WorkerSummary(name=str(s.get("id")), modified_on=s.get("modified_on"), has_assets=bool(s.get("has_assets")))
            for s in (scripts or [])
            if isinstance(s, dict)
        ]
