"""A site's versions: list them, roll production back to one, promote a preview.

Every ready deployment is a version of its site; the site keeps the newest ``VersionsPerSite`` of
them (``SiteRecord.versions``) and any of those can be made live again, by the platform's own means
where it holds the version (no bytes move) or from the service's retained copy of its files (the
keeper keeps them staged while the site keeps the version). An older version answers 409
``version_expired`` and nothing is written."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from pydantic.alias_generators import to_camel

from sitedeploy.domain import clock
from sitedeploy.domain.errors import BadRequest, Conflict, DeploymentNotFound, NotFound, VersionExpired
from sitedeploy.domain.models import (
    AuthMode,
    DeploymentKind,
    DeploymentRecord,
    DeploymentStatus,
    DeployResponse,
    SiteRecord,
    Target,
    VersionList,
    VersionView,
)
from sitedeploy.domain.naming import PREVIEW_PROJECT
from sitedeploy.domain.requests import ProjectName
from sitedeploy.flows.accept import DAY, Origin, accept, accept_version
from sitedeploy.flows.credentials import stored_credentials
from sitedeploy.flows.owned import owned_site
from sitedeploy.platforms.base import UserCredentials
from sitedeploy.services import Services
from sitedeploy.stores.idempotency import run_once

DEPLOYMENT_ID = r"^dpl_[a-z2-7]{26}$"


class VersionRequest(BaseModel):
    """The body of ``POST /sites/{siteId}/rollback`` and ``POST /deployments/{id}/promote``: which
    version (rollback: default, the one live before the current), and for a site on the user's own
    account the credentials to act with (else the stored connection)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)

    deployment_id: str | None = Field(default=None, pattern=DEPLOYMENT_ID)
    credentials: dict[str, Any] | None = None


def list_versions(
    services: Services, owner_id: str, site_id: str, *, limit: int = 20, cursor: str | None = None
) -> VersionList:
    """The site's deployments, newest first: which one production serves, and which can still be
    made live. Deployments of an earlier site of the same id (deleted, made anew) are not its."""
    site = owned_site(services, owner_id, site_id)
    page = services.stores.deployments.list_for_site(site.site_id, limit=limit, cursor=cursor)
    kept = set(site.versions)
    views = [
        VersionView.of(record).model_copy(
            update={
                "live": record.deployment_id == site.live_deployment_id,
                "rollback_available": record.status is DeploymentStatus.READY
                and record.deployment_id in kept
                and record.deployment_id != site.live_deployment_id,
            }
        )
        for record in page.records
        if record.owner_id == owner_id and record.site_generation == site.generation
    ]
    return VersionList(
        site_id=site.site_id,
        live_deployment_id=site.live_deployment_id,
        versions_kept=services.settings.versions_per_site,
        deployments=views,
        next_cursor=page.next_cursor,
    )


def fingerprint(request: VersionRequest) -> dict[str, Any]:
    """What a retry under the same Idempotency-Key must repeat; credentials only as a digest (the
    fingerprint is stored)."""
    body: dict[str, Any] = {"deploymentId": request.deployment_id}
    if request.credentials is not None:
        raw = json.dumps(request.credentials, sort_keys=True, default=str).encode()
        body["credentials"] = hashlib.sha256(raw).hexdigest()
    return body


def rollback_once(
    services: Services, owner_id: str, site_id: str, request: VersionRequest, key: str | None
) -> DeployResponse:
    return run_once(
        services.stores.idempotency,
        owner_id,
        f"rollback#{site_id[:64]}",
        key,
        fingerprint(request),
        accept=lambda: rollback(services, owner_id, site_id, request),
    )


def promote_once(
    services: Services, owner_id: str, deployment_id: str, request: VersionRequest, key: str | None
) -> DeployResponse:
    return run_once(
        services.stores.idempotency,
        owner_id,
        f"promote#{deployment_id[:64]}",
        key,
        fingerprint(request),
        accept=lambda: promote(services, owner_id, deployment_id, request),
    )


