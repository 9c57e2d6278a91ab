"""Platforms whose Quick Deploy pool is a fixed list of accounts in the platform secret (Cloudflare,
Netlify, Vercel): the operator adds accounts, the service never creates or deletes one, and a user
acts with a token on one account (or team) of their own.

Each platform names things its own way on the wire (``apiToken``/``accessToken``/``token``,
``accountId``/``accountSlug``/``teamId``, ``workerPrefix``/``sitePrefix``/``projectPrefix``) and
those names are part of stored secrets and of the API, so they stay; the models here add uniform
properties over them, and ``AccountPoolPlatform`` is written against those properties only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from sitedeploy.domain.domains import DomainState
from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import AuthMode, Platform, PreviewMode, SiteAddress, WorkerSummary
from sitedeploy.domain.naming import derived_names
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.domain.tenancy import PoolMember
from sitedeploy.observability import logger
from sitedeploy.platforms.base import DeployPlan, PlacedObject, PlatformError, Published, SiteConfig, UserCredentials
from sitedeploy.settings import Settings
from sitedeploy.stores import SecretSource
from sitedeploy.stores.secrets import CredentialsError

# Names of sites on a user's own account, when the request names none.
USER_PREFIX = "sd"

M = TypeVar("M", bound=BaseModel)


def parse_section(model: type[M], section: Any, name: str) -> M:
    """The platform secret's section as ``model``. The error names the bad field and never its
    value: the section holds tokens."""
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise CredentialsError(f"the platform credentials secret is malformed at {name}.{fields}") from None


class AccountToken(UserCredentials):
    """A user's token and the account (or team) it acts on; ``SCOPE_KEY`` is that account's wire
    name, left out of the payload when unset."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    SCOPE_KEY: ClassVar[str]

    token: SecretStr = Field(min_length=1, max_length=400)

    @property
    def scope(self) -> str | None:
        raise NotImplementedError

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"token": self.token.get_secret_value()}
        if self.scope is not None:
            out[self.SCOPE_KEY] = self.scope
        return out


