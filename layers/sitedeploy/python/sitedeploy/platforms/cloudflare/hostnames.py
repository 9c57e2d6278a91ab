"""Cloudflare for SaaS custom hostnames: a user's hostname served by their Quick Deploy site in the
operator's Workers for Platforms namespace, through the operator's zone.

Attaching writes the hostname's Worker into the ``HOSTS`` KV namespace the dispatch Worker reads
(custom metadata would carry it, but is an Enterprise add-on), then creates the custom hostname
with TXT certificate validation (``{"method": "txt", "type": "dv"}``: the user can create every
record before pointing the name at us, with no downtime). The user then creates:

- ``CNAME <hostname> → fallback.<domain>`` (routing; at an apex, their provider's CNAME flattening
  or ALIAS: apex proxying with A records is an Enterprise add-on),
- ``TXT _cf-custom-hostname.<hostname>`` (ownership; the CNAME alone also proves it),
- ``TXT _acme-challenge.<hostname>`` (the certificate's validation).

The hostname is active when Cloudflare says both it and its certificate are. Cloudflare retries its
validation for 7 days, then moves the hostname and later deletes it. The POST may answer before the
certificate's validation records exist (Cloudflare's documented lag), so attaching reads the
hostname once more; a later read fills in what is still missing."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

from sitedeploy.domain.domains import DnsRecord, DomainState, DomainStatus
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError

DEADLINE_SECONDS = 7 * 24 * 3600  # Cloudflare's validation schedule: 75 retries over 7 days
# The hostname's own statuses that end it: Cloudflare gave up, or someone blocked or removed it.
HOSTNAME_FAILED = frozenset(
    {"moved", "deleted", "pending_deletion", "blocked", "pending_blocked", "test_blocked", "test_failed"}
)
SSL_FAILED = frozenset(
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
CODE_DUPLICATE = 1406


def _kv_path(account_id: str, kv_id: str, hostname: str) -> str:
    return f"/accounts/{account_id}/storage/kv/namespaces/{kv_id}/values/{quote(hostname, safe='')}"


def attach_hostname(
    api: CloudflareApi, zone_id: str, *, account_id: str, kv_id: str, hostname: str, worker: str, target: str
) -> DomainState:
    """Map the hostname to the site's Worker, create it on the zone (or find the one an earlier,
    interrupted attach made: the service's claim makes any such hostname this site's), and say what
    the user must create."""
    api.call(
        "PUT",
        _kv_path(account_id, kv_id, hostname),
        body=worker.encode(),
        content_type="text/plain",
        what="mapping the custom hostname to its site",
    )
    try:
        _, found = api.call(
            "POST",
            f"/zones/{zone_id}/custom_hostnames",
            json_body={"hostname": hostname, "ssl": {"method": "txt", "type": "dv"}},
            what="creating the custom hostname",
        )
    except CloudflareError as exc:
        found = _find(api, zone_id, hostname) if exc.status == 409 or exc.code == CODE_DUPLICATE else None
        if found is None:
            with contextlib.suppress(CloudflareError):  # refused: no mapping left behind, if it can be
                _unmap(api, account_id, kv_id, hostname)
            raise
    if not isinstance(found, dict) or not found.get("id"):
        raise CloudflareError("Cloudflare answered the custom hostname's creation without its id")
    if not _validation_records(found):
        found = _get(api, zone_id, str(found["id"])) or found
    return hostname_state(found, target)


def hostname_state_of(api: CloudflareApi, zone_id: str, hostname: str, ref: str | None, target: str) -> DomainState:
    """What Cloudflare says of the custom hostname now; gone is failed (Cloudflare deletes one it
    could not validate)."""
    found = _get(api, zone_id, ref) if ref else _find(api, zone_id, hostname)
    if found is None or found.get("hostname") != hostname:
        return DomainState(
            DomainStatus.FAILED,
            reason=f"Cloudflare no longer holds the custom hostname {hostname} (it deletes those it cannot validate "
            "in 7 days): attach it again",
        )
    return hostname_state(found, target)


def detach_hostname(
    api: CloudflareApi, zone_id: str, *, account_id: str, kv_id: str, hostname: str, ref: str | None
) -> None:
    """Delete the custom hostname (its certificate goes with it), then its mapping; gone is done."""
    found_id = ref
    if found_id is None:
        found = _find(api, zone_id, hostname)
        found_id = str(found["id"]) if found else None
    if found_id is not None:
        try:
            api.call("DELETE", f"/zones/{zone_id}/custom_hostnames/{found_id}", what="deleting the custom hostname")
        except CloudflareError as exc:
            if exc.status != 404:
                raise
    _unmap(api, account_id, kv_id, hostname)


def _unmap(api: CloudflareApi, account_id: str, kv_id: str, hostname: str) -> None:
    try:
        api.call("DELETE", _kv_path(account_id, kv_id, hostname), what="unmapping the custom hostname")
    except CloudflareError as exc:
        if exc.status != 404:
            raise


def _get(api: CloudflareApi, zone_id: str, hostname_id: str) -> dict[str, Any] | None:
    try:
        _, found = api.call("GET", f"/zones/{zone_id}/custom_hostnames/{hostname_id}", what="reading the hostname")
    except CloudflareError as exc:
        if exc.status == 404:
            return None
        raise
    return found if isinstance(found, dict) else None


def _find(api: CloudflareApi, zone_id: str, hostname: str) -> dict[str, Any] | None:
    _, listed = api.call(
        "GET", f"/zones/{zone_id}/custom_hostnames", query={"hostname": hostname}, what="finding the custom hostname"
    )
    return next((h for h in listed or [] if isinstance(h, dict) and h.get("hostname") == hostname), None)


def _validation_records(found: dict[str, Any]) -> list[dict[str, Any]]:
    ssl = found.get("ssl")
    records = ssl.get("validation_records") if isinstance(ssl, dict) else None
    return [r for r in records or [] if isinstance(r, dict) and r.get("txt_name") and r.get("txt_value")]


def hostname_records(found: dict[str, Any], target: str) -> list[DnsRecord]:
    """The records the user creates: routing, ownership, and the certificate's (once Cloudflare
    gives them; they go when the certificate is issued)."""
    hostname = str(found["hostname"])
    records = [DnsRecord(type="CNAME", name=hostname, value=target, purpose="routing")]
    ownership = found.get("ownership_verification")
    if isinstance(ownership, dict) and ownership.get("name") and ownership.get("value"):
        records.append(
            DnsRecord(type="TXT", name=str(ownership["name"]), value=str(ownership["value"]), purpose="ownership")
        )
    records += [
        DnsRecord(type="TXT", name=str(r["txt_name"]), value=str(r["txt_value"]), purpose="certificate")
        for r in _validation_records(found)
    ]
    return records


def hostname_state(found: dict[str, Any], target: str) -> DomainState:
    """Cloudflare's two statuses as ours: the hostname ``pending`` → pending_verification; active
    with its certificate not yet → pending_certificate; both active → active; moved, deleted or
    blocked, or a certificate that timed out → failed, with Cloudflare's words."""
    ref = str(found["id"])
    records = hostname_records(found, target)
    status = str(found.get("status") or "pending")
    ssl: dict[str, Any] = found["ssl"] if isinstance(found.get("ssl"), dict) else {}
    ssl_status = str(ssl.get("status") or "initializing")
    errors = [str(e) for e in found.get("verification_errors") or []]
    errors += [str(e.get("message")) for e in ssl.get("validation_errors") or [] if isinstance(e, dict)]
    said = f": {'; '.join(errors)}" if errors else ""
    if status in HOSTNAME_FAILED:
        return DomainState(DomainStatus.FAILED, records, f"Cloudflare gave up on the hostname ({status}){said}", ref)
    if status not in ("active", "active_redeploying"):
        reason = f"Cloudflare waits for the DNS records{said}"
        return DomainState(DomainStatus.PENDING_VERIFICATION, records, reason, ref)
    if ssl_status == "active":
        return DomainState(DomainStatus.ACTIVE, records, None, ref)
    if ssl_status in SSL_FAILED:
        reason = f"Cloudflare could not issue the certificate ({ssl_status}){said}"
        return DomainState(DomainStatus.FAILED, records, reason, ref)
    reason = f"Cloudflare is issuing the certificate ({ssl_status}): it validates with the _acme-challenge TXT record"
    return DomainState(DomainStatus.PENDING_CERTIFICATE, records, reason, ref)
