"""Checking credentials with the platform before anything is stored, and the settings tab's views
(stats, and what the Deploy button may offer). Failures are the caller's credentials being wrong,
so they answer 400 ``credentials_rejected`` — not 401, which would read as the user's session
being invalid."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sitedeploy import clock, credentials
from sitedeploy.connections import AmplifySecret, CloudflareSecret, Connection, repository
from sitedeploy.errors import BadRequest
from sitedeploy.models import CamelModel, Platform
from sitedeploy.platforms.amplify import AmplifyCredentials, amplify_client
from sitedeploy.platforms.cloudflare import CloudflareApi, CloudflareError
from sitedeploy.settings import get_settings

_FAST = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=10)


class CredentialsRejected(BadRequest):
    code = "credentials_rejected"


class PlatformAvailability(CamelModel):
    platform: Platform
    quick_deploy: bool
    connected: bool
    connection: Connection | None = None


class PlatformsOverview(CamelModel):
    platforms: list[PlatformAvailability]


class WorkerSummary(CamelModel):
    name: str
    modified_on: str | None = None
    has_assets: bool = False


class AppSummary(CamelModel):
    app_id: str
    name: str
    default_domain: str | None = None


class PlatformStats(CamelModel):
    platform: Platform
    workers: list[WorkerSummary] | None = None
    apps: list[AppSummary] | None = None


def _cloudflare_api(secret: CloudflareSecret) -> CloudflareApi:
    return CloudflareApi(secret.token, base_url=get_settings().cloudflare_api_base, attempts=2, timeout=10.0)


def verify_cloudflare(secret: CloudflareSecret) -> Connection:
    api = _cloudflare_api(secret)
    try:
        _, verified = api.call("GET", "/user/tokens/verify", what="verifying the token")
        if not isinstance(verified, dict) or verified.get("status") != "active":
            raise CredentialsRejected("Cloudflare says the token is not active")
        _, account = api.call("GET", f"/accounts/{secret.account_id}", what="reading the account")
    except CloudflareError as exc:
        raise CredentialsRejected(f"Cloudflare refused the credentials: {exc.message}") from None
    name = account.get("name") if isinstance(account, dict) else None
    now = clock.now_iso()
    return Connection(
        platform=Platform.CLOUDFLARE, account_id=secret.account_id, account_name=name, created_at=now, updated_at=now
    )


def _aws_session(secret: AmplifySecret) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=secret.access_key_id,
        aws_secret_access_key=secret.secret_access_key.get_secret_value(),
        aws_session_token=secret.session_token.get_secret_value() if secret.session_token else None,
        region_name=secret.region,
    )


def _amplify(secret: AmplifySecret) -> Any:
    return amplify_client(
        AmplifyCredentials(secret.region, secret.access_key_id, secret.secret_access_key, secret.session_token)
    )


def verify_amplify(secret: AmplifySecret) -> Connection:
    """Who the keys belong to (STS), and that they reach Amplify: the app when named, else a listing."""
    try:
        identity = _aws_session(secret).client("sts", config=_FAST).get_caller_identity()
        client = _amplify(secret)
        if secret.app_id:
            app = client.get_app(appId=secret.app_id)["app"]
            name = str(app.get("name"))
        else:
            client.list_apps(maxResults=1)
            name = None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CredentialsRejected(
            f"AWS refused the credentials: {error.get('Message') or error.get('Code')} ({error.get('Code')})"
        ) from None
    except BotoCoreError as exc:
        raise CredentialsRejected(f"AWS could not be reached with these credentials: {type(exc).__name__}") from None
    now = clock.now_iso()
    return Connection(
        platform=Platform.AMPLIFY,
        account_id=str(identity.get("Account")),
        account_name=name,
        app_id=secret.app_id,
        region=secret.region,
        created_at=now,
        updated_at=now,
    )


def verify(platform: Platform, secret: CloudflareSecret | AmplifySecret) -> Connection:
    if platform is Platform.CLOUDFLARE and isinstance(secret, CloudflareSecret):
        return verify_cloudflare(secret)
    if platform is Platform.AMPLIFY and isinstance(secret, AmplifySecret):
        return verify_amplify(secret)
    raise BadRequest(f"{platform.value} connections are not supported", code="unsupported_platform")


def overview(owner_id: str) -> PlatformsOverview:
    """What the Deploy button can offer: Quick Deploy where the service is configured, and the
    user's own connection where one is stored."""
    try:
        secret = credentials.platform_secret()
        cloudflare_managed = secret.cloudflare is not None
    except credentials.CredentialsError:
        cloudflare_managed = False
    connections = {c.platform: c for c in repository().list(owner_id)}
    available = {Platform.CLOUDFLARE: cloudflare_managed, Platform.AMPLIFY: bool(get_settings().amplify_app_id)}
    return PlatformsOverview(
        platforms=[
            PlatformAvailability(
                platform=platform,
                quick_deploy=quick,
                connected=platform in connections,
                connection=connections.get(platform),
            )
            for platform, quick in available.items()
        ]
    )


def stats(owner_id: str, platform: Platform) -> PlatformStats:
    """The settings tab's list, with the caller's stored credentials."""
    stored = repository().secret(owner_id, platform)
    if stored is None:
        raise BadRequest(
            f"no {platform.value} connection: connect it first with PUT /platform-tokens/{platform.value}",
            code="connection_required",
        )
    if platform is Platform.CLOUDFLARE:
        secret = CloudflareSecret.model_validate(stored)
        try:
            _, scripts = _cloudflare_api(secret).call(
                "GET", f"/accounts/{secret.account_id}/workers/scripts", what="listing Workers"
            )
        except CloudflareError as exc:
            raise CredentialsRejected(f"Cloudflare refused: {exc.message}") from None
        workers = [
            WorkerSummary(name=str(s.get("id")), modified_on=s.get("modified_on"), has_assets=bool(s.get("has_assets")))
            for s in (scripts or [])
            if isinstance(s, dict)
        ]
        return PlatformStats(platform=platform, workers=workers)
    secret_a = AmplifySecret.model_validate(stored)
    try:
        pages = _amplify(secret_a).get_paginator("list_apps").paginate(PaginationConfig={"MaxItems": 100})
        apps = [
            AppSummary(app_id=a["appId"], name=a["name"], default_domain=a.get("defaultDomain"))
            for page in pages
            for a in page.get("apps", [])
        ]
    except (ClientError, BotoCoreError) as exc:
        raise CredentialsRejected(f"AWS refused: {exc}") from None
    return PlatformStats(platform=platform, apps=apps)
