"""The body of ``POST /deployments/cloudflare``: the common deploy request plus a user's token."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from sitedeploy.domain.naming import is_valid_label
from sitedeploy.domain.sitefiles import MIB
from sitedeploy.platforms.accounts import AccountToken, TokenDeployRequest, check_names
from sitedeploy.platforms.cloudflare.credentials import AccountId, CloudflareToken


class CloudflareDeployRequest(TokenDeployRequest):
    """User-token fields are an API token and its account; ``workerName`` (or the front end's
    ``projectId``, the same thing for Cloudflare) names an existing Worker of that account to update."""

    USER_TOKEN_FIELDS: ClassVar[frozenset[str]] = frozenset({"token", "accountId", "workerName", "projectId"})
    credentials_model: ClassVar[type[AccountToken]] = CloudflareToken
    # A Cloudflare token is scoped per account: without the account there is nothing to act on.
    SCOPE_REQUIRED: ClassVar[bool] = True

    account_id: AccountId | None = None
    worker_name: str | None = None
    project_id: str | None = None

    _max_file_bytes: int = 25 * MIB

    @model_validator(mode="after")
    def _check_worker_name(self) -> CloudflareDeployRequest:
        check_names(
            (("workerName", self.worker_name), ("projectId", self.project_id)),
            is_valid_label,
            "1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            "Workers",
        )
        return self

    @property
    def worker(self) -> str | None:
        return self.worker_name or self.project_id

    @property
    def scope(self) -> str | None:
        return self.account_id

    @property
    def existing_name(self) -> str | None:
        return self.worker
