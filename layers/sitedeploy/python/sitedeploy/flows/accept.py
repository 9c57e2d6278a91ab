"""Accepting a deployment: check everything, then write once, and answer at once.

Validation, credentials, the files (a manifest's blobs must be staged: 409), the platform's plan,
the placement (a pool member with room and a name no other site holds) and sealing all happen
before anything is written, so a refused request leaves the tables, the bucket and the platform as
they were. Then the inline blobs and the manifest go to S3, and the Site, the Deployment, the name
claim and the pool seat are written together in one transaction; the stream record of that write
wakes the publisher, which always finds everything it needs. A newer deployment supersedes an older
one of the site that has not started publishing yet."""

from __future__ import annotations

import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sitedeploy.domain import clock
from sitedeploy.domain.errors import BadRequest, Conflict, VersionExpired
from sitedeploy.domain.models import (
    AuthMode,
    DeploymentKind,
    DeploymentOptions,
    DeploymentRecord,
    DeployResponse,
    Platform,
    PreviewMode,
    SiteRecord,
    Target,
)
from sitedeploy.domain.naming import preview_key, preview_project, site_id
from sitedeploy.domain.requests import DeployRequest, StagedFile
from sitedeploy.domain.sitefiles import (
    HEADERS_FILE,
    REDIRECTS_FILE,
    ManifestEntry,
    SiteManifest,
    content_type,
    proxy_lines,
)
from sitedeploy.domain.tenancy import (
    CapacityExhausted,
    Contended,
    MemberFull,
    NameTaken,
    PoolAccountRefused,
    Quota,
    QuotaExceeded,
    SiteDeleting,
    SiteQuota,
    StaleRead,
    quota_owner_key,
    quota_refused,
)
from sitedeploy.flows.credentials import stored_credentials
from sitedeploy.flows.lifecycle import supersede
from sitedeploy.flows.placement import Placement, place
from sitedeploy.flows.uploads import count_staged_bytes, look_up_staged
from sitedeploy.observability import logger
from sitedeploy.platforms.base import DeployPlan, HostingPlatform, PlatformLimits, SiteConfig, UserCredentials
from sitedeploy.services import Services
from sitedeploy.stores import BlobStore, Stores
from sitedeploy.stores.deployments import new_deployment_id
from sitedeploy.stores.idempotency import deploy_once
from sitedeploy.stores.secrets import deployment_context
from sitedeploy.stores.staging import BlobCorrupted, BlobMissing, Packed, PackMissing

DAY = 24 * 3600
# A placement that lost a race (the member filled, the name was taken, the site changed) is chosen
# again, this often, a little later each time.
PLACEMENT_ATTEMPTS = 5
RETRY_JITTER_SECONDS = 0.05
LOOKUP_WORKERS = 8


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


@dataclass(frozen=True)
class Origin:
    """A deployment of files the service already keeps (a preview promoted into a site of its
    own, a Quick Deploy site claimed into the user's account): the manifest, and what it is."""

    kind: DeploymentKind
    source: DeploymentRecord
    manifest: SiteManifest
    # A claim's Quick Deploy site, torn down once the claimed copy is live.
    releases: str | None = None


