"""The body of ``POST /deployments/cloudflare``: the common deploy request plus a user's token."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.naming import is_valid_label
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.domain.sitefiles import MIB
from sitedeploy.platforms.cloudflare.credentials import AccountId, CloudflareToken


class CloudflareDeployRequest(DeployRequest):
    """User-token fields are an API token and its account; ``workerName`` (or the front end's
    ``projectId``, the same thing for Cloudflare) names an existing Worker of that account to update."""

    USER_TOKEN_FIELDS: ClassVar[frozenset[str]] = frozenset({"token", "accountId", "workerName", "projectId"})

    token: SecretStr | None = Field(default=None, min_length=1, max_length=400)
    account_id: AccountId | None = None
    worker_name: str | None = None
    project_id: str | None = None

    _max_file_bytes: int = 25 * MIB

    @model_validator(mode="after")
    def _check_worker_name(self) -> CloudflareDeployRequest:
        for field_name, value in (("workerName", self.worker_name), ("projectId", self.project_id)):
            if value is not None and not is_valid_label(value):
                raise ValueError(
                    f"{field_name} must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
                )
        if self.worker_name and self.project_id and self.worker_name != self.project_id:
            raise ValueError("workerName and projectId name different Workers")
        return self

    @property
    def worker(self) -> str | None:
        return self.worker_name or self.project_id

    def inline_credentials(self) -> CloudflareToken | None:
        """The token sent with the request; without one the stored connection is used, whole."""
        if self.token is None:
            return None
        if not self.account_id:
            raise BadRequest("user-token mode needs accountId", code="credentials_required")
        return CloudflareToken.model_validate({"token": self.token, "accountId": self.account_id})
