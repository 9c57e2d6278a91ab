"""ReconcilerFunction: audits each Quick Deploy pool against the platforms' own listings and
repairs drift. Wiring only; see sitedeploy.flows.reconcile."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.flows import reconcile
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = reconcile.reconcile(services())
    return {"drift": dict(report.drift), "repaired": dict(report.repaired), "members": report.members}
