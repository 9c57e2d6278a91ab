"""The routes of the Vercel REST API that the emulator answers, and their handlers.

These are the calls a static deployment makes (what ``@vercel/client``'s ``createDeployment`` sends:
``POST /v13/deployments``, ``POST /v2/files`` for what it answers missing, the same POST again, then
``GET /v13/deployments/{id}`` until READY and aliased), the calls around it (user, teams, cancel) and
the project calls (get, list, delete). ``ROUTES`` at the bottom is the table: method, path template,
route name (what fault rules and the request log use), handler. Each handler checks the caller, calls
the state and returns (HTTP status, the JSON body).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from sitedeploy_local.emulators.plumbing import NO_ROUTE
from sitedeploy_local.emulators.routes import Route, RouteTable
from sitedeploy_local.emulators.vercel.api import Call, Handler, VercelApi, json_body
from sitedeploy_local.emulators.vercel.domains import ProjectDomain
from sitedeploy_local.emulators.vercel.output import Output, OutputError, build_output, detect
from sitedeploy_local.emulators.vercel.rules import RuleError, SiteConfig
from sitedeploy_local.emulators.vercel.state import (
    PROJECT_NAME,
    SHA1,
    Account,
    Deployment,
    Project,
    User,
    VercelError,
    bad_request,
    not_found,
)

TARGETS = (None, "production", "staging")

# -- user and teams -----------------------------------------------------------------------------------


def user_get(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, user, _ = api._authorize(call)
    return 200, {"user": user_view(user)}


def teams_list(api: VercelApi, call: Call) -> tuple[int, Any]:
    token, _, _ = api._authorize(call)
    with api._lock:
        teams = [team_view(api._accounts[t]) for t in sorted(token.team_ids) if t in api._accounts]
    return 200, {"teams": teams, "pagination": {"count": len(teams), "next": None, "prev": None}}


def team_get(api: VercelApi, call: Call) -> tuple[int, Any]:
    token, _, _ = api._authorize(call)
    team_id = call.params["team_id"]
    with api._lock:
        team = api._accounts.get(team_id)
        if team is None or team.kind != "team" or team_id not in token.team_ids:
            raise VercelError(403, "forbidden", "Not authorized")
        return 200, team_view(team)


# -- files ----------------------------------------------------------------------------------------------


def files_upload(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, _, account = api._authorize(call)
    digest = (call.headers.get("x-vercel-digest") or call.headers.get("x-now-digest") or "").strip().lower()
    if not digest:
        raise bad_request("The `x-vercel-digest` header is missing.", "missing_digest")
    if not SHA1.match(digest):
        raise bad_request(f"The digest {digest!r} is not a SHA-1 hex digest.", "invalid_digest")
    size = call.headers.get("x-vercel-size") or call.headers.get("x-now-size")
    if size is not None and size.strip() != str(len(call.body)):
        raise bad_request(f"The file is {len(call.body)} bytes, not the {size} its size header says.", "invalid_size")
    if len(call.body) > api.max_file_bytes:
        raise VercelError(413, "file_too_large", f"A file may be at most {api.max_file_bytes} bytes.")
    actual = hashlib.sha1(call.body).hexdigest()  # noqa: S324 (the platform's content address)
    if actual != digest:
        raise bad_request(f"The file's SHA-1 {actual} does not match its digest {digest}.", "invalid_digest")
    with api._lock:
        account.files[digest] = bytes(call.body)
    return 200, {}


# -- deployments ---------------------------------------------------------------------------------------


def _parse_files(api: VercelApi, raw: Any) -> tuple[dict[str, str], dict[str, bytes]]:
    """(path -> sha1, inline sha1 -> bytes) of a deployment body's ``files``."""
    if not isinstance(raw, list):
        raise bad_request("Invalid request: `files` should be array.")
    if len(raw) > api.max_files:
        raise bad_request(
            f"A deployment may have at most {api.max_files} files; this one has {len(raw)}.", "too_many_files"
        )
    files: dict[str, str] = {}
    inline: dict[str, bytes] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not entry["file"]:
            raise bad_request(f"Invalid request: `files[{index}]` needs a `file` path.")
        path = entry["file"]
        if path.startswith("/") or "\\" in path or any(part in ("", ".", "..") for part in path.split("/")):
            raise bad_request(f"Invalid request: `files[{index}].file` {path!r} must be a relative path.")
        if path in files:
            raise bad_request(f"Invalid request: the file {path!r} is listed twice.")
        if "data" in entry:
            data = _inline_data(index, entry)
            sha = hashlib.sha1(data).hexdigest()  # noqa: S324 (the platform's content address)
            inline[sha] = data
        else:
            listed = entry.get("sha")
            if not isinstance(listed, str) or not SHA1.match(listed):
                raise bad_request(f"Invalid request: `files[{index}].sha` should be a SHA-1 hex digest.")
            size = entry.get("size")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
                raise bad_request(f"Invalid request: `files[{index}].size` should be a non-negative integer.")
            sha = listed
        files[path] = sha
    return files, inline


