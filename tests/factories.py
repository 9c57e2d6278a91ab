"""Records for tests, built the way the deploy path will build them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sitedeploy.domain import clock
from sitedeploy.domain.models import AuthMode, DeploymentRecord, Platform
from sitedeploy.stores.deployments import new_deployment_id


def deployment(owner: str, *, minutes_ago: int = 0, **overrides: Any) -> DeploymentRecord:
    created = clock.iso(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    values: dict[str, Any] = {
        "deployment_id": new_deployment_id(),
        "owner_id": owner,
        "chat_id": "chat-1",
        "project_name": "my-site",
        "site_id": "site_test",
        "platform": Platform.CLOUDFLARE,
        "auth_mode": AuthMode.PLATFORM_MANAGED,
        "created_at": created,
        "updated_at": created,
        "file_count": 3,
        "total_size_bytes": 1234,
    }
    values.update(overrides)
    return DeploymentRecord(**values)
