"""The owner's view of their sites: list them, and tear one down now (in either mode)."""

from __future__ import annotations

from datetime import UTC, datetime

from sitedeploy.domain.errors import PlatformFailed
from sitedeploy.domain.models import AuthMode, CamelModel, Platform, SiteRecord
from sitedeploy.flows import teardown
from sitedeploy.observability import logger
from sitedeploy.platforms.base import PlatformError
from sitedeploy.services import Services
from sitedeploy.stores.secrets import CredentialsError


class SiteView(CamelModel):
    site_id: str
    platform: Platform
    project_name: str
    auth_mode: AuthMode
    url: str | None = None
    last_deployment_id: str | None = None
    created_at: str
    updated_at: str
    # When a platform-managed site will be torn down (ISO-8601); None for users' own sites.
    expires_at: str | None = None
    # Its deletion started and is not finished (DELETE it again to continue).
    deleting: bool = False
    # The version production serves, and (for a site holding a chat's previews) the site it previews.
    live_deployment_id: str | None = None
    preview_of: str | None = None

    @classmethod
    def of(cls, site: SiteRecord) -> SiteView:
        expires = (
            datetime.fromtimestamp(site.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if site.expires_at else None
        )
        return cls(
            site_id=site.site_id,
            platform=site.platform,
            project_name=site.project_name,
            auth_mode=site.auth_mode,
            url=site.url,
            last_deployment_id=site.last_deployment_id,
            created_at=site.created_at,
            updated_at=site.updated_at,
            expires_at=expires,
            deleting=site.deleted_at is not None,
            live_deployment_id=site.live_deployment_id,
            preview_of=site.preview_of,
        )


class SiteList(CamelModel):
    sites: list[SiteView]


def list_sites(services: Services, owner_id: str) -> SiteList:
    return SiteList(sites=[SiteView.of(site) for site in services.stores.sites.list_for_owner(owner_id)])


def delete_site(services: Services, owner_id: str, site_id: str) -> bool:
    """Tear down on the platform, then forget the site; another owner's site is just not found."""
    try:
        existed = teardown.delete(services, owner_id, site_id[:64])
    except (PlatformError, CredentialsError) as exc:
        site = services.stores.sites.get_for_owner(site_id[:64], owner_id)
        where = f"{site.platform.value} {site.account_id}" if site and site.account_id else "its platform"
        raise PlatformFailed(
            f"the site could not be deleted where it lives ({where}): {exc}; it stays marked as being deleted: "
            "delete it again to retry"
        ) from None
    logger.info("site deleted", extra={"site_id": site_id[:64], "was_on_platform": existed})
    return existed
