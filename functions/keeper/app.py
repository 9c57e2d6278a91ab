"""KeeperFunction: keeps the staged files, manifests and records of the versions each site keeps
from expiring while the site keeps them. Wiring only; see sitedeploy.flows.keeper."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.flows import keeper
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = keeper.keep(services())
    return {"sites": report.sites, "versions": report.versions, "refreshed": report.refreshed, "lost": report.lost}
