"""UploadsFunction: POST /uploads. Wiring only; see sitedeploy.flows.uploads."""
# No `from __future__ import annotations` here: Powertools reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.api import create_resolver, current_owner
from sitedeploy.flows import uploads
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services
from sitedeploy.snapstart import prepare_for_snapshot

app = create_resolver()


@app.post("/uploads")
@tracer.capture_method
def plan_uploads(request: Annotated[uploads.UploadsRequest, Body()]) -> uploads.UploadsResponse:
    answer = uploads.plan_uploads(services(), current_owner(app), request)
    metrics.add_metric(name="BlobsRequested", unit="Count", value=len(answer.uploads))
    return answer


prepare_for_snapshot(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
