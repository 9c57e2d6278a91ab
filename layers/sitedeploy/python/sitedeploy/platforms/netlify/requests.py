"""The body of ``POST /deployments/netlify``: the common deploy request plus a user's token."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from sitedeploy.domain.sitefiles import MIB
from sitedeploy.platforms.accounts import AccountToken, TokenDeployRequest, check_names
from sitedeploy.platforms.netlify.credentials import AccountSlug, NetlifyToken
from sitedeploy.platforms.netlify.routing import is_valid_site_name

# Netlify documents no per-file bound for API deploys; 100 MiB keeps one upload within a Lambda's
# time and /tmp (a file over 8 MiB is spooled to disk so a retry can send it again).
MAX_FILE_BYTES = 100 * MIB


class NetlifyDeployRequest(TokenDeployRequest):
    """User-token fields are a personal access token and its team; ``siteId`` (or the front end's
    ``projectId``, the same thing for Netlify) names an existing site of that token to update."""

    USER_TOKEN_FIELDS: ClassVar[frozenset[str]] = frozenset({"token", "accountSlug", "siteId", "projectId"})
    credentials_model: ClassVar[type[AccountToken]] = NetlifyToken

    account_slug: AccountSlug | None = None
    site_id: str | None = None
    project_id: str | None = None

    _max_file_bytes: int = MAX_FILE_BYTES

    @model_validator(mode="after")
    def _check_site_name(self) -> NetlifyDeployRequest:
        check_names(
            (("siteId", self.site_id), ("projectId", self.project_id)),
            is_valid_site_name,
            "a Netlify site name: 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            "sites",
        )
        return self

    @property
    def site(self) -> str | None:
        return self.site_id or self.project_id

    @property
    def scope(self) -> str | None:
        return self.account_slug

    @property
    def existing_name(self) -> str | None:
        return self.site
