"""A site as its owner names it in a route: another owner's site, or none, is the same 404, so a
caller learns nothing about sites that are not theirs."""

from __future__ import annotations

from sitedeploy.domain.errors import NotFound
from sitedeploy.domain.models import SiteRecord
from sitedeploy.services import Services


def owned_site(services: Services, owner_id: str, site_id: str) -> SiteRecord:
    site = services.stores.sites.get_for_owner(site_id[:64], owner_id)
    if site is None:
        raise NotFound(f"site {site_id[:64]} not found", code="site_not_found")
    return site
