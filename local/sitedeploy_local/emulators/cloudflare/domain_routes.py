"""The routes of zones, custom domains, custom hostnames and Workers KV (``domains`` holds what they
change): the calls the service makes to attach a hostname to a Worker in a user's account (Workers
Custom Domains) or to the operator's dispatch Worker (Cloudflare for SaaS), and the reads wrangler
makes to find a zone. ``DOMAIN_ROUTES`` is their part of the route table."""

from __future__ import annotations

from typing import Any

from sitedeploy_local.emulators.cloudflare.api import Call, CloudflareApi, Handler, json_body
from sitedeploy_local.emulators.cloudflare.domains import (
    CODE_DOMAIN_NOT_FOUND,
    CODE_HOSTNAME_NOT_FOUND,
    CODE_ID_AND_HOSTNAME,
    CODE_ZONE_NOT_FOUND,
    CustomHostname,
    WorkersDomain,
    Zone,
)
from sitedeploy_local.emulators.cloudflare.errors import ApiError
from sitedeploy_local.emulators.cloudflare.state import CODE_AUTH, CODE_NO_ROUTE, Token, bad_request
from sitedeploy_local.emulators.routes import Route


def _query(call: Call, name: str) -> str | None:
    values = call.query.get(name)
    return values[-1] if values else None


def _zone_call(api: CloudflareApi, call: Call) -> tuple[Token, Zone]:
    """The zone of the path, for a token of its account (403 otherwise, as for an account)."""
    token = api._authorize(call, None)
    with api._lock:
        zone = api._zones.get(call.params["zone_id"])
    if zone is None:
        raise ApiError(
            404, CODE_NO_ROUTE, f"Could not route to {call.path}, perhaps your object identifier is invalid?"
        )
    if zone.account_id not in token.account_ids:
        raise ApiError(403, CODE_AUTH, "Authentication error")
    return token, zone


# -- zones --------------------------------------------------------------------------------------------


def zones_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    """``?name=`` (exact) and ``?account.id=``, over the zones of the token's accounts."""
    token = api._authorize(call, None)
    with api._lock:
        zones = api._zones_for(token.account_ids, _query(call, "name"), _query(call, "account.id"))
        status = _query(call, "status")
        return 200, [api._zone_view(z) for z in zones if status is None or z.status == status]


def zone_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    with api._lock:
        return 200, api._zone_view(zone)


def dns_records_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    name, type_ = _query(call, "name"), _query(call, "type")
    with api._lock:
        return 200, [
            r.view(zone)
            for r in zone.records.values()
            if (name is None or r.name == name.lower()) and (type_ is None or r.type == type_.upper())
        ]


def dns_records_create(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    body = json_body(call)
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("type", "name", "content")):
        raise bad_request('expected {"type", "name", "content", "proxied"}', 9000)
    type_ = body["type"].upper()
    if type_ not in {"A", "AAAA", "CNAME", "TXT"}:
        raise bad_request(f"DNS record type {type_!r} is not supported here", 9000)
    proxied = bool(body.get("proxied")) and type_ in {"A", "AAAA", "CNAME"}
    with api._lock:
        return 200, api._add_record(zone, type_, body["name"], body["content"], proxied=proxied).view(zone)


# -- Workers Custom Domains ------------------------------------------------------------------------------


def _domain_of(api: CloudflareApi, account_id: str, domain_id: str) -> WorkersDomain:
    domain = api._workers_domains.get(domain_id)
    if domain is None or domain.account_id != account_id:
        raise ApiError(404, CODE_DOMAIN_NOT_FOUND, "workers.api.error.domain_not_found")
    return domain


