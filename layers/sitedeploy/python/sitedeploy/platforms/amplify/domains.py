"""Custom domains on Amplify Hosting: a hostname is a subdomain (a prefix → the site's branch) of a
domain association of the site's app, and Amplify tells what to put in the DNS.

Why it is shaped so:

- Associations belong to an app, are keyed by a domain name, and an app holds 5 by default. A
  hostname goes into the association of the app whose domain it is under (the longest such domain
  the app already has, e.g. one the user made in the console), else into a new association for its
  apex (``apex_of``: the last two labels), so that ``www.example.com`` and ``example.com`` share one
  association, one certificate and one quota slot. The prefix is what is left of the hostname (""
  for the domain itself).
- UpdateDomainAssociation replaces the whole subdomain list, so adding or removing one is
  read-modify-write. Two sites of one app changing the same association at once can lose a prefix;
  there is no lock to take on Amplify's side, so a pending hostname's check puts its prefix back
  when it finds it missing (``state``), and a removal leaves prefixes of other branches alone.
- The records: the certificate's validation CNAME (ACM's, both sides fully qualified) and the
  subdomain's routing record. Amplify writes the latter ``"<prefix> CNAME <target>"`` even for the
  apex (prefix ""), where no CNAME may exist: it is given as an ``ALIAS`` (ANAME, or CNAME
  flattening; on Route 53 an alias A record), never as an address. While the association is being
  created Amplify has no certificate record yet and writes ``<pending>`` (or ``null``) for the
  target: those are left out until they are real.
- Statuses, to ours: CREATING, REQUESTING_CERTIFICATE, PENDING_VERIFICATION and AWAITING_APP_CNAME
  wait for the user's records (``pending_verification``); IN_PROGRESS, PENDING_DEPLOYMENT,
  IMPORTING_CUSTOM_CERTIFICATE and UPDATING are Amplify's own work on the certificate and the
  distribution (``pending_certificate``; UPDATING with our subdomain not verified yet still waits
  for its record); AVAILABLE is ``active`` once our subdomain is verified (its record resolves),
  else it still waits for it; FAILED is ``failed`` with Amplify's statusReason (final: Amplify's
  remedy is to delete the association and create it again, which issues a new target).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sitedeploy.domain.domains import DnsRecord, DomainState, DomainStatus, apex_of
from sitedeploy.platforms.amplify.client import AmplifyError, amplify_error
from sitedeploy.platforms.base import PlatformError

# Amplify is reported to stop verifying a domain about 24 hours after it was added (and not to
# start again), though ACM itself retries DNS validation for 72: the shorter one decides.
DEADLINE_SECONDS = 24 * 3600

# Amplify's own work on the certificate and the distribution; the other pending statuses wait for
# the user's records.
ISSUING = frozenset({"IN_PROGRESS", "PENDING_DEPLOYMENT", "UPDATING", "IMPORTING_CUSTOM_CERTIFICATE"})
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def prefix_of(hostname: str, domain_name: str) -> str:
    """The subdomain prefix of ``hostname`` under ``domain_name`` ("" for the domain itself)."""
    return hostname.removesuffix(domain_name).removesuffix(".") if hostname != domain_name else ""


def under(hostname: str, domain_name: str) -> bool:
    return hostname == domain_name or hostname.endswith(f".{domain_name}")


def parse_record(text: object) -> tuple[str, str, str] | None:
    """Amplify's ``"<name> <TYPE> <value>"`` as (name, type, value), lower case and without trailing
    dots; the name may be empty (an apex subdomain: ``" CNAME d1.cloudfront.net"``). None while the
    value is no hostname yet (``<pending>``, ``null``) or the text is not such a record."""
    if not isinstance(text, str):
        return None
    parts = text.strip().split()
    if len(parts) == 2:
        parts = ["", *parts]
    if len(parts) != 3:
        return None
    name, kind, value = (part.rstrip(".").lower() for part in parts)
    if not _HOSTNAME.match(value):
        return None
    return name, kind.upper(), value


def _domain_name(association: Mapping[str, Any]) -> str:
    return str(association.get("domainName", "")).rstrip(".").lower()


def _subdomain(association: Mapping[str, Any], prefix: str) -> Mapping[str, Any] | None:
    for sub in association.get("subDomains") or []:
        setting = sub.get("subDomainSetting") or {}
        # Amplify has been seen leaving ``prefix`` out for the apex.
        if str(setting.get("prefix") or "").lower() == prefix:
            return dict(sub)
    return None


def _settings(association: Mapping[str, Any]) -> list[dict[str, str]]:
    """The association's subdomain list as UpdateDomainAssociation takes it back."""
    settings = []
    for sub in association.get("subDomains") or []:
        setting = sub.get("subDomainSetting") or {}
        settings.append({"prefix": str(setting.get("prefix") or ""), "branchName": str(setting.get("branchName"))})
    return settings


