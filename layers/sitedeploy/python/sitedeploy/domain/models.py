"""The data of a deployment, shaped after the front end's contract.

Wire and storage names are camelCase (the front end's); Python names are snake_case. Models that
come from outside forbid unknown fields, so a typo in a request is a 400 rather than a silent no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Platform(StrEnum):
    AMPLIFY = "amplify"
    CLOUDFLARE = "cloudflare"
    NETLIFY = "netlify"
    VERCEL = "vercel"


class AuthMode(StrEnum):
    PLATFORM_MANAGED = "platform-managed"
    USER_TOKEN = "user-token"  # noqa: S105 - a mode name, not a secret


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
    BUILDING = "building"
    READY = "ready"
    ERROR = "error"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[DeploymentStatus] = frozenset({DeploymentStatus.READY, DeploymentStatus.ERROR})

# Where each status may go next. A status may repeat itself (uploading → uploading carries progress);
# terminal statuses go nowhere, ever.
ALLOWED_TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    DeploymentStatus.PENDING: frozenset({DeploymentStatus.UPLOADING, DeploymentStatus.ERROR}),
    DeploymentStatus.UPLOADING: frozenset(
        {
            DeploymentStatus.UPLOADING,
            DeploymentStatus.BUILDING,
            DeploymentStatus.READY,
            DeploymentStatus.ERROR,
        }
    ),
    DeploymentStatus.BUILDING: frozenset({DeploymentStatus.BUILDING, DeploymentStatus.READY, DeploymentStatus.ERROR}),
    DeploymentStatus.READY: frozenset(),
    DeploymentStatus.ERROR: frozenset(),
}


def sources_of(target: DeploymentStatus) -> frozenset[DeploymentStatus]:
    """The statuses from which ``target`` may be reached."""
    return frozenset(src for src, targets in ALLOWED_TRANSITIONS.items() if target in targets)


class DeploymentKind(StrEnum):
    """What a deployment publishes: files the client sent (``deploy``), or an earlier version of
    the site again (``rollback``), a preview made the production version (``promote``), a Quick
    Deploy site's live version published into the user's own account (``claim``)."""

    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    PROMOTE = "promote"
    CLAIM = "claim"


class Target(StrEnum):
    """Production is what the site's URL serves; a preview is served at its own URL only."""

    PRODUCTION = "production"
    PREVIEW = "preview"


class HtmlHandling(StrEnum):
    AUTO_TRAILING_SLASH = "auto-trailing-slash"
    FORCE_TRAILING_SLASH = "force-trailing-slash"
    DROP_TRAILING_SLASH = "drop-trailing-slash"
    NONE = "none"


class CamelModel(BaseModel):
    # defer_build: a cold start builds only the models its request touches (every model of the
    # layer defers; SnapStart's init builds them all). pydantic's lazy build is not thread-safe (a
    # model first used in two threads at once may validate with its parent's validator, pydantic
    # #11849), so a model is first used on the invocation's own thread: the worker pools (staging,
    # packs, uploads) handle bytes, dataclasses and dicts, never a model.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, use_enum_values=False, defer_build=True)


class DeploymentOptions(CamelModel):
    spa: bool | None = None
    html_handling: HtmlHandling | None = None


Progress = Annotated[int, Field(ge=0, le=100)]


@dataclass(frozen=True)
class SiteAddress:
    """Where a site lives on its platform: the Cloudflare account and Worker name, or the Amplify app
    (and its region) and branch. A platform reads its own meaning into it; the flows only carry it."""

    account_id: str | None
    name: str
    region: str | None = None


class Place(CamelModel):
    """One place a site holds on its platform: its address and, in Quick Deploy, the pool member
    whose seat it takes. A site holds its current place and, after a move or while being freed,
    former ones (``freeing``: being torn down, never reused), each until it is torn down and given
    back."""

    account_id: str | None = None
    external_name: str
    region: str | None = None
    member_id: str | None = None
    freeing: bool = False

    @property
    def address(self) -> SiteAddress:
        return SiteAddress(account_id=self.account_id, name=self.external_name, region=self.region)

    @property
    def key(self) -> str:
        return f"{self.account_id or '-'}/{self.external_name}"


