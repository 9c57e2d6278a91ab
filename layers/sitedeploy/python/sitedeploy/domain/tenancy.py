"""Many tenants on the service's own platform accounts: owned names, pools with capacity, owners'
quotas, and the gates a publish passes (one publish per site at a time; a platform's
concurrent-build quota).

The books, and how they are kept balanced by construction:

- A **name claim** (a Worker, an Amplify branch, a Netlify site, a Vercel project, in one
  namespace) is held by exactly one site generation. In a Quick Deploy pool member the claim *is*
  the site's seat there: a member's ``used`` equals the number of active claims naming it, because
  a claim is taken and given back only in the same transaction as the member's counter. A given-back
  claim cools down for ``NAME_COOLING_SECONDS`` before any site may take the name again, longer than
  any function runs, so a slow teardown can never delete a newcomer's site.
- A **site** holds its current place and, after a move, former ones, until each is torn down and
  given back; every write that changes them is conditional on the site's revision.
- A **pool member** is one place sites are put (a Cloudflare account, an Amplify app) with a
  capacity. The service deletes a member it made only once it is empty in the books *and* the
  platform lists nothing in it.
- An **owner's quotas** are counters taken in the same transaction as what they count.
- A **publish** holds its site (newest accepted deployment first, one at a time) and, on a
  platform with a concurrent-build quota, a **job slot**; what cannot start waits in ``pending``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sitedeploy.domain.errors import ApiError, BadRequest, Conflict
from sitedeploy.domain.models import Platform
from sitedeploy.domain.naming import short_hash

# A given-back name stays unusable this long: more than any function's lifetime (15 minutes), so a
# teardown that started before the name was given back has ended before anyone can reuse it.
NAME_COOLING_SECONDS = 20 * 60


class CapacityExhausted(ApiError):
    status = 503
    code = "capacity_exhausted"


class NameTaken(Conflict):
    code = "name_taken"


class SiteDeleting(Conflict):
    code = "site_deleting"


class PoolAccountRefused(BadRequest):
    code = "pool_account"


class QuotaExceeded(ApiError):
    """An owner's quota is used up: nothing was written. ``details`` names the quota, its limit and,
    where it is known, when room frees (``retryAfter`` seconds)."""

    status = 429
    code = "quota_exceeded"


class MemberFull(Exception):
    """The pool member filled up between choosing it and taking the seat: choose again."""


class StaleRead(Exception):
    """What a write was decided on (the site, a claim, an owner's entry) changed since it was read:
    read again and decide again."""


class Contended(ApiError):
    """Others kept writing the same records at the same moment, every time this was tried."""

    status = 503
    code = "busy"


def pool_key(platform: Platform, member_id: str) -> str:
    """A pool member's item key."""
    return f"POOL#{platform.value}#{member_id}"


def user_namespace(owner_id: str, account_id: str) -> str:
    """Where a user-token site's name is claimed: the user's account, per owner. Only the owner's
    own sites can collide there (the platform's own permissions decide the rest), and a request
    naming somebody else's account with a bogus token claims nothing that owner could ever want."""
    return f"{account_id}~{short_hash(owner_id, length=16)}"


@dataclass(frozen=True)
class NameClaim:
    """A name in a platform namespace (a pool member, or a user's account) and its holder."""

    platform: Platform
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"NAME#{self.platform.value}#{self.namespace}#{self.name}"

    @property
    def index_key(self) -> str:
        """Every active claim in one namespace shares this (the reconciler lists a member's seats)."""
        return names_index_key(self.platform, self.namespace)


def names_index_key(platform: Platform, namespace: str) -> str:
    return f"NAMES#{platform.value}#{namespace}"


@dataclass(frozen=True)
class ClaimHolder:
    """Who holds a name: a site generation, and since when it is given back (cooling), if it is."""

    site_id: str
    generation: str | None
    released_until: float | None = None

    def free_for(self, site_id: str, generation: str | None, now: float) -> bool:
        if self.released_until is not None:
            return self.released_until < now
        return self.site_id == site_id and self.generation == generation


@dataclass(frozen=True)
class PoolMember:
    """A place sites go: ``member_id`` is the Cloudflare account or the Amplify app; sites share an
    Amplify app only when their routing ``profile`` is the same. A ``retiring`` member takes no new
    site: it is being deleted."""

    platform: Platform
    member_id: str
    capacity: int
    used: int = 0
    profile: str | None = None
    region: str | None = None
    domain: str | None = None
    retiring: bool = False

    @property
    def key(self) -> str:
        return pool_key(self.platform, self.member_id)

    @property
    def room(self) -> int:
        return 0 if self.retiring else max(0, self.capacity - self.used)


@dataclass(frozen=True)
class Seat:
    """One site's place in a pool member: its claim there, counted in the member."""

    platform: Platform
    member_id: str

    @property
    def key(self) -> str:
        return pool_key(self.platform, self.member_id)


@dataclass(frozen=True)
class JobSlots:
    """A platform's concurrent-build quota where the service's builds run (one region)."""

    key: str
    limit: int


class PublishGate(StrEnum):
    """What claiming a deployment for publishing found."""

    CLAIMED = "claimed"  # pending → uploading, with the site (and a job slot) held
    TAKEN = "taken"  # not pending any more: another delivery has it, or it ended
    SUPERSEDED = "superseded"  # a newer deployment of the site was accepted
    SITE_BUSY = "site-busy"  # an older deployment of the site is still publishing or building
    NO_SLOT = "no-slot"  # the platform's concurrent builds are all taken
    SITE_DELETED = "site-deleted"  # the site was deleted (or made anew) since it was accepted


class Quota(StrEnum):
    """The per-owner quotas, by the name a 429 and ``GET /platforms`` give them."""

    SITES = "quickDeploySites"  # live Quick Deploy sites on one platform
    PROFILES = "routingProfiles"  # distinct app-wide routing profiles (Amplify apps they need)
    IN_FLIGHT = "deploymentsInFlight"  # deployments not yet ready or failed
    STAGED_BYTES = "stagedBytesPerDay"  # bytes presigned or staged per UTC day
    FILES_PER_UPLOAD = "filesPerUpload"  # files in one /uploads call


# How a 429 names each quota, and when room frees.
QUOTA_NOUNS = {
    Quota.SITES: "Quick Deploy sites on this platform",
    Quota.PROFILES: "distinct routing settings (_headers and _redirects) among your Quick Deploy sites",
    Quota.IN_FLIGHT: "deployments in flight",
    Quota.STAGED_BYTES: "bytes uploaded today",
    Quota.FILES_PER_UPLOAD: "files in one /uploads call",
}
QUOTA_ROOM = {
    Quota.SITES: "room frees when you delete a site or one expires",
    Quota.PROFILES: "room frees when you delete a site with other settings, or give a site the settings of another",
    Quota.IN_FLIGHT: "room frees as your deployments end",
    Quota.STAGED_BYTES: "room frees at midnight UTC",
    Quota.FILES_PER_UPLOAD: "split the files over several calls",
}


def quota_refused(quota: Quota, limit: int, **details: object) -> QuotaExceeded:
    """The 429 for a quota: what it is, its limit, and when room frees."""
    return QuotaExceeded(
        f"you have reached your limit of {limit} {QUOTA_NOUNS[quota]}: {QUOTA_ROOM[quota]}",
        details={"quota": quota.value, "limit": limit, **details},
    )


@dataclass(frozen=True)
class Quotas:
    """The limits an operator sets (template parameters); defaults for a large app builder."""

    sites_per_platform: int = 25
    routing_profiles: int = 3
    deployments_in_flight: int = 5
    staged_bytes_per_day: int = 20 * 1024**3
    files_per_upload: int = 20_000


def quota_owner_key(owner_id: str) -> str:
    """The partition holding an owner's counters and what they count."""
    return f"QUOTA#{short_hash(owner_id, length=26)}"


@dataclass(frozen=True)
class SiteQuota:
    """What a new (or moving) Quick Deploy site takes from its owner's quotas in the commit."""

    platform: Platform
    profile: str | None
    # The site already holds an entry (a redeploy or a move); a new one takes one.
    entry_exists: bool
    # Its profile now, when it has an entry (a move changes it).
    previous_profile: str | None = None
    # Whether the owner already has a site with ``profile`` (else it counts as a new profile).
    profile_known: bool = False
    # A site made now counts against the limits; one made before quotas existed is only counted.
    new_site: bool = True
