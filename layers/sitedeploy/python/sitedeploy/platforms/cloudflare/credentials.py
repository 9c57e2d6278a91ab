"""Cloudflare credentials: a user's API token and account, and the service's own account section
of the platform secret."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from sitedeploy.platforms.base import UserCredentials

AccountId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class CloudflareToken(UserCredentials):
    """A user's API token (Workers Scripts edit) and the account it acts on."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    token: SecretStr = Field(min_length=1, max_length=400)
    account_id: AccountId = Field(alias="accountId")

    def payload(self) -> dict[str, Any]:
        return {"token": self.token.get_secret_value(), "accountId": self.account_id}


class CloudflareServiceAccount(BaseModel):
    """One of the service's Quick Deploy accounts, and how many Workers it may hold."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    api_token: SecretStr = Field(alias="apiToken", min_length=1)
    account_id: str = Field(alias="accountId", pattern=r"^[0-9a-f]{32}$|^[A-Za-z0-9_-]{1,64}$")
    # Cloudflare's paid plan holds 500 Workers per account (the free plan 100).
    worker_limit: int = Field(default=500, alias="workerLimit", ge=1, le=100_000)


class CloudflareServicePool(BaseModel):
    """The ``cloudflare`` section of the platform secret: the accounts Quick Deploy places sites in,
    ``{"accounts": [{"apiToken", "accountId", "workerLimit"}, ...], "workerPrefix": "sd"}``; the
    one-account form ``{"apiToken", "accountId", "workerPrefix"}`` is a pool of one."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    accounts: tuple[CloudflareServiceAccount, ...] = Field(min_length=1)
    worker_prefix: str = Field(default="sd", alias="workerPrefix", pattern=r"^[a-z0-9]{1,12}$")

    @model_validator(mode="before")
    @classmethod
    def _one_account_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "accounts" not in data and "accountId" in data:
            return {"accounts": [data], "workerPrefix": data.get("workerPrefix", "sd")}
        return data

    def account(self, account_id: str | None) -> CloudflareServiceAccount | None:
        return next((a for a in self.accounts if a.account_id == account_id), None)
