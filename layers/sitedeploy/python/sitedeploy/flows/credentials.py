"""What a platform acts with: the user's credentials where the site is theirs (sealed onto an
in-flight deployment, or their stored connection for a site at rest), else None, the service's own
account."""

from __future__ import annotations

from pydantic import ValidationError

from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import AuthMode, DeploymentRecord, SiteRecord
from sitedeploy.platforms.base import HostingPlatform, UserCredentials
from sitedeploy.services import Services
from sitedeploy.stores.secrets import CredentialsError, deployment_context


def deployment_credentials(
    services: Services, hosting: HostingPlatform, record: DeploymentRecord
) -> UserCredentials | None:
    """What a platform acts with for this deployment: the user's credentials sealed onto it while
    it is in flight, or None (the service's own account) for a platform-managed one."""
    if record.auth_mode is AuthMode.PLATFORM_MANAGED:
        return None
    if not record.sealed_credentials:
        raise CredentialsError("the deployment no longer carries its credentials")
    payload = services.stores.sealer.unseal(
        record.sealed_credentials, deployment_context(record.deployment_id, record.owner_id)
    )
    payload.pop("platform", None)
    try:
        return hosting.credentials_model.model_validate(payload)
    except ValidationError:
        raise CredentialsError("the deployment's sealed credentials are malformed") from None


def site_credentials(services: Services, hosting: HostingPlatform, site: SiteRecord) -> UserCredentials | None:
    if site.auth_mode is AuthMode.PLATFORM_MANAGED:
        return None
    name = site.platform.value
    stored = services.stores.connections.secret(site.owner_id, site.platform)
    if stored is None:
        raise BadRequest(
            f"acting on a site on your own {name} account (deleting it, its domains) needs your stored "
            f"connection: connect it first (PUT /platform-tokens/{name})",
            code="connection_required",
        )
    try:
        return hosting.credentials_model.model_validate(stored)
    except ValidationError:
        raise CredentialsError(f"the stored {name} connection is malformed") from None


def stored_credentials(services: Services, hosting: HostingPlatform, owner_id: str) -> UserCredentials:
    """The owner's stored connection for the platform, as its credentials (400 when there is none
    or it is no longer usable)."""
    name = hosting.platform.value
    try:
        stored = services.stores.connections.secret(owner_id, hosting.platform)
    except CredentialsError:
        stored = None
    if stored is None:
        raise BadRequest(
            f"no {name} credentials: connect your {name} account first "
            f"(PUT /platform-tokens/{name}) or send the credentials with the request",
            code="connection_required",
        )
    try:
        return hosting.credentials_model.model_validate(stored)
    except ValidationError:
        raise BadRequest(
            f"your stored {name} connection is no longer usable: connect it again (PUT /platform-tokens/{name})",
            code="connection_required",
        ) from None