def association_state(association: Mapping[str, Any], hostname: str) -> DomainState:
    """What the association says of ``hostname`` (one of its subdomains), in our terms."""
    domain_name = _domain_name(association)
    prefix = prefix_of(hostname, domain_name)
    sub = _subdomain(association, prefix) or {}
    records: list[DnsRecord] = []
    certificate = association.get("certificate") or {}
    validation = parse_record(
        certificate.get("certificateVerificationDNSRecord") or association.get("certificateVerificationDNSRecord")
    )
    if validation is not None:
        name, kind, value = validation
        records.append(DnsRecord(type=kind, name=name, value=value, purpose="certificate"))
    routing = parse_record(sub.get("dnsRecord"))
    if routing is not None:
        _, kind, value = routing
        # Amplify says CNAME for the apex too, but a zone's apex cannot hold one: its DNS provider's
        # ALIAS / ANAME (or CNAME flattening) does what Amplify means.
        records.append(DnsRecord(type="ALIAS" if not prefix else kind, name=hostname, value=value, purpose="routing"))
    status = str(association.get("domainStatus", ""))
    verified = bool(sub.get("verified"))
    ref = domain_name or None
    if status == "FAILED":
        reason = str(association.get("statusReason") or "") or "Amplify could not set the domain up"
        return DomainState(DomainStatus.FAILED, records, f"{reason} (FAILED)", ref)
    if status == "AVAILABLE" and verified:
        return DomainState(DomainStatus.ACTIVE, records, None, ref)
    if status in ISSUING and (verified or status != "UPDATING"):
        return DomainState(
            DomainStatus.PENDING_CERTIFICATE, records, f"Amplify is deploying the certificate ({status})", ref
        )
    if status in ("CREATING", "REQUESTING_CERTIFICATE"):
        reason = f"Amplify is requesting the certificate ({status})"
    elif status == "PENDING_VERIFICATION":
        reason = f"Amplify waits for the certificate's validation CNAME ({status})"
    else:
        reason = f"Amplify waits for the DNS to send {hostname} to it ({status or 'unknown'})"
    return DomainState(DomainStatus.PENDING_VERIFICATION, records, reason, ref)


