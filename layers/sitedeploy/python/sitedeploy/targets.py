"""Where a deployment goes and with which credentials, for whoever acts on it after the request:
the publisher, the status poller, the sweeper and the reaper. Users' credentials come from the
deployment's sealed copy; the service's from Secrets Manager (Cloudflare) or the IAM role (Amplify)."""

from __future__ import annotations

import os
from typing import Any

from pydantic import SecretStr

from sitedeploy import credentials
from sitedeploy.credentials import CredentialsError
from sitedeploy.models import AuthMode, DeploymentRecord
from sitedeploy.platforms.amplify import AmplifyCredentials, AmplifyTarget
from sitedeploy.platforms.cloudflare import CloudflareTarget


def unsealed(record: DeploymentRecord) -> dict[str, Any]:
    if not record.sealed_credentials:
        raise CredentialsError("the deployment no longer carries its credentials")
    return credentials.unseal(
        record.sealed_credentials, credentials.deployment_context(record.deployment_id, record.owner_id)
    )


def cloudflare_target(record: DeploymentRecord) -> CloudflareTarget:
    name = record.external_project_id or ""
    if record.auth_mode is AuthMode.USER_TOKEN:
        sealed = unsealed(record)
        return CloudflareTarget(str(sealed["accountId"]), name, SecretStr(str(sealed["token"])))
    platform = credentials.platform_cloudflare()
    if platform is None:
        raise CredentialsError("the service has no Cloudflare credentials")
    return CloudflareTarget(platform.account_id, name, platform.api_token)


def function_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def platform_amplify_credentials() -> AmplifyCredentials:
    """The IAM role, unless the secret carries keys (a cross-account platform app)."""
    secret = credentials.platform_secret().amplify
    region = (secret.region if secret else None) or function_region()
    if secret and secret.access_key_id and secret.secret_access_key:
        return AmplifyCredentials(region, secret.access_key_id, secret.secret_access_key, secret.session_token)
    return AmplifyCredentials(region)


def amplify_target(record: DeploymentRecord) -> tuple[AmplifyTarget, AmplifyCredentials]:
    app_id, _, branch = (record.external_project_id or "").partition("/")
    if not app_id or not branch:
        raise CredentialsError("the deployment does not name its Amplify app and branch")
    target = AmplifyTarget(app_id, branch)
    if record.auth_mode is AuthMode.USER_TOKEN:
        sealed = unsealed(record)
        token = sealed.get("sessionToken")
        return target, AmplifyCredentials(
            str(sealed["region"]),
            str(sealed["accessKeyId"]),
            SecretStr(str(sealed["secretAccessKey"])),
            SecretStr(str(token)) if token else None,
        )
    return target, platform_amplify_credentials()
