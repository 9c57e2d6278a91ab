"""Accepting a deployment: check everything, stage the files, write the record, answer at once.

The order is what keeps a refused request from leaving anything behind: the credentials, the
files (a manifest's blobs must be staged: 409), the site as it stands and the platform's plan come
first; inline files are staged and the records written only once all of that holds. The record is
written last, after the blobs and the manifest are in S3, so the stream record that wakes the
publisher always finds everything it needs; the publishing itself happens there, never inside API
Gateway's 30 s window."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pydantic import ValidationError

from sitedeploy.domain import clock
from sitedeploy.domain.errors import BadRequest, Conflict
from sitedeploy.domain.models import (
    AuthMode,
    DeploymentOptions,
    DeploymentRecord,
    DeployResponse,
    Platform,
    SiteRecord,
)
from sitedeploy.domain.naming import site_id
from sitedeploy.domain.requests import DeployRequest, StagedFile
from sitedeploy.domain.sitefiles import ManifestEntry, SiteManifest, content_type
from sitedeploy.observability import logger
from sitedeploy.platforms.base import DeployPlan, HostingPlatform, PlatformLimits, UserCredentials
from sitedeploy.services import Services
from sitedeploy.stores import BlobStore
from sitedeploy.stores.deployments import new_deployment_id
from sitedeploy.stores.idempotency import deploy_once
from sitedeploy.stores.secrets import CredentialsError, deployment_context

DAY = 24 * 3600


def deploy(
    services: Services, platform: Platform, owner_id: str, request: DeployRequest, idempotency_key: str | None
) -> DeployResponse:
    """Accept once per Idempotency-Key (a retry gets the first answer), else every time."""
    return deploy_once(
        services.stores.idempotency,
        owner_id,
        platform,
        idempotency_key,
        request,
        accept=lambda: accept(services, platform, owner_id, request),
    )


def accept(services: Services, platform: Platform, owner_id: str, request: DeployRequest) -> DeployResponse:
    hosting = services.platforms.get(platform)
    credentials = user_credentials(services, hosting, owner_id, request)
    manifest = checked_manifest(services.stores.staging, owner_id, request, hosting.limits)
    the_site_id = site_id(owner_id, platform.value, request.project())
    existing = services.stores.sites.get_for_owner(the_site_id, owner_id)
    plan = hosting.plan(owner_id, request, credentials, existing)
    stage_files(owner_id, request.staged_files, services.stores.staging)
    return _create(services, platform, owner_id, request, manifest, plan=plan, credentials=credentials)


def user_credentials(
    services: Services, hosting: HostingPlatform, owner_id: str, request: DeployRequest
) -> UserCredentials | None:
    """The user's credentials in user-token mode: sent with the request, else the stored
    connection; None in platform-managed mode (the platform acts with the service's account)."""
    if request.auth_mode is AuthMode.PLATFORM_MANAGED:
        return None
    inline = request.inline_credentials()
    if inline is not None:
        assert isinstance(inline, UserCredentials)
        return inline
    name = hosting.platform.value
    try:
        stored = services.stores.connections.secret(owner_id, hosting.platform)
    except CredentialsError:
        stored = None
    if stored is None:
        raise BadRequest(
            f"no {name} credentials: connect your {name} account first "
            f"(PUT /platform-tokens/{name}) or send the credentials with the deploy",
            code="connection_required",
        )
    try:
        return hosting.credentials_model.model_validate(stored)
    except ValidationError:
        raise BadRequest(
            f"your stored {name} connection is no longer usable: connect it again (PUT /platform-tokens/{name})",
            code="connection_required",
        ) from None


def stage_files(owner_id: str, files: list[StagedFile], staging: BlobStore) -> None:
    """Put the blobs this owner has not staged yet (content-addressed: unchanged files cost nothing)."""
    if not files:
        return
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


def checked_manifest(staging: BlobStore, owner_id: str, request: DeployRequest, limits: PlatformLimits) -> SiteManifest:
    """The site's manifest, within the platform's limits. Inline files were decoded and bounded by
    the request; a manifest must name blobs this owner staged already (409 lists the missing)."""
    if not request.staged_manifest:
        manifest = manifest_of(request.staged_files)
    else:
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
            if size > limits.max_file_bytes:
                raise BadRequest(
                    f"file {path!r} is {size} bytes, over the limit of {limits.max_file_bytes} bytes per file",
                    code="validation_error",
                )
            entries.append(ManifestEntry(path=path, sha256=sha256, size=size, contentType=content_type(path)))
        manifest = SiteManifest(files=entries)
    if limits.max_site_bytes is not None and manifest.total_bytes > limits.max_site_bytes:
        raise BadRequest(
            f"the site is {manifest.total_bytes} bytes, over the limit of {limits.max_site_bytes} bytes",
            code="validation_error",
        )
    return manifest


def _create(
    services: Services,
    platform: Platform,
    owner_id: str,
    request: DeployRequest,
    manifest: SiteManifest,
    *,
    plan: DeployPlan,
    credentials: UserCredentials | None,
) -> DeployResponse:
    stores, settings = services.stores, services.settings
    project = request.project()
    deployment_id = new_deployment_id()
    now = clock.now_iso()
    stores.staging.put_manifest(deployment_id, manifest)

    managed = request.auth_mode is AuthMode.PLATFORM_MANAGED
    address = plan.address
    site = stores.sites.record_deploy(
        SiteRecord(
            site_id=site_id(owner_id, platform.value, project),
            owner_id=owner_id,
            platform=platform,
            project_name=project,
            auth_mode=request.auth_mode,
            external_name=address.name,
            account_id=address.account_id,
            region=address.region,
            url=plan.url,
            last_deployment_id=deployment_id,
            created_at=now,
            updated_at=now,
            expires_at=clock.epoch_seconds() + settings.site_ttl_days * DAY if managed else None,
        )
    )
    sealed = None
    if credentials is not None:
        sealed = stores.sealer.seal(
            {"platform": platform.value, **credentials.payload()}, deployment_context(deployment_id, owner_id)
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
        account_id=address.account_id,
        external_name=address.name,
        region=address.region,
        file_count=len(manifest.files),
        total_size_bytes=manifest.total_bytes,
        created_at=now,
        updated_at=now,
        expires_at=clock.epoch_seconds() + settings.history_retention_days * DAY,
        options=DeploymentOptions(spa=request.spa, html_handling=request.html_handling),
        sealed_credentials=sealed,
    )
    stores.deployments.create(record)
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