def accept(
    services: Services,
    platform: Platform,
    owner_id: str,
    request: DeployRequest,
    *,
    origin: Origin | None = None,
) -> DeployResponse:
    hosting = services.platforms.get(platform)
    credentials = user_credentials(services, hosting, owner_id, request)
    if origin is None:
        manifest = checked_manifest(services.stores, owner_id, request, hosting.limits)
    else:
        manifest = origin.manifest
        require_staged(services.stores, owner_id, manifest)
    config = site_config(services.stores.staging, owner_id, request, manifest)
    if request.auth_mode is AuthMode.PLATFORM_MANAGED:
        refuse_proxies(config)
    paths = frozenset(f.path for f in manifest.files)
    plan = hosting.plan(owner_id, request, credentials, config, paths)
    preview = request.target is Target.PREVIEW
    mode = hosting.preview_mode(plan) if preview else None
    preview_of: str | None = None
    if mode is PreviewMode.OWN_SITE:
        # The chat's previews get a site (a branch, a Worker) of their own beside the project's.
        preview_of = site_id(owner_id, platform.value, request.project(), request.auth_mode.value)
        request = request.model_copy(
            update={"project_name": preview_project(request.project(), preview_key(request.chat_id))}
        )
        plan = hosting.plan(owner_id, request, credentials, config, paths)
    in_place = preview and mode is not PreviewMode.OWN_SITE
    the_site_id = site_id(owner_id, platform.value, request.project(), request.auth_mode.value)
    _refuse_pool_accounts(services, hosting, plan)
    # Read once for the quotas and the first placement: the commit is conditional on its revision.
    existing = services.stores.sites.get_for_owner(the_site_id, owner_id)
    _check_quotas(services, platform, owner_id, request, plan=plan, existing=existing)
    deployment_id = new_deployment_id()
    sealed = None
    if credentials is not None:
        sealed = services.stores.sealer.seal(
            {"platform": platform.value, **credentials.payload()}, deployment_context(deployment_id, owner_id)
        )
    full: set[str] = set()
    staged = False
    refused: Exception | None = None
    for attempt in range(PLACEMENT_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, RETRY_JITTER_SECONDS * attempt))  # noqa: S311 - jitter
            existing = services.stores.sites.get_for_owner(the_site_id, owner_id)
        if existing is not None and existing.deleted_at is not None:
            raise SiteDeleting(
                "this site is being deleted: deploy again in a moment (a new site is made then)", code="site_deleting"
            )
        if mode is PreviewMode.IN_PLACE_AFTER_PRODUCTION and (existing is None or existing.live_deployment_id is None):
            raise Conflict(
                f"{platform.value} makes a project's first deployment its production: deploy to production first, "
                "then preview",
                code="production_first",
            )
        generation = existing.generation if existing else new_generation()
        placement = place(
            services,
            hosting,
            plan,
            site_id=the_site_id,
            owner_id=owner_id,
            generation=generation,
            existing=existing,
            credentials=credentials,
            avoid=frozenset(full),
        )
        quota = _site_quota(services, platform, owner_id, plan.profile, existing=existing, request=request)
        if not staged:
            if origin is None:
                stage_files(services, owner_id, request.staged_files)
            services.stores.staging.put_manifest(deployment_id, manifest)
            staged = True
        site, record = _records(
            services,
            platform,
            owner_id,
            request,
            manifest,
            placement=placement,
            deployment_id=deployment_id,
            sealed=sealed,
            generation=generation,
            candidates=None if plan.explicit_name else list(plan.names),
            origin=origin,
            existing=existing,
            in_place_preview=in_place,
            preview_of=preview_of,
        )
        try:
            services.stores.tenancy.commit_deploy(
                site,
                record,
                expected_revision=existing.revision if existing else None,
                place=placement.new_place,
                site_quota=quota,
                quotas=services.settings.quotas,
            )
        except MemberFull as exc:
            full.add(placement.member_id or "")
            refused = exc
            continue
        except NameTaken as exc:
            if plan.explicit_name or attempt + 1 == PLACEMENT_ATTEMPTS:
                raise
            refused = exc
            continue  # another site took the name a moment ago: the next free one
        except StaleRead as exc:
            refused = exc
            continue  # the site (or the owner's quota) changed since it was read: decide again
        except QuotaExceeded as exc:
            if exc.details.get("quota") == Quota.PROFILES.value and _collect_unused_profiles(
                services, owner_id, platform
            ):
                refused = exc
                continue
            raise
        break
    else:
        if isinstance(refused, MemberFull):
            raise CapacityExhausted(
                f"Quick Deploy to {platform.value} has no room for another site right now: "
                "connect your own account, or try again later",
                code="capacity_exhausted",
            )
        if isinstance(refused, QuotaExceeded):
            raise refused
        raise Contended("others changed this site at the same moment, every time: try again in a moment")
    previous = None
    if existing is not None:
        previous = existing.last_preview_id if in_place else existing.last_deployment_id
        if previous and existing.published(previous):
            previous = None  # the usual redeploy: the one before went live, nothing to supersede
    supersede(services, previous, deployment_id)
    logger.info(
        "deployment accepted",
        extra={
            "deployment_id": deployment_id,
            "kind": record.kind.value,
            "target": record.target.value,
            "status": record.status.value,
            "platform": platform.value,
            "auth_mode": request.auth_mode.value,
            "site_id": site.site_id,
            "member": placement.member_id,
            "files": len(manifest.files),
            "bytes": manifest.total_bytes,
        },
    )
    url = site.url
    if url is None and not preview and existing is not None:
        # Not known at placement (a user's account before its first publish): the commit kept the
        # site's, which only a read tells.
        stored = services.stores.sites.get(site.site_id)
        url = stored.url if stored is not None else None
    return DeployResponse(
        deployment_id=deployment_id,
        status=record.status,
        url=None if preview else url,
        status_url=f"/deployments/{deployment_id}",
        site_id=site.site_id,
        kind=record.kind,
        target=record.target,
    )


