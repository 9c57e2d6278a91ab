"""Accepting a deployment: stage the files, resolve the site, write the record, answer at once.

The record is written last, after the blobs and the manifest are in S3, so the stream record that
wakes the publisher always finds everything it needs; the publishing itself happens there, never
inside API Gateway's 30 s window."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import SecretStr

from sitedeploy import clock, connections, credentials, targets
from sitedeploy.deploy_requests import (
    AmplifyDeployRequest,
    CloudflareDeployRequest,
    DeployRequest,
    StagedFile,
)
from sitedeploy.errors import BadRequest, Conflict
from sitedeploy.models import AuthMode, DeploymentOptions, DeploymentRecord, DeployResponse, Platform
from sitedeploy.naming import derived_name, site_id, slug
from sitedeploy.observability import logger
from sitedeploy.platforms.amplify import AmplifyCredentials, AmplifyError, AmplifyPublisher, amplify_client
from sitedeploy.platforms.cloudflare import CloudflareApi, CloudflareError, CloudflarePublisher
from sitedeploy.records import DeploymentsRepository, new_deployment_id
from sitedeploy.settings import get_settings
from sitedeploy.sitefiles import ManifestEntry, SiteManifest, content_type
from sitedeploy.sites import SiteRecord, SitesRepository
from sitedeploy.staging import Staging

DAY = 24 * 3600
USER_WORKER_PREFIX = "sd"


@lru_cache(maxsize=1)
def _repositories() -> tuple[DeploymentsRepository, SitesRepository, Staging]:
    settings = get_settings()
    return (
        DeploymentsRepository(settings.deployments_table),
        SitesRepository(settings.deployments_table),
        Staging(settings.staging_bucket),
    )


@dataclass(frozen=True)
class CloudflareTargetPlan:
    account_id: str
    worker_name: str
    token: SecretStr


def _cloudflare_plan(owner_id: str, request: CloudflareDeployRequest) -> CloudflareTargetPlan:
    project = request.project()
    if request.auth_mode is AuthMode.USER_TOKEN:
        token, account_id = request.token, request.account_id
        if token is None:  # no inline secret: the stored connection, whole
            stored = _stored_connection(owner_id, Platform.CLOUDFLARE)
            token, account_id = SecretStr(str(stored["token"])), str(stored["accountId"])
        missing = [name for name, value in (("token", token), ("accountId", account_id)) if not value]
        if missing:
            raise BadRequest(f"user-token mode needs {' and '.join(missing)}", code="credentials_required")
        assert token is not None
        assert account_id is not None
        name = request.worker or derived_name(USER_WORKER_PREFIX, owner_id, project)
        return CloudflareTargetPlan(account_id, name, token)
    try:
        platform = credentials.platform_cloudflare()
    except credentials.CredentialsError as exc:
        logger.error("platform credentials unusable", extra={"reason": str(exc)})
        platform = None
    if platform is None:
        raise BadRequest(
            "Quick Deploy to Cloudflare is not available: the service has no Cloudflare credentials",
            code="platform_not_configured",
        )
    name = derived_name(platform.worker_prefix, owner_id, project)
    return CloudflareTargetPlan(platform.account_id, name, platform.api_token)


def _known_cloudflare_url(plan: CloudflareTargetPlan, existing: SiteRecord | None) -> str | None:
    """The site's stable URL for the 202 answer: from the site, else from the (cached) account
    subdomain. Not knowing it yet is fine: the publisher records it."""
    if existing and existing.url and existing.external_name == plan.worker_name:
        return existing.url
    api = CloudflareApi(plan.token, base_url=get_settings().cloudflare_api_base, attempts=2, timeout=3.0)
    try:
        subdomain = CloudflarePublisher(api).account_subdomain(plan.account_id)
    except CloudflareError as exc:
        logger.warning("workers.dev subdomain unknown at deploy time", extra={"reason": exc.message})
        return None
    return f"https://{plan.worker_name}.{subdomain}.workers.dev"


def stage_files(owner_id: str, files: list[StagedFile], staging: Staging) -> None:
    """Put the blobs this owner has not staged yet (content-addressed: unchanged files cost a HEAD)."""
    by_hash = {f.sha256: f for f in files}
    missing = staging.missing(owner_id, by_hash)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda h: staging.put_blob(owner_id, by_hash[h].data, h), sorted(missing)))


def manifest_of(files: list[StagedFile]) -> SiteManifest:
    return SiteManifest(
        files=[
            ManifestEntry(path=f.path, sha256=f.sha256, size=len(f.data), contentType=content_type(f.path))
            for f in sorted(files, key=lambda f: f.path)
        ]
    )


def site_manifest(owner_id: str, request: DeployRequest, staging: Staging, platform: Platform) -> SiteManifest:
    """Inline files are staged now; a manifest must name blobs this owner staged already (409)."""
    if not request.staged_manifest:
        files = request.staged_files
        stage_files(owner_id, files, staging)
        return manifest_of(files)
    sizes = staging.sizes(owner_id, request.staged_manifest.values())
    missing = sorted(sha for sha, size in sizes.items() if size is None)
    if missing:
        raise Conflict(
            f"{len(missing)} file(s) are not staged yet: upload them through /uploads first",
            code="blobs_missing",
            details={"missing": missing},
        )
    entries = []
    for path, sha256 in sorted(request.staged_manifest.items()):
        size = sizes[sha256] or 0
        if platform is Platform.CLOUDFLARE and size > request.max_file_bytes:
            raise BadRequest(
                f"file {path!r} is {size} bytes, over the limit of {request.max_file_bytes} bytes per file",
                code="validation_error",
            )
        entries.append(ManifestEntry(path=path, sha256=sha256, size=size, contentType=content_type(path)))
    manifest = SiteManifest(files=entries)
    if platform is Platform.AMPLIFY and manifest.total_bytes > get_settings().amplify_zip_limit_bytes:
        raise BadRequest(
            f"the site is {manifest.total_bytes} bytes, over the limit of "
            f"{get_settings().amplify_zip_limit_bytes} bytes",
            code="validation_error",
        )
    return manifest


def _prepare(owner_id: str, platform: Platform, request: DeployRequest) -> tuple[SiteManifest, SiteRecord | None]:
    """The files (staged now, or checked staged: 409) and the site as it stands, before any work
    on the platform — so a refused request leaves nothing behind there."""
    _, sites, staging = _repositories()
    manifest = site_manifest(owner_id, request, staging, platform)
    return manifest, sites.get_for_owner(site_id(owner_id, platform.value, request.project()), owner_id)


def create_cloudflare_deployment(owner_id: str, request: CloudflareDeployRequest) -> DeployResponse:
    plan = _cloudflare_plan(owner_id, request)
    manifest, existing = _prepare(owner_id, Platform.CLOUDFLARE, request)
    return _create(
        owner_id,
        Platform.CLOUDFLARE,
        request,
        manifest,
        external_name=plan.worker_name,
        account_id=plan.account_id,
        url=_known_cloudflare_url(plan, existing),
        sealed_payload=(
            {"token": plan.token.get_secret_value(), "accountId": plan.account_id}
            if request.auth_mode is AuthMode.USER_TOKEN
            else None
        ),
    )


def _stored_connection(owner_id: str, platform: Platform) -> dict[str, Any]:
    """The user's stored credentials for ``platform``; inline credentials take precedence upstream."""
    try:
        stored = connections.repository().secret(owner_id, platform)
    except credentials.CredentialsError:
        stored = None
    if stored is None:
        raise BadRequest(
            f"no {platform.value} credentials: connect your {platform.value} account first "
            f"(PUT /platform-tokens/{platform.value}) or send the credentials with the deploy",
            code="connection_required",
        )
    return stored


