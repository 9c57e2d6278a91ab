"""PublisherFunction: pending deployments from the table's stream, one per invocation: a new
Deployment item, or a Wake item handing back one that waited for its turn.

Wiring only (see sitedeploy.flows.publish). A record fails the batch only when the service itself
could not record an outcome; platform failures end the deployment as ``error`` instead."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.flows import publish
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    image = (record.dynamodb.new_image if record.dynamodb else None) or {}
    deployment_id = image.get("deploymentId") if image.get("entity") == "Wake" else image.get("id")
    if not isinstance(deployment_id, str):
        logger.warning("stream record without a deployment id", extra={"event_id": record.event_id})
        return
    publish.publish(services(), deployment_id)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