def accept_version(
    services: Services,
    site: SiteRecord,
    source: DeploymentRecord,
    manifest: SiteManifest,
    *,
    kind: DeploymentKind,
    credentials: UserCredentials | None,
) -> DeployResponse:
    """Publish a version the site keeps to its production, where the site is now: a rollback, or a
    preview promoted in its own site. The client sends nothing. Where the platform holds the
    version at this address it is made live by the platform's own means (no bytes move at all);
    elsewhere the publisher sends the retained files again, which must still be staged."""
    native = source.version_ref is not None and source.address == site.address
    if not native:
        require_staged(services.stores, site.owner_id, manifest)
    usage = services.stores.tenancy.usage(site.owner_id)
    if usage.get("FLIGHT", 0) >= services.settings.quotas.deployments_in_flight:
        raise quota_refused(Quota.IN_FLIGHT, services.settings.quotas.deployments_in_flight)
    deployment_id = new_deployment_id()
    sealed = None
    if credentials is not None:
        sealed = services.stores.sealer.seal(
            {"platform": site.platform.value, **credentials.payload()}, deployment_context(deployment_id, site.owner_id)
        )
    services.stores.staging.put_manifest(deployment_id, manifest)
    settings = services.settings
    for attempt in range(PLACEMENT_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, RETRY_JITTER_SECONDS * attempt))  # noqa: S311 - jitter
            fresh = services.stores.sites.get_for_owner(site.site_id, site.owner_id)
            # Deleted and made again meanwhile: the version belongs to the site that went.
            if fresh is None or fresh.generation != site.generation:
                raise SiteDeleting("this site was deleted", code="site_deleting")
            site = fresh
            if native and source.address != site.address:  # moved meanwhile: the platform's copy is elsewhere
                native = False
                require_staged(services.stores, site.owner_id, manifest)
        if site.deleted_at is not None:
            raise SiteDeleting("this site is being deleted", code="site_deleting")
        now = clock.now_iso()
        managed = site.auth_mode is AuthMode.PLATFORM_MANAGED
        record = DeploymentRecord(
            deployment_id=deployment_id,
            owner_id=site.owner_id,
            chat_id=source.chat_id,
            project_name=site.project_name,
            site_id=site.site_id,
            platform=site.platform,
            auth_mode=site.auth_mode,
            url=site.url,
            account_id=site.account_id,
            external_name=site.external_name,
            region=site.region,
            file_count=source.file_count,
            total_size_bytes=source.total_size_bytes,
            created_at=now,
            updated_at=now,
            expires_at=clock.epoch_seconds() + settings.history_retention_days * DAY,
            options=source.options,
            sealed_credentials=sealed,
            site_generation=site.generation,
            quota_key=quota_owner_key(site.owner_id),
            kind=kind,
            source_deployment_id=source.deployment_id,
            version_ref=source.version_ref if native else None,
        )
        updated = site.model_copy(
            update={
                "last_deployment_id": deployment_id,
                "updated_at": now,
                "expires_at": clock.epoch_seconds() + settings.site_ttl_days * DAY if managed else None,
            }
        )
        try:
            services.stores.tenancy.commit_deploy(
                updated,
                record,
                expected_revision=site.revision,
                place=None,
                site_quota=None,
                quotas=settings.quotas,
            )
        except StaleRead:
            continue  # the site changed (moved, deployed to) since it was read: decide again
        break
    else:
        raise Contended("others changed this site at the same moment, every time: try again in a moment")
    supersede(services, site.last_deployment_id, deployment_id)
    logger.info(
        "deployment accepted",
        extra={
            "deployment_id": deployment_id,
            "kind": kind.value,
            "source": source.deployment_id,
            "native": record.version_ref is not None,
            "platform": site.platform.value,
            "site_id": site.site_id,
        },
    )
    return DeployResponse(
        deployment_id=deployment_id,
        status=record.status,
        url=site.url,
        status_url=f"/deployments/{deployment_id}",
        site_id=site.site_id,
        kind=kind,
    )


