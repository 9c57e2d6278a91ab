"""Workers Custom Domains: a hostname of a zone in the user's own account, attached to their site's
Worker (user-token mode).

The zone is found as wrangler finds it: ``GET /zones?name=<candidate>&account.id=<a>`` for the
hostname and then each parent, longest first (a zone can be a subdomain on Enterprise plans, so the
registrable domain is not guessed). The zone must be active: its name servers are Cloudflare's, or
nothing it holds is reached. Attaching is ``PUT /accounts/{a}/workers/domains`` (account-level and
additive: the script-level ``domains/records`` replaces every domain of the Worker). Cloudflare
then makes the DNS record itself and issues an advanced certificate for the hostname, so the user
creates no records; the Domains API has no certificate status, so the hostname is active once a
certificate pack of the zone covering it is (``GET /zones/{z}/ssl/certificate_packs?status=all``).
"""

from __future__ import annotations

from typing import Any

from sitedeploy.domain.domains import DomainState, DomainStatus
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError

# A certificate pack in any of these will not become active without someone acting.
PACK_FAILED = frozenset(
    {
        "initializing_timed_out",
        "validation_timed_out",
        "issuance_timed_out",
        "deployment_timed_out",
        "deletion_timed_out",
        "expired",
        "deleted",
        "inactive",
    }
)
# Statuses of a zone that take no custom domain (``initializing``, ``pending``: name servers not
# delegated yet; ``moved``: they were changed away).
ZONE_ACTIVE = "active"


def _candidates(hostname: str) -> list[str]:
    """``a.b.example.com`` → ``a.b.example.com``, ``b.example.com``, ``example.com``."""
    labels = hostname.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def find_zone(api: CloudflareApi, account_id: str, hostname: str) -> dict[str, Any]:
    """The account's zone holding ``hostname``; CloudflareError 409 (saying what to do) when none
    does or when it is not active."""
    for candidate in _candidates(hostname):
        _, zones = api.call(
            "GET", "/zones", query={"name": candidate, "account.id": account_id}, what="finding the domain's zone"
        )
        found = next((z for z in zones or [] if isinstance(z, dict) and z.get("id")), None)
        if found is None:
            continue
        status = str(found.get("status") or "unknown")
        if status != ZONE_ACTIVE:
            servers = ", ".join(str(s) for s in found.get("name_servers") or [])
            hint = f" (set its name servers to {servers})" if servers and status in {"pending", "initializing"} else ""
            raise CloudflareError(
                f"the zone {found.get('name') or candidate} is {status} on Cloudflare, not active: finish adding it "
                f"to your account{hint} before attaching {hostname}",
                status=409,
            )
        return dict(found)
    raise CloudflareError(
        f"no Cloudflare zone on your account holds {hostname}: add the domain to your Cloudflare account first",
        status=409,
    )


def attach_custom_domain(api: CloudflareApi, account_id: str, worker: str, hostname: str) -> DomainState:
    """Attach ``hostname`` to the Worker in its zone: Cloudflare makes its record and certificate.
    Attaching it again to the same Worker is the same attachment (a retried attach)."""
    zone = find_zone(api, account_id, hostname)
    _, domain = api.call(
        "PUT",
        f"/accounts/{account_id}/workers/domains",
        # ``environment`` is deprecated but older API versions required it, with ``zone_id``.
        json_body={"hostname": hostname, "service": worker, "zone_id": zone["id"], "environment": "production"},
        what="attaching the custom domain",
    )
    if not isinstance(domain, dict) or not domain.get("id"):
        raise CloudflareError("Cloudflare answered the custom domain's attachment without its id")
    return _state(api, hostname, domain)


def custom_domain_state(api: CloudflareApi, account_id: str, worker: str, hostname: str) -> DomainState:
    """Where the attachment is: gone or moved to another Worker (failed), its certificate being
    issued, or active."""
    domain = _find(api, account_id, hostname)
    if domain is None:
        return DomainState(
            DomainStatus.FAILED, reason=f"Cloudflare no longer attaches {hostname} to a Worker: attach it again"
        )
    if domain.get("service") != worker:
        return DomainState(
            DomainStatus.FAILED,
            reason=f"Cloudflare now attaches {hostname} to another Worker ({domain.get('service')})",
            ref=str(domain.get("id")),
        )
    return _state(api, hostname, domain)


def detach_custom_domain(api: CloudflareApi, account_id: str, worker: str, hostname: str, ref: str | None) -> None:
    """Detach it (its record and certificate go with it); gone already is done. A hostname now
    attached to another Worker is left alone: it is not this site's any more."""
    domain_id = ref
    if domain_id is None:
        found = _find(api, account_id, hostname)
        if found is None or found.get("service") != worker:
            return
        domain_id = str(found["id"])
    try:
        api.call("DELETE", f"/accounts/{account_id}/workers/domains/{domain_id}", what="detaching the custom domain")
    except CloudflareError as exc:
        if exc.status != 404:
            raise


def _find(api: CloudflareApi, account_id: str, hostname: str) -> dict[str, Any] | None:
    _, listed = api.call(
        "GET",
        f"/accounts/{account_id}/workers/domains",
        query={"hostname": hostname},
        what="reading the custom domain",
    )
    return next((d for d in listed or [] if isinstance(d, dict) and d.get("hostname") == hostname), None)


def _covers(hosts: list[Any], hostname: str) -> bool:
    parent = hostname.split(".", 1)[1] if "." in hostname else ""
    return hostname in hosts or (bool(parent) and f"*.{parent}" in hosts)


def _state(api: CloudflareApi, hostname: str, domain: dict[str, Any]) -> DomainState:
    """Active once a certificate pack covering the hostname is: the attachment's own pack
    (``cert_id``) first, else any of the zone's that covers it."""
    ref = str(domain["id"])
    zone_id = domain.get("zone_id")
    if not zone_id:
        raise CloudflareError("Cloudflare answered the custom domain without its zone")
    try:
        _, packs = api.call(
            "GET",
            f"/zones/{zone_id}/ssl/certificate_packs",
            query={"status": "all"},
            what="reading the zone's certificates",
        )
    except CloudflareError as exc:
        if exc.status != 403:
            raise
        return DomainState(
            DomainStatus.PENDING_CERTIFICATE,
            reason="Cloudflare is issuing the certificate; the token cannot read the zone's certificates to follow it "
            "(grant it Zone → SSL and Certificates → Read)",
            ref=ref,
        )
    listed = [p for p in packs or [] if isinstance(p, dict)]
    own = [p for p in listed if domain.get("cert_id") and p.get("id") == domain.get("cert_id")]
    covering = own or [p for p in listed if _covers(list(p.get("hosts") or []), hostname)]
    statuses = {str(p.get("status")) for p in covering}
    if "active" in statuses:
        return DomainState(DomainStatus.ACTIVE, ref=ref)
    if statuses and statuses <= PACK_FAILED:
        return DomainState(
            DomainStatus.FAILED,
            reason=f"Cloudflare could not issue the certificate for {hostname} ({', '.join(sorted(statuses))})",
            ref=ref,
        )
    where = ", ".join(sorted(statuses)) or "not started"
    return DomainState(
        DomainStatus.PENDING_CERTIFICATE,
        reason=f"Cloudflare made the DNS record and is issuing the certificate ({where})",
        ref=ref,
    )
