"""Netlify's custom domains, as the emulator holds them: a site's ``custom_domain`` and
``domain_aliases`` (``PATCH /sites/{site_id}``, the aliases replaced as a whole), the Let's Encrypt
certificate of the site (``POST`` and ``GET /sites/{site_id}/ssl``), and each custom domain the
certificate covers served by Host on ``domains_port``. The DNS is the stack's (``dns``).

The rules, where the platform documents them and where the emulator chooses (strict where an adapter
bug would otherwise hide):

- a hostname belongs to one site across every account: another site's hostname is 422
  ``{"errors": {"<field>": ["must be unique"]}}``, Netlify's validation shape;
- a hostname under an apex another account already holds (any of its names) needs the ownership
  proof Netlify asks for when the apex is not on Netlify DNS: a TXT record at
  ``netlify-challenge.<hostname>`` (or ``netlify-challenge.<apex>``) whose value the PATCH sends as
  ``txt_record_value``; without it, 422 naming the record (the field is undocumented; the
  emulator's words are its own);
- the certificate is issued automatically, as Netlify does once a domain is added: each custom
  domain is covered ``certificate_seconds`` after its DNS is first seen pointing at Netlify (an
  ``A`` record to the load balancer, or a ``CNAME``/``ALIAS`` to the site's ``netlify.app`` name
  or to ``apex-loadbalancer.netlify.com``); a domain once covered stays covered while it is the
  site's (the certificate was issued);
- ``POST /ssl`` orders a certificate for every custom domain of the site: 422 "No custom domain
  configured" without one, 422 "bad dns for custom domain" while any of them does not point at
  Netlify (a Let's Encrypt order for several names fails when one fails), else 200 with the
  certificate as it stands (``state`` ``pending`` until one domain is covered, then ``issued``);
  custom certificates (``certificate``/``key``/``ca_certificates``) are not modelled: 422;
- ``GET /ssl``: the certificate (``issued``, or ``pending`` once ordered), 404 before either;
- deleting a site drops its domains; ``reset`` forgets every one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sitedeploy_local.emulators.hosts import CustomHosts
from sitedeploy_local.emulators.loopback import SiteAnswer, SiteServer
from sitedeploy_local.emulators.netlify.state import SITE_DOMAIN, ApiError, NetlifyState, Site, iso, now

LOAD_BALANCER_IP = "75.2.60.5"  # Netlify's documented address for an apex on external DNS
LOAD_BALANCER_NAME = "apex-loadbalancer.netlify.com"
CHALLENGE_LABEL = "netlify-challenge"
CERTIFICATE_SECONDS = 0.3
CERTIFICATE_DAYS = 90  # Let's Encrypt's lifetime
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
DOMAIN_FIELDS = ("custom_domain", "domain_aliases")
CUSTOM_CERTIFICATE_PARAMS = ("certificate", "key", "ca_certificates")


@dataclass
class Hostname:
    """One custom domain of a site, and where its certificate is."""

    name: str
    site_id: str
    account_slug: str
    # When its DNS was first seen pointing at Netlify (monotonic), the certificate following
    # certificate_seconds later; None while it does not.
    dns_right_at: float | None = None
    issued_at: datetime | None = None  # when the site's certificate came to cover it


def apex_of(name: str) -> str:
    """The registrable domain as Netlify would guess it: the last two labels."""
    return ".".join(name.split(".")[-2:])


def _invalid(field_name: str, problem: str) -> ApiError:
    return ApiError(422, "Validation Failed", errors={field_name: [problem]})


def _hostname(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise _invalid(field_name, "must be a string")
    name = value.strip().rstrip(".").lower()
    if not HOSTNAME.match(name) or name == SITE_DOMAIN or name.endswith(f".{SITE_DOMAIN}"):
        raise _invalid(field_name, "is invalid")
    return name


class NetlifyDomains(CustomHosts, NetlifyState):
    """The sites' custom domains over ``NetlifyState``: ``_hostnames`` (name → Hostname, every
    account's, which is what makes a name unique) and ``_orders`` (site id → when ``POST /ssl``
    ordered its certificate), under the state's lock."""

    certificate_seconds: float = CERTIFICATE_SECONDS

    def __init__(self, **state: Any) -> None:
        super().__init__(**state)
        self._hostnames: dict[str, Hostname] = {}
        self._orders: dict[str, datetime] = {}
        self._init_hosts(self._host_answer, name="netlify-domains", server_version="Netlify")

    # -- inspecting (tests) -------------------------------------------------------------------------

    def certificate(self, site_id_or_name: str) -> dict[str, Any] | None:
        """The site's certificate as ``GET /sites/{id}/ssl`` shows it; None when it has none."""
        with self._lock:
            found = self._find_site(site_id_or_name, by_name=True)
            return self._certificate_view(found) if found is not None else None

    # -- PATCH /sites/{site_id} ---------------------------------------------------------------------

    def _update_domains(self, site: Site, body: Mapping[str, Any]) -> None:
        """Apply the domain fields of an ``updateSite`` body (others are not modelled and are
        ignored, as Netlify ignores read-only ones): ``custom_domain`` (null or "" clears it) and
        ``domain_aliases`` (the whole list: what is not in it is removed)."""
        with self._lock:
            primary = site.custom_domain
            if "custom_domain" in body:
                raw = body["custom_domain"]
                primary = None if raw in (None, "") else _hostname(raw, "custom_domain")
            aliases = list(site.domain_aliases)
            if "domain_aliases" in body:
                raw_aliases = body["domain_aliases"] if body["domain_aliases"] is not None else []
                if not isinstance(raw_aliases, list):
                    raise _invalid("domain_aliases", "must be a list of hostnames")
                aliases = list(dict.fromkeys(_hostname(a, "domain_aliases") for a in raw_aliases))
            aliases = [a for a in aliases if a != primary]
            proof = body.get("txt_record_value")
            wanted = {primary: "custom_domain"} if primary else {}
            wanted.update({a: "domain_aliases" for a in aliases})
            for name, field_name in wanted.items():
                held = self._hostnames.get(name)
                if held is not None and held.site_id != site.id:
                    raise _invalid(field_name, "must be unique")
                if held is None:
                    self._check_ownership(site, name, field_name, proof)
            for name in [n for n, h in self._hostnames.items() if h.site_id == site.id and n not in wanted]:
                del self._hostnames[name]
            for name in wanted:
                self._hostnames.setdefault(name, Hostname(name, site.id, site.account_slug))
            site.custom_domain, site.domain_aliases = primary, aliases
            site.updated_at = now()

    def _check_ownership(self, site: Site, name: str, field_name: str, proof: Any) -> None:
        """A name under an apex another account holds needs the TXT proof (caller holds the lock)."""
        apex = apex_of(name)
        foreign = any(apex_of(h.name) == apex and h.account_slug != site.account_slug for h in self._hostnames.values())
        if not foreign:
            return
        records = (f"{CHALLENGE_LABEL}.{name}", f"{CHALLENGE_LABEL}.{apex}")
        if isinstance(proof, str) and proof.strip() and any(self.dns.has(r, "TXT", proof) for r in records):
            return
        raise _invalid(
            field_name,
            f"{name} is under {apex}, which another Netlify account uses: create a TXT record at "
            f"{records[0]} and send its value as txt_record_value",
        )

    # -- the certificate ----------------------------------------------------------------------------

    def _domains_of(self, site: Site) -> list[str]:
        return ([site.custom_domain] if site.custom_domain else []) + list(site.domain_aliases)

    def _points_here(self, name: str, site: Site) -> bool:
        """Whether the DNS sends ``name`` to this site on Netlify."""
        if self.dns.has(name, "A", LOAD_BALANCER_IP):
            return True
        targets = {f"{site.name}.{SITE_DOMAIN}", LOAD_BALANCER_NAME}
        found = {v.lower() for t in ("CNAME", "ALIAS", "ANAME") for v in self.dns.lookup(name, t)}
        return bool(found & targets)

    def _observe(self, site: Site) -> list[Hostname]:
        """Look at the DNS of the site's domains and issue what is due; the domains, in order
        (caller holds the lock). Netlify provisions on its own once a domain is added."""
        moment = time.monotonic()
        hosts = [self._hostnames[n] for n in self._domains_of(site) if n in self._hostnames]
        for host in hosts:
            if host.issued_at is not None:
                continue
            if not self._points_here(host.name, site):
                host.dns_right_at = None
                continue
            if host.dns_right_at is None:
                host.dns_right_at = moment
            if moment - host.dns_right_at >= self.certificate_seconds:
                host.issued_at = now()
        return hosts

    def _certificate_view(self, site: Site) -> dict[str, Any] | None:
        """The platform's ``sniCertificate``: ``issued`` covering what is covered, ``pending``
        (ordered, nothing covered yet), or None (caller holds the lock)."""
        hosts = self._observe(site)
        issued = [h for h in hosts if h.issued_at is not None]
        if issued:
            created = min(h.issued_at for h in issued if h.issued_at is not None)
            updated = max(h.issued_at for h in issued if h.issued_at is not None)
            return {
                "state": "issued",
                "domains": [h.name for h in issued],
                "created_at": iso(created),
                "updated_at": iso(updated),
                "expires_at": iso(created + timedelta(days=CERTIFICATE_DAYS)),
            }
        ordered = self._orders.get(site.id)
        if ordered is None or not hosts:
            return None
        return {
            "state": "pending",
            "domains": [h.name for h in hosts],
            "created_at": iso(ordered),
            "updated_at": iso(ordered),
            "expires_at": None,
        }

    def _provision(self, site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /sites/{id}/ssl``: order a Let's Encrypt certificate for every custom domain."""
        with self._lock:
            if any(query.get(p) for p in CUSTOM_CERTIFICATE_PARAMS):
                raise ApiError(422, "the emulator does not take custom certificates: omit certificate, key and ca")
            hosts = self._observe(site)
            if not hosts:
                raise ApiError(422, "No custom domain configured")
            if any(not self._points_here(h.name, site) for h in hosts):
                raise ApiError(422, "bad dns for custom domain")
            self._orders[site.id] = self._orders.get(site.id) or now()
            view = self._certificate_view(site)
            assert view is not None
            return view

    # -- what the rest of the state does with domains ----------------------------------------------

    def _delete_site(self, site: Site) -> SiteServer | None:
        """A deleted site's domains are free again."""
        with self._lock:
            for name in [n for n, h in self._hostnames.items() if h.site_id == site.id]:
                del self._hostnames[name]
            self._orders.pop(site.id, None)
            return super()._delete_site(site)

    def _forget(self) -> list[SiteServer]:
        with self._lock:
            self._hostnames.clear()
            self._orders.clear()
            return super()._forget()

    # -- serving by Host ----------------------------------------------------------------------------

    def _host_answer(self, host: str, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer | None:
        """The site a custom domain names, once its certificate covers it (Netlify answers a
        domain it holds no certificate for with a certificate error; here: not at all)."""
        with self._lock:
            found = self._hostnames.get(host)
            site = self._sites.get(found.site_id) if found is not None else None
            if found is None or site is None:
                return None
            self._observe(site)
            if found.issued_at is None:
                return None
            key = site.id
        return self._site_ports.answer(key, method, target, headers)
