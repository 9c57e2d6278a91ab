"""Following a build: ask the platform at most once per interval, record what it says."""

from __future__ import annotations

import pytest

from sitedeploy.domain.errors import DeploymentNotFound
from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.flows import accept, publish, status
from sitedeploy.platforms.base import BuildState, PlatformError
from sitedeploy.services import Services
from tests.fakes import fake_services
from tests.fakes.platform import FakePlatform
from tests.flows.conftest import OWNER, PLATFORM, request


@pytest.fixture
def building() -> tuple[Services, FakePlatform, str]:
    platform = FakePlatform(builds=True)
    services = fake_services(platform)
    answer = accept.accept(services, PLATFORM, OWNER, request())
    publish.publish(services, answer.deployment_id)
    return services, platform, answer.deployment_id


def test_progress_then_success(building: tuple[Services, FakePlatform, str]) -> None:
    services, platform, deployment_id = building
    platform.build_states.extend(
        [
            BuildState(DeploymentStatus.BUILDING, 75, None, "RUNNING"),
            BuildState(DeploymentStatus.READY, 100, None, "SUCCEED"),
        ]
    )
    first = status.deployment_status(services, OWNER, deployment_id)
    assert (first.status, first.progress) == (DeploymentStatus.BUILDING, 75)
    second = status.deployment_status(services, OWNER, deployment_id)  # within the interval: no new poll
    assert second.progress == 75
    assert len(platform.called("refresh")) == 1
    record = services.stores.deployments.get(deployment_id)
    assert record is not None
    done = status.refresh(services, record, min_interval=0)
    assert done.status is DeploymentStatus.READY
    assert done.local_url is not None
    assert len(platform.called("refresh")) == 2


def test_a_url_settled_as_the_build_ends_is_recorded(building: tuple[Services, FakePlatform, str]) -> None:
    """Vercel knows a production alias only once the deployment is ready: the poll that sees it
    ready records it, on the deployment and on the site."""
    services, platform, deployment_id = building
    platform.build_states.append(
        BuildState(DeploymentStatus.READY, 100, None, "READY", url="https://site-team.vercel.app")
    )
    answer = status.deployment_status(services, OWNER, deployment_id)
    assert answer.status is DeploymentStatus.READY
    assert answer.url == "https://site-team.vercel.app"
    record = services.stores.deployments.get(deployment_id)
    assert record is not None
    site = services.stores.sites.get(record.site_id)
    assert site is not None
    assert site.url == "https://site-team.vercel.app"


def test_a_failed_build_carries_the_platforms_reason(building: tuple[Services, FakePlatform, str]) -> None:
    services, platform, deployment_id = building
    platform.build_states.append(BuildState(DeploymentStatus.ERROR, 100, "BUILD: the zip had no index.html", "FAILED"))
    answer = status.deployment_status(services, OWNER, deployment_id)
    assert answer.status is DeploymentStatus.ERROR
    assert answer.error == "BUILD: the zip had no index.html"


def test_a_failed_poll_answers_from_the_record(building: tuple[Services, FakePlatform, str]) -> None:
    services, platform, deployment_id = building
    platform.fail_next("refresh", PlatformError("GetJob: Rate exceeded (LimitExceededException)"))
    answer = status.deployment_status(services, OWNER, deployment_id)
    assert (answer.status, answer.progress) == (DeploymentStatus.BUILDING, 55)


def test_another_owner_or_platform_or_a_malformed_id_is_not_found(building: tuple[Services, FakePlatform, str]) -> None:
    services, _, deployment_id = building
    with pytest.raises(DeploymentNotFound):
        status.deployment_status(services, "someone-else", deployment_id)
    with pytest.raises(DeploymentNotFound):
        status.deployment_status(services, OWNER, "dpl_../../etc")
    from sitedeploy.domain.models import Platform

    with pytest.raises(DeploymentNotFound):
        status.deployment_status(services, OWNER, deployment_id, platform=Platform.AMPLIFY)


def test_listing_pages_newest_first() -> None:
    services = fake_services(FakePlatform())
    ids = [accept.accept(services, PLATFORM, OWNER, request(chatId="c1")).deployment_id for _ in range(3)]
    first = status.list_deployments(services, OWNER, chat_id="c1", limit=2, cursor=None)
    assert len(first.deployments) == 2
    assert first.next_cursor
    rest = status.list_deployments(services, OWNER, chat_id="c1", limit=2, cursor=first.next_cursor)
    assert sorted(d.deployment_id for d in [*first.deployments, *rest.deployments]) == sorted(ids)
    assert status.list_deployments(services, "other", chat_id=None, limit=5, cursor=None).deployments == []
