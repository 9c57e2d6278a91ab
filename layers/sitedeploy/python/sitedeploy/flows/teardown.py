"""Tearing a site down on its platform (the Worker, the Amplify branch), for the reaper when a
platform-managed site expires and for an owner deleting a site now; then giving back its name, its
seat in the pool, and an emptied pool member.

"Already gone" is success: the point is that it is gone. Platform-managed sites are torn down with
the service's account; a user's site where it was deployed (the account or app the site records),
with the user's stored connection, since deployments keep users' credentials only while they are in
flight. The reaper acts on what the site is now, not on the image in the stream record: a site
deployed again since its TTL removal is left alone."""

from __future__ import annotations

from collections.abc import Mapping

from sitedeploy.domain.models import AuthMode, SiteRecord
from sitedeploy.domain.tenancy import Seat
from sitedeploy.flows.credentials import site_credentials
from sitedeploy.flows.lifecycle import release_place
from sitedeploy.observability import logger
from sitedeploy.services import Services


def tear_down(services: Services, site: SiteRecord) -> bool:
    """Delete the site on its platform and give back its place; False when it was already gone."""
    hosting = services.platforms.get(site.platform)
    existed = hosting.tear_down(site.address, site_credentials(services, hosting, site))
    release_place(services, site, site.address, site.member_id)
    return existed


TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def reap(services: Services, identity: Mapping[str, object], old_image: Mapping[str, object] | None) -> bool | None:
    """Tear down what DynamoDB's TTL removed: a platform-managed Site item, and nothing else (the
    stream filter says so too; this guards a looser filter). None when the record is not ours."""
    if any(identity.get(key) != value for key, value in TTL_IDENTITY.items()):
        return None
    if not old_image or old_image.get("entity") != "Site":
        return None
    site = SiteRecord.model_validate(old_image)
    if site.auth_mode is not AuthMode.PLATFORM_MANAGED:
        logger.warning("a user's site reached the reaper; left alone", extra={"site_id": site.site_id})
        return None
    now = services.stores.sites.get(site.site_id)
    if now is not None:
        # Deployed again after its TTL removal: the site lives on. Only a place it has since left
        # is freed (a seat it held twice: the new deploy took one of its own).
        if now.member_id and now.member_id == site.member_id:
            services.stores.tenancy.give_back_seat(Seat(site.platform, site.member_id))
        elif now.address != site.address:
            tear_down(services, site)
        logger.info("expired site was deployed again; left alone", extra={"site_id": site.site_id})
        return None
    existed = tear_down(services, site)
    logger.info(
        "expired site torn down",
        extra={"site_id": site.site_id, "platform": site.platform.value, "was_on_platform": existed},
    )
    return existed
