"""PlatformTokensFunction: a user's stored platform connections and what the settings tab shows.
Wiring only; see sitedeploy.flows.connections."""
# No `from __future__ import annotations` here: Powertools reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy.api import create_resolver, current_owner
from sitedeploy.domain.models import CamelModel, Connection, Platform, PlatformsOverview, PlatformStats
from sitedeploy.flows import connections
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services
from sitedeploy.snapstart import prepare_for_snapshot

app = create_resolver()

PlatformParam = Annotated[Platform, Path()]


class ConnectionList(CamelModel):
    connections: list[Connection]


class Verified(CamelModel):
    valid: bool
    connection: Connection


@app.put("/platform-tokens/<platform>")
@tracer.capture_method
def store(platform: PlatformParam, body: Annotated[dict[str, Any], Body()]) -> Connection:
    return connections.connect(services(), current_owner(app), platform, body)


@app.post("/platform-tokens/<platform>/verify")
@tracer.capture_method
def verify(platform: PlatformParam, body: Annotated[dict[str, Any], Body()]) -> Verified:
    deps = services()
    credentials = connections.parse_credentials(deps, platform, body)
    return Verified(valid=True, connection=connections.verify(deps, platform, credentials))


@app.get("/platform-tokens")
@tracer.capture_method
def list_connections() -> ConnectionList:
    return ConnectionList(connections=connections.list_connections(services(), current_owner(app)))


@app.delete(
    "/platform-tokens/<platform>",
    responses={204: {"description": "deleted", "content": {}}},
)
@tracer.capture_method
def delete(platform: PlatformParam) -> Response[str]:
    connections.disconnect(services(), current_owner(app), platform)
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@app.get("/platforms")
@tracer.capture_method
def platforms() -> PlatformsOverview:
    return connections.overview(services(), current_owner(app))


@app.get("/platforms/<platform>/stats")
@tracer.capture_method
def stats(platform: PlatformParam) -> PlatformStats:
    return connections.stats(services(), current_owner(app), platform)


prepare_for_snapshot(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