class PoolAccount(BaseModel):
    """One account of the service's pool, as ``AccountPoolPlatform`` sees it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, defer_build=True)

    @property
    def id(self) -> str:
        """The pool member id, stable across deploys: what ``SiteAddress.account_id`` records."""
        raise NotImplementedError

    @property
    def acting_token(self) -> SecretStr:
        raise NotImplementedError

    @property
    def scope(self) -> str | None:
        """What the token acts on in API calls (None: the token's own default)."""
        raise NotImplementedError

    @property
    def capacity(self) -> int:
        raise NotImplementedError


A = TypeVar("A", bound=PoolAccount)


class AccountPool(BaseModel, Generic[A]):
    """A platform secret's section: ``{"accounts": [...], PREFIX_KEY: "sd"}``, or the one-account
    form (the account's own keys, ``ONE_ACCOUNT_KEY`` among them, and the prefix) as a pool of one.
    ``DUPLICATE_MESSAGE`` refuses two accounts with one member id (None: not checked)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, defer_build=True)

    ONE_ACCOUNT_KEY: ClassVar[str]
    PREFIX_KEY: ClassVar[str]
    DUPLICATE_MESSAGE: ClassVar[str | None] = None

    accounts: tuple[A, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_account_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "accounts" not in data and cls.ONE_ACCOUNT_KEY in data:
            return {"accounts": [data], cls.PREFIX_KEY: data.get(cls.PREFIX_KEY, "sd")}
        return data

    @model_validator(mode="after")
    def _distinct_members(self) -> AccountPool[A]:
        ids = [a.id for a in self.accounts]
        if self.DUPLICATE_MESSAGE is not None and len(set(ids)) != len(ids):
            raise ValueError(self.DUPLICATE_MESSAGE)
        return self

    @property
    def prefix(self) -> str:
        """The prefix of the names Quick Deploy gives sites."""
        raise NotImplementedError

    def account(self, member_id: str | None) -> A | None:
        return next((a for a in self.accounts if a.id == member_id), None)


class TokenDeployRequest(DeployRequest):
    """A deploy request whose user-token fields are a token, its account, and the name of an
    existing site to update."""

    credentials_model: ClassVar[type[AccountToken]]
    # Whether user-token mode refuses a token without its account.
    SCOPE_REQUIRED: ClassVar[bool] = False

    token: SecretStr | None = Field(default=None, min_length=1, max_length=400)

    @property
    def scope(self) -> str | None:
        raise NotImplementedError

    @property
    def existing_name(self) -> str | None:
        """The site the request names (then no other will do); None: the service derives names."""
        raise NotImplementedError

    def inline_credentials(self) -> AccountToken | None:
        """The token sent with the request; without one the stored connection is used, whole."""
        if self.token is None:
            return None
        key = self.credentials_model.SCOPE_KEY
        if self.SCOPE_REQUIRED and not self.scope:
            raise BadRequest(f"user-token mode needs {key}", code="credentials_required")
        return self.credentials_model.model_validate({"token": self.token, key: self.scope})


def check_names(named: Sequence[tuple[str, str | None]], valid: Callable[[str], bool], rule: str, what: str) -> None:
    """Two fields that name one existing site: each must be a valid name, and they must agree."""
    for field_name, value in named:
        if value is not None and not valid(value):
            raise ValueError(f"{field_name} must be {rule}")
    given = [(field_name, value) for field_name, value in named if value]
    if len(given) > 1 and len({value for _, value in given}) > 1:
        raise ValueError(f"{' and '.join(f for f, _ in given)} name different {what}")


class AccountPoolPlatform(Generic[A]):
    """The credentials, plan and pool half of a platform whose pool is the secret's accounts;
    the platform adds publishing, following, tearing down and the user's account views."""

    platform: ClassVar[Platform]
    pool_model: ClassVar[type[AccountPool[Any]]]
    # The platform's name in messages, and what one pool member is called there.
    TITLE: ClassVar[str]
    MEMBER_NOUN: ClassVar[str] = "account"
    # Salts the names derived for a user's own account. Where names are per account (Cloudflare
    # Workers, Vercel projects) none is needed; where they are global (Netlify sites) the same
    # project deployed by Quick Deploy and to the user's own team would otherwise derive the same
    # name, and the second would find it taken for good.
    USER_NAME_SALT: ClassVar[str] = ""

    def __init__(self, settings: Settings, secret: SecretSource) -> None:
        self._settings = settings
        self._secret = secret

    def service_pool(self) -> AccountPool[A] | None:
        section = self._secret.section(self.platform.value)
        if section is None:
            return None
        pool: AccountPool[A] = parse_section(self.pool_model, section, self.platform.value)
        return pool

    def _acting(self, credentials: UserCredentials | None, member_id: str | None) -> tuple[SecretStr, str | None]:
        """The token to act with and what it acts on: the user's, or the service's pool account
        ``member_id`` (a site recorded before pools, with none, lives in the first account)."""
        if credentials is not None:
            assert isinstance(credentials, AccountToken)
            return credentials.token, member_id or credentials.scope
        pool = self.service_pool()
        account = (pool.account(member_id) if member_id else pool.accounts[0]) if pool else None
        if account is None:
            raise CredentialsError(f"the service has no {self.TITLE} credentials for {self.MEMBER_NOUN} {member_id}")
        return account.acting_token, account.scope

    def quick_deploy_available(self) -> bool:
        try:
            return self.service_pool() is not None
        except CredentialsError:
            return False

    def plan(
        self,
        owner_id: str,
        request: DeployRequest,
        credentials: UserCredentials | None,
        config: SiteConfig,
        paths: frozenset[str],
    ) -> DeployPlan:
        assert isinstance(request, TokenDeployRequest)
        project = request.project()
        if credentials is not None:
            assert isinstance(credentials, AccountToken)
            if request.existing_name:
                return DeployPlan(
                    names=(request.existing_name,), pooled=False, account_id=credentials.scope, explicit_name=True
                )
            names = derived_names(USER_PREFIX, owner_id, project, salt=self.USER_NAME_SALT)
            return DeployPlan(names=tuple(names), pooled=False, account_id=credentials.scope)
        try:
            pool = self.service_pool()
        except CredentialsError as exc:
            logger.error("platform credentials unusable", extra={"reason": str(exc)})
            pool = None
        if pool is None:
            raise BadRequest(
                f"Quick Deploy to {self.TITLE} is not available: the service has no {self.TITLE} credentials",
                code="platform_not_configured",
            )
        return DeployPlan(names=tuple(derived_names(pool.prefix, owner_id, project)), pooled=True)

    def quick_deploy_isolated(self) -> bool:
        """Netlify's and Vercel's sites each have a host under a public suffix (``netlify.app``,
        ``vercel.app``): a registrable domain, an origin and a site of their own."""
        return True

    def fixed_members(self) -> list[PoolMember]:
        pool = self.service_pool()
        if pool is None:
            return []
        return [PoolMember(self.platform, a.id, capacity=a.capacity) for a in pool.accounts]

    def pool_limit(self) -> int:
        return 0  # accounts are the operator's to add, in the platform secret

    def grow_pool(self, plan: DeployPlan) -> PoolMember:
        raise PlatformError(f"the service does not create {self.TITLE} {self.MEMBER_NOUN}s")

    def remove_member(self, member: PoolMember) -> None:
        return None  # an account stays, empty or not

    def unlisted_members(self) -> list[PlacedObject]:
        return []  # the operator lists the accounts: the books know every one

    def pool_objects(self, member: PoolMember) -> list[PlacedObject]:
        """What the pool account holds under Quick Deploy's names (the prefix the secret sets;
        anything else in the account is the operator's and never touched)."""
        pool = self.service_pool()
        account = pool.account(member.member_id) if pool else None
        if pool is None or account is None:
            return []
        model: Any = getattr(self, "credentials_model", AccountToken)
        credentials = model.model_validate(
            {"token": account.acting_token.get_secret_value(), model.SCOPE_KEY: account.scope}
        )
        prefix = f"{pool.prefix}-"
        return [
            PlacedObject(row.name, epoch(row.modified_on))
            for row in self.list_sites(credentials)
            if row.name.startswith(prefix)
        ]

    def activate(self, address: SiteAddress, version_ref: str, credentials: UserCredentials | None) -> Published | None:
        return None  # a platform with its own versions says how to make one live

    def preview_mode(self, plan: DeployPlan) -> PreviewMode:
        return PreviewMode.IN_PLACE

    # -- custom domains (each platform says how; these are the answers of one that cannot) ------

    def domain_support(self, auth_mode: AuthMode, member_id: str | None) -> str | None:
        return f"{self.TITLE} sites cannot take custom domains through the service yet"

    def own_domains(self) -> tuple[str, ...]:
        return ()

    def domain_deadline_seconds(self) -> int:
        return 72 * 3600

    def attach_domain(self, address: SiteAddress, hostname: str, credentials: UserCredentials | None) -> DomainState:
        raise PlatformError(self.domain_support(AuthMode.USER_TOKEN, None) or "no custom domains", status=409)

    def domain_state(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> DomainState:
        raise PlatformError("no custom domains", status=404)

    def detach_domain(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> None:
        return None

    def list_sites(self, credentials: AccountToken) -> list[WorkerSummary]:
        """Every Worker, site or project the account holds (each platform lists its own)."""
        raise NotImplementedError


def epoch(iso: str | None) -> float | None:
    """An ISO-8601 time as epoch seconds (None when there is none, or it is not one)."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
