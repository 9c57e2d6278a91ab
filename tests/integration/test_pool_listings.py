"""What the reconciler reads from each platform, against the emulators: the Quick Deploy sites a
pool member holds (only under the service's prefix: the operator's own Workers are never listed),
the Amplify apps the service made, and an app deleted only once Amplify lists no branch in it."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pydantic import SecretStr

from sitedeploy.domain.models import Platform
from sitedeploy.domain.tenancy import PoolMember
from sitedeploy.platforms.base import PlatformError, SiteFile
from sitedeploy.platforms.cloudflare.api import CloudflareApi
from sitedeploy.platforms.cloudflare.assets import AssetsOptions, CloudflarePublisher, CloudflareTarget
from sitedeploy.services import Services
from sitedeploy.settings import Settings
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LocalStack
from tests.conftest import Api
from tests.helpers import deploy, wait_terminal


@pytest.fixture
def services(clean: LocalStack) -> Services:
    return Services.from_settings(Settings.from_env())


def _site(api: Api, platform: str) -> dict[str, Any]:
    answer = deploy(api, platform, {"files": {"index.html": f"<h1>{platform}</h1>"}, "projectName": "listed"})
    final = wait_terminal(api, answer["deploymentId"], timeout=90)
    assert final["status"] == "ready", final
    site = next(s for s in api.get("/sites")[1]["sites"] if s["siteId"] == answer["siteId"])
    return {"final": final, "site": site}


@pytest.mark.parametrize("platform", ["cloudflare", "netlify", "vercel"])
def test_a_pool_account_lists_its_quick_deploy_sites(api: Api, services: Services, platform: str) -> None:
    _site(api, platform)
    hosting = services.platforms.get(Platform(platform))
    [member] = hosting.fixed_members()
    names = [thing.name for thing in hosting.pool_objects(member)]
    ddb = services.stores.tenancy
    [claim] = ddb.claims_in(Platform(platform), member.member_id)
    assert names == [claim.claim.name]
    assert all(thing.updated_at is not None for thing in hosting.pool_objects(member))


def test_the_operators_own_workers_are_never_listed(api: Api, services: Services, stack: LocalStack) -> None:
    _site(api, "cloudflare")
    token = stack.platform_secret()["cloudflare"]["accounts"][0]["apiToken"]
    body = b"<h1>the operator's own</h1>"
    page = SiteFile("index.html", hashlib.sha256(body).hexdigest(), len(body), "text/html")
    CloudflarePublisher(CloudflareApi(SecretStr(token), base_url=stack.cloudflare.api_base)).publish(
        CloudflareTarget(LOCAL_CLOUDFLARE_ACCOUNT, "operators-dispatcher"),
        [page],
        AssetsOptions(),
        lambda _f: iter([body]),
    )
    assert "operators-dispatcher" in stack.cloudflare.scripts(LOCAL_CLOUDFLARE_ACCOUNT)
    hosting = services.platforms.get(Platform.CLOUDFLARE)
    names = [thing.name for thing in hosting.pool_objects(hosting.fixed_members()[0])]
    assert "operators-dispatcher" not in names
    assert len(names) == 1


def test_an_amplify_app_of_the_pool_is_deleted_only_once_it_has_no_branch(api: Api, services: Services) -> None:
    placed = _site(api, "amplify")
    hosting = services.platforms.get(Platform.AMPLIFY)
    app_id = placed["final"]["url"].removeprefix("https://").split(".")[1]
    assert app_id in [app.name for app in hosting.unlisted_members()]
    member = services.stores.tenancy.member(Platform.AMPLIFY, app_id)
    assert isinstance(member, PoolMember)
    [branch] = [thing.name for thing in hosting.pool_objects(member)]
    with pytest.raises(PlatformError, match="still has 1 branch"):
        hosting.remove_member(member)
    assert app_id in [app.name for app in hosting.unlisted_members()]
    assert api.request("DELETE", f"/sites/{placed['site']['siteId']}")[0] == 204
    assert branch not in [thing.name for thing in hosting.pool_objects(member)]
    assert app_id not in [app.name for app in hosting.unlisted_members()]  # emptied: deleted with it
