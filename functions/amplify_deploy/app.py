"""AmplifyDeployFunction: POST /deployments/amplify. Wiring only; see sitedeploy.deploy."""
# No `from __future__ import annotations` here: Powertools reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy import deploy
from sitedeploy.api import create_resolver, current_owner
from sitedeploy.deploy_requests import AmplifyDeployRequest
from sitedeploy.models import DeployResponse
from sitedeploy.observability import logger, metrics, tracer

app = create_resolver()


@app.post("/deployments/amplify", responses={202: {"description": "accepted; poll statusUrl"}})
@tracer.capture_method
def deploy_to_amplify(request: Annotated[AmplifyDeployRequest, Body()]) -> Response[DeployResponse]:
    answer = deploy.create_amplify_deployment(current_owner(app), request)
    metrics.add_metric(name="DeploymentsAccepted", unit="Count", value=1)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=answer)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
