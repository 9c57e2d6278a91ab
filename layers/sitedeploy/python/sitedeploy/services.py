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


# Where a version's own public URL (a preview's) is served locally.
PreviewUrlLookup = Callable[[Platform, str], str | None]


def no_preview_urls(_platform: Platform, _url: str) -> str | None:
    return None


def _control_lookup(controls: Mapping[str, str]) -> Callable[[Platform, str, dict[str, str]], str | None]:
    import urllib3

    # The stack's machine may be busy with a hundred deploys at once (the emulators' lookups wait
    # for their state's lock): a missed answer leaves a ready deployment without its localUrl for
    # good, so it waits longer than an API call would and asks up to twice more on a reset or timeout.
    retry = urllib3.Retry(total=2, connect=2, read=2, backoff_factor=0.2)
    http = urllib3.PoolManager(retries=retry, timeout=urllib3.Timeout(connect=2.0, read=10.0))

    def ask(platform: Platform, path: str, fields: dict[str, str]) -> str | None:
        base = controls.get(platform.value)
        if not base:
            return None
        try:
            answer = http.request("GET", f"{base}{path}", fields=fields)
            url = json.loads(answer.data).get("url") if answer.status == 200 else None
        except (urllib3.exceptions.HTTPError, ValueError, AttributeError):
            return None
        return str(url) if url else None

    return ask


def local_site_urls(controls: Mapping[str, str]) -> SiteUrlLookup:
    """Ask the local stack's control endpoint (platform → its base URL) where it serves a site."""
    if not controls:
        return no_local_urls
    ask = _control_lookup(controls)
    return lambda platform, address: ask(
        platform, "/site-url", {"account": address.account_id or "", "name": address.name}
    )


def local_preview_urls(controls: Mapping[str, str]) -> PreviewUrlLookup:
    """Ask the local stack's control endpoint where it serves a version's own URL."""
    if not controls:
        return no_preview_urls
    ask = _control_lookup(controls)
    return lambda platform, url: ask(platform, "/preview-url", {"url": url})


@dataclass(frozen=True)
class Services:
    settings: Settings
    stores: Stores
    platforms: PlatformRegistry
    site_urls: SiteUrlLookup = no_local_urls
    preview_urls: PreviewUrlLookup = no_preview_urls

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        stores = Stores.from_settings(settings)
        return cls(
            settings=settings,
            stores=stores,
            platforms=PlatformRegistry.default(settings, stores.service_secret),
            site_urls=local_site_urls(settings.local_control_urls),
            preview_urls=local_preview_urls(settings.local_control_urls),
        )


@cache
def services() -> Services:
    return Services.from_settings(get_settings())