def rollback(services: Services, owner_id: str, site_id: str, request: VersionRequest) -> DeployResponse:
    """Make an earlier production version live again (a new deployment, kind ``rollback``)."""
    site = owned_site(services, owner_id, site_id)
    _refuse_deleting(site)
    if request.deployment_id is None:
        source = _previous_live(services, site)
    else:
        source = _kept_version(services, site, request.deployment_id)
        if source.target is Target.PREVIEW:
            raise Conflict(
                f"{source.deployment_id} is a preview: promote it (POST /deployments/{source.deployment_id}/promote)",
                code="is_preview",
            )
    if source.deployment_id == site.live_deployment_id:
        raise Conflict(f"{source.deployment_id} is already live", code="already_live")
    return _publish_version(services, site, source, DeploymentKind.ROLLBACK, request)


def promote(services: Services, owner_id: str, deployment_id: str, request: VersionRequest) -> DeployResponse:
    """Make a ready preview the site's production version (a new deployment, kind ``promote``):
    in place where the platform keeps previews in the site (nothing uploaded), else the preview's
    retained files published to the project's site (made now if the project has none yet)."""
    try:
        preview = services.stores.deployments.get_for_owner(deployment_id, owner_id)
    except DeploymentNotFound:
        raise NotFound(f"deployment {deployment_id} not found", code="not_found") from None
    if preview.target is not Target.PREVIEW:
        raise Conflict(f"{deployment_id} is not a preview: roll back to it instead", code="not_a_preview")
    site = owned_site(services, owner_id, preview.site_id)
    _refuse_deleting(site)
    source = _kept_version(services, site, deployment_id)
    if clock.epoch() - clock.parse_iso(source.created_at) > services.settings.preview_ttl_days * DAY:
        raise VersionExpired(
            f"{deployment_id} is older than the {services.settings.preview_ttl_days} day(s) a preview lasts"
        )
    if site.preview_of is None:
        return _publish_version(services, site, source, DeploymentKind.PROMOTE, request)
    production = services.stores.sites.get_for_owner(site.preview_of, owner_id)
    if production is not None:
        _refuse_deleting(production)
        return _publish_version(services, production, source, DeploymentKind.PROMOTE, request)
    project = site.project_name.rsplit(PREVIEW_PROJECT, 1)[0]
    return _deploy_files(
        services,
        source,
        DeploymentKind.PROMOTE,
        project=project,
        auth_mode=site.auth_mode,
        credentials=request.credentials,
    )


