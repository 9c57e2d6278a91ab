"""Cloudflare credentials: a user's API token and account, and the service's own account section
of the platform secret."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

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
    """The ``cloudflare`` section of the platform secret: the service's Quick Deploy account."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    api_token: SecretStr = Field(alias="apiToken", min_length=1)
    account_id: str = Field(alias="accountId", pattern=r"^[0-9a-f]{32}$|^[A-Za-z0-9_-]{1,64}$")
    worker_prefix: str = Field(default="sd", alias="workerPrefix", pattern=r"^[a-z0-9]{1,12}$")
