"""AWS Amplify Hosting as a hosting platform of the service: a branch per site, in the service's
app (Quick Deploy) or in the user's own app, deployed from a zip and then built by Amplify."""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sitedeploy.domain import clock
from sitedeploy.domain.domains import DomainState
from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import (
    AppSummary,
    AuthMode,
    Connection,
    DeploymentRecord,
    DeploymentStatus,
    Platform,
    PlatformStats,
    PreviewMode,
    SiteAddress,
)
from sitedeploy.domain.naming import derived_names, slug
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.domain.tenancy import JobSlots, PoolMember
from sitedeploy.observability import logger
from sitedeploy.platforms.accounts import parse_section
from sitedeploy.platforms.amplify.client import AmplifyError, amplify_client, client_for
from sitedeploy.platforms.amplify.credentials import AmplifyAccess, AmplifyKeys, AmplifyServiceSecret
from sitedeploy.platforms.amplify.domains import DEADLINE_SECONDS as DOMAIN_DEADLINE_SECONDS
from sitedeploy.platforms.amplify.domains import DomainAssociations
from sitedeploy.platforms.amplify.publisher import AmplifyPublisher, AmplifyTarget
from sitedeploy.platforms.amplify.requests import AmplifyDeployRequest
from sitedeploy.platforms.amplify.routing import RoutingProfile, routing_profile
from sitedeploy.platforms.base import (
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
from sitedeploy.settings import Settings
from sitedeploy.stores import SecretSource
from sitedeploy.stores.secrets import CredentialsError

# Branches on a user's own app, and on the service's when its secret names no prefix.
BRANCH_PREFIX = "sd"
MAX_FILES = 20_000
# A verification answers within the API's budget: few retries, short timeouts.
_VERIFY = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=10)
# After a publish, the job is this far along; the build's own progress follows from GetJob.
PUBLISHED_PROGRESS = 55
# The tag on the apps the service creates for its pool (IAM policies are scoped by it).
POOL_TAG = "sitedeploy-pool"


