"""In-memory fakes of everything a flow acts through (``tests/fakes/stores.py``) and a hosting
platform that records calls and fails on cue (``tests/fakes/platform.py``): the flows run with
them in milliseconds, without moto or the emulators."""

from __future__ import annotations

from typing import Any

from sitedeploy.platforms.registry import PlatformRegistry
from sitedeploy.services import Services
from sitedeploy.settings import Settings
from tests.fakes.platform import FakePlatform
from tests.fakes.stores import memory_stores


def fake_services(
    platform: FakePlatform | None = None, *, secret: dict[str, dict[str, Any]] | None = None, **settings: Any
) -> Services:
    """Services over in-memory stores and one fake platform (registered as Cloudflare)."""
    hosting = platform or FakePlatform()
    stores = memory_stores(secret)
    # The publisher does not sit following builds in these tests: they drive builds themselves.
    resolved = Settings(**{"build_follow_seconds": 0.0, **settings})
    registry = PlatformRegistry({hosting.platform: lambda _settings, _secret: hosting}, resolved, stores.service_secret)
    return Services(
        settings=resolved,
        stores=stores,
        platforms=registry,
        site_urls=lambda platform, address: f"http://local.invalid/{platform.value}/{address.name}",
    )
