"""NetlifyPlatform's decisions that need no network: plans, pool members, URLs, limits."""

from __future__ import annotations

from typing import Any

import pytest

from sitedeploy.domain.errors import BadRequest
from sitedeploy.domain.models import Platform, SiteAddress
from sitedeploy.domain.naming import derived_names
from sitedeploy.platforms.base import SiteConfig
from sitedeploy.platforms.netlify.credentials import NetlifyToken
from sitedeploy.platforms.netlify.platform import NetlifyPlatform
from sitedeploy.platforms.netlify.requests import NetlifyDeployRequest
from sitedeploy.settings import Settings
from sitedeploy.stores.secrets import CredentialsError
from tests.fakes.stores import FakeServiceSecret

POOL = {
    "accounts": [
        {"accessToken": "svc-a", "accountSlug": "team-a", "siteLimit": 3},
        {"accessToken": "svc-b", "accountSlug": "team-b"},
    ],
    "sitePrefix": "qd",
}


def _platform(section: dict[str, Any] | None = POOL) -> NetlifyPlatform:
    return NetlifyPlatform(Settings(), FakeServiceSecret({"netlify": section} if section is not None else {}))


def _request(**fields: Any) -> NetlifyDeployRequest:
    return NetlifyDeployRequest.model_validate({"files": {"index.html": "x"}, "projectName": "My App", **fields})


def test_identity() -> None:
    platform = _platform()
    assert platform.platform is Platform.NETLIFY
    assert platform.credentials_model is NetlifyToken
    assert platform.request_model is NetlifyDeployRequest
    assert platform.limits.max_files == 20_000
    assert platform.limits.max_file_bytes == 100 * 1024 * 1024


def test_quick_deploy_plan_uses_the_pool_prefix() -> None:
    plan = _platform().plan("owner-1", _request(), None, SiteConfig(), frozenset({"index.html"}))
    assert plan.pooled
    assert plan.names == tuple(derived_names("qd", "owner-1", "My App"))
    assert not plan.explicit_name


def test_quick_deploy_without_credentials_is_a_400() -> None:
    with pytest.raises(BadRequest, match="not available") as refused:
        _platform(None).plan("o", _request(), None, SiteConfig(), frozenset())
    assert refused.value.code == "platform_not_configured"
    assert not _platform(None).quick_deploy_available()
    assert _platform(None).fixed_members() == []


def test_a_malformed_section_is_a_credentials_error_naming_the_field() -> None:
    platform = _platform({"accounts": [{"accountSlug": "t"}]})
    with pytest.raises(CredentialsError, match=r"netlify\.accounts\.0\.accessToken"):
        platform.service_pool()
    assert not platform.quick_deploy_available()
    with pytest.raises(BadRequest):
        platform.plan("o", _request(), None, SiteConfig(), frozenset())


def test_user_plans() -> None:
    platform = _platform()
    credentials = NetlifyToken.model_validate({"token": "t", "accountSlug": "mine"})
    derived = platform.plan("o", _request(authMode="user-token"), credentials, SiteConfig(), frozenset())
    assert not derived.pooled
    assert derived.account_id == "mine"
    assert derived.names == tuple(derived_names("sd", "o", "My App", salt="user-token"))
    named = platform.plan(
        "o", _request(authMode="user-token", siteId="my-shop"), credentials, SiteConfig(), frozenset()
    )
    assert named.names == ("my-shop",)
    assert named.explicit_name
    personal = NetlifyToken.model_validate({"token": "t"})
    assert platform.plan("o", _request(authMode="user-token"), personal, SiteConfig(), frozenset()).account_id is None


def test_pool_members_are_the_teams() -> None:
    platform = _platform()
    members = platform.fixed_members()
    assert [(m.member_id, m.capacity) for m in members] == [("team-a", 3), ("team-b", 500)]
    assert all(m.platform is Platform.NETLIFY for m in members)
    assert platform.pool_limit() == 0
    assert platform.quick_deploy_available()


def test_site_url_is_known_before_publishing() -> None:
    url = _platform().site_url(SiteAddress(account_id="team-a", name="qd-my-app-abcdefgh"), None)
    assert url == "https://qd-my-app-abcdefgh.netlify.app"


def test_acting_credentials() -> None:
    platform = _platform()
    token, slug = platform._acting(None, "team-b")
    assert (token.get_secret_value(), slug) == ("svc-b", "team-b")
    token, slug = platform._acting(None, None)
    assert (token.get_secret_value(), slug) == ("svc-a", "team-a")
    with pytest.raises(CredentialsError, match="team-c"):
        platform._acting(None, "team-c")
    user = NetlifyToken.model_validate({"token": "u"})
    token, slug = platform._acting(user, None)
    assert (token.get_secret_value(), slug) == ("u", None)


def test_quick_deploy_and_the_users_own_team_never_derive_the_same_name() -> None:
    """Netlify's names are global: with the same prefix, one project in both modes would collide
    with itself and the second deploy would find its name taken for good."""
    platform = _platform({**POOL, "sitePrefix": "sd"})
    token = NetlifyToken.model_validate({"token": "user-token", "accountSlug": "mine"})
    quick = platform.plan("owner-1", _request(), None, SiteConfig(), frozenset())
    own = platform.plan("owner-1", _request(), token, SiteConfig(), frozenset())
    assert not set(quick.names) & set(own.names)
    assert own.names[0].startswith("sd-my-app-")  # still readable
    assert len(set(own.names)) == len(own.names)
