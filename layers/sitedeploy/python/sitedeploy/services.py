"""Everything a flow acts through, built once per execution environment: the settings, the stores,
the platforms, and where the local stack serves a deployed site (absent in AWS).

Handlers call ``services()``; tests build a ``Services`` from fakes instead."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from sitedeploy.domain.models import Platform, SiteAddress
from sitedeploy.platforms.registry import PlatformRegistry
from sitedeploy.settings import Settings, get_settings
from sitedeploy.stores import Stores

# Where a site is served for a person to open: the local stack's emulators answer, AWS has none.
SiteUrlLookup = Callable[[Platform, SiteAddress], str | None]


def no_local_urls(_platform: Platform, _address: SiteAddress) -> str | None:
    return None


def local_site_urls(controls: Mapping[str, str]) -> SiteUrlLookup:
    """Ask the local stack's control endpoint (platform → its base URL) where it serves a site."""
    if not controls:
        return no_local_urls
    import urllib3

    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1.0, read=2.0))

    def lookup(platform: Platform, address: SiteAddress) -> str | None:
        base = controls.get(platform.value)
        if not base:
            return None
        try:
            answer = http.request(
                "GET", f"{base}/site-url", fields={"account": address.account_id or "", "name": address.name}
            )
            url = json.loads(answer.data).get("url") if answer.status == 200 else None
        except (urllib3.exceptions.HTTPError, ValueError, AttributeError):
            return None
        return str(url) if url else None

    return lookup


@dataclass(frozen=True)
class Services:
    settings: Settings
    stores: Stores
    platforms: PlatformRegistry
    site_urls: SiteUrlLookup = no_local_urls

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        stores = Stores.from_settings(settings)
        return cls(
            settings=settings,
            stores=stores,
            platforms=PlatformRegistry.default(settings, stores.service_secret),
            site_urls=local_site_urls(settings.local_control_urls),
        )


@cache
def services() -> Services:
    return Services.from_settings(get_settings())
