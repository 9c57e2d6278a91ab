"""The Netlify API v1 routes the emulator answers, and their handlers.

Route names are the operation ids of Netlify's own OpenAPI description (``@netlify/open-api``),
which are also the method names of its JavaScript client (``api.createSiteDeploy(...)``): a fault
rule or a request-log query names an operation as the platform's documentation does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sitedeploy.domain.sitefiles import content_type
from sitedeploy_local.emulators.netlify.api import API_PREFIX, Call, Handler, NetlifyApi, json_body
from sitedeploy_local.emulators.netlify.state import ApiError, iso, not_found, unprocessable
from sitedeploy_local.emulators.plumbing import NO_ROUTE
from sitedeploy_local.emulators.routes import Route, RouteTable

# -- the user and the accounts --------------------------------------------------------------------------


def get_current_user(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    user = token.user
    with api._lock:
        site_count = sum(1 for s in api._sites.values() if s.account_slug in token.account_slugs)
    return 200, {
        "id": user.id,
        "uid": user.id,
        "full_name": user.full_name,
        "avatar_url": None,
        "email": user.email,
        "slug": user.slug,
        "affiliate_id": "",
        "site_count": site_count,
        "created_at": iso(user.created_at),
        "last_login": iso(user.created_at),
        "login_providers": ["email"],
    }


def list_accounts_for_user(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    with api._lock:
        accounts = [api._accounts[slug] for slug in token.account_slugs if slug in api._accounts]
        return 200, [
            {
                "id": account.id,
                "slug": account.slug,
                "name": account.name,
                "type": "team",
                "type_name": "Starter",
                "type_id": "starter",
                "owner_ids": [token.user.id],
                "roles_allowed": ["Owner"],
                "created_at": iso(account.created_at),
                "updated_at": iso(account.created_at),
            }
            for account in accounts
        ]


# -- sites ------------------------------------------------------------------------------------------------


def _site_name(call: Call) -> str | None:
    body = json_body(call, default={})
    if not isinstance(body, dict):
        raise unprocessable("the site must be a JSON object")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise ApiError(422, "Validation Failed", errors={"name": ["must be a string"]})
    return name or None


def create_site(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    account = api._account_for(token, None)
    site = api._create_site(token, account, _site_name(call))
    with api._lock:
        return 201, api._site_view(site)


def create_site_in_team(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    account = api._account_for(token, call.params["account_slug"])
    site = api._create_site(token, account, _site_name(call))
    with api._lock:
        return 201, api._site_view(site)


def _page(call: Call, items: list[Any]) -> list[Any]:
    try:
        page = max(1, int(call.query_value("page") or 1))
        per_page = max(1, min(1000, int(call.query_value("per_page") or 100)))
    except ValueError:
        raise ApiError(400, "page and per_page must be integers") from None
    return items[(page - 1) * per_page : page * per_page]


def _list_sites(api: NetlifyApi, call: Call, slugs: tuple[str, ...]) -> list[Any]:
    name = call.query_value("name")
    with api._lock:
        sites = sorted(
            (s for s in api._sites.values() if s.account_slug in slugs and (not name or name in s.name)),
            key=lambda s: s.created_at,
        )
        return _page(call, [api._site_view(s) for s in sites])


def list_sites(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    return 200, _list_sites(api, call, token.account_slugs)


def list_sites_for_account(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    account = api._account_for(token, call.params["account_slug"])
    return 200, _list_sites(api, call, (account.slug,))


def get_site(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    with api._lock:
        return 200, api._site_view(site)


def delete_site(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    server = api._delete_site(site)
    if server is not None:
        server.stop()
    return 204, None


def update_site(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    """``PATCH /sites/{site_id}``: the emulator models the custom domain fields (``domains``)."""
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    body = json_body(call, default={})
    if not isinstance(body, dict):
        raise unprocessable("the site must be a JSON object")
    api._update_domains(site, body)
    with api._lock:
        return 200, api._site_view(site)


# -- TLS certificates -------------------------------------------------------------------------------------


def provision_site_tls_certificate(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    return 200, api._provision(site, call.query)


def show_site_tls_certificate(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    with api._lock:
        certificate = api._certificate_view(site)
    if certificate is None:
        raise not_found()
    return 200, certificate


# -- deploys ----------------------------------------------------------------------------------------------


def _deploy_body(call: Call) -> dict[str, Any]:
    body = json_body(call, default={})
    if not isinstance(body, dict):
        raise unprocessable("the deploy must be a JSON object")
    return body


def create_site_deploy(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    body = _deploy_body(call)
    deploy = api._create_deploy(site, body, call.query_value("title") or body.get("title"))
    with api._lock:
        return 200, api._deploy_view(deploy)


def update_site_deploy(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    deploy = api._visible_deploy(token, call.params["deploy_id"], site)
    api._update_deploy(site, deploy, _deploy_body(call))
    with api._lock:
        return 200, api._deploy_view(deploy)


def restore_site_deploy(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    deploy = api._visible_deploy(token, call.params["deploy_id"], site)
    api._restore(site, deploy)
    with api._lock:
        return 201, api._deploy_view(deploy)


def list_site_deploys(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    with api._lock:
        deploys = [api._deploys[d] for d in reversed(site.deploys) if d in api._deploys]
        return 200, _page(call, [api._deploy_view(d) for d in deploys])


def get_site_deploy(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    site = api._visible_site(token, call.params["site_id"])
    deploy = api._visible_deploy(token, call.params["deploy_id"], site)
    with api._lock:
        return 200, api._deploy_view(deploy)


def get_deploy(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    token = api._authorize(call)
    deploy = api._visible_deploy(token, call.params["deploy_id"])
    with api._lock:
        return 200, api._deploy_view(deploy)


def upload_deploy_file(api: NetlifyApi, call: Call) -> tuple[int, Any]:
    """``PUT /deploys/{deploy_id}/files/{path}``: the path (encodeURI-escaped, no leading slash)
    is everything after ``/files/``; the client may add ``?size=`` (the official client does)."""
    token = api._authorize(call)
    deploy = api._visible_deploy(token, call.params["deploy_id"])
    marker = f"/deploys/{call.params['deploy_id']}/files/"
    raw = call.path.split(marker, 1)[1] if marker in call.path else ""
    try:
        path = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "the file path is not valid UTF-8 once percent-decoded") from None
    if not path.strip("/"):
        raise not_found()
    size = call.query_value("size")
    if size is not None and size.isdigit() and int(size) != len(call.body):
        raise unprocessable(f"size={size} but the body has {len(call.body)} bytes")
    listed, digest = api._receive(deploy, path, call.body)
    return 200, {
        "id": digest,
        "path": listed,
        "sha": digest,
        "mime_type": content_type(listed).split(";", 1)[0],
        "size": len(call.body),
    }


# -- the table --------------------------------------------------------------------------------------------

_ROUTES: list[Route[Handler]] = [
    Route("GET", "/user", "getCurrentUser", get_current_user),
    Route("GET", "/accounts", "listAccountsForUser", list_accounts_for_user),
    Route("GET", "/sites", "listSites", list_sites),
    Route("POST", "/sites", "createSite", create_site),
    Route("GET", "/sites/{site_id}", "getSite", get_site),
    Route("PATCH", "/sites/{site_id}", "updateSite", update_site),
    Route("DELETE", "/sites/{site_id}", "deleteSite", delete_site),
    Route("POST", "/sites/{site_id}/ssl", "provisionSiteTLSCertificate", provision_site_tls_certificate),
    Route("GET", "/sites/{site_id}/ssl", "showSiteTLSCertificate", show_site_tls_certificate),
    Route("GET", "/sites/{site_id}/deploys", "listSiteDeploys", list_site_deploys),
    Route("POST", "/sites/{site_id}/deploys", "createSiteDeploy", create_site_deploy),
    Route("GET", "/sites/{site_id}/deploys/{deploy_id}", "getSiteDeploy", get_site_deploy),
    Route("PUT", "/sites/{site_id}/deploys/{deploy_id}", "updateSiteDeploy", update_site_deploy),
    Route("POST", "/sites/{site_id}/deploys/{deploy_id}/restore", "restoreSiteDeploy", restore_site_deploy),
    Route("GET", "/deploys/{deploy_id}", "getDeploy", get_deploy),
    Route("PUT", "/deploys/{deploy_id}/files/**", "uploadDeployFile", upload_deploy_file),
    Route("GET", "/{account_slug}/sites", "listSitesForAccount", list_sites_for_account),
    Route("POST", "/{account_slug}/sites", "createSiteInTeam", create_site_in_team),
]

ROUTES: RouteTable[Handler] = RouteTable(_ROUTES, prefix=API_PREFIX)

# Every name a fault rule may use: the routes', and NO_ROUTE for a request no route takes.
ROUTE_NAMES = (*ROUTES.names, NO_ROUTE)
