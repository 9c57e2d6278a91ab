"""Vercel credentials: a user's access token (and the team it acts for), and the service's own
accounts, the ``vercel`` section of the platform secret."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, SecretStr, StringConstraints, field_validator

from sitedeploy.platforms.accounts import AccountPool, AccountToken, PoolAccount

TeamId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# The member id of a pool account without a team (the token's personal account).
PERSONAL = "personal"


def _blank_is_none(value: Any) -> Any:
    """The front end sends an unset field as ""; for a team that means the personal account."""
    return None if value == "" else value


class VercelToken(AccountToken):
    """A user's access token; ``teamId`` when it deploys into a team rather than the personal account."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    SCOPE_KEY: ClassVar[str] = "teamId"

    team_id: TeamId | None = Field(default=None, alias="teamId")

    _blank_team = field_validator("team_id", mode="before")(_blank_is_none)

    @property
    def scope(self) -> str | None:
        return self.team_id


class VercelServiceAccount(PoolAccount):
    """One of the service's Quick Deploy accounts (a team, or a token's personal account) and how
    many projects it may hold (Hobby: 200)."""

    token: SecretStr = Field(min_length=1)
    team_id: TeamId | None = Field(default=None, alias="teamId")
    project_limit: int = Field(default=200, alias="projectLimit", ge=1, le=100_000)
    # Names a personal account in the pool when there is more than one (a team is named by its id).
    member_id: TeamId | None = Field(default=None, alias="memberId")

    _blank_team = field_validator("team_id", "member_id", mode="before")(_blank_is_none)

    @property
    def id(self) -> str:
        return self.member_id or self.team_id or PERSONAL

    @property
    def acting_token(self) -> SecretStr:
        return self.token

    @property
    def scope(self) -> str | None:
        return self.team_id

    @property
    def capacity(self) -> int:
        return self.project_limit


class VercelServicePool(AccountPool[VercelServiceAccount]):
    """The ``vercel`` section of the platform secret: the accounts Quick Deploy places projects in,
    ``{"accounts": [{"token", "teamId": null, "projectLimit": 200}, ...], "projectPrefix": "sd"}``;
    the one-account form ``{"token", "teamId", "projectPrefix"}`` is a pool of one."""

    ONE_ACCOUNT_KEY: ClassVar[str] = "token"
    PREFIX_KEY: ClassVar[str] = "projectPrefix"
    DUPLICATE_MESSAGE: ClassVar[str | None] = (
        "two accounts are the same pool member: give each personal account its own memberId"
    )

    project_prefix: str = Field(default="sd", alias="projectPrefix", pattern=r"^[a-z0-9]{1,12}$")

    @property
    def prefix(self) -> str:
        return self.project_prefix