class DomainAssociations:
    """The domain-association calls for one client (the user's keys or the service's)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def attach(self, app_id: str, branch: str, hostname: str) -> DomainState:
        """Put ``hostname`` on the branch: into the app's association for its domain (merged into
        the subdomain list), else into a new association for its apex. Attaching again is a no-op."""
        association = self._find(app_id, hostname)
        if association is None:
            domain_name = apex_of(hostname)
            created = self._call(
                "adding the domain to the Amplify app",
                self.client.create_domain_association,
                appId=app_id,
                domainName=domain_name,
                subDomainSettings=[{"prefix": prefix_of(hostname, domain_name), "branchName": branch}],
            )
            return association_state(created["domainAssociation"], hostname)
        domain_name = _domain_name(association)
        prefix = prefix_of(hostname, domain_name)
        sub = _subdomain(association, prefix)
        if sub is not None:
            owner = str((sub.get("subDomainSetting") or {}).get("branchName"))
            if owner != branch:
                raise PlatformError(
                    f"{hostname} already routes to the branch {owner} of the Amplify app {app_id}", status=409
                )
            return association_state(association, hostname)
        settings = [*_settings(association), {"prefix": prefix, "branchName": branch}]
        updated = self._call(
            "adding the subdomain to the Amplify domain",
            self.client.update_domain_association,
            appId=app_id,
            domainName=domain_name,
            subDomainSettings=settings,
        )
        return association_state(updated["domainAssociation"], hostname)

    def state(self, app_id: str, branch: str, hostname: str, ref: str | None) -> DomainState:
        """Where the hostname is. Its association or subdomain gone missing (another attach or
        detach of the same association raced this one's read-modify-write) is put back."""
        association = self._get(app_id, ref) if ref and under(hostname, ref) else self._find(app_id, hostname)
        if association is None or _subdomain(association, prefix_of(hostname, _domain_name(association))) is None:
            return self.attach(app_id, branch, hostname)
        return association_state(association, hostname)

    def detach(self, app_id: str, branch: str, hostname: str, ref: str | None) -> None:
        """Take the hostname's subdomain off (only if it is the branch's), and the association with
        it when nothing is left; one already gone is no error."""
        association = self._get(app_id, ref) if ref and under(hostname, ref) else self._find(app_id, hostname)
        if association is None:
            return
        domain_name = _domain_name(association)
        prefix = prefix_of(hostname, domain_name)
        sub = _subdomain(association, prefix)
        if sub is None or str((sub.get("subDomainSetting") or {}).get("branchName")) != branch:
            return
        remaining = [s for s in _settings(association) if s["prefix"].lower() != prefix]
        try:
            if remaining:
                self._call(
                    "removing the subdomain from the Amplify domain",
                    self.client.update_domain_association,
                    appId=app_id,
                    domainName=domain_name,
                    subDomainSettings=remaining,
                )
            else:
                self._call(
                    "removing the domain from the Amplify app",
                    self.client.delete_domain_association,
                    appId=app_id,
                    domainName=domain_name,
                )
        except AmplifyError as exc:
            if exc.code != "NotFoundException":
                raise

    # -- reading -----------------------------------------------------------------------------------

    def _get(self, app_id: str, domain_name: str) -> dict[str, Any] | None:
        try:
            found = self._call(
                "reading the Amplify domain", self.client.get_domain_association, appId=app_id, domainName=domain_name
            )
        except AmplifyError as exc:
            if exc.code == "NotFoundException":
                return None
            raise
        return dict(found["domainAssociation"])

    def _find(self, app_id: str, hostname: str) -> dict[str, Any] | None:
        """The app's association whose domain the hostname is under (the longest), if any."""
        try:
            pages = self.client.get_paginator("list_domain_associations").paginate(appId=app_id)
            associations = [dict(a) for page in pages for a in page.get("domainAssociations", [])]
        except (ClientError, BotoCoreError) as exc:
            raise amplify_error(exc, "listing the Amplify app's domains") from None
        fitting = [a for a in associations if under(hostname, _domain_name(a))]
        return max(fitting, key=lambda a: len(_domain_name(a)), default=None)

    @staticmethod
    def _call(what: str, operation: Any, **kwargs: Any) -> dict[str, Any]:
        """One call, Amplify's errors in our words. LimitExceededException is both Amplify's
        throttling and its quotas: a quota (not a rate) is a refusal, 409, not a failure to retry."""
        try:
            return dict(operation(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            error = amplify_error(exc, what)
            said = str(exc.response.get("Error", {}).get("Message", "")) if isinstance(exc, ClientError) else ""
            if error.code == "LimitExceededException" and "rate" not in said.lower():
                raise AmplifyError(
                    f"{error.message}: an Amplify app holds 5 custom domains unless its quota was raised",
                    status=409,
                    code=error.code,
                ) from None
            raise error from None
