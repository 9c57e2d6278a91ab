"""Custom domains on Netlify: a hostname is one of the site's ``domain_aliases``, and Netlify serves
it once its Let's Encrypt certificate covers it.

- Attaching adds the hostname to ``domain_aliases`` with ``PATCH /sites/{id}``. The list is replaced
  as a whole, so it is read, extended and written back (Netlify has no conditional update: two
  attaches racing on one site may lose one, which is why every check adds the hostname again when
  it is missing). An alias, not ``custom_domain``: the primary domain would make Netlify redirect
  the site's ``netlify.app`` address, which the service keeps as the site's URL.
- Another Netlify account using the apex: Netlify wants a TXT record ``netlify-challenge.<hostname>``
  whose value the PATCH carries as ``txt_record_value`` (undocumented). The value is derived from
  the site and the hostname, so every check sends the same one without storing it.
- A hostname another site holds is refused by Netlify (422 "must be unique"): a PlatformError the
  flows turn into a refusal.
- The certificate: ``GET /sites/{id}/ssl`` says what it covers; ``POST`` orders one, refused
  (422 "bad dns for custom domain") while the DNS does not point at Netlify. Netlify also orders
  on its own (and retries for three days), so the POST is a nudge and its refusal the readiness
  signal for the DNS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sitedeploy.domain.domains import DnsRecord, DomainState, DomainStatus, apex_of
from sitedeploy.platforms.netlify.api import NetlifyError
from sitedeploy.platforms.netlify.deploy import APP_DOMAIN, NetlifyDeployer, NetlifyTarget

APEX_IP = "75.2.60.5"  # Netlify's load balancer, for an apex on external DNS
CHALLENGE_LABEL = "netlify-challenge"
# Netlify retries a certificate every 10 minutes for a day, then hourly for two more.
DEADLINE_SECONDS = 72 * 3600
ISSUED_STATES = frozenset({"issued", "custom"})


def routing_record(hostname: str, site_name: str) -> DnsRecord:
    """What sends the hostname to the site: an apex (two labels) cannot be a CNAME, so it takes
    Netlify's load balancer address; a subdomain a CNAME to the site's own name."""
    if len(hostname.split(".")) == 2:
        return DnsRecord(type="A", name=hostname, value=APEX_IP, purpose="routing")
    return DnsRecord(type="CNAME", name=hostname, value=f"{site_name}.{APP_DOMAIN}", purpose="routing")


def challenge_value(site_id: str, hostname: str) -> str:
    """The TXT value proving the hostname is the user's: stable per site and hostname, and telling
    nothing (a digest of public names)."""
    digest = hashlib.sha256(f"{site_id}:{hostname}".encode()).hexdigest()
    return f"sitedeploy-{digest[:32]}"


def site_domains(site: Mapping[str, Any]) -> list[str]:
    """The custom domains of a site as Netlify lists them (primary first), lowercased."""
    primary = site.get("custom_domain")
    aliases = site.get("domain_aliases")
    names = [primary] if isinstance(primary, str) and primary else []
    names += [a for a in (aliases if isinstance(aliases, list) else []) if isinstance(a, str) and a]
    return [n.lower().rstrip(".") for n in names]


def covers(certificate: Any, hostname: str) -> bool:
    """Whether a certificate (``sniCertificate``) is issued and names the hostname, or a wildcard
    over it (an uploaded certificate may be one)."""
    if not isinstance(certificate, Mapping) or certificate.get("state") not in ISSUED_STATES:
        return False
    listed = certificate.get("domains")
    names = {str(d).lower().rstrip(".") for d in (listed if isinstance(listed, list) else [])}
    parent = hostname.split(".", 1)[1] if "." in hostname else ""
    return hostname in names or f"*.{parent}" in names


def _asks_for_proof(exc: NetlifyError) -> bool:
    """Whether Netlify refused the hostname for want of the TXT proof (not because it is taken)."""
    text = exc.message.lower()
    return exc.status == 422 and (CHALLENGE_LABEL in text or "txt_record_value" in text)


class NetlifyDomains:
    """The domain calls of one token (the service's team's or the user's) on Netlify's API."""

    def __init__(self, deployer: NetlifyDeployer) -> None:
        self._deployer = deployer
        self._api = deployer.api

    def attach(self, target: NetlifyTarget, hostname: str) -> DomainState:
        """Add the hostname to the site when it is not there yet, then where it stands: the same
        as every later check, so an attach cut short is finished by the next one."""
        site = self._site(target)
        routing = routing_record(hostname, str(site.get("name") or target.name))
        if hostname not in site_domains(site):
            challenged = self._add(site, hostname, routing)
            if challenged is not None:
                return challenged
        return self._certificate_state(str(site["id"]), hostname, [routing])

    def state(self, target: NetlifyTarget, hostname: str) -> DomainState:
        """Where the hostname stands. It is added again when the site lost it: a racing attach's
        write, or a proof Netlify waited for that is now in the DNS."""
        return self.attach(target, hostname)

    def detach(self, target: NetlifyTarget, hostname: str) -> None:
        """Take the hostname off the site; a site or hostname already gone is what was wanted."""
        site = self._deployer.find_site(target)
        if site is None or not self._ours(target, site):
            return
        aliases = site.get("domain_aliases")
        listed = [a for a in (aliases if isinstance(aliases, list) else []) if isinstance(a, str)]
        body: dict[str, Any] = {}
        if any(a.lower() == hostname for a in listed):
            body["domain_aliases"] = [a for a in listed if a.lower() != hostname]
        primary = site.get("custom_domain")
        if isinstance(primary, str) and primary.lower() == hostname:
            body["custom_domain"] = None
        if not body:
            return
        try:
            self._api.call("PATCH", f"/sites/{site['id']}", json_body=body, what=f"removing {hostname} from the site")
        except NetlifyError as exc:
            if exc.status != 404:
                raise

    # -- the steps ----------------------------------------------------------------------------------

    @staticmethod
    def _ours(target: NetlifyTarget, site: Mapping[str, Any]) -> bool:
        held_by = site.get("account_slug")
        return not (target.account_slug and held_by and held_by != target.account_slug)

    def _site(self, target: NetlifyTarget) -> dict[str, Any]:
        site = self._deployer.find_site(target)
        if site is None or not self._ours(target, site):
            raise NetlifyError(f"the Netlify site {target.name} no longer exists", status=404)
        return site

    def _add(self, site: Mapping[str, Any], hostname: str, routing: DnsRecord) -> DomainState | None:
        """Read-modify-write of ``domain_aliases``; with the TXT proof when Netlify asks for it.
        None once Netlify holds the hostname; the pending state while it waits for the proof."""
        site_id = str(site["id"])
        aliases = site.get("domain_aliases")
        listed = [a for a in (aliases if isinstance(aliases, list) else []) if isinstance(a, str)]
        body: dict[str, Any] = {"domain_aliases": [*listed, hostname]}
        what = f"adding {hostname} to the site"
        try:
            _, updated = self._api.call("PATCH", f"/sites/{site_id}", json_body=body, what=what)
        except NetlifyError as exc:
            if not _asks_for_proof(exc):
                raise
            proof = DnsRecord(
                type="TXT",
                name=f"{CHALLENGE_LABEL}.{hostname}",
                value=challenge_value(site_id, hostname),
                purpose="ownership",
            )
            try:
                _, updated = self._api.call(
                    "PATCH", f"/sites/{site_id}", json_body={**body, "txt_record_value": proof.value}, what=what
                )
            except NetlifyError as again:
                if not _asks_for_proof(again):
                    raise
                return DomainState(
                    DomainStatus.PENDING_VERIFICATION,
                    [proof, routing],
                    f"another Netlify account uses {apex_of(hostname)}: Netlify waits for the TXT record "
                    f"{proof.name} ({again.message})",
                )
        if hostname not in site_domains(updated if isinstance(updated, Mapping) else {}):
            return DomainState(
                DomainStatus.PENDING_VERIFICATION, [routing], f"Netlify has not added {hostname} to the site yet"
            )
        return None

    def _certificate(self, site_id: str) -> dict[str, Any] | None:
        try:
            _, found = self._api.call("GET", f"/sites/{site_id}/ssl", what="reading the site's certificate")
        except NetlifyError as exc:
            if exc.status == 404:
                return None
            raise
        return found if isinstance(found, dict) else None

    def _certificate_state(self, site_id: str, hostname: str, records: list[DnsRecord]) -> DomainState:
        """Active once the certificate covers the hostname; else order one: refused while the DNS
        is wrong (pending verification, in Netlify's words), accepted while it is being issued."""
        certificate = self._certificate(site_id)
        if covers(certificate, hostname):
            return DomainState(DomainStatus.ACTIVE, records)
        try:
            _, ordered = self._api.call("POST", f"/sites/{site_id}/ssl", what="ordering the certificate")
        except NetlifyError as exc:
            if exc.status != 422:
                raise
            if certificate is None or "dns" in exc.message.lower():
                return DomainState(
                    DomainStatus.PENDING_VERIFICATION,
                    records,
                    f"the DNS of {hostname} does not point at Netlify yet ({exc.message})",
                )
            # The site has a certificate Netlify will not replace on request (an uploaded one):
            # its own renewals are what can cover the hostname.
            return DomainState(
                DomainStatus.PENDING_CERTIFICATE,
                records,
                f"Netlify's certificate does not cover {hostname} yet ({exc.message})",
            )
        if covers(ordered, hostname):
            return DomainState(DomainStatus.ACTIVE, records)
        return DomainState(DomainStatus.PENDING_CERTIFICATE, records, "Netlify is issuing the certificate")
