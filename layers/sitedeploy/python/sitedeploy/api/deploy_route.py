"""The deploy route both platforms share: parse, idempotency, accept, 202.

No ``from __future__ import annotations`` here: the route's annotations name the platform's own
request model and Powertools reads them at runtime to validate the body and to document it."""

from typing import Annotated, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from sitedeploy.api.auth import current_owner
from sitedeploy.api.openapi import error_responses
from sitedeploy.api.resolver import accepted
from sitedeploy.domain.models import DeployResponse, Platform
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.flows import accept
from sitedeploy.observability import tracer
from sitedeploy.services import services
from sitedeploy.stores.idempotency import check_key

R = TypeVar("R", bound=DeployRequest)


def add_deploy_route(app: APIGatewayHttpResolver, platform: Platform, model: type[R]) -> None:
    """Register ``POST /deployments/{platform}`` taking the platform's request ``model``."""

    def deploy(
        request: Annotated[model, Body()],  # type: ignore[valid-type]
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
    ) -> Response[DeployResponse]:
        answer = accept.deploy(services(), platform, current_owner(app), request, check_key(idempotency_key))
        return accepted(answer, "DeploymentsAccepted")

    deploy.__name__ = f"deploy_to_{platform.value}"
    responses: dict[int, OpenAPIResponse] = {
        202: {"description": "accepted; poll statusUrl"},
        **error_responses(
            {
                409: "a manifest names blobs not staged yet (missing lists them), or the Idempotency-Key was "
                "used with another request or is still in progress"
            }
        ),
    }
    app.post(f"/deployments/{platform.value}", responses=responses)(tracer.capture_method(deploy))
