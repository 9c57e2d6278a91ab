"""Flow tests: the service's flows over in-memory fakes (tests/fakes), no moto, no emulators."""

from __future__ import annotations

import pytest

from sitedeploy.domain.models import Platform
from sitedeploy.services import Services
from tests.fakes import fake_services
from tests.fakes.platform import FakeDeployRequest, FakePlatform

OWNER = "owner-1"
SITE = {"/index.html": "<h1>hi</h1>", "/logo.png": {"data": "iVBORw0KGgo=", "encoding": "base64"}}


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def services(platform: FakePlatform) -> Services:
    return fake_services(platform, site_ttl_days=7, history_retention_days=90)


def request(**fields: object) -> FakeDeployRequest:
    body: dict[str, object] = {"files": SITE, "projectName": "site-a", **fields}
    return FakeDeployRequest.model_validate(body)


PLATFORM = Platform.CLOUDFLARE