def workers_domain_put(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    """Attach a hostname to a Worker: ``hostname`` and ``service`` required; ``zone_id`` or
    ``zone_name`` optional (found from the hostname otherwise); ``environment`` deprecated."""
    _, account = api._account_call(call)
    body = json_body(call)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("hostname"), str)
        or not isinstance(body.get("service"), str)
    ):
        raise bad_request('expected {"hostname", "service", "zone_id"?, "zone_name"?, "environment"?}')
    hostname = body["hostname"].strip().rstrip(".").lower()
    if "*" in hostname or "/" in hostname:
        raise bad_request("Wildcards and paths are not allowed in Custom Domains")
    with api._lock:
        api._existing(account, body["service"], service=True)
        zone: Zone | None
        if isinstance(body.get("zone_id"), str):
            zone = api._zones.get(body["zone_id"])
        elif isinstance(body.get("zone_name"), str):
            zone = next((z for z in api._zones.values() if z.name == body["zone_name"].lower()), None)
        else:
            zone = api._zone_of(account.id, hostname)
        if zone is None or zone.account_id != account.id:
            raise ApiError(404, CODE_ZONE_NOT_FOUND, f'workers.api.error.zone_not_found for "{hostname}"')
        domain = api._attach_worker_domain(
            account.id,
            hostname,
            body["service"],
            zone,
            environment=str(body.get("environment") or "production"),
            override_origin=body.get("override_existing_origin") is True,
        )
        return 200, api._worker_domain_view(domain)


