"""DeployStatusFunction: the polling endpoints and the API's OpenAPI document. Wiring only; the logic
is in sitedeploy.flows.status."""
# No `from __future__ import annotations` here: Powertools reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.api import create_resolver, current_owner
from sitedeploy.api.openapi import document_text, error_responses
from sitedeploy.domain.models import DeploymentList, DeploymentStatusResponse, Platform
from sitedeploy.flows import status
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services
from sitedeploy.snapstart import prepare_for_snapshot

app = create_resolver()

ChatId = Annotated[str | None, Query(alias="chatId", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
DeploymentId = Annotated[str, Path(min_length=1, max_length=64)]


@app.get("/deployments/<deploymentId>")
@tracer.capture_method
def get_deployment(deploymentId: DeploymentId) -> DeploymentStatusResponse:
    return status.deployment_status(services(), current_owner(app), deploymentId)


@app.get(
    "/deploy-status",
    responses={
        200: {"description": "the deployment"},
        **error_responses({404: "no such deployment for this owner and platform"}),
    },
)
@tracer.capture_method
def deploy_status(
    platform: Annotated[Platform, Query()],
    deployment_id: Annotated[str, Query(alias="deploymentId", min_length=1, max_length=64)],
) -> DeploymentStatusResponse:
    """The front end's existing polling URL; the platform must be one we publish to and must match."""
    deps = services()
    deps.platforms.get(platform)  # 400 unsupported_platform for one the service does not publish to
    return status.deployment_status(deps, current_owner(app), deployment_id, platform=platform)


@app.get("/deployments")
@tracer.capture_method
def list_deployments(
    chat_id: ChatId = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> DeploymentList:
    return status.list_deployments(services(), current_owner(app), chat_id=chat_id, limit=limit, cursor=cursor)


@app.get(
    "/openapi.json",
    summary="This API's OpenAPI document (no token needed)",
    responses={
        200: {
            "description": "the OpenAPI 3.1 document",
            "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "info", "paths"]}}},
        }
    },
)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document_text())


prepare_for_snapshot(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