def require_staged(stores: Stores, owner_id: str, manifest: SiteManifest) -> None:
    """Every file of a kept version is still staged (the keeper keeps them): else it is gone."""
    blobs = {f.sha256 for f in manifest.files if f.pack is None}
    packs = sorted({f.pack for f in manifest.files if f.pack is not None})
    missing = stores.staging.missing(owner_id, blobs) if blobs else set()
    gone_packs = [p for p in packs if stores.staging.pack_size(owner_id, p) is None]
    if missing or gone_packs:
        raise VersionExpired(
            "this version's files are no longer kept: deploy it again from its files",
            code="version_expired",
            details={"missing": len(missing) + len(gone_packs)},
        )


def refuse_proxies(config: SiteConfig) -> None:
    """Quick Deploy sites live on the service's accounts: none may make them fetch another origin
    for its visitors (a 200 rewrite to an absolute URL), which would run anyone's traffic through
    the operator's accounts under the operator's name. Redirects to other origins are fine."""
    found = proxy_lines(config.redirects_text)
    if found:
        number, line, destination = found[0]
        raise BadRequest(
            f"_redirects line {number} ({line!r}) would proxy visitors to {destination}: Quick Deploy sites "
            "never proxy to another origin. Redirect there instead (301, 302, 307 or 308), or deploy to "
            "your own account",
            code="proxy_refused",
            details={"line": number},
        )


def _refuse_pool_accounts(services: Services, hosting: HostingPlatform, plan: DeployPlan) -> None:
    """A user-token deployment never names an account (app, team) of the service's pool: nothing is
    claimed there for a token nobody checked yet."""
    if plan.pooled or not plan.account_id:
        return
    fixed = {m.member_id for m in hosting.fixed_members()} if hosting.quick_deploy_available() else set()
    if plan.account_id in fixed or services.stores.tenancy.member(hosting.platform, plan.account_id) is not None:
        raise PoolAccountRefused(
            f"{plan.account_id!r} is an account of the service's Quick Deploy: name your own account",
            code="pool_account",
        )


def _check_quotas(
    services: Services,
    platform: Platform,
    owner_id: str,
    request: DeployRequest,
    *,
    plan: DeployPlan,
    existing: SiteRecord | None,
) -> None:
    """Refuse what the owner's quotas cannot take before anything is done for it (a pool member
    grown, a blob staged). The commit checks again, atomically: this only spares the work."""
    tenancy, quotas = services.stores.tenancy, services.settings.quotas
    usage = tenancy.usage(owner_id)
    if usage.get("FLIGHT", 0) >= quotas.deployments_in_flight:
        raise quota_refused(Quota.IN_FLIGHT, quotas.deployments_in_flight)
    if request.auth_mode is not AuthMode.PLATFORM_MANAGED:
        return
    if existing is None and usage.get(f"SITES#{platform.value}", 0) >= quotas.sites_per_platform:
        raise quota_refused(Quota.SITES, quotas.sites_per_platform)
    if plan.profile is None or (existing is not None and existing.profile == plan.profile):
        return
    # One reading of the owner's profiles: their count and each one's use, at the same moment.
    prefix = f"PROFILE#{platform.value}#"
    if usage.get(f"PROFILES#{platform.value}", 0) < quotas.routing_profiles or f"{prefix}{plan.profile}" in usage:
        return
    if not any(refs <= 0 for sk, refs in usage.items() if sk.startswith(prefix)):
        raise quota_refused(Quota.PROFILES, quotas.routing_profiles)
    _collect_unused_profiles(services, owner_id, platform)


def _site_quota(
    services: Services,
    platform: Platform,
    owner_id: str,
    profile: str | None,
    *,
    existing: SiteRecord | None,
    request: DeployRequest,
) -> SiteQuota | None:
    """What a Quick Deploy site takes from its owner's quotas with this deployment (nothing for a
    redeploy that stays where it was)."""
    if request.auth_mode is not AuthMode.PLATFORM_MANAGED:
        return None
    tenancy = services.stores.tenancy
    entry_exists, previous = tenancy.site_quota_entry(existing) if existing else (False, None)
    if entry_exists and previous == profile:
        return None
    known = profile is not None and profile in tenancy.owner_profiles(owner_id, platform)
    return SiteQuota(
        platform=platform,
        profile=profile,
        entry_exists=entry_exists,
        previous_profile=previous,
        profile_known=known,
        new_site=existing is None,
    )


