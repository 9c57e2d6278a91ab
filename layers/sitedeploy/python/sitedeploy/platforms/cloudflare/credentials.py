"""Cloudflare credentials: a user's API token and account, and the service's own account section
of the platform secret."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, SecretStr, StringConstraints, model_validator

from sitedeploy.platforms.accounts import AccountPool, AccountToken, PoolAccount

AccountId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class CloudflareToken(AccountToken):
    """A user's API token (Workers Scripts edit) and the account it acts on."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    SCOPE_KEY: ClassVar[str] = "accountId"

    account_id: AccountId = Field(alias="accountId")

    @property
    def scope(self) -> str:
        return self.account_id


DISPATCH_MEMBER = "dispatch:"
DOMAIN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"
# Workers for Platforms: "an unlimited number of scripts" per namespace; the pool still counts them.
DISPATCH_SCRIPT_LIMIT = 1_000_000


class CloudflareServiceAccount(PoolAccount):
    """One of the service's Quick Deploy accounts, and how many Workers it may hold; or, with a
    ``namespace``, the Workers for Platforms dispatch namespace Quick Deploy puts every site in
    (sites at ``https://<name>.<domain>``, routed by the ``dispatcher`` Worker on the operator's
    zone)."""

    api_token: SecretStr = Field(alias="apiToken", min_length=1)
    account_id: str = Field(alias="accountId", pattern=r"^[0-9a-f]{32}$|^[A-Za-z0-9_-]{1,64}$")
    # Cloudflare's paid plan holds 500 Workers per account (the free plan 100).
    worker_limit: int = Field(default=500, alias="workerLimit", ge=1, le=DISPATCH_SCRIPT_LIMIT)
    namespace: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    domain: str | None = Field(default=None, pattern=DOMAIN, max_length=200)
    dispatcher: str = Field(default="sitedeploy-dispatcher", pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    zone_id: str | None = Field(default=None, alias="zoneId", pattern=r"^[0-9a-f]{32}$")
    # The operator has listed ``domain`` as a public suffix: each site is then a site of its own.
    public_suffix: bool = Field(default=False, alias="publicSuffix")

    @model_validator(mode="after")
    def _a_namespace_has_a_domain(self) -> CloudflareServiceAccount:
        if self.namespace is not None and self.domain is None:
            raise ValueError("a dispatch namespace needs the domain its sites are served under")
        return self

    @property
    def id(self) -> str:
        return f"{DISPATCH_MEMBER}{self.namespace}" if self.namespace else self.account_id

    @property
    def acting_token(self) -> SecretStr:
        return self.api_token

    @property
    def scope(self) -> str:
        return self.account_id

    @property
    def capacity(self) -> int:
        return self.worker_limit


class CloudflareServicePool(AccountPool[CloudflareServiceAccount]):
    """The ``cloudflare`` section of the platform secret: the accounts Quick Deploy places sites in,
    ``{"accounts": [{"apiToken", "accountId", "workerLimit"}, ...], "workerPrefix": "sd"}``; the
    one-account form ``{"apiToken", "accountId", "workerPrefix"}`` is a pool of one."""

    ONE_ACCOUNT_KEY: ClassVar[str] = "accountId"
    PREFIX_KEY: ClassVar[str] = "workerPrefix"

    worker_prefix: str = Field(default="sd", alias="workerPrefix", pattern=r"^[a-z0-9]{1,12}$")

    @model_validator(mode="before")
    @classmethod
    def _dispatch_backend(cls, data: Any) -> Any:
        """``{"dispatch": {"apiToken", "accountId", "namespace", "domain", ...}, "workerPrefix"}``:
        Quick Deploy goes to Workers for Platforms, one namespace, instead of the accounts."""
        if isinstance(data, dict) and isinstance(data.get("dispatch"), dict):
            dispatch = {"workerLimit": DISPATCH_SCRIPT_LIMIT, **data["dispatch"]}
            return {"accounts": [dispatch], cls.PREFIX_KEY: data.get(cls.PREFIX_KEY, "sd")}
        return data

    @property
    def dispatch(self) -> CloudflareServiceAccount | None:
        """The dispatch namespace, when Quick Deploy uses Workers for Platforms."""
        return next((a for a in self.accounts if a.namespace), None)

    @property
    def prefix(self) -> str:
        return self.worker_prefix