def workers_domain_post(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    """Attaching is a PUT: a POST is refused as Cloudflare refuses it."""
    api._account_call(call)
    raise ApiError(405, 10000, "Method not allowed for this authentication scheme")


def workers_domains_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    filters = {key: _query(call, key) for key in ("hostname", "service", "zone_id", "zone_name", "environment")}
    with api._lock:
        views = [api._worker_domain_view(d) for d in api._workers_domains.values() if d.account_id == account.id]
    return 200, [v for v in views if all(value is None or v[key] == value for key, value in filters.items())]


def workers_domain_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    with api._lock:
        return 200, api._worker_domain_view(_domain_of(api, account.id, call.params["domain_id"]))


def workers_domain_delete(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    """Detach: the hostname's record and certificate go with it."""
    _, account = api._account_call(call)
    with api._lock:
        api._detach_worker_domain(_domain_of(api, account.id, call.params["domain_id"]))
    return 200, None


def certificate_packs(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    """The zone's packs: only the active ones unless ``?status=all``."""
    _, zone = _zone_call(api, call)
    every = _query(call, "status") == "all"
    with api._lock:
        views = [api._pack_view(p) for p in zone.packs.values()]
    return 200, [v for v in views if every or v["status"] == "active"]


# -- Cloudflare for SaaS ----------------------------------------------------------------------------------


def _hostname_of(zone: Zone, hostname_id: str) -> CustomHostname:
    held = zone.hostnames.get(hostname_id)
    if held is None:
        raise ApiError(404, CODE_HOSTNAME_NOT_FOUND, "The custom hostname was not found.")
    return held


def custom_hostnames_create(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    body = json_body(call)
    if not isinstance(body, dict):
        raise bad_request('expected {"hostname", "ssl": {"method", "type"}}')
    with api._lock:
        return 201, api._hostname_view(zone, api._create_hostname(zone, body))


def custom_hostnames_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    hostname, wanted = _query(call, "hostname"), _query(call, "id")
    if hostname is not None and wanted is not None:
        raise ApiError(400, CODE_ID_AND_HOSTNAME, "Cannot filter by both id and hostname.")
    with api._lock:
        return 200, [
            api._read_hostname(zone, h)
            for h in zone.hostnames.values()
            if (hostname is None or h.hostname == hostname.lower()) and (wanted is None or h.id == wanted)
        ]


def custom_hostname_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    with api._lock:
        return 200, api._read_hostname(zone, _hostname_of(zone, call.params["hostname_id"]))


def custom_hostname_delete(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    """Deleting it deletes its certificate too; it is no longer routed."""
    _, zone = _zone_call(api, call)
    with api._lock:
        held = _hostname_of(zone, call.params["hostname_id"])
        del zone.hostnames[held.id]
    return 200, {"id": held.id}


def fallback_origin_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    with api._lock:
        if zone.fallback is None:
            raise ApiError(404, 1551, "No fallback origin is set for this zone.")
        return 200, api._fallback_view(zone)


def fallback_origin_put(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    body = json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("origin"), str):
        raise bad_request('expected {"origin": "<a proxied hostname of the zone>"}')
    with api._lock:
        api._set_fallback(zone, body["origin"])
        return 200, api._fallback_view(zone)


def fallback_origin_delete(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, zone = _zone_call(api, call)
    with api._lock:
        zone.fallback = None
    return 200, {"id": zone.id}


# -- Workers KV -------------------------------------------------------------------------------------------


def kv_namespaces_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    with api._lock:
        held = sorted((n for n in api._kv.values() if n.account_id == account.id), key=lambda n: n.title)
        return 200, [{"id": n.id, "title": n.title, "supports_url_encoding": True} for n in held]


def kv_namespaces_create(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    body = json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"]:
        raise bad_request('expected {"title": "<namespace title>"}')
    with api._lock:
        held = api._create_kv(account.id, body["title"])
    return 200, {"id": held.id, "title": held.title, "supports_url_encoding": True}


def kv_value_put(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    """The request's body is the value (wrangler's form without metadata)."""
    _, account = api._account_call(call)
    with api._lock:
        api._kv_of(account.id, call.params["namespace_id"]).values[call.params["key"]] = bytes(call.body)
    return 200, {}


def kv_value_delete(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    with api._lock:
        api._kv_of(account.id, call.params["namespace_id"]).values.pop(call.params["key"], None)
    return 200, {}


KV = "/accounts/{account_id}/storage/kv/namespaces"
HOSTNAMES = "/zones/{zone_id}/custom_hostnames"
WORKERS_DOMAINS = "/accounts/{account_id}/workers/domains"

DOMAIN_ROUTES: list[Route[Handler]] = [
    Route("GET", "/zones", "zones-list", zones_list),
    Route("GET", "/zones/{zone_id}", "zone-get", zone_get),
    Route("GET", "/zones/{zone_id}/dns_records", "dns-records-list", dns_records_list),
    Route("POST", "/zones/{zone_id}/dns_records", "dns-records-create", dns_records_create),
    Route("GET", "/zones/{zone_id}/ssl/certificate_packs", "certificate-packs-list", certificate_packs),
    Route("PUT", WORKERS_DOMAINS, "workers-domain-put", workers_domain_put),
    Route("POST", WORKERS_DOMAINS, "workers-domain-post", workers_domain_post),
    Route("GET", WORKERS_DOMAINS, "workers-domains-list", workers_domains_list),
    Route("GET", f"{WORKERS_DOMAINS}/{{domain_id}}", "workers-domain-get", workers_domain_get),
    Route("DELETE", f"{WORKERS_DOMAINS}/{{domain_id}}", "workers-domain-delete", workers_domain_delete),
    Route("GET", f"{HOSTNAMES}/fallback_origin", "fallback-origin-get", fallback_origin_get),
    Route("PUT", f"{HOSTNAMES}/fallback_origin", "fallback-origin-put", fallback_origin_put),
    Route("DELETE", f"{HOSTNAMES}/fallback_origin", "fallback-origin-delete", fallback_origin_delete),
    Route("POST", HOSTNAMES, "custom-hostnames-create", custom_hostnames_create),
    Route("GET", HOSTNAMES, "custom-hostnames-list", custom_hostnames_list),
    Route("GET", f"{HOSTNAMES}/{{hostname_id}}", "custom-hostname-get", custom_hostname_get),
    Route("DELETE", f"{HOSTNAMES}/{{hostname_id}}", "custom-hostname-delete", custom_hostname_delete),
    Route("GET", KV, "kv-namespaces-list", kv_namespaces_list),
    Route("POST", KV, "kv-namespaces-create", kv_namespaces_create),
    Route("PUT", f"{KV}/{{namespace_id}}/values/{{key}}", "kv-value-put", kv_value_put),
    Route("DELETE", f"{KV}/{{namespace_id}}/values/{{key}}", "kv-value-delete", kv_value_delete),
]
