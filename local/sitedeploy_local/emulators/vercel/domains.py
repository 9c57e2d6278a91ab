"""Vercel's custom domains, as the emulator holds them: a project's domains (``POST /v10/projects/
{id}/domains``), the TXT challenge when another account holds the apex, verification, the DNS
configuration Vercel reports (``GET /v6/domains/{domain}/config``: ``misconfigured`` until the
records are right and the certificate is issued, ``certificate_seconds`` after), and each verified,
configured domain served by Host on ``domains_port``. The DNS is the stack's (``dns``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sitedeploy_local.emulators.hosts import CustomHosts
from sitedeploy_local.emulators.loopback import SiteAnswer

APEX_IP = "76.76.21.21"
CERTIFICATE_SECONDS = 0.3


@dataclass
class ProjectDomain:
    name: str
    apex: str
    project_id: str
    account_id: str
    created_ms: int
    verified: bool
    challenge: str | None = None  # the TXT value at _vercel.<apex> when the apex is another's
    # When the DNS was first seen right (the certificate is issued certificate_seconds later).
    dns_right_at: float | None = None
    cname: str = field(default_factory=lambda: f"{secrets.token_hex(8)}.vercel-dns-017.com")


def apex_of(name: str) -> str:
    return ".".join(name.split(".")[-2:])


class VercelDomains(CustomHosts):
    """Mixed into the Vercel state: ``_domains`` (name → ProjectDomain), under the state's lock."""

    certificate_seconds: float = CERTIFICATE_SECONDS
    _domains: dict[str, ProjectDomain]

    def _domain_view(self, domain: ProjectDomain) -> dict[str, Any]:
        view: dict[str, Any] = {
            "name": domain.name,
            "apexName": domain.apex,
            "projectId": domain.project_id,
            "verified": domain.verified,
            "createdAt": domain.created_ms,
            "redirect": None,
            "gitBranch": None,
        }
        if not domain.verified and domain.challenge:
            view["verification"] = [
                {
                    "type": "TXT",
                    "domain": f"_vercel.{domain.apex}",
                    "value": domain.challenge,
                    "reason": "pending_domain_verification",
                }
            ]
        return view

    def _add_domain(self, account_id: str, project_id: str, name: str, ms: int) -> ProjectDomain:
        """Caller holds the lock and checked the name. Another account holding the apex: unverified,
        with a TXT challenge; another project of this account holding the name: 409."""
        held = self._domains.get(name)
        if held is not None:
            if held.project_id == project_id:
                raise ValueError("domain_already_in_project")
            if held.account_id == account_id:
                raise LookupError("domain_already_in_use")
        apex = apex_of(name)
        foreign = any(d.apex == apex and d.account_id != account_id for d in self._domains.values())
        domain = ProjectDomain(name, apex, project_id, account_id, ms, verified=not foreign)
        if foreign:
            domain.challenge = f"vc-domain-verify={name},{secrets.token_hex(10)}"
        self._domains[name] = domain
        return domain

    def _verify_if_challenged(self, domain: ProjectDomain) -> None:
        """Vercel verifies a challenged domain once its TXT is there (clients need not ask)."""
        if not domain.verified and domain.challenge and self.dns.has(f"_vercel.{domain.apex}", "TXT", domain.challenge):
            domain.verified = True

    def _dns_right(self, domain: ProjectDomain) -> str | None:
        """How the domain points at Vercel (``A`` for an apex, ``CNAME`` below), or None."""
        if domain.name == domain.apex:
            return "A" if self.dns.has(domain.name, "A", APEX_IP) else None
        cnames = {v.lower() for v in self.dns.lookup(domain.name, "CNAME")}
        return "CNAME" if cnames & {domain.cname, "cname.vercel-dns.com"} else None

    def _config_view(self, domain: ProjectDomain) -> dict[str, Any]:
        self._verify_if_challenged(domain)
        configured = self._dns_right(domain)
        if configured and domain.dns_right_at is None:
            domain.dns_right_at = time.monotonic()
        if not configured:
            domain.dns_right_at = None
        certified = (
            configured is not None
            and domain.dns_right_at is not None
            and time.monotonic() - domain.dns_right_at >= self.certificate_seconds
        )
        return {
            "configuredBy": configured,
            "acceptedChallenges": ["http-01"] if configured else [],
            "misconfigured": not (configured and certified and domain.verified),
            "recommendedIPv4": [{"rank": 1, "value": [APEX_IP]}],
            "recommendedCNAME": [{"rank": 1, "value": f"{domain.cname}."}],
        }

    def _live_domain(self, host: str) -> ProjectDomain | None:
        domain = self._domains.get(host)
        if domain is None:
            return None
        config = self._config_view(domain)
        return None if config["misconfigured"] else domain

    def _host_answer(self, host: str, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer | None:
        with self._lock:  # type: ignore[attr-defined]
            domain = self._live_domain(host)
            key = (domain.account_id, domain.project_id) if domain else None
        if key is None:
            return None
        answer: SiteAnswer = self._site_ports.answer(key, method, target, headers)  # type: ignore[attr-defined]
        return answer
