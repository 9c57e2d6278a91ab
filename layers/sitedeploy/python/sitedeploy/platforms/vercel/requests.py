"""The body of ``POST /deployments/vercel``: the common deploy request plus a user's token."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import field_validator

from sitedeploy.domain.sitefiles import MIB
from sitedeploy.platforms.accounts import AccountToken, TokenDeployRequest
from sitedeploy.platforms.vercel.credentials import TeamId, VercelToken

# Vercel's rule for project names: up to 100 of lowercase a-z, 0-9, '.', '_', '-', never '---';
# and not dots alone, which would name a path segment ("." and "..") rather than a project.
PROJECT_NAME = re.compile(r"^(?!.*---)(?!\.+$)[a-z0-9._-]{1,100}$")
# Vercel's limit on one source file uploaded by the CLI (Hobby; Pro allows more).
MAX_FILE_BYTES = 100 * MIB


def is_project_name(name: str) -> bool:
    return bool(PROJECT_NAME.match(name))


class VercelDeployRequest(TokenDeployRequest):
    """User-token fields are an access token and its team; ``projectId`` names an existing project
    of that scope to deploy to."""

    USER_TOKEN_FIELDS: ClassVar[frozenset[str]] = frozenset({"token", "teamId", "projectId"})
    credentials_model: ClassVar[type[AccountToken]] = VercelToken

    team_id: TeamId | None = None
    project_id: str | None = None

    _max_file_bytes: int = MAX_FILE_BYTES

    @field_validator("project_id")
    @classmethod
    def _check_project(cls, value: str | None) -> str | None:
        if value is not None and not is_project_name(value):
            raise ValueError("projectId must be 1-100 characters of a-z, 0-9, '.', '_' and '-', without '---'")
        return value

    @property
    def scope(self) -> str | None:
        return self.team_id

    @property
    def existing_name(self) -> str | None:
        return self.project_id
