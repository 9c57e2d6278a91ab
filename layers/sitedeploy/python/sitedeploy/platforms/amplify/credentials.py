"""Amplify credentials: a user's AWS keys, the service's section of the platform secret, and
``AmplifyAccess``, what a boto3 client is made from (explicit keys, or the function's IAM role)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from sitedeploy.platforms.base import UserCredentials

AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
AmplifyAppId = Annotated[str, StringConstraints(pattern=r"^d[a-z0-9]{5,20}$")]
AccessKeyId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{16,128}$")]


@dataclass(frozen=True)
class AmplifyAccess:
    """Where and as whom a client acts: explicit keys, or (none given) the function's IAM role."""

    region: str
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = field(default=None, repr=False)
    session_token: SecretStr | None = field(default=None, repr=False)


class AmplifyKeys(UserCredentials):
    """A user's AWS keys and region, and optionally the Amplify app to deploy to."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    access_key_id: AccessKeyId = Field(alias="accessKeyId")
    secret_access_key: SecretStr = Field(alias="secretAccessKey", min_length=1, max_length=256)
    session_token: SecretStr | None = Field(default=None, alias="sessionToken", min_length=1, max_length=4096)
    region: AwsRegion
    app_id: AmplifyAppId | None = Field(default=None, alias="appId")

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accessKeyId": self.access_key_id,
            "secretAccessKey": self.secret_access_key.get_secret_value(),
            "region": self.region,
        }
        if self.session_token:
            out["sessionToken"] = self.session_token.get_secret_value()
        if self.app_id:
            out["appId"] = self.app_id
        return out

    @property
    def access(self) -> AmplifyAccess:
        return AmplifyAccess(self.region, self.access_key_id, self.secret_access_key, self.session_token)


class AmplifyServiceSecret(BaseModel):
    """The ``amplify`` section of the platform secret. Keys are optional (a cross-account platform
    app); without them the function's IAM role reaches the app."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, defer_build=True)

    access_key_id: str | None = Field(default=None, alias="accessKeyId")
    secret_access_key: SecretStr | None = Field(default=None, alias="secretAccessKey")
    session_token: SecretStr | None = Field(default=None, alias="sessionToken")
    region: str | None = None
    branch_prefix: str = Field(default="sd", alias="branchPrefix", pattern=r"^[a-z0-9]{1,12}$")

    def access(self, default_region: str) -> AmplifyAccess:
        region = self.region or default_region
        if self.access_key_id and self.secret_access_key:
            return AmplifyAccess(region, self.access_key_id, self.secret_access_key, self.session_token)
        return AmplifyAccess(region)
