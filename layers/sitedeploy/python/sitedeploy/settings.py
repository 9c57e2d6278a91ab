"""Configuration read from the function's environment, which template.yaml (or the local stack,
from the same template) sets. The one place the library reads the environment: everything else is
handed a Settings, so that a test can build one by hand."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from sitedeploy.domain.tenancy import Quotas


def _json_object(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items() if v} if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Settings:
    deployments_table: str = ""
    platform_tokens_table: str = ""
    idempotency_table: str = ""
    packed_blobs_table: str = ""
    staging_bucket: str = ""
    # The staging bucket's lifecycle: staged blobs and packs are deleted this long after upload.
    staged_blob_retention_days: int = 30
    platform_credentials_secret: str = ""
    user_tokens_key_id: str = ""
    # The function's own region: the platform's Amplify app lives there unless the secret says otherwise.
    region: str = "us-east-1"
    site_ttl_days: int = 7
    history_retention_days: int = 90
    # The versions each site keeps (rollback and promote work on them), and how long a preview lasts.
    versions_per_site: int = 10
    preview_ttl_days: int = 2
    stuck_deployment_minutes: float = 20.0
    # How long the publisher follows a Quick Deploy build that holds a job slot (within its timeout),
    # and how often anyone asks a platform about a build (once per interval, however many poll).
    build_follow_seconds: float = 600.0
    build_poll_seconds: float = 2.0
    cloudflare_api_base: str = "https://api.cloudflare.com/client/v4"
    netlify_api_base: str = "https://api.netlify.com/api/v1"
    vercel_api_base: str = "https://api.vercel.com"
    # Quick Deploy to Amplify: apps the service may create in its region (0: none, no Quick Deploy),
    # sites per app (Amplify allows 50 branches), builds at once (the region's concurrent-jobs quota).
    amplify_pool_apps: int = 0
    amplify_branches_per_app: int = 50
    amplify_concurrent_jobs: int = 5
    amplify_zip_limit_bytes: int = 5 * 1024**3
    # Platform retries: urllib3's backoff factor and the cap on a platform's Retry-After.
    retry_backoff_seconds: float = 1.0
    retry_after_cap_seconds: float = 30.0
    # Each owner's share (template parameters): see domain.tenancy.Quotas.
    quotas: Quotas = field(default_factory=Quotas)
    # Drift the reconciler leaves alone for this long (what is being created or torn down right now).
    reconcile_grace_seconds: float = 900.0
    # The local stack only: platform → its emulator's control URL (where deployed sites are served).
    local_control_urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def keep_interval_seconds(self) -> float:
        """How often a site's kept versions are refreshed, and how old a staged object may grow
        before it is: a third of the shortest lifetime the bucket gives what a version needs, so
        nothing kept ever reaches it (refreshed at most two intervals and a keeper run after)."""
        return min(self.staged_blob_retention_days, self.history_retention_days) * 86400 / 3

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            deployments_table=env.get("DEPLOYMENTS_TABLE", ""),
            platform_tokens_table=env.get("PLATFORM_TOKENS_TABLE", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            packed_blobs_table=env.get("PACKED_BLOBS_TABLE", ""),
            staging_bucket=env.get("STAGING_BUCKET", ""),
            staged_blob_retention_days=int(env.get("STAGED_BLOB_RETENTION_DAYS", "30")),
            platform_credentials_secret=env.get("PLATFORM_CREDENTIALS_SECRET", ""),
            user_tokens_key_id=env.get("USER_TOKENS_KEY_ID", ""),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            site_ttl_days=int(env.get("SITE_TTL_DAYS", "7")),
            history_retention_days=int(env.get("HISTORY_RETENTION_DAYS", "90")),
            versions_per_site=int(env.get("VERSIONS_PER_SITE", "10")),
            preview_ttl_days=int(env.get("PREVIEW_TTL_DAYS", "2")),
            stuck_deployment_minutes=float(env.get("STUCK_DEPLOYMENT_MINUTES", "20")),
            build_follow_seconds=float(env.get("BUILD_FOLLOW_SECONDS", "600")),
            build_poll_seconds=float(env.get("BUILD_POLL_SECONDS", "2")),
            cloudflare_api_base=env.get("CLOUDFLARE_API_BASE_URL") or "https://api.cloudflare.com/client/v4",
            netlify_api_base=env.get("NETLIFY_API_BASE_URL") or "https://api.netlify.com/api/v1",
            vercel_api_base=env.get("VERCEL_API_BASE_URL") or "https://api.vercel.com",
            amplify_pool_apps=int(env.get("AMPLIFY_POOL_APPS", "0")),
            amplify_branches_per_app=int(env.get("AMPLIFY_BRANCHES_PER_APP", "50")),
            amplify_concurrent_jobs=int(env.get("AMPLIFY_CONCURRENT_JOBS", "5")),
            amplify_zip_limit_bytes=int(env.get("AMPLIFY_ZIP_LIMIT_BYTES", str(5 * 1024**3))),
            retry_backoff_seconds=float(env.get("PLATFORM_RETRY_BACKOFF_SECONDS", "1.0")),
            retry_after_cap_seconds=float(env.get("PLATFORM_RETRY_AFTER_CAP_SECONDS", "30")),
            quotas=Quotas(
                sites_per_platform=int(env.get("QUOTA_SITES_PER_PLATFORM", "25")),
                routing_profiles=int(env.get("QUOTA_ROUTING_PROFILES", "3")),
                deployments_in_flight=int(env.get("QUOTA_DEPLOYMENTS_IN_FLIGHT", "5")),
                staged_bytes_per_day=int(env.get("QUOTA_STAGED_BYTES_PER_DAY", str(20 * 1024**3))),
                files_per_upload=int(env.get("QUOTA_FILES_PER_UPLOAD", "20000")),
            ),
            reconcile_grace_seconds=60 * float(env.get("RECONCILE_GRACE_MINUTES", "15")),
            local_control_urls=_json_object(env.get("SITEDEPLOY_LOCAL_CONTROL_URLS")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
