"""AWS Amplify Hosting as a hosting platform of the service: a branch per site, in the service's
app (Quick Deploy) or in the user's own app, deployed from a zip and then built by Amplify."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from sitedeploy.domain import clock
from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import (
    AppSummary,
    Connection,
    DeploymentStatus,
    Platform,
    PlatformStats,
    SiteAddress,
    SiteRecord,
)
from sitedeploy.domain.naming import derived_name, slug
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.platforms.amplify.client import AmplifyError, amplify_client
from sitedeploy.platforms.amplify.credentials import AmplifyAccess, AmplifyKeys, AmplifyServiceSecret
from sitedeploy.platforms.amplify.publisher import AmplifyPublisher, AmplifyTarget
from sitedeploy.platforms.amplify.requests import AmplifyDeployRequest
from sitedeploy.platforms.base import (
    BuildState,
    DeployPlan,
    PlatformError,
    PlatformLimits,
    Published,
    PublishJob,
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
        try:
            return AmplifyServiceSecret.model_validate(section or {})
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise CredentialsError(f"the platform credentials secret is malformed at amplify.{fields}") from None

    def _access(self, credentials: UserCredentials | None) -> AmplifyAccess:
        """The user's keys, or the service's: the IAM role unless the secret carries keys."""
        if credentials is not None:
            assert isinstance(credentials, AmplifyKeys)
            return credentials.access
        return self.service_secret().access(self._settings.region)

    def _publisher(self, credentials: UserCredentials | None, *, quick: bool = False) -> AmplifyPublisher:
        return AmplifyPublisher(
            amplify_client(self._access(credentials), quick=quick),
            backoff=self._settings.retry_backoff_seconds,
            retry_after_cap=self._settings.retry_after_cap_seconds,
            zip_limit=self._settings.amplify_zip_limit_bytes,
        )

    def quick_deploy_available(self) -> bool:
        return bool(self._settings.amplify_app_id)

    # -- deploying ------------------------------------------------------------------------------

    def plan(
        self, owner_id: str, request: DeployRequest, credentials: UserCredentials | None, existing: SiteRecord | None
    ) -> DeployPlan:
        assert isinstance(request, AmplifyDeployRequest)
        project = request.project()
        if credentials is None:
            if not self._settings.amplify_app_id:
                raise BadRequest(
                    "Quick Deploy to Amplify is not available: the service has no Amplify app configured",
                    code="platform_not_configured",
                )
            try:
                service = self.service_secret()
            except CredentialsError as exc:
                raise BadRequest(
                    f"Quick Deploy to Amplify is not available: {exc}", code="platform_not_configured"
                ) from None
            branch = derived_name(service.branch_prefix, owner_id, project)
            region = service.region or self._settings.region
        else:
            assert isinstance(credentials, AmplifyKeys)
            branch = derived_name(BRANCH_PREFIX, owner_id, project)
            region = credentials.region
        publisher = self._publisher(credentials)
        try:
            app_id = self._app_for(publisher, request, credentials, existing, project)
            url = f"https://{branch}.{self._domain(publisher, app_id)}"
        except AmplifyError as exc:
            raise BadRequest(f"Amplify refused: {exc.message}", code="platform_rejected") from None
        return DeployPlan(address=SiteAddress(account_id=app_id, name=branch, region=region), url=url)

    def _app_for(
        self,
        publisher: AmplifyPublisher,
        request: AmplifyDeployRequest,
        credentials: UserCredentials | None,
        existing: SiteRecord | None,
        project: str,
    ) -> str:
        """The service's app; or the user's: named in the request, in the connection, the site's, or new."""
        if credentials is None:
            return self._settings.amplify_app_id
        assert isinstance(credentials, AmplifyKeys)
        if request.app:
            return request.app
        if credentials.app_id:
            return credentials.app_id
        if existing and existing.account_id:
            return existing.account_id
        return str(publisher.create_app(f"sitedeploy-{slug(project)}")["appId"])

    def _domain(self, publisher: AmplifyPublisher, app_id: str) -> str:
        with self._domains_lock:
            known = self._domains.get(app_id)
        if known is None:
            known = str(publisher.app(app_id).get("defaultDomain"))
            with self._domains_lock:
                self._domains[app_id] = known
        return known

    def publish(self, job: PublishJob, credentials: UserCredentials | None) -> Published:
        target = _target(job.address)
        spa = job.config.spa if job.config.spa is not None else "index.html" in {f.path for f in job.files}
        result = self._publisher(credentials).publish(target, job.files, job.read, spa=spa, progress=job.progress)
        return Published(
            status=DeploymentStatus.BUILDING,
            progress=PUBLISHED_PROGRESS,
            url=result.url,
            external_id=result.external_id,
            uploaded_files=result.uploaded_files,
            uploaded_bytes=result.uploaded_bytes,
        )

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        return self._publisher(credentials, quick=True).job(_target(address), external_id)

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        return self._publisher(credentials).delete_branch(_target(address))

    # -- a user's account -----------------------------------------------------------------------

    def verify(self, credentials: UserCredentials) -> Connection:
        """Who the keys belong to (STS), and that they reach Amplify: the app when named, else a listing."""
        assert isinstance(credentials, AmplifyKeys)
        access = credentials.access
        try:
            identity = _session(access).client("sts", config=_VERIFY).get_caller_identity()
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


def _target(address: SiteAddress) -> AmplifyTarget:
    if not address.account_id or not address.name:
        raise PlatformError("the deployment does not name its Amplify app and branch")
    return AmplifyTarget(address.account_id, address.name)


def _session(access: AmplifyAccess) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id=access.access_key_id,
        aws_secret_access_key=access.secret_access_key.get_secret_value() if access.secret_access_key else None,
        aws_session_token=access.session_token.get_secret_value() if access.session_token else None,
        region_name=access.region,
    )
