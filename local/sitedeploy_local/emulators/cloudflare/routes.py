"""The routes of the Cloudflare v4 API that the emulator answers, and their handlers.

These are the calls ``wrangler deploy --assets`` and ``wrangler delete`` make for an assets-only
Worker (token and account checks, the assets upload session and its buckets, the script PUT, the
workers.dev subdomain, versions and deployments, settings, and the few reads wrangler makes around
them), plus the Workers listing. ``ROUTES`` at the bottom is the table: method, path template under
``/client/v4``, route name (what fault rules and the request log use), handler. Each handler checks
the caller, calls the state and returns (HTTP status, the envelope's ``result``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sitedeploy_local.emulators.cloudflare.api import (
    API_PREFIX,
    Call,
    CloudflareApi,
    Handler,
    json_body,
    parse_multipart,
)
from sitedeploy_local.emulators.cloudflare.domain_routes import DOMAIN_ROUTES
from sitedeploy_local.emulators.cloudflare.errors import ApiError
from sitedeploy_local.emulators.cloudflare.state import (
    AUTHOR_EMAIL,
    CODE_AUTH,
    CODE_INVALID_MANIFEST,
    CODE_INVALID_TOKEN,
    Account,
    ScriptState,
    ScriptVersion,
    bad_request,
    check_script_name,
    iso,
)
from sitedeploy_local.emulators.plumbing import NO_ROUTE
from sitedeploy_local.emulators.routes import Route, RouteTable

# -- tokens and accounts ----------------------------------------------------------------------------


def tokens_verify(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    value = api._bearer(call)
    with api._lock:
        token = api._tokens.get(value)
    if token is None:
        raise ApiError(401, CODE_INVALID_TOKEN, "Invalid API Token")
    return 200, {"id": token.id, "status": token.status}


def accounts_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call, None)
    with api._lock:
        accounts = [api._accounts[a] for a in sorted(token.account_ids) if a in api._accounts]
    return 200, [account_view(account) for account in accounts]


def account_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    return 200, account_view(account)


def account_subdomain(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    return 200, {"subdomain": account.subdomain}


# -- scripts and their assets -------------------------------------------------------------------------


def scripts_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    with api._lock:
        scripts = sorted(account.scripts.values(), key=lambda s: s.created_on)
        return 200, [script_view(script) for script in scripts]


def upload_session(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    token, account, name = api._script_call(call)
    body = json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("manifest"), dict):
        raise bad_request('expected {"manifest": {"/path": {"hash": ..., "size": ...}}}', CODE_INVALID_MANIFEST)
    manifest, sizes = api._manifest_from(body["manifest"])
    session, missing = api._open_session(token, account, name, manifest, sizes)
    if not missing:
        if api.faults.on_completion(call.route) is not None:
            call.fault = f"lose-completion on {call.route}"
            return 200, {"jwt": None, "buckets": []}
        return 200, {"jwt": api._sign(session, "completion", api.completion_jwt_ttl), "buckets": []}
    buckets = api._buckets(missing, sizes)
    return 200, {"jwt": api._sign(session, "upload", api.upload_jwt_ttl), "buckets": buckets}


def assets_upload(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    session = api._session_from(api._bearer(call), "upload")
    with api._lock:
        account = api._accounts.get(session.account_id)
        api._count_rate(session.token)
    # A dispatch namespace's session is uploaded to through its account's path, as for any Worker.
    owner = account.parent if account is not None and account.parent else session.account_id
    if owner != call.params["account_id"]:
        raise ApiError(403, CODE_AUTH, "Authentication error: the upload JWT belongs to another account")
    if account is None:
        raise ApiError(403, CODE_AUTH, "Authentication error")
    if call.query.get("base64") != ["true"]:
        raise bad_request("send the files base64-encoded with ?base64=true")
    parts = parse_multipart(call.body, call.headers.get("content-type", ""))
    call.hashes = tuple(part.name or "" for part in parts)
    if not parts:
        raise bad_request("the upload carries no files")
    remaining = api._receive(session, account, ((part.name or "", part.content_type, part.data) for part in parts))
    if remaining:
        return 202, {}
    if api.faults.on_completion(call.route) is not None:
        call.fault = f"lose-completion on {call.route}"
        return 202, {}
    return 201, {"jwt": api._sign(session, "completion", api.completion_jwt_ttl)}


def script_put(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    metadata = api._metadata(call)
    dispatch = _dispatch_binding(metadata)
    if dispatch is not None:
        with api._lock:
            api._namespace(account, dispatch)
        bindings = [b for b in metadata.get("bindings") or [] if isinstance(b, dict)]
        return 200, script_view(api._put_dispatcher(account, name, dispatch, bindings))
    version = api._version_from(account, name, metadata, "upload")
    with api._lock:
        script = api._activate(account, name, version, "upload")
        script.put_count += 1
        view = script_view(script)
        view["deployment_id"] = script.deployment_id
        view["startup_time_ms"] = 0
    return 200, view


def _dispatch_binding(metadata: dict[str, Any]) -> str | None:
    """The namespace a dispatch Worker's ``dispatch_namespace`` binding names, if it has one."""
    for binding in metadata.get("bindings") or []:
        if isinstance(binding, dict) and binding.get("type") == "dispatch_namespace":
            namespace = binding.get("namespace")
            if not isinstance(namespace, str) or not namespace:
                raise bad_request("a dispatch_namespace binding names its namespace")
            return namespace
    return None