class DeploymentRecord(CamelModel):
    """One deployment, as stored. ``sealed_credentials`` is KMS ciphertext that exists only while the
    deployment is in flight; it never leaves the records layer in a response."""

    deployment_id: str = Field(alias="id")
    owner_id: str
    chat_id: str | None = None
    project_name: str
    site_id: str
    platform: Platform
    auth_mode: AuthMode
    status: DeploymentStatus = DeploymentStatus.PENDING
    url: str | None = None
    error: str | None = None
    progress: Progress = 0
    external_id: str | None = None
    # Where the site lives on its platform: see SiteAddress.
    account_id: str | None = None
    external_name: str | None = None
    region: str | None = None
    file_count: int = 0
    total_size_bytes: int = 0
    created_at: str
    updated_at: str
    started_at: str | None = None
    completed_at: str | None = None
    expires_at: int | None = None
    options: DeploymentOptions = Field(default_factory=DeploymentOptions)
    sealed_credentials: str | None = None
    # Local stack only: where the emulator serves the site.
    local_url: str | None = None
    # The gates it holds while publishing or building: its site, and a platform job slot.
    holds_site: bool = False
    job_slot: str | None = None
    # Waiting for a gate: what for, and since when (its place in line).
    queue: str | None = None
    queued_at: str | None = None
    # The Site generation it was accepted for: a publish whose site was deleted (or made anew)
    # since then must not be recorded as that site's.
    site_generation: str | None = None
    # The owner's in-flight counter it counts against, until it has ended and let go.
    quota_key: str | None = None
    # The names the site may take, best first, when the one it has is held outside the service
    # (Netlify site names are global); None when the request named its site.
    candidate_names: list[str] | None = None
    kind: DeploymentKind = DeploymentKind.DEPLOY
    target: Target = Target.PRODUCTION
    # rollback, promote, claim: the version whose files it publishes.
    source_deployment_id: str | None = None
    # What the platform needs to serve this version again without an upload (a Cloudflare Worker
    # version id, a Netlify deploy id, a Vercel deployment id), valid at this deployment's address.
    # On a rollback or promote accepted at the source's address: the source's, to activate.
    version_ref: str | None = None
    # A version's own URL, where the platform gives each one (a preview's, or any version's).
    preview_url: str | None = None
    # Local stack only: where the emulator serves ``preview_url``.
    local_preview_url: str | None = None
    # A claim: the Quick Deploy site to tear down once this deployment is ready.
    releases: str | None = None

    @property
    def address(self) -> SiteAddress:
        return SiteAddress(account_id=self.account_id, name=self.external_name or "", region=self.region)


class SiteRecord(CamelModel):
    """A site: the stable target of redeploys of one (owner, platform, project)."""

    site_id: str
    owner_id: str
    platform: Platform
    project_name: str
    auth_mode: AuthMode
    # Worker name (Cloudflare) or branch name (Amplify).
    external_name: str
    # Cloudflare account id, or Amplify app id; with ``region`` for Amplify.
    account_id: str | None = None
    region: str | None = None
    url: str | None = None
    last_deployment_id: str | None = None
    created_at: str
    updated_at: str
    expires_at: int | None = None
    # Platform-managed sites: the pool member they sit in, and the routing profile that put them there.
    member_id: str | None = None
    profile: str | None = None
    # The deployment publishing (or building) the site right now.
    publishing: str | None = None
    # Random, set when the site is made: names, seats and deployments are this generation's; a site
    # made again after it was deleted or expired is another generation and owns none of them.
    generation: str | None = None
    # Bumped by every write that changes where the site is (a deploy, a move, freeing, deletion):
    # such writes are conditional on the revision they read, so none is lost to a race.
    revision: int = 0
    # Places held besides the current one (left by a move, or being torn down).
    former: list[Place] = Field(default_factory=list)
    # Set when its deletion started: nothing new is deployed to it, and in-flight work tears down
    # what it made.
    deleted_at: str | None = None
    # The newest preview accepted for it (previews published in the site's own platform object).
    last_preview_id: str | None = None
    # A site that holds one chat's previews of another site (where previews need a place of their
    # own: an Amplify branch, a Workers for Platforms Worker): that site's id.
    preview_of: str | None = None
    # The production version its URL serves now, and its order ("<createdAt>#<id>").
    live_deployment_id: str | None = None
    live_key: str | None = None
    # The versions it keeps (ready deployments, newest first, at most the VersionsPerSite
    # promise): each can be made live again; older ones cannot.
    versions: list[str] = Field(default_factory=list)

    def published(self, deployment_id: str) -> bool:
        """The site records the deployment as live or as a version it keeps: it was published, so
        it is not pending and never will be again (nothing to supersede, no read to ask)."""
        return deployment_id == self.live_deployment_id or deployment_id in self.versions

    @property
    def address(self) -> SiteAddress:
        return SiteAddress(account_id=self.account_id, name=self.external_name, region=self.region)

    @property
    def current_place(self) -> Place:
        return Place(
            account_id=self.account_id, external_name=self.external_name, region=self.region, member_id=self.member_id
        )

    def places(self) -> list[Place]:
        """Every place the site holds: the current one first."""
        current = self.current_place
        return [current, *(p for p in self.former if p.key != current.key)]


class PreviewMode(StrEnum):
    """Where a platform publishes a preview: in the site's own object beside production
    (Cloudflare Worker versions, Netlify drafts, Vercel preview deployments), the same only once
    production has a version (Vercel makes a project's first deployment production's), or in a
    place of its own (an Amplify branch, a Workers for Platforms Worker)."""

    IN_PLACE = "in-place"
    IN_PLACE_AFTER_PRODUCTION = "in-place-after-production"
    OWN_SITE = "own-site"


