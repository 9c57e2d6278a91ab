"""Cloudflare Workers Static Assets as a hosting platform of the service: an assets-only Worker per
site, on the service's account (Quick Deploy) or on the user's own.

Custom domains: a site in the user's own account takes Workers Custom Domains (``domains``); a
Quick Deploy site on Workers for Platforms takes Cloudflare for SaaS custom hostnames on the
operator's zone (``hostnames``); a Quick Deploy site on the account pool takes none (workers.dev)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import SecretStr

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DomainState
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
    client_bounds,
)
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError
from sitedeploy.platforms.cloudflare.assets import MAX_FILE_BYTES, AssetsOptions, CloudflarePublisher, CloudflareTarget
from sitedeploy.platforms.cloudflare.credentials import (
    DISPATCH_MEMBER,
    CloudflareServiceAccount,
    CloudflareServicePool,
    CloudflareToken,
)
from sitedeploy.platforms.cloudflare.dispatch import (
    ensure_dispatch,
    ensure_hostname_routing,
    fallback_origin,
    namespace_scripts,
)
from sitedeploy.platforms.cloudflare.domains import (
    attach_custom_domain,
    custom_domain_state,
    detach_custom_domain,
)
from sitedeploy.platforms.cloudflare.hostnames import (
    DEADLINE_SECONDS,
    attach_hostname,
    detach_hostname,
    hostname_state_of,
)
from sitedeploy.platforms.cloudflare.requests import CloudflareDeployRequest
from sitedeploy.stores.secrets import CredentialsError

MAX_FILES = 20_000  # the Free plan's; the Paid plan allows 100,000
WORKERS_DEV_DOMAINS = (
    "Quick Deploy sites on Cloudflare accounts are served from workers.dev, which takes no custom domains: "
    "the operator's Workers for Platforms backend with a zone does, or claim the site into your own account"
)
NO_SAAS_ZONE = (
    "the operator's Workers for Platforms backend names no zone (zoneId in the platform secret): custom "
    "hostnames are Cloudflare for SaaS on that zone, or claim the site into your own account"
)


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

    def _saas_member(self, address: SiteAddress, credentials: UserCredentials | None) -> CloudflareServiceAccount:
        """The dispatch member serving a Quick Deploy site's custom hostnames, with its zone;
        PlatformError 409 saying why when there is none."""
        try:
            member = self._dispatch_member(credentials, address.account_id)
        except CredentialsError:
            member = None
        if member is None or not member.zone_id or not member.domain or not member.namespace:
            why = self.domain_support(AuthMode.PLATFORM_MANAGED, address.account_id) or NO_SAAS_ZONE
            raise PlatformError(why, status=409)
        return member

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

    def _api(self, token: SecretStr, *, attempts: int = 5, timeout: float = 60.0, quick: bool = False) -> CloudflareApi:
        """``quick``: for calls made inside API functions (``client_bounds``): a custom domain's
        attach, check and detach, from a 29 s request or the refresher."""
        settings = self._settings
        bounds = client_bounds(settings, quick=quick, attempts=attempts, timeout=timeout)
        return CloudflareApi(token, base_url=settings.cloudflare_api_base, **bounds)

    def _quick_api(self, token: SecretStr) -> CloudflareApi:
        return self._api(token, quick=True)

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
            prefetch=job.prefetch,
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

    # -- custom domains -------------------------------------------------------------------------

    def domain_support(self, auth_mode: AuthMode, member_id: str | None) -> str | None:
        if auth_mode is AuthMode.USER_TOKEN:
            return None  # Workers Custom Domains on the user's own zones
        if not member_id or not member_id.startswith(DISPATCH_MEMBER):
            return WORKERS_DEV_DOMAINS
        try:
            member = self._dispatch_member(None, member_id)
        except CredentialsError:
            member = None
        if member is None:
            return "the site's Workers for Platforms namespace is no longer in the service's configuration"
        return None if member.zone_id else NO_SAAS_ZONE

    def own_domains(self) -> tuple[str, ...]:
        """The Workers for Platforms domain: its names are the sites' own (workers.dev is every
        platform's)."""
        try:
            pool = self.service_pool()
        except CredentialsError:
            return ()
        dispatch = pool.dispatch if isinstance(pool, CloudflareServicePool) else None
        return (dispatch.domain,) if dispatch is not None and dispatch.domain else ()

    def domain_deadline_seconds(self) -> int:
        """Cloudflare for SaaS validates for 7 days; a Workers Custom Domain's certificate takes
        minutes, and the same bound does no harm there."""
        return DEADLINE_SECONDS

    def attach_domain(self, address: SiteAddress, hostname: str, credentials: UserCredentials | None) -> DomainState:
        if credentials is not None:
            token, account_id = self._account(credentials, address.account_id)
            return attach_custom_domain(self._quick_api(token), account_id, address.name, hostname)
        member = self._saas_member(address, credentials)
        api, zone_id, kv_id = self._hostname_routing(member)
        return attach_hostname(
            api,
            zone_id,
            account_id=member.account_id,
            kv_id=kv_id,
            hostname=hostname,
            worker=address.name,
            target=fallback_origin(str(member.domain)),
        )

    def domain_state(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> DomainState:
        if credentials is not None:
            token, account_id = self._account(credentials, address.account_id)
            return custom_domain_state(self._quick_api(token), account_id, address.name, hostname)
        member = self._saas_member(address, credentials)
        api = self._quick_api(member.api_token)
        return hostname_state_of(api, str(member.zone_id), hostname, ref, fallback_origin(str(member.domain)))

    def detach_domain(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> None:
        if credentials is not None:
            token, account_id = self._account(credentials, address.account_id)
            detach_custom_domain(self._quick_api(token), account_id, address.name, hostname, ref)
            return
        try:
            member = self._saas_member(address, credentials)
        except PlatformError:
            return  # no custom hostnames here: nothing was attached
        api, zone_id, kv_id = self._hostname_routing(member)
        detach_hostname(api, zone_id, account_id=member.account_id, kv_id=kv_id, hostname=hostname, ref=ref)

    def _hostname_routing(self, member: CloudflareServiceAccount) -> tuple[CloudflareApi, str, str]:
        """The operator's API, zone and ``HOSTS`` KV namespace, once routing is made sure of."""
        assert member.namespace is not None
        assert member.domain is not None
        assert member.zone_id is not None
        api = self._quick_api(member.api_token)
        kv_id = ensure_hostname_routing(
            api,
            member.account_id,
            member.namespace,
            dispatcher=member.dispatcher,
            domain=member.domain,
            zone_id=member.zone_id,
        )
        return api, member.zone_id, kv_id

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
