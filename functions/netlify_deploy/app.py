"""NetlifyDeployFunction: POST /deployments/netlify. Wiring only; see sitedeploy.flows.accept."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.api import create_resolver
from sitedeploy.api.deploy_route import add_deploy_route
from sitedeploy.domain.models import Platform
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.platforms.netlify.requests import NetlifyDeployRequest
from sitedeploy.services import services
from sitedeploy.snapstart import prepare_for_snapshot
from sitedeploy.stores import idempotency

app = create_resolver()
add_deploy_route(app, Platform.NETLIFY, NetlifyDeployRequest)
prepare_for_snapshot(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.config.register_lambda_context(context)
    return app.resolve(event, context)
