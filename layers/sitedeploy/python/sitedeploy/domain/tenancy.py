"""Many tenants on the service's own platform accounts: owned names, pools with capacity, and the
gates a publish passes (one publish per site at a time; a platform's concurrent-build quota).

- A **name** (a Worker, an Amplify branch) is claimed by exactly one site before it is used, so a
  name another tenant's site holds is never reused for this one.
- A **pool member** is one place sites are put (a Cloudflare account, an Amplify app) with a
  capacity; a seat is taken with a conditional write when a site is placed and given back when it
  is torn down.
- A **publish** holds its site (newest accepted deployment first, one at a time) and, on a platform
  with a concurrent-build quota, a **job slot**; what cannot start waits in ``pending``, queued."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sitedeploy.domain.errors import ApiError, Conflict
from sitedeploy.domain.models import Platform


class CapacityExhausted(ApiError):
    status = 503
    code = "capacity_exhausted"


class NameTaken(Conflict):
    code = "name_taken"


class MemberFull(Exception):
    """The pool member filled up between choosing it and taking the seat: choose again."""


def pool_key(platform: Platform, member_id: str) -> str:
    """A pool member's item key: the member itself and every seat in it name it the same way."""
    return f"POOL#{platform.value}#{member_id}"


@dataclass(frozen=True)
class NameClaim:
    """A name in a platform namespace (an account's Workers, an app's branches) and its holder."""

    platform: Platform
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"NAME#{self.platform.value}#{self.namespace}#{self.name}"


@dataclass(frozen=True)
class PoolMember:
    """A place sites go: ``member_id`` is the Cloudflare account or the Amplify app; sites share an
    Amplify app only when their routing ``profile`` is the same."""

    platform: Platform
    member_id: str
    capacity: int
    used: int = 0
    profile: str | None = None
    region: str | None = None
    domain: str | None = None

    @property
    def key(self) -> str:
        return pool_key(self.platform, self.member_id)

    @property
    def room(self) -> int:
        return max(0, self.capacity - self.used)


@dataclass(frozen=True)
class Seat:
    """One site's place in a pool member (what teardown gives back)."""

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
