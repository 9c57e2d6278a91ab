"""Who is calling: the JWT authorizer has already verified the token; we only read its ``sub``."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from sitedeploy.domain.errors import Unauthorized

MAX_OWNER_ID_LENGTH = 256


def current_owner(app: APIGatewayHttpResolver) -> str:
    """The owner of everything this request touches. A request without a usable ``sub`` never
    reaches data: behind the authorizer that means a misconfigured route, so refuse it."""
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_OWNER_ID_LENGTH:
        raise Unauthorized("the token carries no subject")
    return sub
