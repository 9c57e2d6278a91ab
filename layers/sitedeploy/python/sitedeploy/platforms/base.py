"""What a hosting platform is to the service, and what platforms share.

A platform (``platforms/<name>/``) knows its API, its credentials, where a deployment goes, how to
publish, how to follow a build, how to tear a site down, how to check credentials and list what an
account holds. It knows nothing of DynamoDB or HTTP events: the flows hand it typed inputs and
record what it answers. ``HostingPlatform`` is that contract; the registry maps each Platform to one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypedDict, TypeVar, overload

from pydantic import BaseModel, ConfigDict
from urllib3 import BaseHTTPResponse
from urllib3.util.retry import Retry

from sitedeploy.domain.domains import DomainState
from sitedeploy.domain.models import (
    AuthMode,
    Connection,
    DeploymentRecord,
    DeploymentStatus,
    Platform,
    PlatformStats,
    PreviewMode,
    SiteAddress,
    Target,
)
from sitedeploy.domain.tenancy import JobSlots, PoolMember

if TYPE_CHECKING:
    from sitedeploy.domain.requests import DeployRequest
    from sitedeploy.settings import Settings


@dataclass(frozen=True)
class SiteFile:
    """One served file: relative POSIX path, the sha256 of its bytes, its size and content type."""

    path: str
    sha256: str
    size: int
    content_type: str


# Reads a file's bytes (verified against its sha256 by the store).
BlobReader = Callable[[SiteFile], bytes]
# Reads a file as chunks (verified against its sha256 by the store before the last one).
StreamReader = Callable[[SiteFile], Iterator[bytes]]
# Told which files are about to be read, so their bytes can be fetched ahead of the reads.
Prefetch = Callable[[Sequence[SiteFile]], None]
# Called as bytes reach the platform: (bytes sent so far, bytes to send in all).
Progress = Callable[[int, int], None]
# Told of a content whose SHA-1 was just computed from bytes in hand (its sha256, its SHA-1, the
# bytes): a platform that stores files by digest may send it while the rest is still being read.
FreshDigest = Callable[[str, str, bytes], None]


class Sha1Digests(Protocol):
    """The SHA-1 of each file's bytes, by its sha256 (Netlify and Vercel address files by SHA-1;
    staging by sha256). The publish flow remembers what it has computed, so a redeploy reads only
    new content; ``fresh`` hears of each content computed now (new to the site) whose bytes were
    read whole, which is what the platform most likely lacks."""

    def __call__(self, files: Sequence[SiteFile], *, fresh: FreshDigest | None = None) -> Mapping[str, str]: ...


DIGEST_READERS = 8
# The largest content a SHA-1 pass hands ``fresh`` (the size of a pack's largest member).
FRESH_MAX_BYTES = 1024 * 1024
# Platform calls made inside API functions (a request, status polls, the domain refresher: 10-29 s
# Lambdas): one retry, short reads, and a 429's wait capped, so that a slow or throttled platform
# answers the caller with an error rather than timing the function out halfway through.
QUICK_ATTEMPTS = 2
QUICK_TIMEOUT = 4.0
QUICK_RETRY_AFTER_CAP = 2.0
QUICK_BACKOFF_CAP = 0.5


class ClientBounds(TypedDict):
    """How a platform API client retries and waits (its constructor's keyword arguments)."""

    backoff: float
    retry_after_cap: float
    attempts: int
    timeout: float


def client_bounds(settings: Settings, *, quick: bool, attempts: int = 5, timeout: float = 60.0) -> ClientBounds:
    """A client's bounds from the operator's settings; ``quick`` for calls inside API functions."""
    backoff, retry_after_cap = settings.retry_backoff_seconds, settings.retry_after_cap_seconds
    if not quick:
        return ClientBounds(backoff=backoff, retry_after_cap=retry_after_cap, attempts=attempts, timeout=timeout)
    return ClientBounds(
        backoff=min(backoff, QUICK_BACKOFF_CAP),
        retry_after_cap=min(retry_after_cap, QUICK_RETRY_AFTER_CAP),
        attempts=QUICK_ATTEMPTS,
        timeout=QUICK_TIMEOUT,
    )


@dataclass(frozen=True)
class PublishResult:
    url: str
    external_id: str | None
    uploaded_files: int
    uploaded_bytes: int
    version_ref: str | None = None
    preview_url: str | None = None


class UserCredentials(BaseModel):
    """A user's own credentials for one platform: the body of ``PUT /platform-tokens/{platform}``,
    what is sealed into a stored connection or onto a deployment, and what a platform acts with.
    Wire names are the payload's keys; unknown fields are refused."""

    model_config = ConfigDict(defer_build=True)

    def payload(self) -> dict[str, Any]:
        """The plaintext that is sealed: secrets revealed, ``None`` left out."""
        raise NotImplementedError


@dataclass(frozen=True)
class PlatformLimits:
    """Bounds checked before any work."""

    max_files: int
    max_file_bytes: int
    max_site_bytes: int | None = None


@dataclass(frozen=True)
class DeployPlan:
    """What a deployment needs from the platform, before it is placed.

    ``pooled``: it goes into the service's pool (Quick Deploy), placed by the flows in a member with
    room whose ``profile`` (the app-wide settings it needs, when a platform has any) matches.
    Otherwise it goes to ``account_id``, the user's own account or app (None: one is made when
    publishing). ``names`` are the candidate names, best first; ``explicit_name`` when the request
    named it (then no other name will do)."""

    names: tuple[str, ...]
    pooled: bool
    account_id: str | None = None
    region: str | None = None
    explicit_name: bool = False
    profile: str | None = None
    # The platform's own description of the app-wide settings (what ``grow_pool`` applies).
    settings: object | None = None


@dataclass(frozen=True)
class SiteConfig:
    """How the site answers: SPA fallback, html handling, and the ``_headers`` / ``_redirects`` text."""

    spa: bool | None = None
    html_handling: str | None = None
    headers_text: str | None = None
    redirects_text: str | None = None

    def single_page_app(self, paths: set[str] | frozenset[str]) -> bool:
        """Whether unknown paths answer ``index.html`` with 200. Unset, the files decide, the same
        on every platform: an ``index.html`` and no ``404.html`` is a single-page app."""
        if self.spa is not None:
            return self.spa
        return "index.html" in paths and "404.html" not in paths


@dataclass(frozen=True)
class PublishJob:
    deployment_id: str
    owner_id: str
    address: SiteAddress
    files: list[SiteFile]
    config: SiteConfig
    read: StreamReader
    progress: Progress
    # None: computed by reading the files (what a job without a digest store does).
    digests: Sha1Digests | None = field(default=None, compare=False)
    # A preview is published beside production, which keeps serving what it served; ``preview_key``
    # names the preview URL it takes over (one per chat), where the platform has such URLs.
    target: Target = Target.PRODUCTION
    preview_key: str | None = None
    # Called with the files a platform is about to read (the uploads it was asked for, a whole
    # site for a zip) before it reads them one by one.
    prefetch: Prefetch = field(default=lambda files: None, compare=False)

    def read_all(self, site_file: SiteFile) -> bytes:
        return b"".join(self.read(site_file))

    def sha1s(self, files: Sequence[SiteFile], *, fresh: FreshDigest | None = None) -> Mapping[str, str]:
        """sha256 → SHA-1 of the bytes, for every file given (each verified as it is read). Only a
        digest store tells ``fresh``: without one, nothing says which contents are new."""
        if self.digests is not None:
            return self.digests(files, fresh=fresh)
        return compute_sha1s(files, self.read)


def compute_sha1s(files: Sequence[SiteFile], read: StreamReader, *, fresh: FreshDigest | None = None) -> dict[str, str]:
    """Stream each distinct content once, in parallel, hashing as it goes. ``fresh`` hears of the
    small ones (up to ``FRESH_MAX_BYTES``, kept whole as they stream); a larger one is never held."""
    unique = list({f.sha256: f for f in files}.values())

    def one(site_file: SiteFile) -> tuple[str, str]:
        digest = hashlib.sha1(usedforsecurity=False)
        told = fresh if site_file.size <= FRESH_MAX_BYTES else None
        kept: list[bytes] = []
        for chunk in read(site_file):
            digest.update(chunk)
            if told is not None:
                kept.append(chunk)
        sha1 = digest.hexdigest()
        if told is not None:
            told(site_file.sha256, sha1, b"".join(kept))
        return site_file.sha256, sha1

    if len(unique) <= 1:
        return dict(one(f) for f in unique)
    with ThreadPoolExecutor(max_workers=min(DIGEST_READERS, len(unique)), thread_name_prefix="sha1") as pool:
        return dict(pool.map(one, unique))


@dataclass(frozen=True)
class Published:
    """What publishing did: ``ready`` (served now) or ``building`` (the platform builds; poll it).
    ``address`` is set when publishing placed the site itself (a user's new Amplify app)."""

    status: DeploymentStatus
    progress: int
    url: str
    external_id: str | None
    uploaded_files: int
    uploaded_bytes: int
    address: SiteAddress | None = None
    # What makes this version live again with no upload (see ``HostingPlatform.activate``), and
    # the version's own URL where the platform gives one (a preview's is where it is served).
    version_ref: str | None = None
    preview_url: str | None = None


@dataclass(frozen=True)
class BuildState:
    """A platform build as our statuses see it, with the platform's own status and reason."""

    status: DeploymentStatus
    progress: int
    error: str | None
    job_status: str
    # The public URL, when the platform settles it only as the build ends (Vercel's alias).
    url: str | None = None


class HostingPlatform(Protocol):
    """What a hosting platform does for the service. ``credentials`` is ``None`` for a
    platform-managed (Quick Deploy) site: the platform then acts with the service's own account."""

    platform: ClassVar[Platform]
    credentials_model: ClassVar[type[UserCredentials]]
    # The body of its deploy route (what a deployment the service makes itself is built as).
    request_model: ClassVar[type[DeployRequest]]

    @property
    def limits(self) -> PlatformLimits: ...

    def quick_deploy_available(self) -> bool:
        """Whether the service has an account of its own here (the Deploy button's Quick Deploy)."""
        ...

    def quick_deploy_isolated(self) -> bool:
        """Whether each Quick Deploy site is an origin (a registrable site) of its own: no other
        tenant's page is same-site to it or can set its cookies."""
        ...

    def plan(
        self,
        owner_id: str,
        request: DeployRequest,
        credentials: UserCredentials | None,
        config: SiteConfig,
        paths: frozenset[str],
    ) -> DeployPlan:
        """Where the deployment may go; raises ApiError (4xx) before anything is written."""
        ...

    # -- the service's pool --------------------------------------------------------------------

    def fixed_members(self) -> list[PoolMember]:
        """Members the configuration names (Cloudflare accounts in the platform secret)."""
        ...

    def pool_limit(self) -> int:
        """How many members the service may create itself (Amplify apps); 0 when it creates none."""
        ...

    def grow_pool(self, plan: DeployPlan) -> PoolMember:
        """Create one more member for the plan's profile (the caller reserved the room for it)."""
        ...

    def remove_member(self, member: PoolMember) -> None:
        """Delete a member nobody sits in any more (only members the service created). Asks the
        platform first: raises PlatformError, deleting nothing, while it holds anything."""
        ...

    def pool_objects(self, member: PoolMember) -> list[PlacedObject]:
        """What the platform holds in a pool member under the service's names (for the reconciler)."""
        ...

    def unlisted_members(self) -> list[PlacedObject]:
        """Members the service made that the platform lists (Amplify apps with the pool's tag)."""
        ...

    def site_url(
        self, address: SiteAddress, member: PoolMember | None, credentials: UserCredentials | None = None
    ) -> str | None:
        """The public URL of a site at ``address``, when it can be known before publishing."""
        ...

    def job_slots(self, record: DeploymentRecord) -> JobSlots | None:
        """The concurrent-build quota this deployment's build counts against, if the platform has one."""
        ...

    # -- publishing and after ------------------------------------------------------------------

    def publish(self, job: PublishJob, credentials: UserCredentials | None) -> Published: ...

    def preview_mode(self, plan: DeployPlan) -> PreviewMode:
        """Where a preview of a site so planned is published (see PreviewMode)."""
        ...

    # -- custom domains ---------------------------------------------------------------------------

    def domain_support(self, auth_mode: AuthMode, member_id: str | None) -> str | None:
        """None when a site in this mode (and pool member) can take custom domains; else why not."""
        ...

    def own_domains(self) -> tuple[str, ...]:
        """Domains the service serves sites under here, which no user can attach (the Workers for
        Platforms domain)."""
        ...

    def domain_deadline_seconds(self) -> int:
        """How long the platform waits for a hostname's DNS before it gives up."""
        ...

    def attach_domain(self, address: SiteAddress, hostname: str, credentials: UserCredentials | None) -> DomainState:
        """Attach ``hostname`` to the site: what the platform says, with the records to create."""
        ...

    def domain_state(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> DomainState: ...

    def detach_domain(
        self, address: SiteAddress, hostname: str, ref: str | None, credentials: UserCredentials | None
    ) -> None:
        """Detach it; a hostname already gone is no error (PlatformError 404 at most)."""
        ...

    def activate(self, address: SiteAddress, version_ref: str, credentials: UserCredentials | None) -> Published | None:
        """Make an earlier version of the site at ``address`` the one production serves, by the
        platform's own means and with no upload (a Cloudflare deployment of a Worker version,
        Netlify's restore, Vercel's promote). None when the platform has no such means or no longer
        holds the version: the service then publishes the version's files again."""
        ...

    def refresh(self, address: SiteAddress, external_id: str, credentials: UserCredentials | None) -> BuildState:
        """The state of a build ``publish`` started (only asked while a deployment is ``building``)."""
        ...

    def tear_down(self, address: SiteAddress, credentials: UserCredentials | None) -> bool:
        """Delete the site; False when it was already gone (which is what was wanted)."""
        ...

    def verify(self, credentials: UserCredentials) -> Connection: ...

    def stats(self, credentials: UserCredentials) -> PlatformStats: ...


# PlatformError.code when a name the service chose is held outside it (Netlify's names are global):
# the flows move the site to its next candidate name.
NAME_UNAVAILABLE = "name_unavailable"


@dataclass(frozen=True)
class PlacedObject:
    """Something the platform holds in a pool member (a Worker, a branch, a Netlify site, a
    Vercel project), as its own listing shows it: the reconciler's view of what is really there."""

    name: str
    # When it last changed (epoch seconds), when the platform says; None when it does not.
    updated_at: float | None = None
    # Where it is, for what has a region (an Amplify app).
    region: str | None = None


class PlatformError(Exception):
    """The platform refused or failed; ``message`` is the platform's own words, never a secret."""

    def __init__(self, message: str, *, status: int | None = None, code: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    @property
    def transient(self) -> bool:
        """Whether asking again later may answer otherwise: no answer at all (the retries ran
        out on the transport), a rate limit, or the platform's own failure."""
        return self.status is None or self.status == 429 or self.status >= 500


class CappedRetry(Retry):
    """urllib3's Retry (exponential backoff with jitter, Retry-After honoured) with Retry-After
    capped, so a platform asking for an hour cannot hold a 15-minute Lambda hostage. A platform
    that names its rate limit's reset elsewhere (a header, the body) says so in ``reset_wait``:
    a 429 without Retry-After waits for that instead, capped the same way."""

    retry_after_cap: float = 30.0

    def reset_wait(self, response: BaseHTTPResponse) -> float | None:
        """Seconds until the rate limit resets, when a 429 names it other than by Retry-After."""
        return None

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value: float | None = super().get_retry_after(response)
        if value is None and response.status == 429:
            value = self.reset_wait(response)
        if value is None:
            return None
        return min(max(float(value), 0.0), self.retry_after_cap)

    def new(self, **kwargs):  # type: ignore[no-untyped-def]
        fresh = super().new(**kwargs)
        fresh.retry_after_cap = self.retry_after_cap
        return fresh


R = TypeVar("R", bound=CappedRetry)


@overload
def retry_policy(
    *, attempts: int, backoff: float, backoff_max: float = ..., retry_after_cap: float = ...
) -> CappedRetry: ...


@overload
def retry_policy(
    *, attempts: int, backoff: float, backoff_max: float = ..., retry_after_cap: float = ..., retry_class: type[R]
) -> R: ...


def retry_policy(
    *,
    attempts: int,
    backoff: float,
    backoff_max: float = 16.0,
    retry_after_cap: float = 30.0,
    retry_class: type[CappedRetry] = CappedRetry,
) -> CappedRetry:
    """``attempts`` tries in all on 429/5xx/524 and on connection resets, for every method. Most
    calls are idempotent on the platform's side (same hashes, same completion token, PUT of the
    same bytes). Two are not: creating a Netlify deploy and a Vercel deployment. A retry after a
    lost answer there leaves one extra deploy on the platform (Netlify's never published, Vercel's
    an identical production deployment superseded at once), which is better than failing the
    user's deployment for a transient error."""
    policy = retry_class(
        total=attempts - 1,
        connect=attempts - 1,
        read=attempts - 1,
        status=attempts - 1,
        other=attempts - 1,
        backoff_factor=backoff,
        backoff_max=backoff_max,
        backoff_jitter=backoff / 2,
        status_forcelist=frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524}),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    policy.retry_after_cap = retry_after_cap
    return policy
