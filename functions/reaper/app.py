"""ReaperFunction: tears down platform-managed sites whose Site item DynamoDB's TTL removed.

Wiring only (see sitedeploy.flows.teardown.reap). The template's filter admits only TTL REMOVE records of
platform-managed Site items; a failure is a batch item failure, retried, then sent to the
dead-letter queue (which has an alarm)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.flows import teardown
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    image = record.dynamodb.old_image if record.dynamodb else None
    if teardown.reap(services(), dict(record.user_identity or {}), image) is not None:
        metrics.add_metric(name="SitesReaped", unit="Count", value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
