"""Netlify credentials: a user's personal access token (and the team it deploys to), and the
service's own accounts, the ``netlify`` section of the platform secret."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from sitedeploy.platforms.base import UserCredentials

# A Netlify team ("account") slug: what ``/api/v1/{account_slug}/sites`` takes.
AccountSlug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")]


class NetlifyToken(UserCredentials):
    """A user's personal access token and, optionally, the team new sites go to (without one,
    Netlify puts them in the token's first team)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    token: SecretStr = Field(min_length=1, max_length=400)
    account_slug: AccountSlug | None = Field(default=None, alias="accountSlug")

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"token": self.token.get_secret_value()}
        if self.account_slug is not None:
            out["accountSlug"] = self.account_slug
        return out


class NetlifyServiceAccount(BaseModel):
    """One of the service's Quick Deploy teams, the token that acts on it, and how many sites it may hold."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    access_token: SecretStr = Field(alias="accessToken", min_length=1)
    account_slug: AccountSlug = Field(alias="accountSlug")
    # Netlify's documented ceiling is 500 sites per team; operators may set their plan's lower figure.
    site_limit: int = Field(default=500, alias="siteLimit", ge=1, le=100_000)


class NetlifyServicePool(BaseModel):
    """The ``netlify`` section of the platform secret: the teams Quick Deploy places sites in,
    ``{"accounts": [{"accessToken", "accountSlug", "siteLimit"}, ...], "sitePrefix": "sd"}``; the
    one-account form ``{"accessToken", "accountSlug", "sitePrefix"}`` is a pool of one."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    accounts: tuple[NetlifyServiceAccount, ...] = Field(min_length=1)
    site_prefix: str = Field(default="sd", alias="sitePrefix", pattern=r"^[a-z0-9]{1,12}$")

    @model_validator(mode="before")
    @classmethod
    def _one_account_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "accounts" not in data and "accountSlug" in data:
            return {"accounts": [data], "sitePrefix": data.get("sitePrefix", "sd")}
        return data

    @model_validator(mode="after")
    def _distinct_accounts(self) -> NetlifyServicePool:
        slugs = [a.account_slug for a in self.accounts]
        if len(set(slugs)) != len(slugs):
            raise ValueError("an accountSlug is listed twice")
        return self

    def account(self, account_slug: str | None) -> NetlifyServiceAccount | None:
        return next((a for a in self.accounts if a.account_slug == account_slug), None)