def _inline_data(index: int, entry: dict[str, Any]) -> bytes:
    data, encoding = entry["data"], entry.get("encoding", "utf-8")
    if not isinstance(data, str):
        raise bad_request(f"Invalid request: `files[{index}].data` should be string.")
    if encoding == "base64":
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"Invalid request: `files[{index}].data` is not valid base64.") from None
    if encoding == "utf-8":
        return data.encode()
    raise bad_request(f"Invalid request: `files[{index}].encoding` should be one of utf-8, base64.")


def deployment_create(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, user, account = api._authorize(call)
    body = json_body(call)
    if not isinstance(body, dict):
        raise bad_request("Invalid request: the body should be an object.")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("Invalid request: missing required property `name`.")
    project_ref = body.get("project", name)
    if not isinstance(project_ref, str) or not project_ref:
        raise bad_request("Invalid request: `project` should be string.")
    target = body.get("target")
    if target not in TARGETS:
        raise bad_request(f"Invalid request: `target` should be one of production, staging, not {target!r}.")
    settings = body.get("projectSettings")
    if settings is not None and not isinstance(settings, dict):
        raise bad_request("Invalid request: `projectSettings` should be object.")
    files, inline = _parse_files(api, body.get("files"))
    prebuilt = call.arg("prebuilt") == "1"
    try:
        config = SiteConfig.parse(body)
    except RuleError as exc:
        raise bad_request(exc.message, exc.code) from None
    with api._lock:
        account.files.update(inline)
        missing = [sha for sha in dict.fromkeys(files.values()) if sha not in account.files]
        if missing:
            raise VercelError(400, "missing_files", "Missing files", {"missing": missing})
        output: Output | None = None
        if prebuilt:
            try:
                output = build_output(files, account.files.get)
            except OutputError as exc:
                raise bad_request(exc.message, exc.code) from None
        project = account.find(project_ref)
        if project is None:
            if not PROJECT_NAME.match(project_ref) or "---" in project_ref:
                raise bad_request(
                    f"The name {project_ref!r} of a Project can only contain up to 100 lowercase letters, "
                    "digits and the characters '.', '_', '-' (not '---').",
                    "invalid_name",
                )
            if settings is None and call.arg("skipAutoDetectionConfirmation") != "1":
                raise VercelError(
                    400,
                    "missing_project_settings",
                    "The `projectSettings` object is required for new projects, but is missing in the "
                    "deployment payload",
                    {"framework": None},
                )
            project = api._create_project(account, project_ref, settings or {})
        merged_settings = {**project.settings, **(settings or {})}
        detection = output.detection if output else detect(files, merged_settings, account.files.get)
        files = _output_files(files, merged_settings) if output is None else files
        deployment = api._create_deployment(
            account,
            project,
            creator=user,
            name=name,
            target=target,
            files=files,
            config=config,
            output=output,
            detection=detection,
        )
        return 200, deployment_view(api, deployment, account)


def _output_files(files: dict[str, str], settings: dict[str, Any]) -> dict[str, str]:
    """What a deployment serves. With no framework and no ``outputDirectory``, Vercel's "Other"
    preset serves a ``public/`` folder as the site's root when the files have one (and the root
    otherwise), so a static site must name ``"."`` to be served as it was sent."""
    directory = settings.get("outputDirectory")
    if directory is None and settings.get("framework") is None:
        directory = "public" if any(path.startswith("public/") for path in files) else "."
    prefix = str(directory or ".").strip("/")
    if prefix in ("", "."):
        return files
    return {path[len(prefix) + 1 :]: sha for path, sha in files.items() if path.startswith(prefix + "/")}


def _deployment_call(api: VercelApi, call: Call) -> tuple[Account, Deployment]:
    _, _, account = api._authorize(call)
    reference = call.params["deployment"].removeprefix("https://").removeprefix("http://")
    with api._lock:
        deployment = api._deployments.get(reference) or next(
            (d for d in api._deployments.values() if d.url == reference), None
        )
        if deployment is None or deployment.account_id != account.id:
            raise not_found("The deployment was not found.")
        api._advance(deployment)
        return account, deployment


def deployment_get(api: VercelApi, call: Call) -> tuple[int, Any]:
    account, deployment = _deployment_call(api, call)
    with api._lock:
        return 200, deployment_view(api, deployment, account)


def deployment_cancel(api: VercelApi, call: Call) -> tuple[int, Any]:
    account, deployment = _deployment_call(api, call)
    with api._lock:
        if not api.cancel(deployment.id):
            raise bad_request(
                f"The deployment is {deployment.state} and can no longer be canceled.", "deployment_not_cancelable"
            )
        return 200, deployment_view(api, deployment, account)


def deployments_list(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, _, account = api._authorize(call)
    project_ref = call.arg("projectId")
    limit = _limit(call, default=20)
    with api._lock:
        deployments = [d for d in api._deployments.values() if d.account_id == account.id]
        if project_ref:
            project = account.find(project_ref)
            deployments = [d for d in deployments if project is not None and d.project_id == project.id]
        if call.arg("target"):
            deployments = [d for d in deployments if d.target == call.arg("target")]
        deployments.sort(key=lambda d: d.created_ms, reverse=True)
        page = deployments[:limit]
        items = [
            {
                "uid": d.id,
                "name": d.name,
                "url": d.url,
                "created": d.created_ms,
                "createdAt": d.created_ms,
                "state": d.state,
                "readyState": d.state,
                "target": d.target,
                "projectId": d.project_id,
                "aliasAssigned": d.alias_assigned,
            }
            for d in page
        ]
        following = page[-1].created_ms if len(deployments) > limit else None
        return 200, {"deployments": items, "pagination": {"count": len(items), "next": following, "prev": None}}


# -- projects ---------------------------------------------------------------------------------------------


def _limit(call: Call, *, default: int) -> int:
    raw = call.arg("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise bad_request("Invalid request: `limit` should be a number between 1 and 100.")
    return int(raw)


def projects_list(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, _, account = api._authorize(call)
    limit = _limit(call, default=20)
    until = call.arg("until") or call.arg("from")
    if until is not None and not until.isdigit():
        raise bad_request("Invalid request: `until` should be a timestamp in milliseconds.")
    search = call.arg("search")
    with api._lock:
        projects = sorted(account.projects.values(), key=lambda p: p.updated_ms, reverse=True)
        if until is not None:
            projects = [p for p in projects if p.updated_ms < int(until)]
        if search:
            projects = [p for p in projects if search in p.name]
        page = projects[:limit]
        following = page[-1].updated_ms if len(projects) > limit else None
        return 200, {
            "projects": [project_view(api, p) for p in page],
            "pagination": {"count": len(page), "next": following, "prev": None},
        }


def _project_call(api: VercelApi, call: Call) -> tuple[Account, Project]:
    _, _, account = api._authorize(call)
    with api._lock:
        project = account.find(call.params["project"])
    if project is None:
        raise not_found("Project not found.")
    return account, project


def project_get(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, project = _project_call(api, call)
    with api._lock:
        return 200, project_view(api, project)


def project_promote(api: VercelApi, call: Call) -> tuple[int, Any]:
    account, project = _project_call(api, call)
    with api._lock:
        deployment = api._deployments.get(call.params["deployment"])
        if deployment is None or deployment.account_id != account.id:
            raise not_found("Deployment not found.")
        api._promote_to(account, project, deployment)
    return 201, {}


def deployment_aliases_post(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, _, account = api._authorize(call)
    body = json_body(call)
    alias = body.get("alias") if isinstance(body, dict) else None
    if not isinstance(alias, str) or not alias:
        raise bad_request("Invalid request: missing required property `alias`.")
    with api._lock:
        deployment = api._deployments.get(call.params["deployment"])
        if deployment is None or deployment.account_id != account.id:
            raise not_found("Deployment not found.")
        api._advance(deployment)
        if deployment.state != "READY":
            raise bad_request(f"The deployment is {deployment.state}: aliases go to READY deployments.")
        return 200, api._assign_alias(account, deployment, alias.lower())


DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _project_domain(api: VercelApi, project: Project, name: str) -> ProjectDomain:
    domain = api._domains.get(name.lower())
    if domain is None or domain.project_id != project.id:
        raise VercelError(404, "not_found", f"The domain {name} is not assigned to the project.")
    return domain


def project_domains_add(api: VercelApi, call: Call) -> tuple[int, Any]:
    account, project = _project_call(api, call)
    body = json_body(call)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not DOMAIN_NAME.match(name.lower()):
        raise bad_request(f"Invalid request: `name` should be a valid domain, not {name!r}.", "invalid_domain")
    with api._lock:
        try:
            domain = api._add_domain(account.id, project.id, name.lower(), api._ms())
        except ValueError:
            raise VercelError(
                400, "domain_already_in_project", f"{name} is already assigned to this project."
            ) from None
        except LookupError:
            raise VercelError(409, "domain_already_in_use", f"{name} is already in use by another project.") from None
        return 200, api._domain_view(domain)


def project_domain_get(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, project = _project_call(api, call)
    with api._lock:
        domain = _project_domain(api, project, call.params["domain"])
        api._verify_if_challenged(domain)
        return 200, api._domain_view(domain)


def project_domain_verify(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, project = _project_call(api, call)
    with api._lock:
        domain = _project_domain(api, project, call.params["domain"])
        api._verify_if_challenged(domain)
        if not domain.verified:
            raise VercelError(400, "missing_txt_record", f"The TXT record _vercel.{domain.apex} was not found.")
        return 200, api._domain_view(domain)


def project_domain_delete(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, project = _project_call(api, call)
    with api._lock:
        domain = _project_domain(api, project, call.params["domain"])
        del api._domains[domain.name]
    return 200, {}


def domain_config(api: VercelApi, call: Call) -> tuple[int, Any]:
    _, _, account = api._authorize(call)
    with api._lock:
        domain = api._domains.get(call.params["domain"].lower())
        if domain is None or domain.account_id != account.id:
            raise VercelError(404, "not_found", "The domain was not found.")
        return 200, api._config_view(domain)


def project_delete(api: VercelApi, call: Call) -> tuple[int, Any]:
    account, project = _project_call(api, call)
    with api._lock:
        site = api._delete_project(account, project)
    if site is not None:
        site.stop()
    return 204, None


# -- views: the platform's shapes of what the state holds ---------------------------------------------------


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "uid": user.id,
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "defaultTeamId": None,
    }


def team_view(team: Account) -> dict[str, Any]:
    return {"id": team.id, "slug": team.slug, "name": team.name, "createdAt": team.created_ms}


def deployment_view(api: VercelApi, deployment: Deployment, account: Account) -> dict[str, Any]:
    creator = api._users.get(deployment.creator_id)
    view: dict[str, Any] = {
        "id": deployment.id,
        "url": deployment.url,
        "name": deployment.name,
        "projectId": deployment.project_id,
        "ownerId": account.id,
        "target": deployment.target,
        "readyState": deployment.state,
        "status": deployment.state,
        "type": "LAMBDAS",
        "version": 2,
        "public": False,
        "regions": ["iad1"],
        "meta": {},
        "alias": list(deployment.alias),
        "aliasAssigned": deployment.alias_assigned,
        "aliasError": None,
        "createdAt": deployment.created_ms,
        "buildingAt": deployment.building_ms,
        "ready": deployment.ready_ms,
        "inspectorUrl": f"https://vercel.com/{account.slug}/{deployment.name}/{deployment.id.removeprefix('dpl_')}",
        "creator": {"uid": creator.id, "username": creator.username} if creator else None,
    }
    found = deployment.detection
    view["prebuilt"] = found.prebuilt
    view["builds"] = ([{"src": "package.json", "use": "@vercel/static-build"}] if found.build else []) + [
        {"src": f, "use": "@vercel/node"} for f in found.functions
    ]
    view["functions"] = {f: {"memory": 1024} for f in found.functions} or None
    if deployment.canceled_ms is not None:
        view["canceledAt"] = deployment.canceled_ms
    if deployment.error is not None:
        view.update(deployment.error)
    return view


def project_view(api: VercelApi, project: Project) -> dict[str, Any]:
    production = api._deployments.get(project.production_id or "")
    latest = [api._deployments[d] for d in reversed(project.deployment_ids) if d in api._deployments][:5]

    def summary(deployment: Deployment) -> dict[str, Any]:
        return {
            "id": deployment.id,
            "url": deployment.url,
            "alias": list(deployment.alias),
            "aliasAssigned": deployment.alias_assigned,
            "readyState": deployment.state,
            "target": deployment.target,
            "createdAt": deployment.created_ms,
        }

    return {
        "id": project.id,
        "name": project.name,
        "accountId": project.account_id,
        "createdAt": project.created_ms,
        "updatedAt": project.updated_ms,
        "framework": project.settings.get("framework"),
        "targets": {"production": summary(production) if production else None},
        "alias": [{"domain": project.alias, "target": "PRODUCTION"}] if project.alias else [],
        "latestDeployments": [summary(d) for d in latest],
        "lastAliasRequest": dict(project.last_alias_request) if project.last_alias_request else None,
    }


# -- the table ------------------------------------------------------------------------------------------------

ROUTES: RouteTable[Handler] = RouteTable(
    [
        Route("GET", "/v2/user", "user-get", user_get),
        Route("GET", "/v2/teams", "teams-list", teams_list),
        Route("GET", "/v2/teams/{team_id}", "team-get", team_get),
        Route("POST", "/v2/files", "files-upload", files_upload),
        Route("POST", "/v13/deployments", "deployment-create", deployment_create),
        Route("GET", "/v13/deployments/{deployment}", "deployment-get", deployment_get),
        Route("PATCH", "/v12/deployments/{deployment}/cancel", "deployment-cancel", deployment_cancel),
        Route("GET", "/v6/deployments", "deployments-list", deployments_list),
        Route("GET", "/v9/projects", "projects-list", projects_list),
        Route("GET", "/v9/projects/{project}", "project-get", project_get),
        Route("DELETE", "/v9/projects/{project}", "project-delete", project_delete),
        Route("POST", "/v10/projects/{project}/promote/{deployment}", "project-promote", project_promote),
        Route("POST", "/v2/deployments/{deployment}/aliases", "deployment-aliases", deployment_aliases_post),
        Route("POST", "/v10/projects/{project}/domains", "project-domains-add", project_domains_add),
        Route("GET", "/v9/projects/{project}/domains/{domain}", "project-domain-get", project_domain_get),
        Route("POST", "/v9/projects/{project}/domains/{domain}/verify", "project-domain-verify", project_domain_verify),
        Route("DELETE", "/v9/projects/{project}/domains/{domain}", "project-domain-delete", project_domain_delete),
        Route("GET", "/v6/domains/{domain}/config", "domain-config", domain_config),
    ]
)

# Every name a fault rule may use: the routes', and NO_ROUTE for a request no route takes.
ROUTE_NAMES = (*ROUTES.names, NO_ROUTE)
