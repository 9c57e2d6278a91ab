"""A user's own platform connections: checked with the platform before anything is stored, sealed,
listed and removed; and the settings tab's views (what the Deploy button may offer, and what the
user's account holds).

A platform refusing the credentials is the caller's credentials being wrong, so it answers 400
``credentials_rejected``, not 401, which a front end would read as its session being invalid."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sitedeploy.domain import clock
from sitedeploy.domain.errors import BadRequest, NotFound
from sitedeploy.domain.models import (
    AuthMode,
    Connection,
    Platform,
    PlatformAvailability,
    PlatformsOverview,
    PlatformStats,
    QuotaUsage,
)
from sitedeploy.domain.tenancy import Quota
from sitedeploy.observability import logger
from sitedeploy.platforms.base import PlatformError, UserCredentials
from sitedeploy.services import Services


class CredentialsRejected(BadRequest):
    code = "credentials_rejected"


def parse_credentials(services: Services, platform: Platform, body: Any) -> UserCredentials:
    """The credentials body for ``platform``; a 400 naming the fields (never echoing values)."""
    model = services.platforms.get(platform).credentials_model
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="validation_error")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "body"
            reason = (
                "unknown field"
                if err["type"] == "extra_forbidden"
                else ("is required" if err["type"] == "missing" else str(err["msg"]))
            )
            fields.append(f"{loc}: {reason}")
        raise BadRequest("; ".join(fields[:5]), code="validation_error") from None


def verify(services: Services, platform: Platform, credentials: UserCredentials) -> Connection:
    try:
        return services.platforms.get(platform).verify(credentials)
    except PlatformError as exc:
        raise CredentialsRejected(exc.message) from None


def connect(services: Services, owner_id: str, platform: Platform, body: Any) -> Connection:
    """Verify, then seal and store: a connection that does not work is never kept."""
    credentials = parse_credentials(services, platform, body)
    verified = verify(services, platform, credentials)
    stored = services.stores.connections.store(owner_id, verified, credentials.payload())
    logger.info("connection stored", extra={"platform": platform.value, "account_id": stored.account_id})
    return stored


def disconnect(services: Services, owner_id: str, platform: Platform) -> None:
    if not services.stores.connections.delete(owner_id, platform):
        raise NotFound(f"no {platform.value} connection", code="not_found")
    logger.info("connection deleted", extra={"platform": platform.value})


def list_connections(services: Services, owner_id: str) -> list[Connection]:
    return services.stores.connections.list(owner_id)


def overview(services: Services, owner_id: str) -> PlatformsOverview:
    """What the Deploy button can offer: Quick Deploy where the service has an account, and the
    user's own connection where one is stored."""
    connections = {c.platform: c for c in services.stores.connections.list(owner_id)}
    usage = services.stores.tenancy.usage(owner_id)
    quotas = services.settings.quotas
    rows = []
    listed: list[QuotaUsage] = [
        QuotaUsage(quota=Quota.IN_FLIGHT.value, limit=quotas.deployments_in_flight, used=usage.get("FLIGHT", 0)),
        QuotaUsage(
            quota=Quota.STAGED_BYTES.value,
            limit=quotas.staged_bytes_per_day,
            used=usage.get(f"BYTES#{clock.now().strftime('%Y-%m-%d')}", 0),
        ),
        QuotaUsage(quota=Quota.FILES_PER_UPLOAD.value, limit=quotas.files_per_upload, used=0),
    ]
    for platform in services.platforms:
        hosting = services.platforms.get(platform)
        quick = hosting.quick_deploy_available()
        sites_used = usage.get(f"SITES#{platform.value}", 0)
        fixed = hosting.fixed_members() if quick else []
        quick_domains = hosting.domain_support(AuthMode.PLATFORM_MANAGED, fixed[0].member_id if fixed else None)
        rows.append(
            PlatformAvailability(
                platform=platform,
                quick_deploy=quick,
                connected=platform in connections,
                connection=connections.get(platform),
                quick_deploy_room=quick_deploy_room(services, platform) if quick else None,
                quick_deploy_sites_left=max(0, quotas.sites_per_platform - sites_used) if quick else None,
                quick_deploy_isolated=hosting.quick_deploy_isolated() if quick else None,
                custom_domains=hosting.domain_support(AuthMode.USER_TOKEN, None) is None,
                quick_deploy_custom_domains=quick_domains is None if quick else None,
                quick_deploy_custom_domains_reason=quick_domains if quick else None,
            )
        )
        if quick:
            listed.append(
                QuotaUsage(quota=Quota.SITES.value, platform=platform, limit=quotas.sites_per_platform, used=sites_used)
            )
            if f"PROFILES#{platform.value}" in usage:
                listed.append(
                    QuotaUsage(
                        quota=Quota.PROFILES.value,
                        platform=platform,
                        limit=quotas.routing_profiles,
                        used=usage[f"PROFILES#{platform.value}"],
                    )
                )
    return PlatformsOverview(platforms=rows, quotas=listed)


def quick_deploy_room(services: Services, platform: Platform) -> bool:
    """Whether Quick Deploy can place one more new site: a member with room, or room to make one."""
    hosting = services.platforms.get(platform)
    tenancy = services.stores.tenancy
    members = {m.member_id: m for m in tenancy.all_members(platform)}
    for fixed in hosting.fixed_members():
        known = members.get(fixed.member_id)
        if known is None or known.used < fixed.capacity:
            return True
    if any(m.room > 0 for m in members.values() if m.member_id not in {f.member_id for f in hosting.fixed_members()}):
        return True
    limit = hosting.pool_limit()
    return bool(limit) and tenancy.pool_size(platform, services.settings.region) < limit


def stats(services: Services, owner_id: str, platform: Platform) -> PlatformStats:
    """The settings tab's list, with the caller's stored credentials."""
    hosting = services.platforms.get(platform)
    stored = services.stores.connections.secret(owner_id, platform)
    if stored is None:
        raise BadRequest(
            f"no {platform.value} connection: connect it first with PUT /platform-tokens/{platform.value}",
            code="connection_required",
        )
    try:
        return hosting.stats(hosting.credentials_model.model_validate(stored))
    except (PlatformError, ValidationError) as exc:
        raise CredentialsRejected(getattr(exc, "message", None) or "the stored connection is malformed") from None
