"""Custom domains on the Cloudflare emulator: zones, and the two ways a hostname reaches a Worker.

- **Workers Custom Domains** (a user's own account, zone and Worker): ``PUT /accounts/{a}/workers/
  domains`` attaches a hostname of an active zone of the account to a Worker. Cloudflare makes the
  DNS record itself (a read-only proxied ``AAAA 100::`` in the zone) and an advanced certificate
  pack for the hostname, issued ``certificate_seconds`` after the attach. The API has no certificate
  status of its own: ``GET /zones/{z}/ssl/certificate_packs?status=all`` is where the pack is seen
  going ``pending_validation`` → ``active``. Once active the Worker answers for that Host on
  ``domains_port``.
- **Cloudflare for SaaS custom hostnames** (the operator's zone, for Workers for Platforms): ``POST
  /zones/{z}/custom_hostnames`` makes one ``pending``, with its ownership TXT at once and its
  certificate's TXT on the next read (Cloudflare's documented lag). The hostname is ``active`` once
  the zone's fallback origin is active and the hostname CNAMEs to a name of the zone (or its
  ownership TXT is there); its certificate validates with its ``_acme-challenge`` TXT (or, for a
  name already CNAMEd here, by HTTP, which Cloudflare always also tries) and is issued
  ``certificate_seconds`` later. A hostname still pending after ``hostname_validation_seconds``
  (7 days, Cloudflare's backoff schedule) is ``moved``. Only an active hostname with an active
  certificate is routed: the zone's Worker routes (``*/*``) then apply to it.

Custom hostnames are validated against the stack's DNS (``dns``: what users created at their
provider); a zone's own records (the Custom Domains', the fallback origin's) are the zone's. Workers
KV namespaces are here too, with the values the dispatch Worker's ``HOSTS`` binding reads (hostname → Worker).

Emulator choices where the platform says nothing (kept strict): a zone not ``active`` refuses a
Workers Custom Domain (400, code 10021); an unknown zone id is 404 with code 7003; a fallback origin
must be a proxied A/AAAA/CNAME record of the zone (400, code 1551), and is active
``fallback_seconds`` after it is set; custom metadata is refused (403, 1413: an Enterprise
add-on)."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sitedeploy_local.emulators.cloudflare.errors import ApiError
from sitedeploy_local.emulators.hosts import CustomHosts

CERTIFICATE_SECONDS = 0.3
FALLBACK_SECONDS = 0.2
HOSTNAME_VALIDATION_SECONDS = 7 * 24 * 3600.0  # Cloudflare's 75 retries over 7 days
WORKER_RECORD = "100::"  # the "originless" address a Worker's record points at

# Codes Cloudflare is known to answer with here (the research notes' sources); the rest are guesses.
CODE_ZONE_NOT_FOUND = 10083  # workers.api.error.zone_not_found
CODE_HOSTNAME_IN_USE = 100116
CODE_EXTERNAL_RECORD = 100117
CODE_DOMAIN_NOT_FOUND = 100114  # a guess: not documented
CODE_DUPLICATE_HOSTNAME = 1406
CODE_INVALID_HOSTNAME = 1407
CODE_NO_METADATA = 1413
CODE_BAD_SSL_METHOD = 1432
CODE_BAD_SSL_TYPE = 1433
CODE_HOSTNAME_NOT_FOUND = 1436
CODE_ID_AND_HOSTNAME = 1438
CODE_SSL_REQUIRED = 1440
CODE_FALLBACK = 1551  # a guess: not documented
CODE_RECORD_EXISTS = 81058  # the DNS and KV codes as commonly seen, not from the research notes
CODE_RECORD_CONFLICT = 81053
CODE_KV_TITLE_TAKEN = 10014
CODE_KV_NOT_FOUND = 10041  # a guess: what a script upload names for a KV binding it cannot find


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> datetime:
    return datetime.now(UTC)


def under(hostname: str, zone_name: str) -> bool:
    return hostname == zone_name or hostname.endswith(f".{zone_name}")


@dataclass
class ZoneRecord:
    """A DNS record of a zone; ``worker`` when a Workers Custom Domain made it (read-only)."""

    id: str
    type: str
    name: str
    content: str
    proxied: bool
    ttl: int = 1
    worker: str | None = None

    def view(self, zone: Zone) -> dict[str, Any]:
        return {
            "id": self.id,
            "zone_id": zone.id,
            "zone_name": zone.name,
            "type": self.type,
            "name": self.name,
            "content": self.content,
            "proxied": self.proxied,
            "proxiable": self.type in {"A", "AAAA", "CNAME"},
            "ttl": self.ttl,
            "locked": self.worker is not None,
            "meta": {"read_only": True, "origin_worker_id": self.worker} if self.worker else {},
        }


@dataclass
class CertificatePack:
    id: str
    hosts: list[str]
    started: float  # monotonic: issued ``certificate_seconds`` after

    def status(self, certificate_seconds: float) -> str:
        return "active" if time.monotonic() - self.started >= certificate_seconds else "pending_validation"


@dataclass
class CustomHostname:
    """A Cloudflare for SaaS custom hostname of a zone, and where its validations are."""

    id: str
    hostname: str
    ssl_id: str
    ssl_method: str
    created: float  # monotonic
    created_on: datetime
    ownership_value: str = field(default_factory=lambda: str(uuid.uuid4()))
    txt_value: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    status: str = "pending"
    ssl_status: str = "initializing"
    verification_errors: list[str] = field(default_factory=list)
    validated_at: float | None = None  # when the certificate's DCV passed (monotonic)


@dataclass
class FallbackOrigin:
    origin: str
    set_at: float  # monotonic
    created_on: datetime


@dataclass
class Zone:
    id: str
    name: str
    account_id: str
    status: str
    created_on: datetime
    records: dict[str, ZoneRecord] = field(default_factory=dict)
    packs: dict[str, CertificatePack] = field(default_factory=dict)
    hostnames: dict[str, CustomHostname] = field(default_factory=dict)
    fallback: FallbackOrigin | None = None

    @property
    def name_servers(self) -> list[str]:
        return ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]


@dataclass
class WorkersDomain:
    id: str
    account_id: str
    zone_id: str
    zone_name: str
    hostname: str
    service: str
    environment: str
    cert_id: str
    record_id: str


@dataclass
class KvNamespace:
    id: str
    account_id: str
    title: str
    values: dict[str, bytes] = field(default_factory=dict)


class CloudflareDomains(CustomHosts):
    """Mixed into the Cloudflare state, under its lock: ``_zones``, ``_workers_domains`` (id → the
    attachment), ``_kv`` (id → namespace). The state calls ``_init_domains`` and gives
    ``_host_answer`` (Host → what answers) to the custom hostnames' port."""

    certificate_seconds: float = CERTIFICATE_SECONDS
    fallback_seconds: float = FALLBACK_SECONDS
    hostname_validation_seconds: float = HOSTNAME_VALIDATION_SECONDS
    _lock: threading.RLock
    _accounts: dict[str, Any]  # the state's accounts (``state.Account``), by id
    _zones: dict[str, Zone]
    _workers_domains: dict[str, WorkersDomain]
    _kv: dict[str, KvNamespace]

    def _init_domains(self) -> None:
        self._zones = {}
        self._workers_domains = {}
        self._kv = {}

    # -- seeding and inspecting (tests and the local stack) ---------------------------------------

    def add_zone(self, account_id: str, name: str, *, status: str = "active", zone_id: str | None = None) -> str:
        """A zone of the account (its id, 32 hex characters, the same for the same account and
        name): the account's domain, ``active`` once its name servers are Cloudflare's. Adding it
        again restates its status and keeps what it holds."""
        name = name.strip().rstrip(".").lower()
        zone_id = zone_id or hashlib.sha256(f"{account_id}/{name}".encode()).hexdigest()[:32]
        with self._lock:
            if account_id not in self._accounts:
                raise ValueError(f"unknown account {account_id!r}: add_account first")
            zone = self._zones.get(zone_id)
            if zone is None:
                self._zones[zone_id] = Zone(zone_id, name, account_id, status, _now())
            else:
                zone.status = status
        return zone_id

    def custom_hostname(self, hostname: str) -> dict[str, Any] | None:
        """A custom hostname's view as the API shows it (any zone's), or None."""
        with self._lock:
            for zone in self._zones.values():
                for held in zone.hostnames.values():
                    if held.hostname == hostname:
                        return self._hostname_view(zone, held)
        return None

    def kv_value(self, namespace_id: str, key: str) -> bytes | None:
        with self._lock:
            held = self._kv.get(namespace_id)
            return held.values.get(key) if held else None

    def kv_namespaces(self, account_id: str) -> dict[str, str]:
        """The account's KV namespaces, title → id."""
        with self._lock:
            return {n.title: n.id for n in self._kv.values() if n.account_id == account_id}

    def workers_domains(self, account_id: str) -> dict[str, str]:
        """The account's Workers Custom Domains, hostname → Worker."""
        with self._lock:
            return {d.hostname: d.service for d in self._workers_domains.values() if d.account_id == account_id}

    def _forget_domains(self) -> None:
        """What ``reset`` forgets: every attachment, custom hostname, record and KV namespace (the
        zones stay, as accounts do). Caller holds the lock."""
        self._workers_domains.clear()
        self._kv.clear()
        for zone in self._zones.values():
            zone.records.clear()
            zone.packs.clear()
            zone.hostnames.clear()
            zone.fallback = None

    # -- zones ------------------------------------------------------------------------------------

    def _zone_view(self, zone: Zone) -> dict[str, Any]:
        account = self._accounts.get(zone.account_id)
        return {
            "id": zone.id,
            "name": zone.name,
            "status": zone.status,
            "paused": False,
            "type": "full",
            "development_mode": 0,
            "name_servers": zone.name_servers,
            "original_name_servers": [],
            "account": {"id": zone.account_id, "name": account.name if account else ""},
            "created_on": _iso(zone.created_on),
            "modified_on": _iso(zone.created_on),
            "activated_on": _iso(zone.created_on) if zone.status == "active" else None,
        }

    def _zones_for(self, account_ids: frozenset[str], name: str | None, account_id: str | None) -> list[Zone]:
        return [
            zone
            for zone in self._zones.values()
            if zone.account_id in account_ids
            and (name is None or zone.name == name.lower())
            and (account_id is None or zone.account_id == account_id)
        ]

    def _zone_of(self, account_id: str, hostname: str) -> Zone | None:
        """The account's zone holding the hostname, the longest name first (a subdomain zone)."""
        held = [z for z in self._zones.values() if z.account_id == account_id and under(hostname, z.name)]
        return max(held, key=lambda z: len(z.name)) if held else None

    # -- a zone's DNS records ---------------------------------------------------------------------

    def _add_record(
        self, zone: Zone, type_: str, name: str, content: str, *, proxied: bool, worker: str | None = None
    ) -> ZoneRecord:
        name = name.strip().rstrip(".").lower()
        if not under(name, zone.name):
            name = f"{name}.{zone.name}"  # Cloudflare takes a name relative to the zone too
        same = [r for r in zone.records.values() if r.name == name]
        if any(r.type == type_ and r.content == content for r in same):
            raise ApiError(400, CODE_RECORD_EXISTS, "An identical record already exists.")
        addressed = {"A", "AAAA", "CNAME"}
        if type_ in addressed and any(r.type == "CNAME" or (type_ == "CNAME" and r.type in addressed) for r in same):
            raise ApiError(400, CODE_RECORD_CONFLICT, "An A, AAAA, or CNAME record with that host already exists.")
        record = ZoneRecord(uuid.uuid4().hex, type_, name, content, proxied, worker=worker)
        zone.records[record.id] = record
        return record

    # -- Workers Custom Domains -------------------------------------------------------------------

    def _attach_worker_domain(
        self,
        account_id: str,
        hostname: str,
        service: str,
        zone: Zone,
        *,
        environment: str,
        override_origin: bool,
    ) -> WorkersDomain:
        """Caller holds the lock, checked the Worker and that the zone is the account's."""
        if not under(hostname, zone.name):
            raise ApiError(400, 10021, f"Hostname '{hostname}' is not in the zone '{zone.name}'.")
        if zone.status != "active":
            raise ApiError(
                400, 10021, f"The zone '{zone.name}' is {zone.status}, not active: it cannot take a Custom Domain."
            )
        held = next((d for d in self._workers_domains.values() if d.hostname == hostname), None)
        if held is not None:
            if held.service == service or override_origin:
                held.service, held.environment = service, environment
                record = zone.records.get(held.record_id)
                if record is not None:
                    record.worker = service
                return held
            raise ApiError(
                409,
                CODE_HOSTNAME_IN_USE,
                f"Hostname '{hostname}' already in use by other custom domain. Either delete it, try a different "
                "hostname, or use the option 'override_existing_origin' to override.",
            )
        external = [r for r in zone.records.values() if r.name == hostname and r.type in {"A", "AAAA", "CNAME"}]
        if external:
            raise ApiError(
                409,
                CODE_EXTERNAL_RECORD,
                f"Hostname '{hostname}' already has externally managed DNS records (A, CNAME, etc). Either delete "
                "them, try a different hostname, or use the option 'override_existing_dns_record' to override.",
            )
        record = self._add_record(zone, "AAAA", hostname, WORKER_RECORD, proxied=True, worker=service)
        pack = CertificatePack(str(uuid.uuid4()), [hostname], time.monotonic())
        zone.packs[pack.id] = pack
        domain = WorkersDomain(
            id=uuid.uuid4().hex,
            account_id=account_id,
            zone_id=zone.id,
            zone_name=zone.name,
            hostname=hostname,
            service=service,
            environment=environment,
            cert_id=pack.id,
            record_id=record.id,
        )
        self._workers_domains[domain.id] = domain
        return domain

    def _detach_worker_domain(self, domain: WorkersDomain) -> None:
        """Its record and certificate go with it. Caller holds the lock."""
        self._workers_domains.pop(domain.id, None)
        zone = self._zones.get(domain.zone_id)
        if zone is not None:
            zone.records.pop(domain.record_id, None)
            zone.packs.pop(domain.cert_id, None)

    def _drop_worker_domains(self, account_id: str, service: str) -> None:
        """A deleted Worker's Custom Domains go with it. Caller holds the lock."""
        for domain in [d for d in self._workers_domains.values() if (d.account_id, d.service) == (account_id, service)]:
            self._detach_worker_domain(domain)

    @staticmethod
    def _worker_domain_view(domain: WorkersDomain) -> dict[str, Any]:
        return {
            "id": domain.id,
            "zone_id": domain.zone_id,
            "zone_name": domain.zone_name,
            "hostname": domain.hostname,
            "service": domain.service,
            "environment": domain.environment,
            "cert_id": domain.cert_id,
        }

    def _pack_view(self, pack: CertificatePack) -> dict[str, Any]:
        return {
            "id": pack.id,
            "type": "advanced",
            "hosts": list(pack.hosts),
            "status": pack.status(self.certificate_seconds),
            "validation_method": "http",
            "validity_days": 90,
            "certificate_authority": "google",
            "cloudflare_branding": False,
        }

    def _worker_domain_live(self, host: str) -> WorkersDomain | None:
        """The Custom Domain answering for ``host``: attached, its certificate issued."""
        domain = next((d for d in self._workers_domains.values() if d.hostname == host), None)
        zone = self._zones.get(domain.zone_id) if domain else None
        pack = zone.packs.get(domain.cert_id) if zone and domain else None
        if domain is None or pack is None or pack.status(self.certificate_seconds) != "active":
            return None
        return domain

    # -- Cloudflare for SaaS: custom hostnames and the fallback origin ------------------------------

    def _create_hostname(self, zone: Zone, body: dict[str, Any]) -> CustomHostname:
        """Caller holds the lock."""
        hostname = body.get("hostname")
        if not isinstance(hostname, str) or not hostname.strip():
            raise ApiError(400, CODE_INVALID_HOSTNAME, "The custom hostname is required.")
        hostname = hostname.strip().rstrip(".").lower()
        try:
            ipaddress.ip_address(hostname)
            address = True
        except ValueError:
            address = False
        if address or "." not in hostname or len(hostname) > 255 or hostname == zone.name:
            raise ApiError(400, CODE_INVALID_HOSTNAME, f"The custom hostname {hostname} is invalid.")
        if body.get("custom_metadata") is not None:
            raise ApiError(403, CODE_NO_METADATA, "This zone is not entitled to use custom metadata.")
        ssl = body.get("ssl")
        if not isinstance(ssl, dict) or not ssl.get("method") or not ssl.get("type"):
            raise ApiError(400, CODE_SSL_REQUIRED, "Both validation type and validation method are required.")
        if ssl["method"] not in ("http", "txt", "email"):
            raise ApiError(400, CODE_BAD_SSL_METHOD, f"The validation method {ssl['method']!r} is invalid.")
        if ssl["type"] != "dv":
            raise ApiError(400, CODE_BAD_SSL_TYPE, "The validation type must be 'dv'.")
        if any(h.hostname == hostname for h in zone.hostnames.values()):
            raise ApiError(409, CODE_DUPLICATE_HOSTNAME, "Duplicate custom hostname found.")
        held = CustomHostname(
            id=str(uuid.uuid4()),
            hostname=hostname,
            ssl_id=str(uuid.uuid4()),
            ssl_method=str(ssl["method"]),
            created=time.monotonic(),
            created_on=_now(),
        )
        self._validate(zone, held)
        zone.hostnames[held.id] = held
        return held

    def _fallback_status(self, zone: Zone) -> str | None:
        if zone.fallback is None:
            return None
        return "active" if time.monotonic() - zone.fallback.set_at >= self.fallback_seconds else "pending_deployment"

    def _set_fallback(self, zone: Zone, origin: str) -> FallbackOrigin:
        origin = origin.strip().rstrip(".").lower()
        proxied = [
            r for r in zone.records.values() if r.name == origin and r.proxied and r.type in {"A", "AAAA", "CNAME"}
        ]
        if not proxied:
            raise ApiError(
                400, CODE_FALLBACK, f"The fallback origin {origin} must be a proxied A, AAAA or CNAME record here."
            )
        zone.fallback = FallbackOrigin(origin, time.monotonic(), _now())
        return zone.fallback

    def _fallback_view(self, zone: Zone) -> dict[str, Any]:
        assert zone.fallback is not None
        return {
            "origin": zone.fallback.origin,
            "status": self._fallback_status(zone),
            "errors": [],
            "created_at": _iso(zone.fallback.created_on),
            "updated_at": _iso(zone.fallback.created_on),
        }

    def _points_here(self, zone: Zone, hostname: str) -> bool:
        return any(under(v.lower(), zone.name) for v in self.dns.lookup(hostname, "CNAME"))

    def _validate(self, zone: Zone, held: CustomHostname) -> None:
        """Where a custom hostname's validations are now (Cloudflare retries on its schedule;
        the emulator looks whenever the hostname is read or visited)."""
        now = time.monotonic()
        cnamed = self._points_here(zone, held.hostname)
        if held.status == "pending":
            owned = cnamed or self.dns.has(f"_cf-custom-hostname.{held.hostname}", "TXT", held.ownership_value)
            fallback = self._fallback_status(zone)
            if owned and fallback == "active":
                held.status, held.verification_errors = "active", []
            elif now - held.created >= self.hostname_validation_seconds:
                held.status = "moved"
                held.verification_errors = ["custom hostname does not CNAME to this zone."]
            elif fallback is None:
                held.verification_errors = ["Zone does not have a fallback origin set."]
            elif not owned:
                held.verification_errors = ["custom hostname does not CNAME to this zone."]
            else:
                held.verification_errors = ["Fallback origin is not active yet."]
        if held.ssl_status == "pending_validation":
            if held.ssl_method == "txt":
                validated = self.dns.has(f"_acme-challenge.{held.hostname}", "TXT", held.txt_value)
            else:
                validated = False
            if validated or cnamed:  # Cloudflare always also tries HTTP DCV once the name points here
                held.ssl_status, held.validated_at = "pending_issuance", now
            elif now - held.created >= self.hostname_validation_seconds:
                held.ssl_status = "validation_timed_out"
        if (
            held.ssl_status == "pending_issuance"
            and held.validated_at is not None
            and now - held.validated_at >= self.certificate_seconds
        ):
            held.ssl_status = "active"

    def _read_hostname(self, zone: Zone, held: CustomHostname) -> dict[str, Any]:
        """A GET's view: the certificate's validation records appear from the first read after the
        creation on (the POST's answer may not carry them, as Cloudflare documents)."""
        if held.ssl_status == "initializing":
            held.ssl_status = "pending_validation"
        return self._hostname_view(zone, held)

    def _hostname_view(self, zone: Zone, held: CustomHostname) -> dict[str, Any]:
        self._validate(zone, held)
        ssl: dict[str, Any] = {
            "id": held.ssl_id,
            "type": "dv",
            "method": held.ssl_method,
            "status": held.ssl_status,
            "settings": {},
            "bundle_method": "ubiquitous",
            "wildcard": False,
            "certificate_authority": "google",
            "validation_errors": [],
        }
        if held.ssl_status == "pending_validation":
            record: dict[str, Any] = {"status": "pending"}
            if held.ssl_method == "txt":
                record |= {"txt_name": f"_acme-challenge.{held.hostname}", "txt_value": held.txt_value}
            else:
                record |= {
                    "http_url": f"http://{held.hostname}/.well-known/pki-validation/{held.ssl_id}.txt",
                    "http_body": held.txt_value,
                }
            ssl["validation_records"] = [record]
        view: dict[str, Any] = {
            "id": held.id,
            "hostname": held.hostname,
            "ssl": ssl,
            "status": held.status,
            "ownership_verification": {
                "type": "txt",
                "name": f"_cf-custom-hostname.{held.hostname}",
                "value": held.ownership_value,
            },
            "ownership_verification_http": {
                "http_url": f"http://{held.hostname}/.well-known/cf-custom-hostname-challenge/{held.id}",
                "http_body": held.ownership_value,
            },
            "created_at": _iso(held.created_on),
        }
        if held.verification_errors and held.status != "active":
            view["verification_errors"] = list(held.verification_errors)
        return view

    def _routed_hostname(self, host: str) -> Zone | None:
        """The zone whose Worker routes apply to ``host`` as a custom hostname: active, its
        certificate issued."""
        for zone in self._zones.values():
            for held in zone.hostnames.values():
                if held.hostname == host:
                    self._validate(zone, held)
                    if held.status == "active" and held.ssl_status == "active":
                        return zone
        return None

    def _route_applies(self, zone_id: str | None, host: str) -> bool:
        """Whether a Worker route of the zone ``zone_id`` sees traffic for ``host``: a name of the
        zone, or one of its routed custom hostnames. A route naming no zone the emulator holds is
        matched by its pattern alone."""
        zone = self._zones.get(zone_id) if zone_id else None
        if zone is None:
            return True
        return under(host, zone.name) or self._routed_hostname(host) is zone

    # -- Workers KV -------------------------------------------------------------------------------

    def _create_kv(self, account_id: str, title: str) -> KvNamespace:
        if any(n.account_id == account_id and n.title == title for n in self._kv.values()):
            raise ApiError(400, CODE_KV_TITLE_TAKEN, "a namespace with this account ID and title already exists")
        held = KvNamespace(uuid.uuid4().hex, account_id, title)
        self._kv[held.id] = held
        return held

    def _kv_of(self, account_id: str, namespace_id: str) -> KvNamespace:
        held = self._kv.get(namespace_id)
        if held is None or held.account_id != account_id:
            raise ApiError(404, CODE_KV_NOT_FOUND, "namespace not found")
        return held

    def _kv_binding(self, account_id: str, bindings: list[dict[str, Any]], name: str) -> KvNamespace | None:
        for binding in bindings:
            if binding.get("type") == "kv_namespace" and binding.get("name") == name:
                held = self._kv.get(str(binding.get("namespace_id")))
                return held if held is not None and held.account_id == account_id else None
        return None
