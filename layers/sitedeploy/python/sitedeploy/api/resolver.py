"""The resolver every HTTP function starts from: validation on, one error shape, OpenAPI-ready."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from sitedeploy.api.errors import register_error_handlers


def create_resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    return app
