"""The hosting platforms the service publishes to, by Platform. A flow asks the registry and never
branches on the platform itself; adding one is a package under ``platforms/`` and a line here.

Each platform is made on first use, so a function imports only the platforms it touches."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator

from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import Platform
from sitedeploy.platforms.base import HostingPlatform
from sitedeploy.settings import Settings
from sitedeploy.stores import SecretSource

PlatformFactory = Callable[[Settings, SecretSource], HostingPlatform]

# Platform → "module:Class" of its implementation (imported when first used).
IMPLEMENTATIONS: dict[Platform, str] = {
    Platform.CLOUDFLARE: "sitedeploy.platforms.cloudflare.platform:CloudflarePlatform",
    Platform.AMPLIFY: "sitedeploy.platforms.amplify.platform:AmplifyPlatform",
    Platform.NETLIFY: "sitedeploy.platforms.netlify.platform:NetlifyPlatform",
    Platform.VERCEL: "sitedeploy.platforms.vercel.platform:VercelPlatform",
}


class UnsupportedPlatform(BadRequest):
    code = "unsupported_platform"


def _load(spec: str) -> PlatformFactory:
    module, _, name = spec.partition(":")
    factory: PlatformFactory = getattr(importlib.import_module(module), name)
    return factory


class PlatformRegistry:
    def __init__(self, factories: dict[Platform, PlatformFactory | str], settings: Settings, secret: SecretSource):
        self._factories = factories
        self._settings = settings
        self._secret = secret
        self._made: dict[Platform, HostingPlatform] = {}
        self._lock = threading.Lock()

    @classmethod
    def default(cls, settings: Settings, secret: SecretSource) -> PlatformRegistry:
        return cls(dict(IMPLEMENTATIONS), settings, secret)

    def __contains__(self, platform: object) -> bool:
        return platform in self._factories

    def __iter__(self) -> Iterator[Platform]:
        return iter(self._factories)

    def get(self, platform: Platform) -> HostingPlatform:
        """The platform's implementation; a 400 ``unsupported_platform`` for one the service lacks."""
        with self._lock:
            made = self._made.get(platform)
            if made is None:
                factory = self._factories.get(platform)
                if factory is None:
                    raise UnsupportedPlatform(f"{platform.value} is not supported")
                made = (_load(factory) if isinstance(factory, str) else factory)(self._settings, self._secret)
                self._made[platform] = made
            return made
