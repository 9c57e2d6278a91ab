"""SweeperFunction: every few minutes, end what stopped moving and poll Amplify builds nobody is
watching. Wiring only; see sitedeploy.flows.sweep."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.flows import sweep
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = sweep.sweep(services())
    metrics.add_metric(name="DeploymentsTimedOut", unit="Count", value=len(report.timed_out))
    logger.info(
        "sweep done",
        extra={"timed_out": len(report.timed_out), "polled": len(report.polled), "finished": len(report.finished)},
    )
    return {
        "timedOut": report.timed_out,
        "polled": report.polled,
        "finished": report.finished,
        "letGo": report.let_go,
    }
