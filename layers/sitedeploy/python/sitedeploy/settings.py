"""Configuration read from the function's environment, which template.yaml (or the local stack,
from the same template) sets. Read lazily so that tests can point a handler at other resources."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    deployments_table: str
    platform_tokens_table: str
    staging_bucket: str
    platform_credentials_secret: str
    user_tokens_key_id: str
    site_ttl_days: int
    history_retention_days: int
    cloudflare_api_base: str
    amplify_app_id: str
    amplify_zip_limit_bytes: int
    # Platform retries: urllib3's backoff factor and the cap on a platform's Retry-After.
    retry_backoff_seconds: float
    retry_after_cap_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            deployments_table=env.get("DEPLOYMENTS_TABLE", ""),
            platform_tokens_table=env.get("PLATFORM_TOKENS_TABLE", ""),
            staging_bucket=env.get("STAGING_BUCKET", ""),
            platform_credentials_secret=env.get("PLATFORM_CREDENTIALS_SECRET", ""),
            user_tokens_key_id=env.get("USER_TOKENS_KEY_ID", ""),
            site_ttl_days=int(env.get("SITE_TTL_DAYS", "7")),
            history_retention_days=int(env.get("HISTORY_RETENTION_DAYS", "90")),
            cloudflare_api_base=env.get("CLOUDFLARE_API_BASE_URL") or "https://api.cloudflare.com/client/v4",
            amplify_app_id=env.get("AMPLIFY_APP_ID", ""),
            amplify_zip_limit_bytes=int(env.get("AMPLIFY_ZIP_LIMIT_BYTES", str(5 * 1024**3))),
            retry_backoff_seconds=float(env.get("PLATFORM_RETRY_BACKOFF_SECONDS", "1.0")),
            retry_after_cap_seconds=float(env.get("PLATFORM_RETRY_AFTER_CAP_SECONDS", "30")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
