"""CloudflareDeployFunction: POST /deployments/cloudflare. Wiring only; see sitedeploy.deploy."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy import deploy, idempotency
from sitedeploy.api import create_resolver
from sitedeploy.api.deploy_route import add_deploy_route
from sitedeploy.deploy_requests import CloudflareDeployRequest
from sitedeploy.models import Platform
from sitedeploy.observability import logger, metrics, tracer

app = create_resolver()
add_deploy_route(app, Platform.CLOUDFLARE, CloudflareDeployRequest, deploy.create_cloudflare_deployment)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.config.register_lambda_context(context)
    return app.resolve(event, context)
