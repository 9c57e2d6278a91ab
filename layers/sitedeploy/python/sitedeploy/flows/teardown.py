"""Tearing a site down on its platform (the Worker, the Amplify branch), for the reaper when a
platform-managed site expires and for an owner deleting a site now.

"Already gone" is success: the point is that it is gone. Platform-managed sites are torn down with
the service's account; a user's site with the user's stored connection, since deployments keep
users' credentials only while they are in flight."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import AuthMode, SiteRecord
from sitedeploy.observability import logger
from sitedeploy.platforms.base import HostingPlatform, UserCredentials
from sitedeploy.services import Services
from sitedeploy.stores.secrets import CredentialsError


def site_credentials(services: Services, hosting: HostingPlatform, site: SiteRecord) -> UserCredentials | None:
    if site.auth_mode is AuthMode.PLATFORM_MANAGED:
        return None
    name = site.platform.value
    stored = services.stores.connections.secret(site.owner_id, site.platform)
    if stored is None:
        raise BadRequest(
            f"deleting a site on your own {name} account needs your connection: "
            f"connect it first (PUT /platform-tokens/{name})",
            code="connection_required",
        )
    try:
        return hosting.credentials_model.model_validate(stored)
    except ValidationError:
        raise CredentialsError(f"the stored {name} connection is malformed") from None


def tear_down(services: Services, site: SiteRecord) -> bool:
    """Delete the site on its platform; False when it was already gone."""
    hosting = services.platforms.get(site.platform)
    return hosting.tear_down(site.address, site_credentials(services, hosting, site))


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
    existed = tear_down(services, site)
    logger.info(
        "expired site torn down",
        extra={"site_id": site.site_id, "platform": site.platform.value, "was_on_platform": existed},
    )
    return existed