# -- Workers for Platforms: dispatch namespaces and the Workers in them ---------------------------------


def namespace_view(held: Account) -> dict[str, Any]:
    return {
        "namespace_id": hashlib.sha256(held.id.encode()).hexdigest()[:32],
        "namespace_name": held.namespace,
        "created_on": iso(held.created_on),
        "modified_on": iso(held.created_on),
        "script_count": len(held.scripts),
    }


def namespaces_create(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    body = json_body(call)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise bad_request('expected {"name": "<namespace>"}')
    check_script_name(name)
    return 200, namespace_view(api._create_namespace(account, name))


def namespaces_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    with api._lock:
        return 200, [namespace_view(held) for held in account.namespaces.values()]


def namespace_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    with api._lock:
        return 200, namespace_view(api._namespace(account, call.params["namespace"]))


def namespace_delete(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account = api._account_call(call)
    api._delete_namespace(account, call.params["namespace"])
    return 200, None


def _in_namespace(api: CloudflareApi, call: Call) -> tuple[Account, str]:
    _, account = api._account_call(call)
    with api._lock:
        held = api._namespace(account, call.params["namespace"])
    name = call.params.get("name", "")
    if name:
        check_script_name(name)
    return held, name


def namespace_scripts(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    held, _ = _in_namespace(api, call)
    with api._lock:
        scripts = sorted(held.scripts.values(), key=lambda s: s.created_on)
        return 200, [script_view(script) for script in scripts]


def namespace_upload_session(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    token, _ = api._account_call(call)
    held, name = _in_namespace(api, call)
    body = json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("manifest"), dict):
        raise bad_request('expected {"manifest": {"/path": {"hash": ..., "size": ...}}}', CODE_INVALID_MANIFEST)
    manifest, sizes = api._manifest_from(body["manifest"])
    session, missing = api._open_session(token, held, name, manifest, sizes)
    if not missing:
        return 200, {"jwt": api._sign(session, "completion", api.completion_jwt_ttl), "buckets": []}
    return 200, {"jwt": api._sign(session, "upload", api.upload_jwt_ttl), "buckets": api._buckets(missing, sizes)}


def namespace_script_put(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    held, name = _in_namespace(api, call)
    metadata = api._metadata(call)
    version = api._version_from(held, name, metadata, "upload")
    with api._lock:
        script = api._activate(held, name, version, "upload")
        script.put_count += 1
        return 200, script_view(script)


def namespace_script_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    held, name = _in_namespace(api, call)
    with api._lock:
        return 200, {"script": script_view(api._existing(held, name))}


def namespace_script_delete(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    held, name = _in_namespace(api, call)
    with api._lock:
        api._existing(held, name)
    api._delete(held, name)
    return 200, None


def script_routes_put(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    body = json_body(call)
    if not isinstance(body, list) or not all(isinstance(r, dict) and isinstance(r.get("pattern"), str) for r in body):
        raise bad_request('expected [{"pattern": "*.example.com/*"}, ...]')
    for route in body:
        zone = route.get("zone_id")
        if zone is not None and not (isinstance(zone, str) and re.fullmatch(r"[0-9a-f]{32}", zone)):
            raise ApiError(400, 10000, f"Could not route to {route['pattern']}: invalid zone_id")
    patterns = [str(r["pattern"]) for r in body]
    api._set_routes(account, name, [(str(r["pattern"]), r.get("zone_id")) for r in body])
    return 200, [{"id": hashlib.sha256(p.encode()).hexdigest()[:32], "pattern": p, "script": name} for p in patterns]


def script_routes_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        api._existing(account, name)
        mine = [p for p, w in account.routes.items() if w == name]
    return 200, [{"id": hashlib.sha256(p.encode()).hexdigest()[:32], "pattern": p, "script": name} for p in mine]


def script_delete(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        api._existing(account, name)
    api._delete(account, name)
    return 200, None


NAMESPACE = "/accounts/{account_id}/workers/dispatch/namespaces/{namespace}"


# -- the workers.dev subdomain and the service ----------------------------------------------------------


def subdomain_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        script = api._existing(account, name)
        return 200, {"enabled": script.subdomain_enabled, "previews_enabled": script.previews_enabled}


def subdomain_post(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    body = json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
        raise bad_request('expected {"enabled": true|false}')
    previews = body.get("previews_enabled", body["enabled"])
    if not isinstance(previews, bool):
        raise bad_request("previews_enabled must be a boolean")
    with api._lock:
        script = api._existing(account, name)
        script.subdomain_enabled = body["enabled"]
        script.previews_enabled = previews
        return 200, {"enabled": script.subdomain_enabled, "previews_enabled": script.previews_enabled}


def service_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        script = api._existing(account, name, service=True)
        return 200, {
            "id": name,
            "created_on": iso(script.created_on),
            "modified_on": iso(script.modified_on),
            "default_environment": {
                "environment": "production",
                "created_on": iso(script.created_on),
                "modified_on": iso(script.modified_on),
                "script": {**script_view(script), "tag": script.name, "tags": None, "last_deployed_from": "wrangler"},
            },
            "environments": [{"environment": "production"}],
        }


def service_delete(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        api._existing(account, name, service=True)
    api._delete(account, name)
    return 200, None


# -- versions and deployments -------------------------------------------------------------------------


def deployments_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        script = api._existing(account, name)
        return 200, {"deployments": [dict(d) for d in script.deployments]}


def deployments_create(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    body = json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("versions"), list) or not body["versions"]:
        raise bad_request('expected {"strategy": "percentage", "versions": [{"version_id", "percentage"}]}')
    if body.get("strategy", "percentage") != "percentage":
        raise bad_request("strategy must be 'percentage'")
    split: list[tuple[str, float]] = []
    for item in body["versions"]:
        if not isinstance(item, dict) or not isinstance(item.get("version_id"), str):
            raise bad_request("each version needs a version_id")
        percentage = item.get("percentage")
        if not isinstance(percentage, int | float) or isinstance(percentage, bool) or not 0 <= percentage <= 100:
            raise bad_request("each version needs a percentage between 0 and 100")
        split.append((item["version_id"], float(percentage)))
    if abs(sum(p for _, p in split) - 100.0) > 1e-6:
        raise bad_request("the percentages of a deployment must add up to 100")
    with api._lock:
        script = api._existing(account, name)
        versions = {version.id: version for version in script.versions[-DEPLOYABLE_VERSIONS:]}
        unknown = [vid for vid, _ in split if vid not in versions]
        if unknown:
            raise bad_request(f"unknown version id(s) {unknown}")
        served = max(split, key=lambda item: item[1])[0]  # the emulator serves the majority version
        api._activate(account, name, versions[served], "deployment")
        deployment = script.deployments[0]
        deployment["versions"] = [{"version_id": vid, "percentage": p} for vid, p in split]
        annotations = body.get("annotations")
        if isinstance(annotations, dict):
            deployment["annotations"] = {**deployment["annotations"], **annotations}
        return 200, dict(deployment)


# A rollback reaches the newest 100 versions (Cloudflare's limit since 2025-09).
DEPLOYABLE_VERSIONS = 100


def versions_list(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    """Newest first; ``deployable=true``: the versions a deployment may name (pagination ignored)."""
    _, account, name = api._script_call(call)
    with api._lock:
        script = api._existing(account, name)
        items = [version_view(v, script) for v in reversed(script.versions)]
        if call.query.get("deployable", [""])[-1] == "true":
            items = items[:DEPLOYABLE_VERSIONS]
        return 200, {"items": items}


def version_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        script = api._existing(account, name)
        for version in script.versions:
            if version.id == call.params["version_id"]:
                return 200, version_view(version, script)
    raise ApiError(404, CODE_VERSION_NOT_FOUND, "workers.api.error.version_not_found")


CODE_VERSION_NOT_FOUND = 10230  # the code is a guess: Cloudflare does not document it


# Cloudflare's rule for preview aliases: lowercase, starting with a letter, and the alias, a dash
# and the Worker's name within one DNS label.
PREVIEW_ALIAS = re.compile(r"^[a-z][a-z0-9-]*$")


def versions_create(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        api._existing(account, name)
    metadata = api._metadata(call)
    annotations = metadata.get("annotations")
    alias = annotations.get("workers/alias") if isinstance(annotations, dict) else None
    if alias is not None and (
        not isinstance(alias, str) or not PREVIEW_ALIAS.match(alias) or len(alias) + 1 + len(name) > 63
    ):
        raise ApiError(400, 10021, f"invalid preview alias {alias!r} for the Worker {name!r}")
    version = api._version_from(account, name, metadata, "versions")
    with api._lock:
        script = api._existing(account, name)
        script.versions.append(version)
        return 200, version_view(version, script)


# -- settings and the reads wrangler makes around a deploy ------------------------------------------------


def settings_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        return 200, settings_view(api._existing(account, name))


def script_settings_get(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        script = api._existing(account, name)
        return 200, {"logpush": False, "tail_consumers": [], **script.script_settings}


def script_settings_patch(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    body = json_body(call)
    if not isinstance(body, dict):
        raise bad_request("expected a JSON object of settings")
    with api._lock:
        script = api._existing(account, name)
        script.script_settings.update(body)
        return 200, {"logpush": False, "tail_consumers": [], **script.script_settings}


def references(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    _, account, name = api._script_call(call)
    with api._lock:
        api._existing(account, name)
    return 200, {
        "services": {"incoming": [], "outgoing": [], "pages_function": False},
        "durable_objects": [],
        "dispatch_outbounds": [],
    }


def tails_by_consumer(api: CloudflareApi, call: Call) -> tuple[int, Any]:
    api._script_call(call)
    return 200, []


# -- views: the platform's shapes of what the state holds -------------------------------------------------


def account_view(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "type": "standard",
        "settings": {"enforce_twofactor": False, "api_access_enabled": None, "abuse_contact_email": None},
        "created_on": iso(account.created_on),
    }


def script_view(script: ScriptState) -> dict[str, Any]:
    return {
        "id": script.name,
        "etag": script.etag,
        "handlers": ["fetch"],
        "named_handlers": [],
        "has_assets": script.has_assets,
        "has_modules": False,
        "created_on": iso(script.created_on),
        "modified_on": iso(script.modified_on),
        "compatibility_date": script.compatibility_date,
        "compatibility_flags": list(script.compatibility_flags),
        "usage_model": "standard",
        "logpush": False,
        "tail_consumers": None,
        "placement": {},
    }


def version_view(version: ScriptVersion, script: ScriptState) -> dict[str, Any]:
    return {
        "id": version.id,
        "number": version.number,
        "metadata": {
            "author_email": AUTHOR_EMAIL,
            "author_id": "local",
            "source": "api" if version.source == "versions" else "upload",
            "created_on": iso(version.created_on),
            "modified_on": iso(version.created_on),
            "has_preview": True,  # an assets-only version always has a preview
        },
        "annotations": dict(version.annotations),
        "resources": {
            "script": {"etag": script.etag, "handlers": ["fetch"], "last_deployed_from": "api"},
            "script_runtime": {
                "compatibility_date": version.compatibility_date,
                "compatibility_flags": list(version.compatibility_flags),
                "usage_model": "standard",
                "limits": {"cpu_ms": 30000},
            },
            "bindings": [],
        },
        "startup_time_ms": 0,
    }


def settings_view(script: ScriptState) -> dict[str, Any]:
    return {
        "bindings": [dict(b) for b in script.bindings],
        "compatibility_date": script.compatibility_date,
        "compatibility_flags": list(script.compatibility_flags),
        "logpush": False,
        "placement": {},
        "tail_consumers": [],
        "usage_model": "standard",
        **script.script_settings,
    }


# -- the table ------------------------------------------------------------------------------------------

ROUTES: RouteTable[Handler] = RouteTable(
    [
        Route("GET", "/user/tokens/verify", "tokens-verify", tokens_verify),
        Route("GET", "/accounts", "accounts-list", accounts_list),
        Route("GET", "/accounts/{account_id}", "account-get", account_get),
        Route("GET", "/accounts/{account_id}/workers/scripts", "scripts-list", scripts_list),
        Route("PUT", "/accounts/{account_id}/workers/scripts/{name}", "script-put", script_put),
        Route("DELETE", "/accounts/{account_id}/workers/scripts/{name}", "script-delete", script_delete),
        Route(
            "POST",
            "/accounts/{account_id}/workers/scripts/{name}/assets-upload-session",
            "assets-upload-session",
            upload_session,
        ),
        Route("POST", "/accounts/{account_id}/workers/assets/upload", "assets-upload", assets_upload),
        Route("GET", "/accounts/{account_id}/workers/subdomain", "account-subdomain-get", account_subdomain),
        Route("GET", "/accounts/{account_id}/workers/scripts/{name}/subdomain", "subdomain-get", subdomain_get),
        Route("PUT", "/accounts/{account_id}/workers/scripts/{name}/routes", "script-routes-put", script_routes_put),
        Route("GET", "/accounts/{account_id}/workers/scripts/{name}/routes", "script-routes-get", script_routes_get),
        Route("POST", "/accounts/{account_id}/workers/dispatch/namespaces", "namespaces-create", namespaces_create),
        Route("GET", "/accounts/{account_id}/workers/dispatch/namespaces", "namespaces-list", namespaces_list),
        Route("GET", f"{NAMESPACE}", "namespace-get", namespace_get),
        Route("DELETE", f"{NAMESPACE}", "namespace-delete", namespace_delete),
        Route("GET", f"{NAMESPACE}/scripts", "namespace-scripts", namespace_scripts),
        Route("GET", f"{NAMESPACE}/scripts/{{name}}", "namespace-script-get", namespace_script_get),
        Route("PUT", f"{NAMESPACE}/scripts/{{name}}", "namespace-script-put", namespace_script_put),
        Route("DELETE", f"{NAMESPACE}/scripts/{{name}}", "namespace-script-delete", namespace_script_delete),
        Route(
            "POST",
            f"{NAMESPACE}/scripts/{{name}}/assets-upload-session",
            "namespace-upload-session",
            namespace_upload_session,
        ),
        Route("POST", "/accounts/{account_id}/workers/scripts/{name}/subdomain", "subdomain-post", subdomain_post),
        Route("GET", "/accounts/{account_id}/workers/services/{name}", "service-get", service_get),
        Route("DELETE", "/accounts/{account_id}/workers/services/{name}", "service-delete", service_delete),
        Route("GET", "/accounts/{account_id}/workers/scripts/{name}/deployments", "deployments-list", deployments_list),
        Route(
            "POST",
            "/accounts/{account_id}/workers/scripts/{name}/deployments",
            "deployments-create",
            deployments_create,
        ),
        Route("GET", "/accounts/{account_id}/workers/scripts/{name}/versions", "versions-list", versions_list),
        Route("POST", "/accounts/{account_id}/workers/scripts/{name}/versions", "versions-create", versions_create),
        Route(
            "GET",
            "/accounts/{account_id}/workers/scripts/{name}/versions/{version_id}",
            "version-get",
            version_get,
        ),
        Route("GET", "/accounts/{account_id}/workers/scripts/{name}/settings", "settings-get", settings_get),
        Route(
            "GET",
            "/accounts/{account_id}/workers/scripts/{name}/script-settings",
            "script-settings-get",
            script_settings_get,
        ),
        Route(
            "PATCH",
            "/accounts/{account_id}/workers/scripts/{name}/script-settings",
            "script-settings-patch",
            script_settings_patch,
        ),
        Route("GET", "/accounts/{account_id}/workers/scripts/{name}/references", "references-get", references),
        Route("GET", "/accounts/{account_id}/workers/tails/by-consumer/{name}", "tails-by-consumer", tails_by_consumer),
        *DOMAIN_ROUTES,
    ],
    prefix=API_PREFIX,
)

# Every name a fault rule may use: the routes', and NO_ROUTE for a request no route takes.
ROUTE_NAMES = (*ROUTES.names, NO_ROUTE)
