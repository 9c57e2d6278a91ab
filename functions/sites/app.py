"""SitesFunction: GET /sites and DELETE /sites/{siteId}. Wiring only; see sitedeploy.flows.sites."""
# No `from __future__ import annotations` here: Powertools reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.api import create_resolver, current_owner
from sitedeploy.flows import sites
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services
from sitedeploy.snapstart import prepare_for_snapshot

app = create_resolver()


@app.get("/sites")
@tracer.capture_method
def list_sites() -> sites.SiteList:
    return sites.list_sites(services(), current_owner(app))


@app.delete("/sites/<siteId>", responses={204: {"description": "deleted", "content": {}}})
@tracer.capture_method
def delete_site(siteId: Annotated[str, Path(min_length=1, max_length=64)]) -> Response[str]:
    sites.delete_site(services(), current_owner(app), siteId)
    metrics.add_metric(name="SitesDeleted", unit="Count", value=1)
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


prepare_for_snapshot(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