class Connection(CamelModel):
    """What the API may show of a connection: never a secret."""

    platform: Platform
    account_id: str | None = None
    account_name: str | None = None
    app_id: str | None = None
    region: str | None = None
    created_at: str
    updated_at: str


class DeploymentStatusResponse(CamelModel):
    """What a poll returns: the front end's DeploymentStatusResponse plus identifying fields."""

    deployment_id: str
    platform: Platform
    status: DeploymentStatus
    url: str | None = None
    error: str | None = None
    progress: Progress = 0
    started_at: str | None = None
    completed_at: str | None = None
    created_at: str
    updated_at: str
    chat_id: str | None = None
    project_name: str
    site_id: str
    auth_mode: AuthMode
    file_count: int = 0
    total_size_bytes: int = 0
    # Present only on the local stack: where the emulator serves the deployed site.
    local_url: str | None = None
    kind: DeploymentKind = DeploymentKind.DEPLOY
    target: Target = Target.PRODUCTION
    source_deployment_id: str | None = None
    # Where this version is served on its own (a preview's URL; any version's, where the platform
    # gives each one), and on the local stack where the emulator serves it.
    preview_url: str | None = None
    local_preview_url: str | None = None

    @classmethod
    def of(cls, record: DeploymentRecord) -> Self:
        return cls(
            kind=record.kind,
            target=record.target,
            source_deployment_id=record.source_deployment_id,
            preview_url=record.preview_url,
            local_preview_url=record.local_preview_url,
            deployment_id=record.deployment_id,
            platform=record.platform,
            status=record.status,
            url=record.url,
            error=record.error,
            progress=record.progress,
            started_at=record.started_at,
            completed_at=record.completed_at,
            created_at=record.created_at,
            updated_at=record.updated_at,
            chat_id=record.chat_id,
            project_name=record.project_name,
            site_id=record.site_id,
            auth_mode=record.auth_mode,
            file_count=record.file_count,
            total_size_bytes=record.total_size_bytes,
            local_url=record.local_url,
        )


class VersionView(DeploymentStatusResponse):
    """One deployment as a version of its site: whether production serves it, and whether it can
    still be made live (a ready version the site keeps)."""

    live: bool = False
    rollback_available: bool = False


class VersionList(CamelModel):
    site_id: str
    live_deployment_id: str | None = None
    # How many versions each site keeps (the rollback promise).
    versions_kept: int
    deployments: list[VersionView]
    next_cursor: str | None = None


class DeploymentList(CamelModel):
    deployments: list[DeploymentStatusResponse]
    next_cursor: str | None = None


class DeployResponse(CamelModel):
    """The 202 answer to a deploy request."""

    success: bool = True
    deployment_id: str
    status: DeploymentStatus
    url: str | None
    status_url: str
    site_id: str
    kind: DeploymentKind = DeploymentKind.DEPLOY
    target: Target = Target.PRODUCTION


# What the Deploy button may offer on one platform.
class PlatformAvailability(CamelModel):
    platform: Platform
    quick_deploy: bool
    connected: bool
    connection: Connection | None = None
    # Whether Quick Deploy has room for one more new site now (False: its pool is full).
    quick_deploy_room: bool | None = None
    # How many more new Quick Deploy sites the caller may have here (their quota).
    quick_deploy_sites_left: int | None = None
    # Whether each Quick Deploy site here is an origin of its own (no other tenant's pages are
    # same-site to it or can set its cookies).
    quick_deploy_isolated: bool | None = None
    # Whether sites here can take custom domains: on the user's own account, and in Quick Deploy
    # (and why not, when not).
    custom_domains: bool | None = None
    quick_deploy_custom_domains: bool | None = None
    quick_deploy_custom_domains_reason: str | None = None


class QuotaUsage(CamelModel):
    """One of the caller's quotas: what it is (``platform`` where it is per platform), its limit,
    and how much of it is used."""

    quota: str
    platform: Platform | None = None
    limit: int
    used: int


class PlatformsOverview(CamelModel):
    platforms: list[PlatformAvailability]
    # The caller's share of the service: a Deploy button past one says so before it is pressed.
    quotas: list[QuotaUsage] = Field(default_factory=list)


class WorkerSummary(CamelModel):
    name: str
    modified_on: str | None = None
    has_assets: bool = False


class AppSummary(CamelModel):
    app_id: str
    name: str
    default_domain: str | None = None


# The settings tab's list of what the user's own account holds (Workers, or Amplify apps).
class PlatformStats(CamelModel):
    platform: Platform
    workers: list[WorkerSummary] | None = None
    apps: list[AppSummary] | None = None