class ClaimRequest(BaseModel):
    """The body of ``POST /sites/{siteId}/claim``: the project on the user's own account (default:
    the site's), whether to tear the Quick Deploy site down once the copy is live, and the
    credentials as a deploy in user-token mode takes them (else the stored connection)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)

    project_name: ProjectName | None = None
    release: StrictBool = False
    credentials: dict[str, Any] | None = None


def claim(services: Services, owner_id: str, site_id: str, request: ClaimRequest) -> DeployResponse:
    """Publish a Quick Deploy site's live version to the caller's own account, from the retained
    files (the client sends nothing): a user-token deployment, kind ``claim``. With ``release``
    the Quick Deploy site is torn down once that deployment is ready; else it expires as usual."""
    site = owned_site(services, owner_id, site_id)
    _refuse_deleting(site)
    if site.auth_mode is not AuthMode.PLATFORM_MANAGED or site.preview_of is not None:
        raise Conflict("only a Quick Deploy site can be claimed", code="not_quick_deploy")
    if not site.live_deployment_id:
        raise Conflict("the site has no live version to claim yet", code="no_live_version")
    source = services.stores.deployments.get(site.live_deployment_id)
    if source is None or source.status is not DeploymentStatus.READY:
        raise VersionExpired("the site's live version is no longer kept")
    return _deploy_files(
        services,
        source,
        DeploymentKind.CLAIM,
        project=request.project_name or site.project_name,
        auth_mode=AuthMode.USER_TOKEN,
        credentials=request.credentials,
        releases=site.site_id if request.release else None,
    )


def claim_once(
    services: Services, owner_id: str, site_id: str, request: ClaimRequest, key: str | None
) -> DeployResponse:
    body: dict[str, Any] = {"projectName": request.project_name, "release": request.release}
    if request.credentials is not None:
        raw = json.dumps(request.credentials, sort_keys=True, default=str).encode()
        body["credentials"] = hashlib.sha256(raw).hexdigest()
    return run_once(
        services.stores.idempotency,
        owner_id,
        f"claim#{site_id[:64]}",
        key,
        body,
        accept=lambda: claim(services, owner_id, site_id, request),
    )


def _deploy_files(
    services: Services,
    source: DeploymentRecord,
    kind: DeploymentKind,
    *,
    project: str,
    auth_mode: AuthMode,
    credentials: dict[str, Any] | None,
    releases: str | None = None,
) -> DeployResponse:
    """A deployment of a kept version's files, accepted as a deploy of them by manifest would be
    (placed, claimed, counted), the files already staged."""
    manifest = services.stores.staging.find_manifest(source.deployment_id)
    if manifest is None:
        raise VersionExpired(f"{source.deployment_id}'s file list is no longer kept")
    hosting = services.platforms.get(source.platform)
    body: dict[str, Any] = {
        "manifest": {entry.path: entry.sha256 for entry in manifest.files},
        "projectName": project,
        "authMode": auth_mode.value,
    }
    if source.chat_id:
        body["chatId"] = source.chat_id
    if source.options.spa is not None:
        body["spa"] = source.options.spa
    if source.options.html_handling is not None:
        body["htmlHandling"] = source.options.html_handling.value
    if credentials:
        if set(credentials) & set(body):
            raise BadRequest("credentials name fields that are not credentials", code="validation_error")
        body.update(credentials)
    try:
        request = hosting.request_model.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(f"credentials: {exc.errors()[0]['msg']}", code="validation_error") from None
    origin = Origin(kind=kind, source=source, manifest=manifest, releases=releases)
    return accept(services, source.platform, source.owner_id, request, origin=origin)


def _refuse_deleting(site: SiteRecord) -> None:
    if site.deleted_at is not None:
        raise Conflict("this site is being deleted", code="site_deleting")


def _previous_live(services: Services, site: SiteRecord) -> DeploymentRecord:
    """The production version live before the current one: the newest kept production version
    after the live one."""
    kept = services.stores.deployments.get_many(site.versions)
    ordered = [kept[i] for i in site.versions if i in kept]
    production = [r for r in ordered if r.target is Target.PRODUCTION and r.status is DeploymentStatus.READY]
    ids = [r.deployment_id for r in production]
    start = ids.index(site.live_deployment_id) + 1 if site.live_deployment_id in ids else 0
    for record in production[start:]:
        if record.deployment_id != site.live_deployment_id:
            return record
    raise Conflict("the site keeps no earlier production version to roll back to", code="no_earlier_version")


def _kept_version(services: Services, site: SiteRecord, deployment_id: str) -> DeploymentRecord:
    record = services.stores.deployments.get(deployment_id)
    if record is None or record.owner_id != site.owner_id or record.site_id != site.site_id:
        raise NotFound(f"deployment {deployment_id} is not a version of this site", code="not_found")
    if record.status is not DeploymentStatus.READY:
        raise Conflict(f"{deployment_id} never became ready: it is no version", code="version_not_ready")
    if record.site_generation != site.generation or deployment_id not in site.versions:
        raise VersionExpired(
            f"{deployment_id} is older than the {services.settings.versions_per_site} versions this site keeps",
            details={"versionsKept": services.settings.versions_per_site},
        )
    return record


def _publish_version(
    services: Services, site: SiteRecord, source: DeploymentRecord, kind: DeploymentKind, request: VersionRequest
) -> DeployResponse:
    manifest = services.stores.staging.find_manifest(source.deployment_id)
    if manifest is None:
        raise VersionExpired(f"{source.deployment_id}'s file list is no longer kept")
    credentials = _credentials(services, site, request.credentials)
    return accept_version(services, site, source, manifest, kind=kind, credentials=credentials)


def _credentials(services: Services, site: SiteRecord, inline: dict[str, Any] | None) -> UserCredentials | None:
    if site.auth_mode is AuthMode.PLATFORM_MANAGED:
        if inline:
            raise BadRequest("a Quick Deploy site takes no credentials", code="validation_error")
        return None
    hosting = services.platforms.get(site.platform)
    if inline is not None:
        try:
            return hosting.credentials_model.model_validate(inline)
        except ValidationError as exc:
            raise BadRequest(f"credentials: {exc.errors()[0]['msg']}", code="validation_error") from None
    return stored_credentials(services, hosting, site.owner_id)
