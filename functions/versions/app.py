"""VersionsFunction: a site's versions, rollback, promote and claim. Wiring only; see sitedeploy.flows.versions."""
# No `from __future__ import annotations` here: Powertools reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.api import accepted, create_resolver, current_owner
from sitedeploy.api.openapi import error_responses
from sitedeploy.domain.models import DeployResponse, VersionList
from sitedeploy.flows import versions
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services
from sitedeploy.snapstart import prepare_for_snapshot
from sitedeploy.stores import idempotency

app = create_resolver()

SiteId = Annotated[str, Path(min_length=1, max_length=64)]
DeploymentId = Annotated[str, Path(min_length=1, max_length=64)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]
ACCEPTED: dict[int, OpenAPIResponse] = {
    202: {"description": "accepted: a new deployment; poll statusUrl"},
    **error_responses(
        {
            409: "the version is not one the site keeps (version_expired), is already live, is being deleted, "
            "or the Idempotency-Key was used with another request",
        }
    ),
}


@app.get("/sites/<siteId>/deployments", responses=error_responses({404: "no such site for this owner"}))
@tracer.capture_method
def list_versions(
    siteId: SiteId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> VersionList:
    return versions.list_versions(services(), current_owner(app), siteId, limit=limit, cursor=cursor)


@app.post("/sites/<siteId>/rollback", responses=ACCEPTED)
@tracer.capture_method
def rollback(
    siteId: SiteId,
    request: Annotated[versions.VersionRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[DeployResponse]:
    """Make an earlier production version live again (default: the one live before the current)."""
    answer = versions.rollback_once(
        services(), current_owner(app), siteId, request, idempotency.check_key(idempotency_key)
    )
    return accepted(answer, "Rollbacks")


@app.post("/deployments/<deploymentId>/promote", responses=ACCEPTED)
@tracer.capture_method
def promote(
    deploymentId: DeploymentId,
    request: Annotated[versions.VersionRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[DeployResponse]:
    """Make a ready preview the site's production version, with no upload."""
    answer = versions.promote_once(
        services(), current_owner(app), deploymentId, request, idempotency.check_key(idempotency_key)
    )
    return accepted(answer, "Promotions")


@app.post("/sites/<siteId>/claim", responses=ACCEPTED)
@tracer.capture_method
def claim(
    siteId: SiteId,
    request: Annotated[versions.ClaimRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[DeployResponse]:
    """Move a Quick Deploy site into the caller's own account, from the service's copy of its files."""
    answer = versions.claim_once(
        services(), current_owner(app), siteId, request, idempotency.check_key(idempotency_key)
    )
    return accepted(answer, "Claims")


prepare_for_snapshot(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.config.register_lambda_context(context)
    return app.resolve(event, context)
