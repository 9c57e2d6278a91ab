"""Publishing: claim once, hand the platform verified bytes, record every outcome."""

from __future__ import annotations

import hashlib

import pytest

from sitedeploy.domain.models import DeploymentStatus
from sitedeploy.flows import accept, publish
from sitedeploy.platforms.base import PlatformError
from sitedeploy.services import Services
from tests.fakes.platform import FakeCredentials, FakePlatform
from tests.fakes.stores import InMemoryStaging
from tests.flows.conftest import OWNER, PLATFORM, SITE, request


def test_a_pending_deployment_is_published_and_ready(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.READY
    assert done.progress == 100
    assert done.url == answer.url
    assert done.local_url == f"http://local.invalid/cloudflare/{done.external_name}"
    assert done.started_at is not None
    assert platform.published[answer.deployment_id] == {"index.html": b"<h1>hi</h1>", "logo.png": b"\x89PNG\r\n\x1a\n"}
    assert platform.called("publish")[0].args["credentials"] is None  # the service's own account
    site = services.stores.sites.get(answer.site_id)
    assert site is not None
    assert site.url == done.url


def test_a_redelivered_stream_record_publishes_nothing_twice(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    assert publish.publish(services, answer.deployment_id) is not None
    assert publish.publish(services, answer.deployment_id) is None
    assert len(platform.called("publish")) == 1


def test_the_platforms_refusal_ends_the_deployment_with_its_words(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request(authMode="user-token", token="t", accountId="a"))
    platform.fail_next("publish", PlatformError("uploading assets failed: quota exceeded (code 10037)"))
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.ERROR
    assert done.error == "uploading assets failed: quota exceeded (code 10037)"
    assert done.sealed_credentials is None  # a finished deployment keeps no credentials


def test_an_unexpected_failure_is_an_internal_error_not_a_leak(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    platform.fail_next("publish", RuntimeError("secret-ish internals"))
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.error == "internal error while publishing (RuntimeError)"


def test_a_corrupted_staged_blob_is_never_published(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    staging = services.stores.staging
    assert isinstance(staging, InMemoryStaging)
    entry = staging.get_manifest(answer.deployment_id).files[0]
    staging.blobs[(OWNER, entry.sha256)] = b"tampered"
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.ERROR
    assert "does not match its sha256" in (done.error or "")
    assert answer.deployment_id not in platform.published


def test_the_user_credentials_reach_the_platform_typed(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request(authMode="user-token", token="tok-1", accountId="a1"))
    publish.publish(services, answer.deployment_id)
    sent = platform.called("publish")[0].args["credentials"]
    assert isinstance(sent, FakeCredentials)
    assert sent.token.get_secret_value() == "tok-1"
    assert sent.account_id == "a1"


def test_a_deployment_ended_elsewhere_mid_publish_stays_ended(services: Services, platform: FakePlatform) -> None:
    answer = accept.accept(services, PLATFORM, OWNER, request())
    original = platform.publish

    def publish_while_swept(job: object, credentials: object) -> object:
        services.stores.deployments.fail(answer.deployment_id, "timed out")
        return original(job, credentials)  # type: ignore[arg-type]

    platform.publish = publish_while_swept  # type: ignore[method-assign,assignment]
    assert publish.publish(services, answer.deployment_id) is None
    record = services.stores.deployments.get(answer.deployment_id)
    assert record is not None
    assert record.status is DeploymentStatus.ERROR
    assert record.error == "timed out"


@pytest.mark.parametrize("builds", [True])
def test_a_platform_that_builds_leaves_it_building(builds: bool) -> None:
    from tests.fakes import fake_services

    platform = FakePlatform(builds=builds)
    services = fake_services(platform)
    answer = accept.accept(services, PLATFORM, OWNER, request())
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.BUILDING
    assert done.progress == 55
    assert done.external_id == "job-1"
    assert done.local_url is None  # not served until the build succeeds


def test_sha1_digests_are_computed_once_per_content_and_remembered_per_site(
    services: Services, platform: FakePlatform
) -> None:
    """Netlify and Vercel address files by SHA-1: a redeploy reads only content new to the site."""
    platform.wants_sha1 = True
    first = accept.accept(services, PLATFORM, OWNER, request())
    publish.publish(services, first.deployment_id)
    assert platform.sha1s[first.deployment_id] == {
        "index.html": hashlib.sha1(b"<h1>hi</h1>").hexdigest(),
        "logo.png": hashlib.sha1(b"\x89PNG\r\n\x1a\n").hexdigest(),
    }
    # Every content is new to the site: each handed on with its bytes, for an early upload.
    assert sorted(platform.fresh[first.deployment_id]) == sorted(
        (hashlib.sha1(data).hexdigest(), data) for data in (b"<h1>hi</h1>", b"\x89PNG\r\n\x1a\n")
    )
    staging = services.stores.staging
    assert isinstance(staging, InMemoryStaging)
    (remembered,) = staging.digests.values()
    assert sorted(remembered.values()) == sorted(platform.sha1s[first.deployment_id].values())
    # Plant a marker for the unchanged file: a redeploy that recomputed it would not hand it on.
    logo = hashlib.sha256(b"\x89PNG\r\n\x1a\n").hexdigest()
    remembered[logo] = "f" * 40
    (key,) = staging.digests
    staging.digests[key] = remembered
    second = accept.accept(services, PLATFORM, OWNER, request(files={**SITE, "/index.html": "<h1>v2</h1>"}))
    publish.publish(services, second.deployment_id)
    assert platform.sha1s[second.deployment_id] == {
        "index.html": hashlib.sha1(b"<h1>v2</h1>").hexdigest(),
        "logo.png": "f" * 40,
    }
    assert platform.fresh[second.deployment_id] == [(hashlib.sha1(b"<h1>v2</h1>").hexdigest(), b"<h1>v2</h1>")]
    # Only the site's current files stay remembered.
    assert set(staging.digests[key]) == {logo, hashlib.sha256(b"<h1>v2</h1>").hexdigest()}


def test_a_corrupted_blob_never_gets_a_remembered_digest(services: Services, platform: FakePlatform) -> None:
    platform.wants_sha1 = True
    answer = accept.accept(services, PLATFORM, OWNER, request())
    staging = services.stores.staging
    assert isinstance(staging, InMemoryStaging)
    for key in list(staging.blobs):
        if staging.blobs[key] == b"<h1>hi</h1>":
            staging.blobs[key] = b"<h1>tampered</h1>"
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.ERROR
    assert "index.html" in (done.error or "")
    # Nothing is remembered for the tampered content; the intact logo may be, the failure came first.
    tampered = hashlib.sha256(b"<h1>hi</h1>").hexdigest()
    assert all(tampered not in d for d in staging.digests.values())
    assert staging.digests == {} or all(
        set(d) <= {hashlib.sha256(b"\x89PNG\r\n\x1a\n").hexdigest()} for d in staging.digests.values()
    )


def test_an_unreadable_or_unwritable_digest_memory_never_fails_a_deployment(
    services: Services, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform.wants_sha1 = True
    staging = services.stores.staging
    assert isinstance(staging, InMemoryStaging)

    def broken(*_: object) -> None:
        raise OSError("the bucket is having a moment")

    monkeypatch.setattr(staging, "get_digests", broken)
    monkeypatch.setattr(staging, "put_digests", broken)
    answer = accept.accept(services, PLATFORM, OWNER, request())
    done = publish.publish(services, answer.deployment_id)
    assert done is not None
    assert done.status is DeploymentStatus.READY
    assert platform.sha1s[answer.deployment_id]["index.html"] == hashlib.sha1(b"<h1>hi</h1>").hexdigest()
