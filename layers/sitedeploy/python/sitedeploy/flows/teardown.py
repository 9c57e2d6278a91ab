"""Tearing sites down: an owner deleting a site now (either mode), and the reaper when DynamoDB's
TTL removed an expired platform-managed site.

Deleting marks the site first (``deletedAt``, one conditional write): from then on nothing new is
deployed to it, no waiting deployment starts, and the places it holds stay its own. Then, unless a
publish is writing to the site at that very moment, everything is torn down and given back now; if
one is, that publisher finishes the deletion as it ends (or the sweeper, if it dies), so it can
never leave behind a Worker, branch, Netlify site or Vercel project that nothing owns. A build the
platform is still running for the site is ended ("the site was deleted") and deleted with it.

"Already gone" is success: the point is that it is gone. The reaper acts on the removed item's
image: the places that site generation still holds, never a newer generation's."""

from __future__ import annotations

from collections.abc import Mapping

from sitedeploy.domain.errors import NotFound
from sitedeploy.domain.models import AuthMode, DeploymentStatus, SiteRecord
from sitedeploy.flows import lifecycle, places
from sitedeploy.flows.credentials import site_credentials
from sitedeploy.observability import logger
from sitedeploy.services import Services

TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def delete(services: Services, owner_id: str, site_id: str) -> bool:
    """Delete the owner's site (another owner's is just not found). Whether anything was still on
    the platform; raises PlatformError when the platform refuses (the site stays marked deleted and
    a repeated DELETE, or the reconciler, continues)."""
    existing = services.stores.sites.get_for_owner(site_id, owner_id)
    if existing is None:
        raise NotFound(f"site {site_id} not found")
    hosting = services.platforms.get(existing.platform)
    credentials = site_credentials(services, hosting, existing)  # a user's site needs their connection first
    site = services.stores.tenancy.tombstone(site_id, owner_id)
    if site is None:
        raise NotFound(f"site {site_id} not found")
    deployments = services.stores.deployments
    if site.last_deployment_id:
        ended = deployments.fail_if_pending(site.last_deployment_id, lifecycle.SITE_DELETED)
        if ended is not None:
            lifecycle.finished(services, ended)
    holder = deployments.get(site.publishing) if site.publishing else None
    if holder is not None and holder.status is DeploymentStatus.UPLOADING:
        # Its publisher is writing to the site now: take the site offline, and leave the rest to it.
        existed = _take_offline(services, site, credentials)
        logger.info("site deletion waits for its publisher", extra={"site_id": site_id, "holder": holder.deployment_id})
        return existed
    if holder is not None and holder.status is DeploymentStatus.BUILDING:
        ended = deployments.fail(holder.deployment_id, lifecycle.SITE_DELETED)
        if ended is not None:
            existed = _take_offline(services, site, credentials)
            lifecycle.finished(services, ended)  # gives the site back, which finishes its deletion
            return places.finish_deletion(services, site_id, credentials=credentials) or existed
    # A holder that ended without letting go is released there.
    return places.finish_deletion(services, site_id, credentials=credentials)


def _take_offline(services: Services, site: SiteRecord, credentials: object) -> bool:
    hosting = services.platforms.get(site.platform)
    existed = False
    for place in services.stores.tenancy.active_places(site, site.places()):
        try:
            existed = hosting.tear_down(place.address, credentials) or existed  # type: ignore[arg-type]
        except Exception:  # finished later, with the rest
            logger.warning("taking a deleted site offline failed", extra={"site_id": site.site_id}, exc_info=True)
    return existed


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
    if now is not None and now.generation == site.generation:
        # Not removed after all (a stray or replayed record): the site it names is alive.
        logger.warning(
            "a removal of a site that exists reached the reaper; left alone", extra={"site_id": site.site_id}
        )
        return None
    existed = places.release_expired(services, site)
    logger.info(
        "expired site torn down",
        extra={"site_id": site.site_id, "platform": site.platform.value, "was_on_platform": existed},
    )
    return existed
