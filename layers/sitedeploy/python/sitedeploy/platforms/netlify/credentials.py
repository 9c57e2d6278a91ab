"""Netlify credentials: a user's personal access token (and the team it deploys to), and the
service's own accounts, the ``netlify`` section of the platform secret."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, SecretStr, StringConstraints

from sitedeploy.platforms.accounts import AccountPool, AccountToken, PoolAccount

# A Netlify team ("account") slug: what ``/api/v1/{account_slug}/sites`` takes.
AccountSlug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")]


class NetlifyToken(AccountToken):
    """A user's personal access token and, optionally, the team new sites go to (without one,
    Netlify puts them in the token's first team)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    SCOPE_KEY: ClassVar[str] = "accountSlug"

    account_slug: AccountSlug | None = Field(default=None, alias="accountSlug")

    @property
    def scope(self) -> str | None:
        return self.account_slug


class NetlifyServiceAccount(PoolAccount):
    """One of the service's Quick Deploy teams, the token that acts on it, and how many sites it may hold."""

    access_token: SecretStr = Field(alias="accessToken", min_length=1)
    account_slug: AccountSlug = Field(alias="accountSlug")
    # Netlify's documented ceiling is 500 sites per team; operators may set their plan's lower figure.
    site_limit: int = Field(default=500, alias="siteLimit", ge=1, le=100_000)

    @property
    def id(self) -> str:
        return self.account_slug

    @property
    def acting_token(self) -> SecretStr:
        return self.access_token

    @property
    def scope(self) -> str:
        return self.account_slug

    @property
    def capacity(self) -> int:
        return self.site_limit


class NetlifyServicePool(AccountPool[NetlifyServiceAccount]):
    """The ``netlify`` section of the platform secret: the teams Quick Deploy places sites in,
    ``{"accounts": [{"accessToken", "accountSlug", "siteLimit"}, ...], "sitePrefix": "sd"}``; the
    one-account form ``{"accessToken", "accountSlug", "sitePrefix"}`` is a pool of one."""

    ONE_ACCOUNT_KEY: ClassVar[str] = "accountSlug"
    PREFIX_KEY: ClassVar[str] = "sitePrefix"
    DUPLICATE_MESSAGE: ClassVar[str | None] = "an accountSlug is listed twice"

    site_prefix: str = Field(default="sd", alias="sitePrefix", pattern=r"^[a-z0-9]{1,12}$")

    @property
    def prefix(self) -> str:
        return self.site_prefix
