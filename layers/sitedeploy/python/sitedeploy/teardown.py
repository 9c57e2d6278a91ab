"""Tearing a site down on its platform: the Worker script or the Amplify branch.

"Already gone" is success — the point is that it is gone. Platform-managed sites use the service's
credentials; a user's site uses the user's stored connection, since deployments keep users'
credentials only while they are in flight."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from sitedeploy import connections, credentials, targets
from sitedeploy.credentials import CredentialsError
from sitedeploy.errors import BadRequest
from sitedeploy.models import AuthMode, Platform
from sitedeploy.platforms.amplify import AmplifyCredentials, AmplifyPublisher, AmplifyTarget, amplify_client
from sitedeploy.platforms.cloudflare import CloudflareApi, CloudflarePublisher, CloudflareTarget
from sitedeploy.settings import get_settings
from sitedeploy.sites import SiteRecord


def _user_secret(site: SiteRecord) -> dict[str, Any]:
    stored = connections.repository().secret(site.owner_id, site.platform)
    if stored is None:
        raise BadRequest(
            f"deleting a site on your own {site.platform.value} account needs your connection: "
            f"connect it first (PUT /platform-tokens/{site.platform.value})",
            code="connection_required",
        )
    return stored


def tear_down(site: SiteRecord) -> bool:
    """Delete the site on its platform; False when it was already gone."""
    settings = get_settings()
    if site.platform is Platform.CLOUDFLARE:
        if site.auth_mode is AuthMode.USER_TOKEN:
            stored = _user_secret(site)
            token, account = SecretStr(str(stored["token"])), str(stored["accountId"])
        else:
            platform = credentials.platform_cloudflare()
            if platform is None:
                raise CredentialsError("the service has no Cloudflare credentials")
            token, account = platform.api_token, site.account_id or platform.account_id
        api = CloudflareApi(
            token,
            base_url=settings.cloudflare_api_base,
            backoff=settings.retry_backoff_seconds,
            retry_after_cap=settings.retry_after_cap_seconds,
        )
        return CloudflarePublisher(api).delete(CloudflareTarget(account, site.external_name, token))
    if site.platform is Platform.AMPLIFY:
        if site.auth_mode is AuthMode.USER_TOKEN:
            stored = _user_secret(site)
            creds = AmplifyCredentials(
                str(stored["region"]),
                str(stored["accessKeyId"]),
                SecretStr(str(stored["secretAccessKey"])),
                SecretStr(str(stored["sessionToken"])) if stored.get("sessionToken") else None,
            )
        else:
            creds = targets.platform_amplify_credentials()
        app_id = site.account_id or settings.amplify_app_id
        publisher = AmplifyPublisher(amplify_client(creds), backoff=settings.retry_backoff_seconds)
        return publisher.delete_branch(AmplifyTarget(app_id, site.external_name))
    raise BadRequest(f"{site.platform.value} sites are not supported", code="unsupported_platform")
