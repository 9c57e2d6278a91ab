"""Cloudflare credentials: a user's API token and account, and the service's own account section
of the platform secret."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, SecretStr, StringConstraints

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


class CloudflareServiceAccount(PoolAccount):
    """One of the service's Quick Deploy accounts, and how many Workers it may hold."""

    api_token: SecretStr = Field(alias="apiToken", min_length=1)
    account_id: str = Field(alias="accountId", pattern=r"^[0-9a-f]{32}$|^[A-Za-z0-9_-]{1,64}$")
    # Cloudflare's paid plan holds 500 Workers per account (the free plan 100).
    worker_limit: int = Field(default=500, alias="workerLimit", ge=1, le=100_000)

    @property
    def id(self) -> str:
        return self.account_id

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

    @property
    def prefix(self) -> str:
        return self.worker_prefix
