"""Vercel credentials: a user's access token (and the team it acts for), and the service's own
accounts, the ``vercel`` section of the platform secret."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

from sitedeploy.platforms.base import UserCredentials

TeamId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# The member id of a pool account without a team (the token's personal account).
PERSONAL = "personal"


def _blank_is_none(value: Any) -> Any:
    """The front end sends an unset field as ""; for a team that means the personal account."""
    return None if value == "" else value


class VercelToken(UserCredentials):
    """A user's access token; ``teamId`` when it deploys into a team rather than the personal account."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    token: SecretStr = Field(min_length=1, max_length=400)
    team_id: TeamId | None = Field(default=None, alias="teamId")

    _blank_team = field_validator("team_id", mode="before")(_blank_is_none)

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"token": self.token.get_secret_value()}
        if self.team_id is not None:
            out["teamId"] = self.team_id
        return out


class VercelServiceAccount(BaseModel):
    """One of the service's Quick Deploy accounts (a team, or a token's personal account) and how
    many projects it may hold (Hobby: 200)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    token: SecretStr = Field(min_length=1)
    team_id: TeamId | None = Field(default=None, alias="teamId")
    project_limit: int = Field(default=200, alias="projectLimit", ge=1, le=100_000)
    # Names a personal account in the pool when there is more than one (a team is named by its id).
    member_id: TeamId | None = Field(default=None, alias="memberId")

    _blank_team = field_validator("team_id", "member_id", mode="before")(_blank_is_none)

    @property
    def id(self) -> str:
        """The pool member id, stable across deploys: what ``SiteAddress.account_id`` records."""
        return self.member_id or self.team_id or PERSONAL


class VercelServicePool(BaseModel):
    """The ``vercel`` section of the platform secret: the accounts Quick Deploy places projects in,
    ``{"accounts": [{"token", "teamId": null, "projectLimit": 200}, ...], "projectPrefix": "sd"}``;
    the one-account form ``{"token", "teamId", "projectPrefix"}`` is a pool of one."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    accounts: tuple[VercelServiceAccount, ...] = Field(min_length=1)
    project_prefix: str = Field(default="sd", alias="projectPrefix", pattern=r"^[a-z0-9]{1,12}$")

    @model_validator(mode="before")
    @classmethod
    def _one_account_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "accounts" not in data and "token" in data:
            return {"accounts": [data], "projectPrefix": data.get("projectPrefix", "sd")}
        return data

    @model_validator(mode="after")
    def _distinct_members(self) -> VercelServicePool:
        ids = [a.id for a in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("two accounts are the same pool member: give each personal account its own memberId")
        return self

    def account(self, member_id: str | None) -> VercelServiceAccount | None:
        return next((a for a in self.accounts if a.id == member_id), None)
