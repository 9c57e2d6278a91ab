"""Workers for Platforms: Quick Deploy's sites as user Workers of one dispatch namespace, reached
through a dispatch Worker on the operator's zone (``https://<site>.<domain>``).

An account holds 500 Workers; a namespace holds any number ("Cloudflare provides an unlimited
number of scripts for Workers for Platforms customers"), which is how hosted app builders give every
generated app a Worker of its own. A site is uploaded exactly as an account's assets-only Worker is
(upload session, assets, script PUT), under ``/accounts/{a}/workers/dispatch/namespaces/{ns}/
scripts/{name}``; no workers.dev route is enabled for it. Once per namespace the service makes sure
the namespace exists and deploys the dispatch Worker: a module with a ``dispatch_namespace`` binding
that hands each request to the user Worker named by the first label of its hostname (Cloudflare's
own example), routed by ``*.<domain>/*``. The operator creates the zone's wildcard DNS record."""

from __future__ import annotations

import json
import threading

import urllib3

from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError

# Cloudflare's dynamic-dispatch example: the user Worker is the first label of the hostname.
DISPATCHER_SOURCE = """export default {
  async fetch(request, env) {
    const name = new URL(request.url).hostname.split(".")[0];
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

_ready: set[tuple[str, str, str]] = set()
_ready_lock = threading.Lock()


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
        metadata = {
            "main_module": "dispatcher.mjs",
            "compatibility_date": COMPATIBILITY_DATE,
            "bindings": [{"type": "dispatch_namespace", "name": "DISPATCHER", "namespace": namespace}],
        }
        body, content_type = urllib3.encode_multipart_formdata(
            {
                "metadata": ("blob", json.dumps(metadata), "application/json"),
                "dispatcher.mjs": ("dispatcher.mjs", DISPATCHER_SOURCE, "application/javascript+module"),
            }
        )
        api.call(
            "PUT", f"{base}/scripts/{dispatcher}", body=body, content_type=content_type, what="deploying the dispatcher"
        )
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