def _collect_unused_profiles(services: Services, owner_id: str, platform: Platform) -> bool:
    """Profiles none of the owner's sites uses any more (left by a step that died midway)."""
    tenancy = services.stores.tenancy
    unused = [p for p, refs in tenancy.owner_profiles(owner_id, platform).items() if refs <= 0]
    return any([tenancy.collect_profile(owner_id, platform, p) for p in unused])


def new_generation() -> str:
    return secrets.token_hex(8)


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
    return stored_credentials(services, hosting, owner_id)


def stage_files(services: Services, owner_id: str, files: list[StagedFile]) -> None:
    """Put the blobs this owner has not staged yet (content-addressed: unchanged files cost nothing),
    counted against the owner's day first."""
    if not files:
        return
    staging = services.stores.staging
    by_hash = {f.sha256: f for f in files}
    missing = staging.missing(owner_id, by_hash)
    count_staged_bytes(services, owner_id, sum(len(by_hash[h].data) for h in missing))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda h: staging.put_blob(owner_id, by_hash[h].data, h), sorted(missing)))


def manifest_of(files: list[StagedFile]) -> SiteManifest:
    return SiteManifest(
        files=[
            ManifestEntry(path=f.path, sha256=f.sha256, size=len(f.data), contentType=content_type(f.path))
            for f in sorted(files, key=lambda f: f.path)
        ]
    )


def locate(
    stores: Stores, owner_id: str, hashes: set[str], receipt_ids: list[str]
) -> dict[str, tuple[int, Packed | None]]:
    """Where each staged blob is: its size, and its place in a pack when it is in one (blobs not
    staged are left out). What the caller's ``/uploads`` receipts say is taken from them (an
    unknown, foreign or stale receipt counts for nothing); a pack they asked for counts once it is
    in the bucket at its exact size; the rest is looked up: blobs, then the pack index.

    A blob may be in several asked-for packs: a client whose deploy was refused for blobs missing
    (a pack that never arrived, a receipt gone stale) stages those again in new packs and sends the
    new receipts beside the first ones, in any order. Any of its packs that arrived will do; the
    first ones' members that did arrive are known only from those receipts (the pack index learns
    of them when a publish verifies them)."""
    staging = stores.staging
    found: dict[str, tuple[int, Packed | None]] = {}
    asked: dict[str, list[Packed]] = {}
    pack_sizes: dict[str, int] = {}
    if receipt_ids:
        with ThreadPoolExecutor(max_workers=min(LOOKUP_WORKERS, len(receipt_ids))) as pool:
            receipts = list(pool.map(lambda receipt_id: staging.get_receipt(owner_id, receipt_id), receipt_ids))
        now = time.time()
        for receipt in receipts:
            if receipt is None or not receipt.fresh(now):
                continue
            found.update((sha, (size, None)) for sha, size in receipt.staged.items() if sha in hashes)
            found.update((sha, (where.size, where)) for sha, where in receipt.packed.items() if sha in hashes)
            for sha, where in receipt.in_new_packs.items():
                if sha in hashes:
                    asked.setdefault(sha, []).append(where)
            pack_sizes.update(receipt.new_packs)
    wanted_packs = sorted({where.pack for sha, places in asked.items() if sha not in found for where in places})
    if wanted_packs:
        with ThreadPoolExecutor(max_workers=min(LOOKUP_WORKERS, len(wanted_packs))) as pool:
            sizes = dict(
                zip(wanted_packs, pool.map(lambda p: staging.pack_size(owner_id, p), wanted_packs), strict=True)
            )
        arrived = {pack for pack, size in sizes.items() if size is not None and size == pack_sizes.get(pack)}
        for sha, places in asked.items():
            landed = next((place for place in places if place.pack in arrived), None)
            if landed is not None and sha not in found:
                found[sha] = (landed.size, landed)
    rest = hashes - found.keys()
    if rest:
        staged, packed = look_up_staged(stores, owner_id, rest)
        found.update((sha, (size, None)) for sha, size in staged.items())
        found.update((sha, (where.size, where)) for sha, where in packed.items())
    return found


