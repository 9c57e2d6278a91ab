"""Cloudflare Workers Static Assets: what ``wrangler deploy --assets`` does, call for call.

1. open an assets upload session with the manifest (path → 32-hex hash, size); it answers with the
   buckets of hashes Cloudflare does not already have (content is deduplicated per account);
2. upload each bucket (3 at a time) as base64 multipart parts, authorised by the session's JWT,
   streamed from staging as it is sent (memory stays flat in the site's size); the upload that
   completes the set answers with the completion token;
3. PUT the Worker with only a metadata part: the completion token and the assets config (html and
   not-found handling, ``_headers`` and ``_redirects``) — an assets-only Worker needs no code;
4. enable its workers.dev route; the site is ``https://{name}.{account subdomain}.workers.dev``.

Bytes are never decoded: files travel base64-encoded and are served with the content type given
on their part. The hash is opaque to Cloudflare (32 hex characters, stable); it is derived from the
file's sha256 and its extension, so identical bytes under ``.css`` and ``.txt`` keep their own
content types while identical bytes under one extension are uploaded once."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import urllib3

from sitedeploy.domain.naming import MAX_LABEL, is_valid_label
from sitedeploy.domain.sitefiles import MIB, extension
from sitedeploy.observability import logger
from sitedeploy.platforms.base import Prefetch, Progress, PublishResult, SiteFile, StreamReader
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError
from sitedeploy.platforms.cloudflare.multipart import MultipartBody

COMPATIBILITY_DATE = "2025-06-01"
MAX_FILE_BYTES = 25 * MIB
UPLOAD_CONCURRENCY = 3
SESSION_ATTEMPTS = 3
SUBDOMAIN_CACHE_SECONDS = 3600.0
SUBDOMAIN_API_DATE = "2025-08-01"

# Account subdomains rarely change: remember them for the life of the execution environment.
_subdomains: dict[tuple[str, str], tuple[str, float]] = {}
_subdomains_lock = threading.Lock()


class UploadSessionExpired(CloudflareError):
    """The upload JWT expired (or was refused) mid-upload: open a new session and go on."""


def asset_hash(sha256: str, path: str, tenant: str = "") -> str:
    """32 hex characters from the tenant, the content hash and the extension (without its dot).

    Cloudflare deduplicates assets by this hash across the account. Salting it with the tenant (as
    Cloudflare advises platforms) means one tenant's upload counts say nothing about another's files,
    while identical bytes within one tenant are still uploaded once."""
    salt = hashlib.sha256(tenant.encode()).hexdigest() if tenant else ""
    return hashlib.sha256(f"{salt}{sha256}{extension(path).lstrip('.')}".encode()).hexdigest()[:32]


def not_found_handling(paths: Iterable[str], spa: bool | None) -> str:
    """A site with a 404.html gets it; an SPA (an index.html and no 404.html) gets index.html for
    unknown routes; ``spa`` overrides either way."""
    present = set(paths)
    if spa is True:
        return "single-page-application"
    if "404.html" in present:
        return "404-page"
    if spa is None and "index.html" in present:
        return "single-page-application"
    return "none"


@dataclass(frozen=True)
class CloudflareTarget:
    account_id: str
    script_name: str
    # Workers for Platforms: the dispatch namespace the script lives in, and the domain its
    # hostname is under (``https://<script>.<domain>``).
    namespace: str | None = None
    domain: str | None = None

    @property
    def script_path(self) -> str:
        if self.namespace:
            return (
                f"/accounts/{self.account_id}/workers/dispatch/namespaces/{self.namespace}/scripts/{self.script_name}"
            )
        return f"/accounts/{self.account_id}/workers/scripts/{self.script_name}"


@dataclass(frozen=True)
class AssetsOptions:
    spa: bool | None = None
    html_handling: str | None = None
    headers_text: str | None = None
    redirects_text: str | None = None


class CloudflarePublisher:
    def __init__(self, api: CloudflareApi) -> None:
        self.api = api

    # -- the steps ------------------------------------------------------------------------------

    def open_session(
        self, target: CloudflareTarget, manifest: dict[str, dict[str, Any]]
    ) -> tuple[str, list[list[str]]]:
        _, result = self.api.call(
            "POST",
            f"{target.script_path}/assets-upload-session",
            json_body={"manifest": manifest},
            what="opening the assets upload session",
        )
        if not isinstance(result, dict) or not isinstance(result.get("jwt"), str):
            raise CloudflareError("the assets upload session answered without a token")
        buckets = result.get("buckets") or []
        if not isinstance(buckets, list):
            raise CloudflareError("the assets upload session answered malformed buckets")
        return result["jwt"], [[str(h) for h in bucket] for bucket in buckets]

    def upload_bucket(
        self,
        target: CloudflareTarget,
        upload_jwt: str,
        bucket: list[str],
        files: dict[str, SiteFile],
        read: StreamReader,
    ) -> str | None:
        """Upload one bucket, streamed from staging; returns the completion token when this upload
        completed the set."""
        for asset in bucket:
            if asset not in files:
                raise CloudflareError(f"Cloudflare asked for an unknown asset hash {asset}")
        body = MultipartBody([(asset, files[asset]) for asset in bucket], read)
        try:
            status, result = self.api.call(
                "POST",
                f"/accounts/{target.account_id}/workers/assets/upload?base64=true",
                body=body,
                content_type=body.content_type,
                headers={"Content-Length": str(body.length)},
                bearer=upload_jwt,
                what="uploading assets",
            )
        except CloudflareError as exc:
            if exc.status == 401:
                raise UploadSessionExpired(exc.message, status=401, code=exc.code) from None
            raise
        finally:
            body.close()
        if isinstance(result, dict) and isinstance(result.get("jwt"), str):
            return str(result["jwt"])
        if result is None and status not in (201, 202):
            raise CloudflareError(f"uploading assets answered HTTP {status} without a result")
        return None

    def upload_script(
        self,
        target: CloudflareTarget,
        completion_jwt: str,
        options: AssetsOptions,
        paths: list[str],
        *,
        version_only: bool = False,
        annotations: dict[str, str] | None = None,
    ) -> Any:
        """The Worker with these assets: deployed (a script PUT), or with ``version_only`` a new
        version production does not serve (``wrangler versions upload``)."""
        config: dict[str, Any] = {
            "html_handling": options.html_handling or "auto-trailing-slash",
            "not_found_handling": not_found_handling(paths, options.spa),
        }
        if options.headers_text is not None:
            config["_headers"] = options.headers_text
        if options.redirects_text is not None:
            config["_redirects"] = options.redirects_text
        metadata: dict[str, Any] = {
            "assets": {"jwt": completion_jwt, "config": config},
            "compatibility_date": COMPATIBILITY_DATE,
            "compatibility_flags": [],
        }
        if annotations:
            metadata["annotations"] = annotations
        body, content_type = urllib3.encode_multipart_formdata({"metadata": json.dumps(metadata)})
        if version_only:
            _, result = self.api.call(
                "POST",
                f"{target.script_path}/versions?bindings_inherit=strict",
                body=body,
                content_type=content_type,
                what="uploading a version",
            )
            return result
        _, result = self.api.call(
            "PUT",
            target.script_path,
            body=body,
            content_type=content_type,
            what="uploading the Worker",
        )
        return result

    def account_subdomain(self, account_id: str) -> str:
        key = (self.api.base_url, account_id)
        with _subdomains_lock:
            cached = _subdomains.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
        try:
            _, result = self.api.call(
                "GET", f"/accounts/{account_id}/workers/subdomain", what="reading the workers.dev subdomain"
            )
        except CloudflareError as exc:
            if exc.code == 10007:
                raise CloudflareError(
                    "the account has no workers.dev subdomain yet: choose one in the Cloudflare dashboard",
                    status=exc.status,
                    code=exc.code,
                ) from None
            raise
        subdomain = result.get("subdomain") if isinstance(result, dict) else None
        if not isinstance(subdomain, str) or not subdomain:
            raise CloudflareError("the account has no workers.dev subdomain")
        with _subdomains_lock:
            _subdomains[key] = (subdomain, time.monotonic() + SUBDOMAIN_CACHE_SECONDS)
        return subdomain

    def enable_workers_dev(self, target: CloudflareTarget, *, production: bool = True) -> None:
        """The Worker's workers.dev route on (and its preview URLs); ``production`` False: preview
        URLs only, for a Worker whose first version is a preview."""
        body: dict[str, Any] = {"enabled": True} if production else {"enabled": False, "previews_enabled": True}
        self.api.call(
            "POST",
            f"/accounts/{target.account_id}/workers/scripts/{target.script_name}/subdomain",
            json_body=body,
            headers={"Cloudflare-Workers-Script-Api-Date": SUBDOMAIN_API_DATE},
            what="enabling the workers.dev route",
        )

    def preview_url(self, target: CloudflareTarget, version_id: str, alias: str | None) -> str | None:
        """``https://<alias or version id prefix>-<worker>.<subdomain>.workers.dev``; None when the
        label and the name do not fit one DNS label (Cloudflare then makes no preview URL)."""
        subdomain = self.account_subdomain(target.account_id)
        for label in (alias, version_id[:8]):
            if label and len(label) + 1 + len(target.script_name) <= MAX_LABEL:
                return f"https://{label}-{target.script_name}.{subdomain}.workers.dev"
        return None

    def site_url(self, target: CloudflareTarget) -> str:
        if target.namespace:
            return f"https://{target.script_name}.{target.domain}"
        return f"https://{target.script_name}.{self.account_subdomain(target.account_id)}.workers.dev"

    def delete(self, target: CloudflareTarget) -> bool:
        """Delete the Worker; False when it was already gone (which is what was wanted)."""
        try:
            self.api.call("DELETE", target.script_path, what="deleting the Worker")
        except CloudflareError as exc:
            if exc.status == 404 or exc.code == 10007:
                return False
            raise
        return True

    # -- the whole job --------------------------------------------------------------------------

    def publish(
        self,
        target: CloudflareTarget,
        files: list[SiteFile],
        options: AssetsOptions,
        read: StreamReader,
        progress: Progress | None = None,
        *,
        tenant: str = "",
        preview: bool = False,
        preview_alias: str | None = None,
        prefetch: Prefetch | None = None,
    ) -> PublishResult:
        if not is_valid_label(target.script_name):
            raise CloudflareError(f"{target.script_name!r} is not a valid Worker name")
        for site_file in files:
            if site_file.size > MAX_FILE_BYTES:
                raise CloudflareError(f"{site_file.path} is over Cloudflare's 25 MiB limit per file")
        manifest: dict[str, dict[str, Any]] = {}
        by_hash: dict[str, SiteFile] = {}
        for site_file in files:
            digest = asset_hash(site_file.sha256, site_file.path, tenant)
            manifest["/" + site_file.path] = {"hash": digest, "size": site_file.size}
            by_hash.setdefault(digest, site_file)

        uploaded_files = 0
        uploaded_bytes = 0
        lock = threading.Lock()
        completion: str | None = None
        for _ in range(SESSION_ATTEMPTS):
            upload_jwt, buckets = self.open_session(target, manifest)
            if not buckets:
                completion = upload_jwt
                break
            asked = [by_hash[h] for bucket in buckets for h in bucket if h in by_hash]
            to_send = sum(f.size for f in asked)
            if prefetch:
                prefetch(asked)
            sent = 0

            def one(bucket: list[str], upload_jwt: str = upload_jwt, to_send: int = to_send) -> str | None:
                nonlocal sent, uploaded_files, uploaded_bytes
                token = self.upload_bucket(target, upload_jwt, bucket, by_hash, read)
                size = sum(by_hash[h].size for h in bucket)
                with lock:
                    sent += size
                    uploaded_files += len(bucket)
                    uploaded_bytes += size
                    done = sent
                if progress:
                    progress(done, to_send)
                return token

            expired = False
            with ThreadPoolExecutor(max_workers=UPLOAD_CONCURRENCY) as pool:
                futures = [pool.submit(one, bucket) for bucket in buckets]
                for future in futures:
                    try:
                        token = future.result()
                    except UploadSessionExpired:
                        expired = True
                        continue
                    if token:
                        completion = token
            if completion and not expired:
                break
            if completion and expired:
                completion = None  # the set may be incomplete; a new session tells us what is left
        if not completion:
            raise CloudflareError("Cloudflare never confirmed the asset upload (no completion token)")

        paths = [f.path for f in files]
        if preview:
            version_id, preview_url = self._preview(
                target, completion, options, paths, manifest=manifest, alias=preview_alias
            )
            return PublishResult(
                url=self.site_url(target),
                external_id=version_id,
                uploaded_files=uploaded_files,
                uploaded_bytes=uploaded_bytes,
                version_ref=version_id,
                preview_url=preview_url,
            )
        script = self.upload_script(target, completion, options, paths)
        version = None
        if not target.namespace:  # a namespace's scripts are reached through the dispatch Worker
            self.enable_workers_dev(target)
            version = self.live_version(target)
        url = self.site_url(target)
        external = None
        if isinstance(script, dict):
            external = script.get("deployment_id") or script.get("etag")
        return PublishResult(
            url=url,
            external_id=str(external) if external else None,
            uploaded_files=uploaded_files,
            uploaded_bytes=uploaded_bytes,
            version_ref=version,
        )

    def _preview(
        self,
        target: CloudflareTarget,
        completion: str,
        options: AssetsOptions,
        paths: list[str],
        *,
        manifest: dict[str, dict[str, Any]],
        alias: str | None,
    ) -> tuple[str, str]:
        """A version production does not serve, at its preview URL (and the alias's). A Worker
        that does not exist yet is made with it, its workers.dev route off until production."""
        if target.namespace:
            raise CloudflareError("Workers for Platforms sites have no preview URLs")
        if alias and len(alias) + 1 + len(target.script_name) > MAX_LABEL:
            alias = None
        annotations = {"workers/message": "sitedeploy preview"}
        if alias:
            annotations["workers/alias"] = alias
        try:
            version = self.upload_script(target, completion, options, paths, version_only=True, annotations=annotations)
        except CloudflareError as exc:
            if exc.status != 404 and exc.code != 10007:
                raise
            # No Worker yet: made with this version, production's route off.
            self.upload_script(target, completion, options, paths)
            self.enable_workers_dev(target, production=False)
            completion, _ = self.open_session(target, manifest)  # every asset is there: no upload
            version = self.upload_script(target, completion, options, paths, version_only=True, annotations=annotations)
        version_id = str(version.get("id") or "") if isinstance(version, dict) else ""
        if not version_id:
            raise CloudflareError("Cloudflare answered the version upload without a version id")
        url = self.preview_url(target, version_id, alias)
        if url is None:
            raise CloudflareError(
                f"the Worker name {target.script_name!r} is too long for a preview URL (Cloudflare's limit)"
            )
        return version_id, url

    def live_version(self, target: CloudflareTarget) -> str | None:
        """The version the Worker's newest deployment serves (most of): what a rollback to this
        deploy makes live again. None when Cloudflare does not say (a rollback then re-uploads)."""
        try:
            _, result = self.api.call("GET", f"{target.script_path}/deployments", what="reading the deployments")
        except CloudflareError:
            logger.warning("the Worker's deployments are unreadable: its version is not known")
            return None
        deployments = result.get("deployments") if isinstance(result, dict) else None
        if not isinstance(deployments, list) or not deployments or not isinstance(deployments[0], dict):
            return None
        split = [v for v in deployments[0].get("versions") or [] if isinstance(v, dict) and v.get("version_id")]
        if not split:
            return None
        return str(max(split, key=lambda v: float(v.get("percentage") or 0))["version_id"])

    def deploy_version(self, target: CloudflareTarget, version_id: str) -> bool:
        """Serve ``version_id`` to all of production (a Cloudflare deployment; nothing uploaded).
        False when the Worker or the version is no longer there."""
        try:
            self.api.call(
                "POST",
                f"{target.script_path}/deployments",
                json_body={
                    "strategy": "percentage",
                    "versions": [{"version_id": version_id, "percentage": 100}],
                    "annotations": {"workers/message": "sitedeploy: an earlier version made live"},
                },
                what="deploying an earlier version",
            )
        except CloudflareError as exc:
            if exc.status in (400, 404) or exc.code == 10007:
                return False
            raise
        return True
