"""Platform credentials: the service's own (Secrets Manager, cached) and users' (sealed with KMS).

Secrets live in pydantic ``SecretStr`` from the moment they are read, so a repr, a log line or an
error message shows ``**********`` instead of a token. Users' credentials are stored only as KMS
ciphertext bound to an encryption context (the deployment and its owner, or the owner and the
platform), so a ciphertext copied onto another item does not decrypt."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from sitedeploy import aws
from sitedeploy.settings import get_settings

SECRET_CACHE_SECONDS = 300


class CredentialsError(Exception):
    """Credentials are missing, malformed or do not decrypt; the message never carries a secret."""


class CloudflareCredentials(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    api_token: SecretStr = Field(alias="apiToken", min_length=1)
    account_id: str = Field(alias="accountId", pattern=r"^[0-9a-f]{32}$|^[A-Za-z0-9_-]{1,64}$")
    worker_prefix: str = Field(default="sd", alias="workerPrefix", pattern=r"^[a-z0-9]{1,12}$")


class AmplifyCredentials(BaseModel):
    """Optional keys; without them the function's IAM role is the credential."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    access_key_id: str | None = Field(default=None, alias="accessKeyId")
    secret_access_key: SecretStr | None = Field(default=None, alias="secretAccessKey")
    session_token: SecretStr | None = Field(default=None, alias="sessionToken")
    region: str | None = None
    app_id: str | None = Field(default=None, alias="appId")


class PlatformSecret(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    cloudflare: CloudflareCredentials | None = None
    amplify: AmplifyCredentials | None = None


def platform_secret(*, force_fetch: bool = False) -> PlatformSecret:
    """The service's own credentials, cached for a few minutes across invocations."""
    name = get_settings().platform_credentials_secret
    if not name:
        return PlatformSecret()
    try:
        raw: Any = parameters.get_secret(name, transform="json", max_age=SECRET_CACHE_SECONDS, force_fetch=force_fetch)
    except parameters.exceptions.GetParameterError:
        raise CredentialsError("the platform credentials secret cannot be read") from None
    except parameters.exceptions.TransformParameterError:
        raise CredentialsError("the platform credentials secret is not JSON") from None
    if not isinstance(raw, dict):
        raise CredentialsError("the platform credentials secret is not a JSON object")
    try:
        return PlatformSecret.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise CredentialsError(f"the platform credentials secret is malformed at {fields}") from None


def platform_cloudflare() -> CloudflareCredentials | None:
    return platform_secret().cloudflare


# -- sealing ---------------------------------------------------------------------------------------


def seal(payload: dict[str, Any], context: dict[str, str], *, key_id: str | None = None) -> str:
    """KMS-encrypt a small JSON payload under ``context``; returns base64 ciphertext."""
    key = key_id or get_settings().user_tokens_key_id
    if not key:
        raise CredentialsError("no KMS key is configured for user credentials")
    answer = aws.client("kms").encrypt(KeyId=key, Plaintext=json.dumps(payload).encode(), EncryptionContext=context)
    return base64.b64encode(answer["CiphertextBlob"]).decode()


def unseal(ciphertext: str, context: dict[str, str]) -> dict[str, Any]:
    """Decrypt what ``seal`` made; a different context (another owner, deployment or platform) fails."""
    try:
        answer = aws.client("kms").decrypt(CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext=context)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise CredentialsError(f"sealed credentials do not decrypt ({code})") from None
    except ValueError:
        raise CredentialsError("sealed credentials are not valid base64") from None
    data = json.loads(answer["Plaintext"])
    if not isinstance(data, dict):
        raise CredentialsError("sealed credentials are malformed")
    return data


def deployment_context(deployment_id: str, owner_id: str) -> dict[str, str]:
    return {"deploymentId": deployment_id, "ownerId": owner_id}