_app_domains: dict[str, str] = {}


def _amplify_url(publisher: AmplifyPublisher, app_id: str, branch: str) -> str:
    domain = _app_domains.get(app_id)
    if domain is None:
        domain = str(publisher.app(app_id).get("defaultDomain"))
        _app_domains[app_id] = domain
    return f"https://{branch}.{domain}"


def create_amplify_deployment(owner_id: str, request: AmplifyDeployRequest) -> DeployResponse:
    settings = get_settings()
    project = request.project()
    sealed_payload: dict[str, str] | None = None
    if request.auth_mode is AuthMode.USER_TOKEN:
        if not (request.access_key_id or request.secret_access_key):  # no inline keys: the stored connection
            stored = _stored_connection(owner_id, Platform.AMPLIFY)
            request = request.model_copy(
                update={
                    "access_key_id": stored["accessKeyId"],
                    "secret_access_key": SecretStr(str(stored["secretAccessKey"])),
                    "session_token": SecretStr(str(stored["sessionToken"])) if stored.get("sessionToken") else None,
                    "region": stored["region"],
                    "app_id": request.app or stored.get("appId"),
                    "project_id": None,
                }
            )
        needed = (
            ("accessKeyId", request.access_key_id),
            ("secretAccessKey", request.secret_access_key),
            ("region", request.region),
        )
        missing = [name for name, value in needed if not value]
        if missing:
            raise BadRequest(f"user-token mode needs {', '.join(missing)}", code="credentials_required")
        assert request.access_key_id
        assert request.secret_access_key
        assert request.region
        creds = AmplifyCredentials(
            request.region, request.access_key_id, request.secret_access_key, request.session_token
        )
        branch = derived_name(USER_WORKER_PREFIX, owner_id, project)
        sealed_payload = {
            "accessKeyId": request.access_key_id,
            "secretAccessKey": request.secret_access_key.get_secret_value(),
            "region": request.region,
        }
        if request.session_token:
            sealed_payload["sessionToken"] = request.session_token.get_secret_value()
        region = request.region
    else:
        if not settings.amplify_app_id:
            raise BadRequest(
                "Quick Deploy to Amplify is not available: the service has no Amplify app configured",
                code="platform_not_configured",
            )
        try:
            creds = targets.platform_amplify_credentials()
        except credentials.CredentialsError as exc:
            raise BadRequest(
                f"Quick Deploy to Amplify is not available: {exc}", code="platform_not_configured"
            ) from None
        branch = derived_name(_platform_prefix(), owner_id, project)
        region = creds.region
    publisher = AmplifyPublisher(amplify_client(creds))
    manifest, existing = _prepare(owner_id, Platform.AMPLIFY, request)
    try:
        if request.auth_mode is AuthMode.PLATFORM_MANAGED:
            app_id = settings.amplify_app_id
        elif request.app:
            app_id = request.app
        elif existing and existing.account_id:
            app_id = existing.account_id
        else:
            app_id = str(publisher.create_app(f"sitedeploy-{slug(project)}")["appId"])
        url = _amplify_url(publisher, app_id, branch)
    except AmplifyError as exc:
        raise BadRequest(f"Amplify refused: {exc.message}", code="platform_rejected") from None
    return _create(
        owner_id,
        Platform.AMPLIFY,
        request,
        manifest,
        external_name=branch,
        account_id=app_id,
        region=region,
        url=url,
        sealed_payload=sealed_payload,
    )


