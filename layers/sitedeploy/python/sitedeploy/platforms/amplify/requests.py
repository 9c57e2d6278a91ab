"""The body of ``POST /deployments/amplify``: the common deploy request plus a user's AWS keys."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.platforms.amplify.credentials import AccessKeyId, AmplifyAppId, AmplifyKeys, AwsRegion


class AmplifyDeployRequest(DeployRequest):
    """User-token fields are AWS keys; ``appId`` (the front end's ``projectId``) names the app."""

    USER_TOKEN_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"accessKeyId", "secretAccessKey", "sessionToken", "region", "appId", "projectId"}
    )

    access_key_id: AccessKeyId | None = None
    secret_access_key: SecretStr | None = Field(default=None, min_length=1, max_length=256)
    session_token: SecretStr | None = Field(default=None, min_length=1, max_length=4096)
    region: AwsRegion | None = None
    app_id: AmplifyAppId | None = None
    project_id: AmplifyAppId | None = None

    @model_validator(mode="after")
    def _one_app_id(self) -> AmplifyDeployRequest:
        if self.app_id and self.project_id and self.app_id != self.project_id:
            raise ValueError("appId and projectId name different apps")
        return self

    @property
    def app(self) -> str | None:
        return self.app_id or self.project_id

    def inline_credentials(self) -> AmplifyKeys | None:
        """The keys sent with the request; with no key at all (a region alone is the front end's
        store default) the stored connection is used."""
        if not (self.access_key_id or self.secret_access_key):
            return None
        needed = (
            ("accessKeyId", self.access_key_id),
            ("secretAccessKey", self.secret_access_key),
            ("region", self.region),
        )
        missing = [name for name, value in needed if not value]
        if missing:
            raise BadRequest(f"user-token mode needs {', '.join(missing)}", code="credentials_required")
        return AmplifyKeys.model_validate(
            {
                "accessKeyId": self.access_key_id,
                "secretAccessKey": self.secret_access_key,
                "sessionToken": self.session_token,
                "region": self.region,
            }
        )
