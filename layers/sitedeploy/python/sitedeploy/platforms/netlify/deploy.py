"""Netlify's file-digest deploy: what ``netlify deploy --prod`` does, call for call.

1. find the site by its domain (``GET /sites/{name}.netlify.app``), or create it in the team
   (``POST /{account_slug}/sites``); names are global on Netlify, so "must be unique" means another
   account holds the name;
2. create the deploy with every path's SHA-1 (``POST /sites/{id}/deploys``, async) and poll it until
   ``prepared``: its ``required`` lists the digests the site does not already hold, each once;
3. upload exactly those, one path per digest, a few at a time (``PUT /deploys/{id}/files/{path}``,
   raw bytes, path escaped like encodeURI), reporting progress as they land;
4. follow the deploy (``uploaded`` → ``processing`` → ``ready``) for a bounded time; a deploy still
   processing then is left to ``refresh``.

Every upload body can be sent again (``platforms.uploads``): urllib3 retries (429, 5xx, resets)
rewind it. A retried upload whose first attempt did land (a lost answer) may find the deploy
already complete: that is success, not an error."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, Any

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.domain.sitefiles import CONFIG_FILES, MIB
from sitedeploy.observability import logger
from sitedeploy.platforms.base import (
    NAME_UNAVAILABLE,
    BuildState,
    Prefetch,
    Progress,
    Published,
    SiteConfig,
    SiteFile,
    StreamReader,
)
from sitedeploy.platforms.netlify.api import NetlifyApi, NetlifyError, upload_path
from sitedeploy.platforms.netlify.requests import MAX_FILE_BYTES
from sitedeploy.platforms.netlify.routing import GeneratedFile, is_valid_site_name, routing_files
from sitedeploy.platforms.uploads import resendable, upload_all

UPLOAD_CONCURRENCY = 5  # netlify-cli's default for file uploads
SYNC_FILE_LIMIT = 100  # netlify-cli's DEFAULT_SYNC_LIMIT: more files than this, an async deploy
PREPARE_SECONDS = 60.0
FOLLOW_SECONDS = 60.0
POLL_FIRST_SECONDS = 0.25
POLL_MAX_SECONDS = 1.0
APP_DOMAIN = "netlify.app"

# Netlify's deploy states (the ones a file-digest deploy passes through, and CI's for completeness).
BEFORE_PREPARED = frozenset({"new", "preparing", "enqueued"})
UPLOAD_STATES = frozenset({"prepared", "uploading"})
AFTER_UPLOAD = frozenset({"uploaded", "processing", "processed", "ready"})
# Final failures: ``error``, and ``rejected`` (a deploy refused by the site's deploy settings, for
# instance locked or awaiting review); either way it will never go live by itself.
FAILED_STATES = frozenset({"error", "rejected"})
# Progress while Netlify processes, once every file has arrived: uploads took the deployment to
# 90 %, and what follows must not move it back.
_BUILDING_PROGRESS = {
    "new": 91,
    "enqueued": 91,
    "preparing": 91,
    "prepared": 91,
    "uploading": 91,
    "building": 92,
    "uploaded": 92,
    "processing": 95,
    "processed": 98,
}
PUBLISHED_PROGRESS = 92  # still processing when publishing stops following


@dataclass(frozen=True)
class NetlifyTarget:
    """Where a site goes: the team (None: the token's first) and the site name (its subdomain)."""

    account_slug: str | None
    name: str

    @property
    def domain(self) -> str:
        return f"{self.name}.{APP_DOMAIN}"


@dataclass(frozen=True)
class _Upload:
    """One digest to upload: the path it goes to, and where its bytes come from."""

    path: str
    size: int
    site_file: SiteFile | None = None
    generated: GeneratedFile | None = None


def map_deploy(deploy: Mapping[str, Any]) -> BuildState:
    """Netlify's deploy state → ours. Only ``ready`` and the failed states are final."""
    state = str(deploy.get("state") or "new")
    if state == "ready":
        return BuildState(DeploymentStatus.READY, 100, None, state)
    if state in FAILED_STATES:
        reason = deploy.get("error_message") or (
            "the Netlify deploy failed" if state == "error" else f"the Netlify deploy was {state}"
        )
        return BuildState(DeploymentStatus.ERROR, 100, str(reason), state)
    return BuildState(DeploymentStatus.BUILDING, _BUILDING_PROGRESS.get(state, PUBLISHED_PROGRESS), None, state)


def _polls(seconds: float, sleep: Callable[[float], None], *, wait_first: bool = False) -> Iterator[None]:
    """Yield until ``seconds`` have passed, sleeping 0.25 s growing to 1 s between yields (and
    before the first, with ``wait_first``)."""
    deadline = time.monotonic() + seconds
    interval = POLL_FIRST_SECONDS
    if not wait_first:
        yield
    while time.monotonic() < deadline:
        sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(POLL_MAX_SECONDS, interval * 1.5)
        yield


def inert(path: str) -> bool:
    """Whether Netlify serves this file as it is. A ``netlify.toml`` in a deploy configures the site
    (its redirects, headers, proxies: what the CLI sends the site's configuration as), and
    ``.netlify/`` holds what Netlify runs (edge functions, deploy configuration): a tenant's copies
    of either are never uploaded. The service writes the site's ``_redirects`` and ``_headers``."""
    return path != "netlify.toml" and not path.startswith(".netlify/")


class NetlifyDeployer:
    def __init__(
        self,
        api: NetlifyApi,
        *,
        prepare_seconds: float = PREPARE_SECONDS,
        follow_seconds: float = FOLLOW_SECONDS,
        concurrency: int = UPLOAD_CONCURRENCY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self._prepare_seconds = prepare_seconds
        self._follow_seconds = follow_seconds
        self._concurrency = max(1, concurrency)
        self._sleep = sleep

    # -- sites ----------------------------------------------------------------------------------

    def find_site(self, target: NetlifyTarget) -> dict[str, Any] | None:
        """The site by its domain, None when the token sees no such site."""
        try:
            _, site = self.api.call("GET", f"/sites/{target.domain}", what=f"looking up the site {target.name}")
        except NetlifyError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(site, dict) or not site.get("id"):
            raise NetlifyError(f"looking up the site {target.name} answered without a site")
        return site

    def _check_account(self, target: NetlifyTarget, site: Mapping[str, Any]) -> None:
        held_by = site.get("account_slug")
        if target.account_slug and held_by and held_by != target.account_slug:
            raise NetlifyError(
                f"the Netlify site name {target.name!r} is held by another team ({held_by}), not {target.account_slug}",
                status=409,
                code=NAME_UNAVAILABLE,
            )

    def ensure_site(self, target: NetlifyTarget) -> dict[str, Any]:
        """The site to deploy to, created in the target team when it does not exist yet."""
        if not is_valid_site_name(target.name):
            raise NetlifyError(f"{target.name!r} is not a valid Netlify site name")
        site = self.find_site(target)
        if site is None:
            path = f"/{target.account_slug}/sites" if target.account_slug else "/sites"
            try:
                _, site = self.api.call(
                    "POST", path, json_body={"name": target.name}, what=f"creating the site {target.name}"
                )
            except NetlifyError as exc:
                if exc.status != 422 or "unique" not in exc.message:
                    raise
                # A lost answer to our own create, retried, is also "must be unique": look again.
                site = self.find_site(target)
                if site is None:
                    raise NetlifyError(
                        f"the Netlify site name {target.name!r} is taken by another Netlify account: "
                        "choose another name",
                        status=409,
                        code=NAME_UNAVAILABLE,
                    ) from None
            if not isinstance(site, dict) or not site.get("id"):
                raise NetlifyError(f"creating the site {target.name} answered without a site")
        self._check_account(target, site)
        return site

    def delete(self, target: NetlifyTarget) -> bool:
        """Delete the site; False when it was already gone (or is not this team's to delete)."""
        site = self.find_site(target)
        if site is None:
            return False
        held_by = site.get("account_slug")
        if target.account_slug and held_by and held_by != target.account_slug:
            return False
        try:
            self.api.call("DELETE", f"/sites/{site['id']}", what=f"deleting the site {target.name}")
        except NetlifyError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # -- deploys --------------------------------------------------------------------------------

    def deploy(self, deploy_id: str) -> dict[str, Any]:
        _, deploy = self.api.call("GET", f"/deploys/{deploy_id}", what="reading the deploy")
        if not isinstance(deploy, dict):
            raise NetlifyError("reading the deploy answered without a deploy")
        return deploy

    def create_deploy(self, site_id: str, files: Mapping[str, str], *, alias: str | None = None) -> dict[str, Any]:
        """A production deploy, or with ``alias`` a draft (production keeps serving what it served)
        that ``https://<alias>--<site>.netlify.app`` serves, as ``netlify deploy --draft --alias``."""
        # Diffed in the background only when large, as netlify-cli decides: a small deploy's answer
        # is prepared already, with nothing to poll for.
        body: dict[str, Any] = {"files": dict(files), "async": len(files) > SYNC_FILE_LIMIT, "draft": alias is not None}
        if alias is not None:
            body["branch"] = alias
        _, deploy = self.api.call("POST", f"/sites/{site_id}/deploys", json_body=body, what="creating the deploy")
        if not isinstance(deploy, dict) or not deploy.get("id"):
            raise NetlifyError("creating the deploy answered without a deploy")
        return deploy

    def wait_prepared(self, deploy: dict[str, Any]) -> dict[str, Any]:
        """The deploy once Netlify has worked out what it needs (``required`` filled). The create's
        answer is the first look; each read after it comes after a wait, and the read that finds it
        prepared ends the wait at once."""
        if _prepared(deploy):
            return deploy
        for _ in _polls(self._prepare_seconds, self._sleep, wait_first=True):
            deploy = self.deploy(str(deploy["id"]))
            if _prepared(deploy):
                return deploy
        raise NetlifyError(f"Netlify did not prepare the deploy within {self._prepare_seconds:g} s")

    def follow(self, deploy_id: str) -> tuple[dict[str, Any], BuildState]:
        """Poll until the deploy is ready or failed, or the follow time is up. A poll that fails
        after its retries leaves it building: every file is in, Netlify goes on processing, and
        failing the deployment here would record an error for a site that goes live; ``refresh``
        asks again later."""
        deploy: dict[str, Any] = {}
        state = BuildState(DeploymentStatus.BUILDING, PUBLISHED_PROGRESS, None, "uploaded")
        for _ in _polls(self._follow_seconds, self._sleep):
            try:
                deploy = self.deploy(deploy_id)
            except NetlifyError as exc:
                if not exc.transient:
                    raise
                logger.warning("netlify deploy poll failed; left to refresh", extra={"reason": exc.message})
                break
            state = map_deploy(deploy)
            if state.status is not DeploymentStatus.BUILDING:
                break
        return deploy, state

    def upload(
        self,
        deploy_id: str,
        uploads: Sequence[_Upload],
        read: StreamReader,
        progress: Progress | None,
    ) -> tuple[int, int]:
        """Upload each digest once, a few at a time; (files, bytes) sent."""
        return upload_all(
            uploads,
            lambda item: self._put_file(deploy_id, item, read),
            lambda item: item.size,
            concurrency=self._concurrency,
            progress=progress,
            thread_name_prefix="netlify-upload",
        )

    def _put_file(self, deploy_id: str, item: _Upload, read: StreamReader) -> None:
        with _body(item, read) as body:
            try:
                self.api.call(
                    "PUT",
                    f"/deploys/{deploy_id}/files/{upload_path(item.path)}",
                    body=body,
                    content_type="application/octet-stream",
                    headers={"Content-Length": str(item.size)},
                    what=f"uploading /{item.path}",
                )
            except NetlifyError as exc:
                if exc.status != 422:
                    raise
                # A retry of an upload that did land (its answer lost) finds the deploy complete.
                deploy = self.deploy(deploy_id)
                if deploy.get("state") in FAILED_STATES:
                    raise _failed(deploy) from None
                if deploy.get("state") not in AFTER_UPLOAD:
                    raise

    # -- the whole job --------------------------------------------------------------------------

    def publish(
        self,
        target: NetlifyTarget,
        files: Sequence[SiteFile],
        config: SiteConfig,
        read: StreamReader,
        *,
        sha1s: Callable[[Sequence[SiteFile]], Mapping[str, str]],
        progress: Progress | None = None,
        preview_alias: str | None = None,
        prefetch: Prefetch | None = None,
    ) -> Published:
        # The publish flow hands over served files only; a caller that passes the rule files too
        # (their text is in ``config``) must not get the user's copies uploaded over ours. Files
        # Netlify would read as configuration or code, not serve, are never sent (see ``inert``).
        served = [f for f in files if f.path not in CONFIG_FILES and inert(f.path)]
        if len(served) < len([f for f in files if f.path not in CONFIG_FILES]):
            logger.info("files Netlify would run or read as configuration were left out")
        for site_file in served:
            if site_file.size > MAX_FILE_BYTES:
                raise NetlifyError(f"{site_file.path} is over the {MAX_FILE_BYTES // MIB} MiB limit per file")
        generated = routing_files(config, {f.path for f in served})
        digests = sha1s(served)

        manifest: dict[str, str] = {}
        by_digest: dict[str, _Upload] = {}
        for site_file in served:
            digest = digests[site_file.sha256]
            manifest["/" + site_file.path] = digest
            by_digest.setdefault(digest, _Upload(site_file.path, site_file.size, site_file=site_file))
        for extra in generated:
            manifest["/" + extra.path] = extra.sha1
            by_digest.setdefault(extra.sha1, _Upload(extra.path, extra.size, generated=extra))

        site = self.ensure_site(target)
        deploy = self.wait_prepared(self.create_deploy(str(site["id"]), manifest, alias=preview_alias))
        deploy_id = str(deploy["id"])
        required = deploy.get("required") or []
        if not isinstance(required, list):
            raise NetlifyError("the deploy answered a malformed list of required files")
        unknown = [str(d) for d in required if d not in by_digest]
        if unknown:
            raise NetlifyError(f"Netlify asked for {len(unknown)} file digest(s) this deploy does not hold")
        uploads = [by_digest[str(d)] for d in dict.fromkeys(str(d) for d in required)]
        if prefetch:
            prefetch([item.site_file for item in uploads if item.site_file is not None])
        uploaded_files, uploaded_bytes = self.upload(deploy_id, uploads, read, progress)

        final, state = self.follow(deploy_id)
        if state.status is DeploymentStatus.ERROR:
            raise _failed(final)
        url = str(site.get("ssl_url") or final.get("ssl_url") or f"https://{target.domain}")
        if state.status is DeploymentStatus.BUILDING:
            logger.info("netlify deploy still processing", extra={"job_status": state.job_status})
        preview = f"https://{preview_alias}--{target.domain}" if preview_alias else None
        return Published(
            status=state.status,
            progress=100 if state.status is DeploymentStatus.READY else PUBLISHED_PROGRESS,
            url=url,
            external_id=deploy_id,
            uploaded_files=uploaded_files,
            uploaded_bytes=uploaded_bytes,
            version_ref=deploy_id,
            preview_url=preview,
        )

    def restore(self, target: NetlifyTarget, deploy_id: str) -> Published | None:
        """Publish an earlier deploy of the site (or a draft) again: Netlify's restore, nothing
        uploaded. None when the site or the deploy is gone (Netlify drops deploys after 90 days)."""
        site = self.find_site(target)
        if site is None:
            return None
        try:
            self.api.call(
                "POST", f"/sites/{site['id']}/deploys/{deploy_id}/restore", what="publishing an earlier deploy"
            )
        except NetlifyError as exc:
            if exc.status in (404, 410, 422):
                return None
            raise
        return Published(
            status=DeploymentStatus.READY,
            progress=100,
            url=str(site.get("ssl_url") or f"https://{target.domain}"),
            external_id=deploy_id,
            uploaded_files=0,
            uploaded_bytes=0,
            version_ref=deploy_id,
        )


def _prepared(deploy: Mapping[str, Any]) -> bool:
    """Whether the deploy is past preparing; NetlifyError when it failed instead."""
    state = deploy.get("state")
    if state in FAILED_STATES:
        raise _failed(deploy)
    return state not in BEFORE_PREPARED


def _failed(deploy: Mapping[str, Any]) -> NetlifyError:
    reason = deploy.get("error_message") or "no reason given"
    return NetlifyError(f"the Netlify deploy failed: {reason}", code=str(deploy.get("state") or "error"))


def _body(item: _Upload, read: StreamReader) -> AbstractContextManager[bytes | IO[bytes]]:
    """The bytes to send, in a form a retry can send again."""
    if item.generated is not None:
        return nullcontext(item.generated.data)
    assert item.site_file is not None
    return resendable(item.site_file, read)