class AmplifyPlatform:
    platform: ClassVar[Platform] = Platform.AMPLIFY
    credentials_model: ClassVar[type[UserCredentials]] = AmplifyKeys
    request_model: ClassVar[type[DeployRequest]] = AmplifyDeployRequest

    def __init__(self, settings: Settings, secret: SecretSource) -> None:
        self._settings = settings
        self._secret = secret
        # App id → default domain: an app's domain never changes.
        self._domains: dict[str, str] = {}
        self._domains_lock = threading.Lock()

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(
            max_files=MAX_FILES, max_file_bytes=5 * 1024**3, max_site_bytes=self._settings.amplify_zip_limit_bytes
        )

    # -- credentials ----------------------------------------------------------------------------

    def service_secret(self) -> AmplifyServiceSecret:
        section = self._secret.section(self.platform.value)
        return parse_section(AmplifyServiceSecret, section or {}, self.platform.value)

    def _access(self, credentials: UserCredentials | None, region: str | None = None) -> AmplifyAccess:
        """The user's keys, or the service's (the IAM role unless the secret carries keys), in the
        region the site lives in."""
        if credentials is not None:
            assert isinstance(credentials, AmplifyKeys)
            access = credentials.access
        else:
            access = self.service_secret().access(self._settings.region)
        return replace(access, region=region) if region else access

    def _publisher(
        self, credentials: UserCredentials | None, *, region: str | None = None, quick: bool = False
    ) -> AmplifyPublisher:
        return AmplifyPublisher(
            amplify_client(self._access(credentials, region), quick=quick),
            backoff=self._settings.retry_backoff_seconds,
            retry_after_cap=self._settings.retry_after_cap_seconds,
            zip_limit=self._settings.amplify_zip_limit_bytes,
        )

    def quick_deploy_available(self) -> bool:
        return self._settings.amplify_pool_apps > 0

    def quick_deploy_isolated(self) -> bool:
        """Branches of one app share ``<appId>.amplifyapp.com``, a registrable domain (amplifyapp.com
        is a public suffix): same-site to each other. With one site per app
        (``AmplifyBranchesPerApp=1``) every site is a site of its own."""
        return self._settings.amplify_branches_per_app == 1

    # -- deploying ------------------------------------------------------------------------------

    def plan(
        self,
        owner_id: str,
        request: DeployRequest,
        credentials: UserCredentials | None,
        config: SiteConfig,
        paths: frozenset[str],
    ) -> DeployPlan:
        assert isinstance(request, AmplifyDeployRequest)
        project = request.project()
        routing = routing_profile(
            redirects_text=config.redirects_text, headers_text=config.headers_text, spa=config.spa, paths=set(paths)
        )
        if credentials is not None:
            assert isinstance(credentials, AmplifyKeys)
            return DeployPlan(
                names=tuple(derived_names(BRANCH_PREFIX, owner_id, project)),
                pooled=False,
                account_id=request.app or credentials.app_id,
                region=credentials.region,
                settings=routing,
            )
        if not self.quick_deploy_available():
            raise BadRequest(
                "Quick Deploy to Amplify is not available: the service hosts no Amplify sites",
                code="platform_not_configured",
            )
        try:
            service = self.service_secret()
        except CredentialsError as exc:
            raise BadRequest(
                f"Quick Deploy to Amplify is not available: {exc}", code="platform_not_configured"
            ) from None
        return DeployPlan(
            names=tuple(derived_names(service.branch_prefix, owner_id, project)),
            pooled=True,
            region=service.region or self._settings.region,
            profile=routing.key,
            settings=routing,
        )

    # -- the service's pool: apps it creates, one routing profile each -----------------------

    def fixed_members(self) -> list[PoolMember]:
        return []

    def pool_limit(self) -> int:
        return self._settings.amplify_pool_apps

    def grow_pool(self, plan: DeployPlan) -> PoolMember:
        routing = plan.settings
        assert isinstance(routing, RoutingProfile)
        name = f"sitedeploy-pool-{plan.profile}-{secrets.token_hex(3)}"
        app = self._publisher(None).create_app(name, routing, tags={POOL_TAG: plan.profile or "-"})
        app_id = str(app["appId"])
        domain = str(app.get("defaultDomain"))
        with self._domains_lock:
            self._domains[app_id] = domain
        return PoolMember(
            self.platform,
            app_id,
            capacity=self._settings.amplify_branches_per_app,
            profile=plan.profile,
            region=plan.region,
            domain=domain,
        )

    def remove_member(self, member: PoolMember) -> None:
        """Delete an app of the pool, only once Amplify lists no branch in it: Amplify's DeleteApp
        takes every branch with it, and those may be other tenants' sites."""
        publisher = self._publisher(None, region=member.region)
        try:
            branches = publisher.branches(member.member_id)
        except AmplifyError as exc:
            if exc.code == "NotFoundException":
                return  # already gone
            raise
        if branches:
            raise PlatformError(f"the app {member.member_id} still has {len(branches)} branch(es): not deleted")
        publisher.delete_app(member.member_id)

    def pool_objects(self, member: PoolMember) -> list[PlacedObject]:
        """The app's branches (every branch of a pool app is the service's)."""
        try:
            branches = self._publisher(None, region=member.region).branches(member.member_id)
        except AmplifyError as exc:
            if exc.code == "NotFoundException":
                return []
            raise
        return [PlacedObject(str(b.get("branchName")), _epoch(b.get("updateTime"))) for b in branches]

    def unlisted_members(self) -> list[PlacedObject]:
        """The apps carrying the pool's tag: every app the service made for its pool."""
        region = self.service_secret().region or self._settings.region
        apps = self._publisher(None, region=region).apps()
        return [
            PlacedObject(str(a.get("appId")), _epoch(a.get("updateTime")), region)
            for a in apps
            if POOL_TAG in (a.get("tags") or {})
        ]

    def site_url(
        self, address: SiteAddress, member: PoolMember | None, credentials: UserCredentials | None = None
    ) -> str | None:
        if not address.account_id:
            return None  # the user's app is made when publishing
        if member is not None and member.domain:
            return f"https://{address.name}.{member.domain}"
        try:
            domain = self._domain(self._publisher(credentials, region=address.region), address.account_id)
        except (AmplifyError, CredentialsError) as exc:
            logger.warning("app domain unknown at deploy time", extra={"reason": str(exc)})
            return None
        return f"https://{address.name}.{domain}"

    def job_slots(self, record: DeploymentRecord) -> JobSlots | None:
        """Quick Deploy builds run in the service's account: at most its concurrent-jobs quota at once
        (beyond it Amplify queues jobs itself, and its clock would count the wait as build time)."""
        if record.auth_mode is not AuthMode.PLATFORM_MANAGED:
            return None
        region = record.region or self._settings.region
        return JobSlots(key=f"amplify#{region}", limit=self._settings.amplify_concurrent_jobs)

    def _domain(self, publisher: AmplifyPublisher, app_id: str) -> str:
        with self._domains_lock:
            known = self._domains.get(app_id)
        if known is None:
            known = str(publisher.app(app_id).get("defaultDomain"))
            with self._domains_lock:
                self._domains[app_id] = known
        return known

    def publish(self, job: PublishJob, credentials: UserCredentials | None) -> Published:
        publisher = self._publisher(credentials, region=job.address.region)
        address = job.address
        created: SiteAddress | None = None
        routing = None
        if credentials is not None:  # the user's app carries the site's routing too
            routing = routing_profile(
                redirects_text=job.config.redirects_text,
                headers_text=job.config.headers_text,
                spa=job.config.spa,
                paths={f.path for f in job.files},
            )
            if not address.account_id:
                project = address.name.split("-", 1)[-1].rsplit("-", 1)[0]
                app = publisher.create_app(f"sitedeploy-{slug(project)}")
                created = address = SiteAddress(str(app["appId"]), address.name, address.region)
        job.prefetch(job.files)  # a manual deploy is one zip of every file, every time
        result = publisher.publish(_target(address), job.files, job.read, routing=routing, progress=job.progress)
        return Published(
            status=DeploymentStatus.BUILDING,
            progress=PUBLISHED_PROGRESS,
            url=result.url,
            external_id=result.external_id,
            uploaded_files=result.uploaded_files,
            uploaded_bytes=result.uploaded_bytes,
            address=created,
        )

    def preview_mode(self, plan: DeployPlan) -> PreviewMode:
        return PreviewMode.OWN_SITE  # a branch of its own

    # -- custom domains: subdomains of the app's domain associations (see ``domains``) ----------

    def domain_support(self, auth_mode: AuthMode, member_id: str | None) -> str | None:
        """A user's app takes its sites' domains. A Quick Deploy app is shared by up to
        AmplifyBranchesPerApp sites, and an app holds at most 5 associations (one per domain): only
        an app per site leaves every site its own."""
        if auth_mode is AuthMode.USER_TOKEN:
            return None
        shared = self._settings.amplify_branches_per_app
        if shared == 1:
            return None
        return (
            f"Quick Deploy Amplify apps are shared by up to {shared} sites and an app holds at most 5 domain "
            "associations: set AmplifyBranchesPerApp=1 (an app per site) or claim the site into your own account"
        )

    def own_domains(self) -> tuple[str, ...]:
        return ()  # amplifyapp.com is among every platform's domains already

    def domain_deadline_seconds(self) -> int:
        return DOMAIN_DEADLINE_SECONDS

    def _associations(
        self, address: SiteAddress, credentials: UserCredentials | None
    ) -> tuple[DomainAssociations, str]:
        """The site's app, and its associations as the user's keys (a user's app) or the service's
        (its pool) reach them in the site's region, with the status function's budget (few retries,
        short timeouts): every domain call answers an API request or the refresher."""
        if not address.account_id or not address.name:
            raise PlatformError("the site has no Amplify app and branch yet: deploy it first", status=409)
        client = amplify_client(self._access(credentials, address.region), quick=True)
        return DomainAssociations(client), address.account_id

    def attach_domain(self, address: SiteAddress, hostname: str, credentials: UserCredentials | None) -> DomainState:
        associations, app_id = self._associations(address, credentials)
        return associations.attach(app_id, address.name, hostname)

    def domain_state(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> DomainState:
        associations, app_id = self._associations(address, credentials)
        return associations.state(app_id, address.name, hostname, ref)

    def detach_domain(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> None:
        if not address.account_id:
            return  # never published: nothing was attached
        associations, app_id = self._associations(address, credentials)
        associations.detach(app_id, address.name, hostname, ref)

    def activate(self, address: SiteAddress, version_ref: str, credentials: UserCredentials | None) -> Published | None:
        # Manual deploys have no rollback: an earlier version is published again from the
        # service's own copy of its files (a new job).
        return None

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        return self._publisher(credentials, region=address.region, quick=True).job(_target(address), external_id)

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        if not address.account_id:
            return False  # its app was never made: nothing was published
        return self._publisher(credentials, region=address.region).delete_branch(_target(address))

    # -- a user's account -----------------------------------------------------------------------

    def verify(self, credentials: UserCredentials) -> Connection:
        """Who the keys belong to (STS), and that they reach Amplify: the app when named, else a listing."""
        assert isinstance(credentials, AmplifyKeys)
        access = credentials.access
        if not (access.access_key_id and access.secret_access_key):  # never the function's own role
            raise PlatformError("AWS keys are required: an access key id and its secret")
        try:
            identity = client_for("sts", access, _VERIFY).get_caller_identity()
            client = amplify_client(access)
            if credentials.app_id:
                name: str | None = str(client.get_app(appId=credentials.app_id)["app"].get("name"))
            else:
                client.list_apps(maxResults=1)
                name = None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise PlatformError(
                f"AWS refused the credentials: {error.get('Message') or error.get('Code')} ({error.get('Code')})"
            ) from None
        except BotoCoreError as exc:
            raise PlatformError(f"AWS could not be reached with these credentials: {type(exc).__name__}") from None
        now = clock.now_iso()
        return Connection(
            platform=self.platform,
            account_id=str(identity.get("Account")),
            account_name=name,
            app_id=credentials.app_id,
            region=credentials.region,
            created_at=now,
            updated_at=now,
        )

    def stats(self, credentials: UserCredentials) -> PlatformStats:
        assert isinstance(credentials, AmplifyKeys)
        try:
            pages = (
                amplify_client(credentials.access)
                .get_paginator("list_apps")
                .paginate(PaginationConfig={"MaxItems": 100})
            )
            apps = [
                AppSummary(app_id=a["appId"], name=a["name"], default_domain=a.get("defaultDomain"))
                for page in pages
                for a in page.get("apps", [])
            ]
        except (ClientError, BotoCoreError) as exc:
            raise PlatformError(f"AWS refused: {exc}") from None
        return PlatformStats(platform=self.platform, apps=apps)


def _epoch(value: Any) -> float | None:
    """boto3 gives datetimes; the wire, epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _target(address: SiteAddress) -> AmplifyTarget:
    if not address.account_id or not address.name:
        raise PlatformError("the deployment does not name its Amplify app and branch")
    return AmplifyTarget(address.account_id, address.name)
