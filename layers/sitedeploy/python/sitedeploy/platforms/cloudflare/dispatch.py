"""Workers for Platforms: Quick Deploy's sites as user Workers of one dispatch namespace, reached
through a dispatch Worker on the operator's zone (``https://<site>.<domain>``).

An account holds 500 Workers; a namespace holds any number ("Cloudflare provides an unlimited
number of scripts for Workers for Platforms customers"), which is how hosted app builders give every
generated app a Worker of its own. A site is uploaded exactly as an account's assets-only Worker is
(upload session, assets, script PUT), under ``/accounts/{a}/workers/dispatch/namespaces/{ns}/
scripts/{name}``; no workers.dev route is enabled for it. Once per namespace the service makes sure
the namespace exists and deploys the dispatch Worker: a module with a ``dispatch_namespace`` binding
that hands each request to the user Worker named by the first label of its hostname (Cloudflare's
own example), routed by ``*.<domain>/*``. The operator creates the zone's wildcard DNS record.

Custom hostnames (Cloudflare for SaaS on the operator's zone, when the secret names it): the first
attach makes sure, once per execution environment, of what routes them (``ensure_hostname_routing``):
a KV namespace ``HOSTS`` (hostname → Worker; custom metadata, the other way to carry it, is an
Enterprise add-on) bound to the dispatch Worker, a second route ``*/*`` on the zone (Cloudflare's
advice for SaaS: it sees every hostname the zone serves, custom ones included, however the
customer's DNS is proxied), and the zone's fallback origin ``fallback.<domain>``, the proxied
record customers CNAME to. A hostname of the zone that is neither a site's nor mapped passes through
the dispatcher to its origin, so the ``*/*`` route leaves the operator's other hostnames as they
were."""

from __future__ import annotations

import json
import threading

import urllib3

from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError

# Cloudflare's dynamic-dispatch example: a site's own hostname (<site>.<DOMAIN>) names its user
# Worker by its first label; any other is a custom hostname, its Worker in the HOSTS KV namespace.
DISPATCHER_SOURCE = """export default {
  async fetch(request, env) {
    const host = new URL(request.url).hostname;
    const own = !env.DOMAIN || host.endsWith("." + env.DOMAIN);
    const name = own ? host.split(".")[0] : env.HOSTS ? await env.HOSTS.get(host) : null;
    if (!name) {
      return own ? new Response("This site does not exist.", { status: 404 }) : fetch(request);
    }
    try {
      return await env.DISPATCHER.get(name).fetch(request);
    } catch (e) {
      if (String(e.message).startsWith("Worker not found")) {
        return new Response("This site does not exist.", { status: 404 });
      }
      return new Response("The site could not be reached.", { status: 500 });
    }
  },
};
"""
COMPATIBILITY_DATE = "2025-06-01"
HOSTS_BINDING = "HOSTS"
# Where a custom hostname's CNAME points: a proxied record of the zone, "originless" (Cloudflare's
# advice when a Worker answers everything), also the zone's fallback origin.
FALLBACK_LABEL = "fallback"
ORIGINLESS = "100::"
ALL_TRAFFIC = "*/*"

_ready: set[tuple[str, str, str]] = set()
_routing: dict[tuple[str, str, str, str], str] = {}  # → the HOSTS KV namespace's id
_ready_lock = threading.Lock()


def fallback_origin(domain: str) -> str:
    """The hostname customers CNAME their custom hostnames to."""
    return f"{FALLBACK_LABEL}.{domain}"


def hosts_title(namespace: str) -> str:
    """The title of the KV namespace mapping the namespace's custom hostnames to their Workers."""
    return f"{namespace}-custom-hostnames"


def _deploy_dispatcher(
    api: CloudflareApi, base: str, dispatcher: str, *, namespace: str, domain: str, hosts: str | None = None
) -> None:
    """The dispatch Worker, with its bindings: the namespace, its sites' ``DOMAIN`` and, once
    custom hostnames are routed, the ``HOSTS`` KV namespace."""
    bindings: list[dict[str, str]] = [
        {"type": "dispatch_namespace", "name": "DISPATCHER", "namespace": namespace},
        {"type": "plain_text", "name": "DOMAIN", "text": domain},
    ]
    if hosts is not None:
        bindings.append({"type": "kv_namespace", "name": HOSTS_BINDING, "namespace_id": hosts})
    metadata = {"main_module": "dispatcher.mjs", "compatibility_date": COMPATIBILITY_DATE, "bindings": bindings}
    body, content_type = urllib3.encode_multipart_formdata(
        {
            "metadata": ("blob", json.dumps(metadata), "application/json"),
            "dispatcher.mjs": ("dispatcher.mjs", DISPATCHER_SOURCE, "application/javascript+module"),
        }
    )
    api.call(
        "PUT", f"{base}/scripts/{dispatcher}", body=body, content_type=content_type, what="deploying the dispatcher"
    )


