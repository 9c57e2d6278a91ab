"""The Amplify Hosting operations the emulator answers, and their handlers.

These are what a manual deploy needs (apps, branches, CreateDeployment / the zip PUT /
StartDeployment, jobs) and what a custom domain needs (the domain associations; their rules and
lifecycle are in ``domains``), with the URIs, members, status codes and errors of botocore's
``amplify`` model, so the adapter runs unchanged against the emulator. ``ROUTES`` at the bottom is the table:
method, URI template, operation name (what fault rules and the request log use), handler. An extra
operation, DeleteApp, tears down everything under an app; the fileMap upload flow of
CreateDeployment is not emulated (BadRequestException).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from sitedeploy_local.emulators.amplify.api import AmplifyApi, Call, Handler
from sitedeploy_local.emulators.amplify.jobs import DEPLOY_STEP, FINAL_STATUSES, VERIFY_STEP, discard, is_loopback
from sitedeploy_local.emulators.amplify.state import (
    STAGES,
    AmplifyError,
    Branch,
    bad,
    boolean_field,
    branch_name,
    display_name,
    string_field,
    string_map_field,
)
from sitedeploy_local.emulators.routes import Route, RouteTable

# What Amplify answers to CreateApp beyond the apps-per-region quota (LimitExceededException, 429).
APPS_LIMIT_MESSAGE = "You have reached the maximum number of apps in this account."

# -- paging -----------------------------------------------------------------------------------------


def _max_results(query: dict[str, str], limit: int) -> int:
    raw = query.get("maxResults")
    if raw is None:
        return limit
    try:
        value = int(raw)
    except ValueError:
        raise bad("maxResults must be an integer.") from None
    if value < 0 or value > limit:
        raise bad(f"maxResults must be between 0 and {limit}.")
    return value or limit


def _page(items: list[Any], query: dict[str, str], limit: int) -> tuple[list[Any], str | None]:
    size = _max_results(query, limit)
    offset = 0
    token = query.get("nextToken")
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise bad("Invalid nextToken.") from None
    chunk = items[offset : offset + size]
    following = offset + size
    next_token = (
        base64.urlsafe_b64encode(json.dumps({"offset": following}).encode()).decode()
        if following < len(items)
        else None
    )
    return chunk, next_token


# -- apps -------------------------------------------------------------------------------------------


def create_app(api: AmplifyApi, call: Call) -> dict[str, Any]:
    string_field(call.body, "name", required=True, min_len=1, max_len=255)
    with api._lock:
        if len(api._apps) >= api.max_apps:  # DeleteApp frees a place
            raise AmplifyError("LimitExceededException", APPS_LIMIT_MESSAGE)
        app = api._new_app(call.body)
        return {"app": copy.deepcopy(app.data)}


def get_app(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        return {"app": copy.deepcopy(api._get_app(call.params["appId"]).data)}


def list_apps(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        apps = [copy.deepcopy(app.data) for app in api._apps.values()]
    chunk, token = _page(apps, call.query, 100)
    return {"apps": chunk, **({"nextToken": token} if token else {})}


def update_app(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        app = api._get_app(call.params["appId"])
        api._apply_app_fields(app, call.body)
        app.data["updateTime"] = time.time()
        return {"app": copy.deepcopy(app.data)}


def delete_app(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        app = api._get_app(call.params["appId"])
        del api._apps[app.app_id]
        servers = [b.server for b in app.branches.values() if b.server is not None]
        versions = [v for b in app.branches.values() for v in (b.site, b.previous)]
        for branch in app.branches.values():
            api._orphan(branch)
        api._deleting = {k: v for k, v in api._deleting.items() if k[0] != app.app_id}
        api._drop_domains(app.app_id)
    for server in servers:
        server.stop()
    for version in versions:
        discard(version)
    return {"app": copy.deepcopy(app.data)}


# -- branches ---------------------------------------------------------------------------------------


def create_branch(api: AmplifyApi, call: Call) -> dict[str, Any]:
    name = branch_name(call.body)
    stage = string_field(call.body, "stage")
    if stage is not None and stage not in STAGES:
        raise bad(f"stage must be one of {', '.join(STAGES)}.")
    display = string_field(call.body, "displayName", max_len=255)
    with api._lock:
        app = api._get_app(call.params["appId"])
        api._purge_deleting()
        if (app.app_id, name) in api._deleting:
            raise bad(f"The branch {name} is deleting. Try again once the deletion has finished.")
        if name in app.branches:
            raise bad(f"Branch {name} already exists for app {app.app_id}.")
        in_use = len(app.branches) + sum(1 for key in api._deleting if key[0] == app.app_id)
        if in_use >= api.max_branches_per_app:
            raise AmplifyError(
                "LimitExceededException",
                f"The maximum number of branches ({api.max_branches_per_app}) for app {app.app_id} has been reached.",
            )
        now = time.time()
        data: dict[str, Any] = {
            "branchArn": api._arn(f"{app.app_id}/branches/{quote(name, safe='')}"),
            "branchName": name,
            "description": string_field(call.body, "description", max_len=1000) or "",
            "tags": string_map_field(call.body, "tags") or {},
            "stage": stage or "NONE",
            "displayName": display or display_name(name),
            "enableNotification": bool(boolean_field(call.body, "enableNotification")),
            "createTime": now,
            "updateTime": now,
            "environmentVariables": string_map_field(call.body, "environmentVariables") or {},
            "enableAutoBuild": bool(boolean_field(call.body, "enableAutoBuild")),
            "enableSkewProtection": bool(boolean_field(call.body, "enableSkewProtection")),
            "customDomains": [],
            "framework": string_field(call.body, "framework", max_len=255) or "",
            "activeJobId": "",
            "totalNumberOfJobs": "0",
            "enableBasicAuth": bool(boolean_field(call.body, "enableBasicAuth")),
            "enablePerformanceMode": bool(boolean_field(call.body, "enablePerformanceMode")),
            "ttl": string_field(call.body, "ttl", max_len=32) or "5",
            "enablePullRequestPreview": bool(boolean_field(call.body, "enablePullRequestPreview")),
        }
        for key in ("basicAuthCredentials", "buildSpec", "pullRequestEnvironmentName", "computeRoleArn"):
            value = string_field(call.body, key)
            if value is not None:
                data[key] = value
        branch = Branch(app_id=app.app_id, data=data)
        app.branches[name] = branch
        return {"branch": api._branch_view(branch)}


def get_branch(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        _, branch = api._get_branch(call.params["appId"], call.params["branchName"])
        return {"branch": api._branch_view(branch)}


def list_branches(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        app = api._get_app(call.params["appId"])
        for branch in app.branches.values():
            api._advance(branch)
        branches = [api._branch_view(branch) for branch in app.branches.values()]
    chunk, token = _page(branches, call.query, 50)
    return {"branches": chunk, **({"nextToken": token} if token else {})}


def delete_branch(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        app, branch = api._get_branch(call.params["appId"], call.params["branchName"])
        view = api._branch_view(branch)
        del app.branches[branch.name]
        api._deleting[(app.app_id, branch.name)] = time.time() + api.branch_delete_seconds
        api._orphan(branch)
        api._drop_domains(app.app_id, branch.name)
        server, branch.server = branch.server, None
        versions = (branch.site, branch.previous)
    if server is not None:
        server.stop()
    for version in versions:
        discard(version)
    return {"branch": view}


# -- deployments and jobs ----------------------------------------------------------------------------


def create_deployment(api: AmplifyApi, call: Call) -> dict[str, Any]:
    if call.body.get("fileMap"):
        raise bad("The emulator supports zip deployments only: omit fileMap, PUT a zip to zipUploadUrl.")
    with api._lock:
        _, branch = api._get_branch(call.params["appId"], call.params["branchName"])
        job = api._new_job(branch)
        return {"jobId": job.job_id, "zipUploadUrl": api._zip_url(job), "fileUploadUrls": {}}


def start_deployment(api: AmplifyApi, call: Call) -> dict[str, Any]:
    job_id = string_field(call.body, "jobId", max_len=255)
    source_url = string_field(call.body, "sourceUrl", max_len=3000)
    source_type = string_field(call.body, "sourceUrlType")
    if source_type is not None and source_type not in ("ZIP", "BUCKET_PREFIX"):
        raise bad("sourceUrlType must be ZIP or BUCKET_PREFIX.")
    if job_id is None and source_url is None:
        raise bad("Either jobId or sourceUrl is required.")
    if source_url is not None and not re.match(r"^(s3|https|http)://", source_url):
        raise bad("sourceUrl must start with s3://, https:// or http://.")
    with api._lock:
        app, branch = api._get_branch(call.params["appId"], call.params["branchName"])
        if job_id is not None:
            job = api._get_job(branch, job_id)
            status = api._state(job, time.time())[0]
            if status != "CREATED" or job.started is not None:
                raise bad(f"Job {job_id} is {status}; only a created, not yet started job can start.")
            if time.time() > job.created + api.start_window_seconds:
                raise bad(
                    f"Job {job_id} can no longer start: StartDeployment must follow CreateDeployment "
                    f"within {api.start_window_seconds / 3600:g} hours."
                )
        else:
            job = api._new_job(branch)
        now = time.time()
        job.started = now
        api._waiting.append(job)  # for a build slot: ``_schedule`` below grants it one if free
        job.source_url = source_url
        job.source_url_type = source_type if source_url is not None else None
        queued = api._fail_next.get((app.app_id, branch.name))
        if queued:
            job.forced_failure = (DEPLOY_STEP, queued.pop(0))
        for step in (DEPLOY_STEP, VERIFY_STEP):
            if job.forced_failure is not None:
                break
            action = api.job_faults.on_request(step)
            if action is None:
                continue
            if step == DEPLOY_STEP:
                job.deploy_delay += action.delay
            else:
                job.verify_delay += action.delay
            if action.status is not None or action.reset:
                message = (action.body or {}).get("message")
                job.forced_failure = (step, str(message or f"The {step} step failed (injected fault)."))
        job.note(f"job {job.job_id} started" + (f" from {source_url}" if source_url else ""))
        reason: str | None = None
        source: Path | str | None = None
        if job.forced_failure is not None and job.forced_failure[0] == DEPLOY_STEP:
            reason = job.forced_failure[1]
        elif source_url is not None:
            split = urlsplit(source_url)
            if source_type == "BUCKET_PREFIX":
                reason = "The emulator cannot deploy a BUCKET_PREFIX source; use sourceUrlType ZIP."
            elif split.scheme == "s3":
                reason = (
                    f"The emulator cannot read {source_url}: it has no S3 access. Give a presigned "
                    "http(s) URL on loopback, or upload to zipUploadUrl."
                )
            elif not is_loopback(split.hostname):
                reason = f"The emulator fetches only loopback URLs; {split.hostname} is not one."
            else:
                source = source_url
        elif job.zip_path is None:
            reason = "No zip file was uploaded to the job's zipUploadUrl before StartDeployment."
        else:
            started_zip = job.zip_path.with_suffix(".started.zip")
            os.replace(job.zip_path, started_zip)
            job.zip_path = None
            source = started_zip
        api._launch(job, source, reason)
        api._schedule()
        return {"jobSummary": api._summary(branch, job)}


def get_job(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        _, branch = api._get_branch(call.params["appId"], call.params["branchName"])
        job = api._get_job(branch, call.params["jobId"])
        return {"job": api._job_view(branch, job)}


def list_jobs(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        _, branch = api._get_branch(call.params["appId"], call.params["branchName"])
        summaries = [api._summary(branch, job) for job in reversed(branch.jobs.values())]
    chunk, token = _page(summaries, call.query, 50)
    return {"jobSummaries": chunk, **({"nextToken": token} if token else {})}


def stop_job(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        _, branch = api._get_branch(call.params["appId"], call.params["branchName"])
        job = api._get_job(branch, call.params["jobId"])
        now = time.time()
        status = api._state(job, now)[0]
        if status in FINAL_STATUSES:
            raise bad(f"Job {job.job_id} is already {status}.")
        if job.cancel_at is None:
            job.cancel_at = now
            job.note(f"job {job.job_id} stopped while {status}")
        api._advance(branch)
        return {"jobSummary": api._summary(branch, job)}


# -- custom domains ----------------------------------------------------------------------------------


def create_domain_association(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        association = api._new_association(call.params["appId"], call.body)
        return {"domainAssociation": api._association_view(association)}


def get_domain_association(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        association = api._get_association(call.params["appId"], call.params["domainName"])
        return {"domainAssociation": api._association_view(association)}


def list_domain_associations(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        app = api._get_app(call.params["appId"])  # NotFound: the model names none here, Amplify answers one
        views = [api._association_view(a) for key, a in api._associations.items() if key[0] == app.app_id]
    chunk, token = _page(views, call.query, 50)
    return {"domainAssociations": chunk, **({"nextToken": token} if token else {})}


def update_domain_association(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        association = api._get_association(call.params["appId"], call.params["domainName"])
        api._update_association(association, call.body)
        return {"domainAssociation": api._association_view(association)}


def delete_domain_association(api: AmplifyApi, call: Call) -> dict[str, Any]:
    with api._lock:
        association = api._get_association(call.params["appId"], call.params["domainName"])
        view = api._association_view(association)
        del api._associations[(association.app_id, association.name)]
        return {"domainAssociation": view}


# -- the table --------------------------------------------------------------------------------------

ROUTES: RouteTable[Handler] = RouteTable(
    [
        Route("POST", "/apps", "CreateApp", create_app),
        Route("GET", "/apps/{appId}", "GetApp", get_app),
        Route("GET", "/apps", "ListApps", list_apps),
        Route("POST", "/apps/{appId}", "UpdateApp", update_app),
        Route("DELETE", "/apps/{appId}", "DeleteApp", delete_app),
        Route("POST", "/apps/{appId}/branches", "CreateBranch", create_branch),
        Route("GET", "/apps/{appId}/branches/{branchName}", "GetBranch", get_branch),
        Route("GET", "/apps/{appId}/branches", "ListBranches", list_branches),
        Route("DELETE", "/apps/{appId}/branches/{branchName}", "DeleteBranch", delete_branch),
        Route("POST", "/apps/{appId}/branches/{branchName}/deployments", "CreateDeployment", create_deployment),
        Route("POST", "/apps/{appId}/branches/{branchName}/deployments/start", "StartDeployment", start_deployment),
        Route("GET", "/apps/{appId}/branches/{branchName}/jobs/{jobId}", "GetJob", get_job),
        Route("GET", "/apps/{appId}/branches/{branchName}/jobs", "ListJobs", list_jobs),
        Route("DELETE", "/apps/{appId}/branches/{branchName}/jobs/{jobId}/stop", "StopJob", stop_job),
        Route("POST", "/apps/{appId}/domains", "CreateDomainAssociation", create_domain_association),
        Route("GET", "/apps/{appId}/domains/{domainName}", "GetDomainAssociation", get_domain_association),
        Route("GET", "/apps/{appId}/domains", "ListDomainAssociations", list_domain_associations),
        Route("POST", "/apps/{appId}/domains/{domainName}", "UpdateDomainAssociation", update_domain_association),
        Route("DELETE", "/apps/{appId}/domains/{domainName}", "DeleteDomainAssociation", delete_domain_association),
    ],
    # An empty segment is a member too (``/apps//branches`` asks for app ""): the service answers
    # NotFoundException for it, not an unknown operation.
    parameter=r"[^/]*",
)
OPERATIONS = ROUTES.names
