"""Vercel as a hosting platform of the service: a project per site, on the service's accounts
(Quick Deploy; a team or a token's personal account) or on the user's own, deployed from files."""

from __future__ import annotations

import datetime
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
from sitedeploy.platforms.vercel.api import VercelApi, VercelError
from sitedeploy.platforms.vercel.credentials import VercelServicePool, VercelToken
from sitedeploy.platforms.vercel.deploy import FOLLOW_SECONDS, VercelDeployer, map_ready_state
from sitedeploy.platforms.vercel.requests import MAX_FILE_BYTES, VercelDeployRequest
from sitedeploy.platforms.vercel.routing import vercel_routing
from sitedeploy.settings import Settings
from sitedeploy.stores import SecretSource
from sitedeploy.stores.secrets import CredentialsError

# Names of projects on a user's own account, when the request names none.
USER_PROJECT_PREFIX = "sd"
# Vercel documents 15,000 source files per CLI deployment (Hobby); the service's own bound is 20,000.
MAX_FILES = 15_000


class VercelPlatform:
    platform: ClassVar[Platform] = Platform.VERCEL
    credentials_model: ClassVar[type[UserCredentials]] = VercelToken
    request_model: ClassVar[type[DeployRequest]] = VercelDeployRequest

    def __init__(self, settings: Settings, secret: SecretSource, *, follow_seconds: float = FOLLOW_SECONDS) -> None:
        self._settings = settings
        self._secret = secret
        self._follow_seconds = follow_seconds

    @property
    def limits(self) -> PlatformLimits:
        return PlatformLimits(max_files=MAX_FILES, max_file_bytes=MAX_FILE_BYTES)

    # -- credentials ----------------------------------------------------------------------------

    def service_pool(self) -> VercelServicePool | None:
        section = self._secret.section(self.platform.value)
        if section is None:
            return None
        try:
            return VercelServicePool.model_validate(section)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise CredentialsError(f"the platform credentials secret is malformed at vercel.{fields}") from None

    def _acting(self, credentials: UserCredentials | None, account_id: str | None) -> tuple[SecretStr, str | None]:
        """The token to act with, and its team (None: the token's personal account): the user's,
        or the service's pool account whose member id ``account_id`` is."""
        if credentials is not None:
            assert isinstance(credentials, VercelToken)
            return credentials.token, account_id or credentials.team_id
        pool = self.service_pool()
        account = (pool.account(account_id) if account_id else pool.accounts[0]) if pool else None
        if pool is None or account is None:
            raise CredentialsError(f"the service has no Vercel credentials for account {account_id}")
        return account.token, account.team_id

    def _api(self, token: SecretStr, team_id: str | None, *, attempts: int = 5, timeout: float = 60.0) -> VercelApi:
        return VercelApi(
            token,
            team_id=team_id,
            base_url=self._settings.vercel_api_base,
            backoff=self._settings.retry_backoff_seconds,
            retry_after_cap=self._settings.retry_after_cap_seconds,
            attempts=attempts,
            timeout=timeout,
        )

    def _deployer(self, credentials: UserCredentials | None, account_id: str | None, **kwargs: Any) -> VercelDeployer:
        token, team_id = self._acting(credentials, account_id)
        return VercelDeployer(self._api(token, team_id, **kwargs), follow_seconds=self._follow_seconds)

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
        assert isinstance(request, VercelDeployRequest)
        project = request.project()
        if credentials is not None:
            assert isinstance(credentials, VercelToken)
            if request.project_id:
                return DeployPlan(
                    names=(request.project_id,), pooled=False, account_id=credentials.team_id, explicit_name=True
                )
            names = derived_names(USER_PROJECT_PREFIX, owner_id, project)
            return DeployPlan(names=tuple(names), pooled=False, account_id=credentials.team_id)
        try:
            pool = self.service_pool()
        except CredentialsError as exc:
            logger.error("platform credentials unusable", extra={"reason": str(exc)})
            pool = None
        if pool is None:
            raise BadRequest(
                "Quick Deploy to Vercel is not available: the service has no Vercel credentials",
                code="platform_not_configured",
            )
        return DeployPlan(names=tuple(derived_names(pool.project_prefix, owner_id, project)), pooled=True)

    def fixed_members(self) -> list[PoolMember]:
        pool = self.service_pool()
        if pool is None:
            return []
        return [PoolMember(self.platform, a.id, capacity=a.project_limit) for a in pool.accounts]

    def pool_limit(self) -> int:
        return 0  # accounts and teams are the operator's to add, in the platform secret

    def grow_pool(self, plan: DeployPlan) -> PoolMember:
        raise PlatformError("the service does not create Vercel accounts")

    def remove_member(self, member: PoolMember) -> None:
        return None  # an account stays, empty or not

    def site_url(
        self, address: SiteAddress, member: PoolMember | None, credentials: UserCredentials | None = None
    ) -> str | None:
        """The production alias of a project that already serves one; None otherwise (a new
        project's alias is known once its first deployment is ready, and publishing records it)."""
        try:
            deployer = self._deployer(credentials, address.account_id, attempts=2, timeout=3.0)
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
        digests = job.sha1s(job.files)
        return deployer.publish(job.address.name, job.files, digests, routing, read=job.read, progress=job.progress)

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        deployer = self._deployer(credentials, address.account_id, attempts=3, timeout=10.0)
        return map_ready_state(deployer.deployment(external_id))

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        return self._deployer(credentials, address.account_id).delete_project(address.name)

    # -- a user's account -----------------------------------------------------------------------

    def verify(self, credentials: UserCredentials) -> Connection:
        assert isinstance(credentials, VercelToken)
        api = self._api(credentials.token, credentials.team_id, attempts=2, timeout=10.0)
        try:
            _, answer = api.call("GET", "/v2/user", what="reading the user")
            user = answer.get("user") if isinstance(answer, dict) else None
            if not isinstance(user, dict):
                raise PlatformError("Vercel answered no user for the token")
            team: Any = None
            if credentials.team_id:
                _, team = api.call("GET", f"/v2/teams/{credentials.team_id}", what="reading the team")
        except VercelError as exc:
            raise PlatformError(f"Vercel refused the credentials: {exc.message}") from None
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
        deployer = VercelDeployer(self._api(credentials.token, credentials.team_id, attempts=2, timeout=10.0))
        try:
            projects = deployer.projects()
        except VercelError as exc:
            raise PlatformError(f"Vercel refused: {exc.message}") from None
        # A project is a site of static files here; WorkerSummary is the settings tab's list row.
        workers = [
            WorkerSummary(name=str(p.get("name")), modified_on=_iso(p.get("updatedAt")), has_assets=True)
            for p in projects
        ]
        return PlatformStats(platform=self.platform, workers=workers)


def _iso(milliseconds: object) -> str | None:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float):
        return None
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000.0, tz=datetime.UTC)
    return moment.isoformat().replace("+00:00", "Z")
