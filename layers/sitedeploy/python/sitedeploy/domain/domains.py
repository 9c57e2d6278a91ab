"""Custom domains: the hostnames users attach to their sites, what they must put in their DNS, and
where each one is on its way to serving the site.

A hostname belongs to at most one site across all owners (its item is a conditional claim, like a
site's names). It is checked here before anything is asked of a platform: a name the DNS could
hold (IDNA, 253 characters, 63 per label), never a wildcard, an address or a platform's own
domain, which no user can own."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import AuthMode, CamelModel, Platform

MAX_HOSTNAME = 253
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Domains the platforms own: a user can never prove they hold a name under them.
PLATFORM_DOMAINS = (
    "workers.dev",
    "pages.dev",
    "netlify.app",
    "netlify.com",
    "vercel.app",
    "vercel.com",
    "now.sh",
    "amplifyapp.com",
    "cloudfront.net",
    "amazonaws.com",
    "localhost",
)


class DomainStatus(StrEnum):
    """``pending_verification``: the platform waits for the DNS records (ownership, routing);
    ``pending_certificate``: they are right and the certificate is being issued; ``active``: the
    site answers on the hostname over TLS; ``failed``: the platform gave up (its reason says why)."""

    PENDING_VERIFICATION = "pending_verification"
    PENDING_CERTIFICATE = "pending_certificate"
    ACTIVE = "active"
    FAILED = "failed"

    @property
    def pending(self) -> bool:
        return self in {DomainStatus.PENDING_VERIFICATION, DomainStatus.PENDING_CERTIFICATE}


class DnsRecord(CamelModel):
    """One record the user creates at their DNS provider. ``purpose``: ``routing`` sends the
    hostname's traffic to the platform, ``ownership`` proves the user holds the name,
    ``certificate`` lets the certificate authority validate it."""

    type: str
    name: str
    value: str
    purpose: Literal["routing", "ownership", "certificate"]


@dataclass(frozen=True)
class DomainState:
    """What a platform says of a hostname attached to a site."""

    status: DomainStatus
    records: list[DnsRecord] = field(default_factory=list)
    reason: str | None = None
    # The platform's own id for the attachment (a Workers custom domain, a custom hostname).
    ref: str | None = None


class DomainRecord(CamelModel):
    """A hostname attached to a site, as stored (its item is the hostname's claim)."""

    hostname: str
    site_id: str
    owner_id: str
    platform: Platform
    auth_mode: AuthMode
    site_generation: str | None = None
    status: DomainStatus = DomainStatus.PENDING_VERIFICATION
    records: list[DnsRecord] = []
    reason: str | None = None
    platform_ref: str | None = None
    created_at: str
    updated_at: str
    # When the platform gives up on a pending hostname (epoch seconds).
    deadline: int | None = None


class DomainView(CamelModel):
    """What the API answers for one of a site's domains."""

    hostname: str
    site_id: str
    status: DomainStatus
    records: list[DnsRecord]
    reason: str | None = None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, record: DomainRecord) -> DomainView:
        return cls(
            hostname=record.hostname,
            site_id=record.site_id,
            status=record.status,
            records=record.records,
            reason=record.reason,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class DomainList(CamelModel):
    site_id: str
    domains: list[DomainView]


def normalize_hostname(raw: str, *, forbidden: tuple[str, ...] = ()) -> str:
    """The hostname in its DNS form (lowercase, IDNA), or 400 naming what is wrong with it."""
    text = raw.strip().rstrip(".").lower()
    if not text:
        raise BadRequest("hostname is empty", code="invalid_hostname")
    if "*" in text:
        raise BadRequest(f"{raw!r}: wildcard hostnames are not supported: attach each name", code="invalid_hostname")
    if "://" in text or "/" in text or ":" in text or " " in text:
        raise BadRequest(f"{raw!r} is not a hostname (no scheme, port or path)", code="invalid_hostname")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        raise BadRequest(f"{raw!r} is an address, not a hostname", code="invalid_hostname")
    try:
        ascii_form = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadRequest(f"{raw!r} is not a valid internationalised hostname", code="invalid_hostname") from None
    labels = ascii_form.split(".")
    if len(labels) < 2:
        raise BadRequest(f"{raw!r} has no domain: give the full name, e.g. www.example.com", code="invalid_hostname")
    if len(ascii_form) > MAX_HOSTNAME:
        raise BadRequest(f"{raw!r} is longer than {MAX_HOSTNAME} characters", code="invalid_hostname")
    bad = [label for label in labels if not LABEL.match(label)]
    if bad:
        raise BadRequest(
            f"{raw!r}: the label {bad[0]!r} must be 1-63 letters, digits or '-', not starting or ending with '-'",
            code="invalid_hostname",
        )
    if labels[-1].isdigit():
        raise BadRequest(f"{raw!r} has a numeric top-level domain", code="invalid_hostname")
    for owned in (*PLATFORM_DOMAINS, *forbidden):
        if ascii_form == owned or ascii_form.endswith(f".{owned}"):
            raise BadRequest(
                f"{raw!r} is under {owned}, a platform's own domain: attach a domain you hold",
                code="invalid_hostname",
            )
    return ascii_form


def apex_of(hostname: str) -> str:
    """The registrable domain a hostname is under, as the platforms guess it (the last two labels;
    a public suffix of two labels, like co.uk, needs the zone the user names)."""
    labels = hostname.split(".")
    return ".".join(labels[-2:])
