"""PlatformTokensFunction: a user's stored platform connections and what the settings tab shows.
Wiring only; see sitedeploy.connections and sitedeploy.connection_checks."""
# No `from __future__ import annotations` here: Powertools reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sitedeploy import connection_checks, connections
from sitedeploy.api import NotFound, create_resolver, current_owner
from sitedeploy.connections import Connection
from sitedeploy.models import CamelModel, Platform
from sitedeploy.observability import logger, metrics, tracer

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
    secret = connections.parse_secret(platform, body)
    verified = connection_checks.verify(platform, secret)
    stored = connections.repository().store(current_owner(app), verified, connections.secret_payload(secret))
    logger.info("connection stored", extra={"platform": platform.value, "account_id": stored.account_id})
    return stored


@app.post("/platform-tokens/<platform>/verify")
@tracer.capture_method
def verify(platform: PlatformParam, body: Annotated[dict[str, Any], Body()]) -> Verified:
    secret = connections.parse_secret(platform, body)
    return Verified(valid=True, connection=connection_checks.verify(platform, secret))


@app.get("/platform-tokens")
@tracer.capture_method
def list_connections() -> ConnectionList:
    return ConnectionList(connections=connections.repository().list(current_owner(app)))


@app.delete(
    "/platform-tokens/<platform>",
    responses={204: {"description": "deleted", "content": {}}},
)
@tracer.capture_method
def delete(platform: PlatformParam) -> Response[str]:
    if not connections.repository().delete(current_owner(app), platform):
        raise NotFound(f"no {platform.value} connection", code="not_found")
    logger.info("connection deleted", extra={"platform": platform.value})
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@app.get("/platforms")
@tracer.capture_method
def platforms() -> connection_checks.PlatformsOverview:
    return connection_checks.overview(current_owner(app))


@app.get("/platforms/<platform>/stats")
@tracer.capture_method
def stats(platform: PlatformParam) -> connection_checks.PlatformStats:
    return connection_checks.stats(current_owner(app), platform)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
