"""The sweeper: nothing stays in flight forever."""

from __future__ import annotations

from datetime import timedelta

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.flows import accept, publish, sweep
from sitedeploy.platforms.base import BuildState
from tests.fakes import fake_services
from tests.fakes.platform import FakePlatform
from tests.fakes.stores import InMemoryDeployments
from tests.flows.conftest import OWNER, PLATFORM, request


def test_stuck_deployments_time_out_builds_are_followed_and_fresh_ones_are_left_alone() -> None:
    platform = FakePlatform(builds=True)
    services = fake_services(platform, stuck_deployment_minutes=20)
    deployments = services.stores.deployments
    assert isinstance(deployments, InMemoryDeployments)
    stuck_pending = accept.accept(services, PLATFORM, OWNER, request(projectName="a")).deployment_id
    stuck_uploading = accept.accept(services, PLATFORM, OWNER, request(projectName="b")).deployment_id
    deployments.claim(stuck_uploading)
    fresh = accept.accept(services, PLATFORM, OWNER, request(projectName="c")).deployment_id
    built = accept.accept(services, PLATFORM, OWNER, request(projectName="d")).deployment_id
    publish.publish(services, built)
    deployments.age(stuck_pending, minutes=30)
    deployments.age(stuck_uploading, minutes=30)
    deployments.age(built, minutes=1)  # building a while: the sweeper asks about builds updated before now
    platform.build_states.append(BuildState(DeploymentStatus.READY, 100, None, "SUCCEED"))

    report = sweep.sweep(services)

    assert sorted(report.timed_out) == sorted([stuck_pending, stuck_uploading])
    assert report.polled == [built]
    assert report.finished == [built]
    for deployment_id in (stuck_pending, stuck_uploading):
        record = deployments.get(deployment_id)
        assert record is not None
        assert record.status is DeploymentStatus.ERROR
        assert record.error is not None
        assert record.error.startswith("timed out: no progress for 20 minutes")
    fresh_record = deployments.get(fresh)
    assert fresh_record is not None
    assert fresh_record.status is DeploymentStatus.PENDING


def test_a_build_that_outlives_any_plausible_build_ends() -> None:
    platform = FakePlatform(builds=True)
    services = fake_services(platform)
    deployments = services.stores.deployments
    assert isinstance(deployments, InMemoryDeployments)
    built = accept.accept(services, PLATFORM, OWNER, request()).deployment_id
    publish.publish(services, built)
    deployments.age(built, minutes=3 * 60)
    platform.build_states.append(BuildState(DeploymentStatus.BUILDING, 80, None, "RUNNING"))
    report = sweep.sweep(services, stuck_after=timedelta(minutes=20))
    assert report.timed_out == [built]
    record = deployments.get(built)
    assert record is not None
    assert record.error == "timed out: the platform's build did not finish"