def ensure_dispatch(
    api: CloudflareApi, account_id: str, namespace: str, *, dispatcher: str, domain: str, zone_id: str | None = None
) -> None:
    """The namespace exists and its dispatch Worker routes ``*.<domain>/*``: checked once per
    execution environment (two reads when they are there), made when they are not. With the zone's
    id the route names its zone, as wrangler's do; without, Cloudflare finds it from the pattern."""
    key = (api.base_url, account_id, namespace)
    with _ready_lock:
        if key in _ready:
            return
    base = f"/accounts/{account_id}/workers"
    try:
        api.call("GET", f"{base}/dispatch/namespaces/{namespace}", what="reading the dispatch namespace")
    except CloudflareError as exc:
        if exc.status != 404:
            raise
        api.call(
            "POST", f"{base}/dispatch/namespaces", json_body={"name": namespace}, what="creating the dispatch namespace"
        )
    try:
        api.call("GET", f"{base}/scripts/{dispatcher}/settings", what="reading the dispatch Worker")
    except CloudflareError as exc:
        if exc.status != 404 and exc.code != 10007:
            raise
        _deploy_dispatcher(api, base, dispatcher, namespace=namespace, domain=domain)
        api.call(
            "PUT",
            f"{base}/scripts/{dispatcher}/routes",
            json_body=[{"pattern": f"*.{domain}/*", **({"zone_id": zone_id} if zone_id else {})}],
            what="routing the sites' hostnames to the dispatcher",
        )
    with _ready_lock:
        _ready.add(key)


def namespace_scripts(api: CloudflareApi, account_id: str, namespace: str) -> list[dict[str, object]]:
    """The user Workers of the namespace, as Cloudflare lists them."""
    _, result = api.call(
        "GET",
        f"/accounts/{account_id}/workers/dispatch/namespaces/{namespace}/scripts",
        what="listing the namespace's Workers",
    )
    return [s for s in (result or []) if isinstance(s, dict)]


def ensure_hostname_routing(
    api: CloudflareApi, account_id: str, namespace: str, *, dispatcher: str, domain: str, zone_id: str
) -> str:
    """What routes custom hostnames to the namespace's Workers is there (checked once per
    execution environment: reads only when it is; made when it is not): the ``HOSTS`` KV namespace
    bound to the dispatch Worker, its ``*/*`` route on the zone, and the fallback origin with its
    record. Returns the KV namespace's id, where each hostname's Worker is written."""
    key = (api.base_url, account_id, namespace, zone_id)
    with _ready_lock:
        known = _routing.get(key)
    if known is not None:
        return known
    ensure_dispatch(api, account_id, namespace, dispatcher=dispatcher, domain=domain, zone_id=zone_id)
    hosts = _kv_namespace(api, account_id, hosts_title(namespace))
    base = f"/accounts/{account_id}/workers"
    _, settings = api.call("GET", f"{base}/scripts/{dispatcher}/settings", what="reading the dispatch Worker")
    bindings = settings.get("bindings") if isinstance(settings, dict) else None
    bound = any(
        isinstance(b, dict)
        and b.get("type") == "kv_namespace"
        and b.get("name") == HOSTS_BINDING
        and b.get("namespace_id") == hosts
        for b in bindings or []
    )
    if not bound:
        _deploy_dispatcher(api, base, dispatcher, namespace=namespace, domain=domain, hosts=hosts)
    _, routes = api.call("GET", f"{base}/scripts/{dispatcher}/routes", what="reading the dispatcher's routes")
    patterns = {str(r.get("pattern")) for r in routes or [] if isinstance(r, dict)}
    if ALL_TRAFFIC not in patterns:
        api.call(
            "PUT",
            f"{base}/scripts/{dispatcher}/routes",
            json_body=[{"pattern": p, "zone_id": zone_id} for p in (f"*.{domain}/*", ALL_TRAFFIC)],
            what="routing custom hostnames to the dispatcher",
        )
    _ensure_fallback(api, zone_id, fallback_origin(domain))
    with _ready_lock:
        _routing[key] = hosts
    return hosts


def _kv_namespace(api: CloudflareApi, account_id: str, title: str) -> str:
    """The id of the account's KV namespace of that title, made when there is none."""
    path = f"/accounts/{account_id}/storage/kv/namespaces"
    page = 1
    while True:
        _, listed = api.call(
            "GET", path, query={"per_page": "100", "page": str(page)}, what="listing the KV namespaces"
        )
        items = [n for n in listed or [] if isinstance(n, dict)]
        for item in items:
            if item.get("title") == title and item.get("id"):
                return str(item["id"])
        if len(items) < 100:
            break
        page += 1
    _, made = api.call("POST", path, json_body={"title": title}, what="creating the custom hostnames' KV namespace")
    if not isinstance(made, dict) or not made.get("id"):
        raise CloudflareError("Cloudflare answered the KV namespace's creation without its id")
    return str(made["id"])


def _ensure_fallback(api: CloudflareApi, zone_id: str, origin: str) -> None:
    """The record customers CNAME to (a proxied ``AAAA 100::``: the dispatch Worker answers, no
    origin behind it) and, when the zone has none, the zone's fallback origin. A fallback origin
    the operator set is kept: with the ``*/*`` route the Worker answers whatever it is."""
    _, records = api.call(
        "GET", f"/zones/{zone_id}/dns_records", query={"name": origin}, what="reading the fallback origin's record"
    )
    if not any(isinstance(r, dict) and r.get("type") in {"A", "AAAA", "CNAME"} for r in records or []):
        api.call(
            "POST",
            f"/zones/{zone_id}/dns_records",
            json_body={"type": "AAAA", "name": origin, "content": ORIGINLESS, "proxied": True, "ttl": 1},
            what="creating the fallback origin's record",
        )
    try:
        _, current = api.call(
            "GET", f"/zones/{zone_id}/custom_hostnames/fallback_origin", what="reading the fallback origin"
        )
    except CloudflareError as exc:
        if exc.status != 404:
            raise
        current = None
    if isinstance(current, dict) and current.get("origin"):
        return
    api.call(
        "PUT",
        f"/zones/{zone_id}/custom_hostnames/fallback_origin",
        json_body={"origin": origin},
        what="setting the zone's fallback origin",
    )
