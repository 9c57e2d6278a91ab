"""DomainRefresherFunction: asks the platforms about pending custom domains nobody reads, so each
reaches ``active`` or ``failed`` on its own. Wiring only; see sitedeploy.flows.domains."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.flows import domains
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Stop asking with a minute to spare: the hostnames not reached are the next run's, oldest first.
    budget = max(0.0, context.get_remaining_time_in_millis() / 1000 - 60)
    return {"checked": domains.refresh_due(services(), budget_seconds=budget)}
