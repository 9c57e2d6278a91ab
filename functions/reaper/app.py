"""ReaperFunction: tears down platform-managed sites whose Site item DynamoDB's TTL removed.

Wiring only (see sitedeploy.teardown). The template's filter admits only TTL REMOVE records of
platform-managed Site items; a failure is a batch item failure, retried, then sent to the
dead-letter queue (which has an alarm)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy import teardown
from sitedeploy.models import AuthMode
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.sites import site_from_image

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    identity = record.user_identity or {}
    if identity.get("type") != "Service" or identity.get("principalId") != "dynamodb.amazonaws.com":
        return  # only DynamoDB's TTL deletes; the filter says so too, this guards a looser filter
    image = record.dynamodb.old_image if record.dynamodb else None
    if not image or image.get("entity") != "Site":
        return
    site = site_from_image(image)
    if site.auth_mode is not AuthMode.PLATFORM_MANAGED:
        logger.warning("a user's site reached the reaper; left alone", extra={"site_id": site.site_id})
        return
    existed = teardown.tear_down(site)
    metrics.add_metric(name="SitesReaped", unit="Count", value=1)
    logger.info(
        "expired site torn down",
        extra={"site_id": site.site_id, "platform": site.platform.value, "was_on_platform": existed},
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