def _platform_prefix() -> str:
    try:
        platform = credentials.platform_cloudflare()
    except credentials.CredentialsError:
        platform = None
    return platform.worker_prefix if platform else USER_WORKER_PREFIX


def _create(
    owner_id: str,
    platform: Platform,
    request: DeployRequest,
    manifest: SiteManifest,
    *,
    external_name: str,
    account_id: str | None,
    url: str | None,
    sealed_payload: dict[str, str] | None,
    region: str | None = None,
) -> DeployResponse:
    deployments, sites, staging = _repositories()
    settings = get_settings()
    project = request.project()
    deployment_id = new_deployment_id()
    now = clock.now_iso()
    staging.put_manifest(deployment_id, manifest)

    the_site_id = site_id(owner_id, platform.value, project)
    managed = request.auth_mode is AuthMode.PLATFORM_MANAGED
    site = sites.record_deploy(
        SiteRecord(
            site_id=the_site_id,
            owner_id=owner_id,
            platform=platform,
            project_name=project,
            auth_mode=request.auth_mode,
            external_name=external_name,
            account_id=account_id,
            region=region,
            url=url,
            last_deployment_id=deployment_id,
            created_at=now,
            updated_at=now,
            expires_at=clock.epoch_seconds() + settings.site_ttl_days * DAY if managed else None,
        )
    )
    sealed = None
    if sealed_payload is not None:
        sealed = credentials.seal(
            {"platform": platform.value, **sealed_payload},
            credentials.deployment_context(deployment_id, owner_id),
        )
    record = DeploymentRecord(
        deployment_id=deployment_id,
        owner_id=owner_id,
        chat_id=request.chat_id,
        project_name=project,
        site_id=site.site_id,
        platform=platform,
        auth_mode=request.auth_mode,
        url=site.url,
        external_project_id=external_name if platform is Platform.CLOUDFLARE else f"{account_id}/{external_name}",
        file_count=len(manifest.files),
        total_size_bytes=manifest.total_bytes,
        created_at=now,
        updated_at=now,
        expires_at=clock.epoch_seconds() + settings.history_retention_days * DAY,
        options=DeploymentOptions(spa=request.spa, html_handling=request.html_handling),
        sealed_credentials=sealed,
    )
    deployments.create(record)
    logger.info(
        "deployment accepted",
        extra={
            "deployment_id": deployment_id,
            "status": record.status.value,
            "platform": platform.value,
            "auth_mode": request.auth_mode.value,
            "site_id": site.site_id,
            "files": len(manifest.files),
            "bytes": manifest.total_bytes,
        },
    )
    return DeployResponse(
        deployment_id=deployment_id,
        status=record.status,
        url=site.url,
        status_url=f"/deployments/{deployment_id}",
        site_id=site.site_id,
    )