def checked_manifest(stores: Stores, owner_id: str, request: DeployRequest, limits: PlatformLimits) -> SiteManifest:
    """The site's manifest, within the platform's limits. Inline files were decoded and bounded by
    the request; a manifest must name blobs this owner staged already (409 lists the missing)."""
    if not request.staged_manifest:
        manifest = manifest_of(request.staged_files)
    else:
        located = locate(stores, owner_id, set(request.staged_manifest.values()), request.upload_receipts or [])
        missing = sorted(set(request.staged_manifest.values()) - located.keys())
        if missing:
            raise Conflict(
                f"{len(missing)} file(s) are not staged yet: upload them through /uploads first",
                code="blobs_missing",
                details={"missing": missing},
            )
        entries = []
        for path, sha256 in sorted(request.staged_manifest.items()):
            size, where = located[sha256]
            if size > limits.max_file_bytes:
                raise BadRequest(
                    f"file {path!r} is {size} bytes, over the limit of {limits.max_file_bytes} bytes per file",
                    code="validation_error",
                )
            entries.append(
                ManifestEntry(
                    path=path,
                    sha256=sha256,
                    size=size,
                    contentType=content_type(path),
                    pack=where.pack if where else None,
                    offset=where.offset if where else None,
                )
            )
        manifest = SiteManifest(files=entries)
    if limits.max_site_bytes is not None and manifest.total_bytes > limits.max_site_bytes:
        raise BadRequest(
            f"the site is {manifest.total_bytes} bytes, over the limit of {limits.max_site_bytes} bytes",
            code="validation_error",
        )
    return manifest


def site_config(staging: BlobStore, owner_id: str, request: DeployRequest, manifest: SiteManifest) -> SiteConfig:
    """How the site answers, from the request and its ``_headers`` / ``_redirects`` files."""

    def text(name: str) -> str | None:
        entry = manifest.config_file(name)
        if entry is None:
            return None
        inline = {f.path: f.data for f in request.staged_files}
        try:
            data = inline[name] if name in inline else staging.read_entry(owner_id, entry)
        except (BlobMissing, PackMissing):
            raise Conflict(
                f"{name} is not staged: upload it through /uploads first",
                code="blobs_missing",
                details={"missing": [entry.sha256]},
            ) from None
        except BlobCorrupted:
            raise BadRequest(
                f"{name}'s staged bytes do not match its sha256: upload it again", code="validation_error"
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{name} must be UTF-8 text", code="validation_error") from None

    return SiteConfig(
        spa=request.spa,
        html_handling=request.html_handling.value if request.html_handling else None,
        headers_text=text(HEADERS_FILE),
        redirects_text=text(REDIRECTS_FILE),
    )


def _records(
    services: Services,
    platform: Platform,
    owner_id: str,
    request: DeployRequest,
    manifest: SiteManifest,
    *,
    placement: Placement,
    deployment_id: str,
    sealed: str | None,
    generation: str | None,
    candidates: list[str] | None,
    origin: Origin | None = None,
    existing: SiteRecord | None = None,
    in_place_preview: bool = False,
    preview_of: str | None = None,
) -> tuple[SiteRecord, DeploymentRecord]:
    settings = services.settings
    project = request.project()
    now = clock.now_iso()
    managed = request.auth_mode is AuthMode.PLATFORM_MANAGED
    address = placement.address
    expires_at = clock.epoch_seconds() + settings.site_ttl_days * DAY if managed else None
    if managed and (preview_of is not None or in_place_preview):
        # Previews last less than sites; one never shortens the life of a site it is published in.
        expires_at = clock.epoch_seconds() + settings.preview_ttl_days * DAY
        if in_place_preview and existing is not None and existing.expires_at:
            expires_at = max(expires_at, existing.expires_at)
    site = SiteRecord(
        site_id=site_id(owner_id, platform.value, project, request.auth_mode.value),
        owner_id=owner_id,
        platform=platform,
        project_name=project,
        auth_mode=request.auth_mode,
        external_name=address.name,
        account_id=address.account_id,
        region=address.region,
        url=placement.url,
        last_deployment_id=(existing.last_deployment_id if existing else None) if in_place_preview else deployment_id,
        last_preview_id=deployment_id if in_place_preview else None,
        preview_of=preview_of,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
        member_id=placement.member_id,
        profile=placement.profile,
        generation=generation,
        former=placement.former,
    )
    record = DeploymentRecord(
        deployment_id=deployment_id,
        owner_id=owner_id,
        chat_id=request.chat_id,
        project_name=project,
        site_id=site.site_id,
        platform=platform,
        auth_mode=request.auth_mode,
        url=placement.url,
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
        site_generation=generation,
        quota_key=quota_owner_key(owner_id),
        candidate_names=candidates,
        target=request.target,
        kind=origin.kind if origin else DeploymentKind.DEPLOY,
        source_deployment_id=origin.source.deployment_id if origin else None,
        releases=origin.releases if origin else None,
    )
    return site, record
