"""DomainsFunction: a site's custom domains. Wiring only; see sitedeploy.flows.domains."""
# No `from __future__ import annotations` here: Powertools reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from sitedeploy.api import accepted, create_resolver, current_owner
from sitedeploy.api.openapi import error_responses
from sitedeploy.domain.domains import DomainList, DomainView
from sitedeploy.flows import domains
from sitedeploy.observability import logger, metrics, tracer
from sitedeploy.services import services
from sitedeploy.snapstart import prepare_for_snapshot

app = create_resolver()

SiteId = Annotated[str, Path(min_length=1, max_length=64)]


class AddDomain(BaseModel):
    """The body of ``POST /sites/{siteId}/domains``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    hostname: str = Field(min_length=1, max_length=300)


@app.post(
    "/sites/<siteId>/domains",
    responses={
        202: {"description": "attached: create the records it lists; follow its status"},
        **error_responses(
            {
                404: "no such site for this owner",
                409: "another site holds the hostname (domain_taken), the platform refused it (domain_refused), "
                "this platform and mode take no custom domains (domains_unsupported), or the site is being deleted",
            }
        ),
    },
)
@tracer.capture_method
def add_domain(siteId: SiteId, request: Annotated[AddDomain, Body()]) -> Response[DomainView]:
    return accepted(domains.add(services(), current_owner(app), siteId, request.hostname))  # counted by the flow


@app.get("/sites/<siteId>/domains", responses=error_responses({404: "no such site for this owner"}))
@tracer.capture_method
def list_domains(siteId: SiteId) -> DomainList:
    return domains.list_domains(services(), current_owner(app), siteId)


@app.delete(
    "/sites/<siteId>/domains/<hostname>",
    responses={
        204: {"description": "detached: the hostname no longer routes to the site", "content": {}},
        **error_responses({404: "no such site, or the hostname is not one of its domains"}),
    },
)
@tracer.capture_method
def remove_domain(siteId: SiteId, hostname: Annotated[str, Path(min_length=1, max_length=300)]) -> Response[str]:
    domains.remove(services(), current_owner(app), siteId, hostname)
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


prepare_for_snapshot(services)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
