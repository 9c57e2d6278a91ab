"""The Netlify deploy request, user credentials and the service's pool section: what Quick Deploy
drops, what an empty field means, which names are refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sitedeploy.domain.requests import DeployRequest
from sitedeploy.platforms.netlify.credentials import NetlifyServicePool, NetlifyToken
from sitedeploy.platforms.netlify.requests import MAX_FILE_BYTES, NetlifyDeployRequest

FILES = {"index.html": "<p>hi</p>"}


def _request(**fields: Any) -> NetlifyDeployRequest:
    return NetlifyDeployRequest.model_validate({"files": FILES, **fields})


def test_is_a_deploy_request_with_the_user_token_fields() -> None:
    assert issubclass(NetlifyDeployRequest, DeployRequest)
    assert {"token", "accountSlug", "siteId", "projectId"} == NetlifyDeployRequest.USER_TOKEN_FIELDS
    assert _request().max_file_bytes == MAX_FILE_BYTES


def test_quick_deploy_drops_every_user_token_field_unchecked() -> None:
    """The front end sends its connection store with every request: in Quick Deploy nothing of it
    is read, not even to validate it."""
    request = _request(token="secret", accountSlug="not a slug!", siteId="Bad_Name", projectId="other")
    assert request.token is None
    assert request.account_slug is None
    assert request.site is None
    assert request.inline_credentials() is None
    assert "secret" not in request.model_dump_json()


@pytest.mark.parametrize("field", ["token", "accountSlug", "siteId", "projectId"])
def test_an_empty_string_is_not_given(field: str) -> None:
    request = _request(authMode="user-token", **{field: ""})
    assert (
        getattr(
            request, {"accountSlug": "account_slug", "siteId": "site_id", "projectId": "project_id"}.get(field, field)
        )
        is None
    )


def test_user_token_with_a_site_to_update() -> None:
    request = _request(authMode="user-token", token="nfp_abc", accountSlug="my-team", siteId="my-site", projectId="")
    assert request.site == "my-site"
    credentials = request.inline_credentials()
    assert isinstance(credentials, NetlifyToken)
    assert credentials.token.get_secret_value() == "nfp_abc"
    assert credentials.account_slug == "my-team"
    assert credentials.payload() == {"token": "nfp_abc", "accountSlug": "my-team"}


def test_project_id_names_the_site_too() -> None:
    assert _request(authMode="user-token", token="t", projectId="shop").site == "shop"
    assert _request(authMode="user-token", token="t", siteId="shop", projectId="shop").site == "shop"


def test_a_token_without_a_team_is_fine() -> None:
    credentials = _request(authMode="user-token", token="t").inline_credentials()
    assert isinstance(credentials, NetlifyToken)
    assert credentials.account_slug is None
    assert credentials.payload() == {"token": "t"}


def test_without_a_token_the_stored_connection_is_used() -> None:
    assert _request(authMode="user-token", accountSlug="team").inline_credentials() is None


@pytest.mark.parametrize("name", ["Bad_Name", "-lead", "trail-", "a" * 64, "my.site", "UPPER"])
@pytest.mark.parametrize("field", ["siteId", "projectId"])
def test_bad_site_names_are_refused(field: str, name: str) -> None:
    with pytest.raises(ValidationError, match="Netlify site name"):
        _request(authMode="user-token", token="t", **{field: name})


def test_site_id_and_project_id_must_agree() -> None:
    with pytest.raises(ValidationError, match="different sites"):
        _request(authMode="user-token", token="t", siteId="one", projectId="two")


@pytest.mark.parametrize("slug", ["has space", "-lead", "a/b", "x" * 101])
def test_bad_team_slugs_are_refused(slug: str) -> None:
    with pytest.raises(ValidationError):
        _request(authMode="user-token", token="t", accountSlug=slug)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        _request(authMode="user-token", token="t", teamId="x")


def test_stored_credentials_round_trip_and_refuse_extras() -> None:
    token = NetlifyToken.model_validate({"token": "nfp_very_secret", "accountSlug": "team"})
    assert NetlifyToken.model_validate(token.payload()) == token
    assert "nfp_very_secret" not in repr(token)
    assert "nfp_very_secret" not in token.model_dump_json()
    with pytest.raises(ValidationError):
        NetlifyToken.model_validate({"token": "t", "teamId": "x"})
    with pytest.raises(ValidationError):
        NetlifyToken.model_validate({"token": ""})


def test_pool_section_accounts_form() -> None:
    pool = NetlifyServicePool.model_validate(
        {
            "accounts": [
                {"accessToken": "a", "accountSlug": "team-a", "siteLimit": 100},
                {"accessToken": "b", "accountSlug": "team-b"},
            ],
            "sitePrefix": "qd",
        }
    )
    assert pool.site_prefix == "qd"
    assert [a.account_slug for a in pool.accounts] == ["team-a", "team-b"]
    assert [a.site_limit for a in pool.accounts] == [100, 500]
    account = pool.account("team-b")
    assert account is not None
    assert account.access_token.get_secret_value() == "b"
    assert pool.account("team-c") is None


def test_pool_section_one_account_form() -> None:
    pool = NetlifyServicePool.model_validate({"accessToken": "a", "accountSlug": "team-a", "sitePrefix": "x1"})
    assert len(pool.accounts) == 1
    assert pool.site_prefix == "x1"
    assert NetlifyServicePool.model_validate({"accessToken": "a", "accountSlug": "t"}).site_prefix == "sd"


@pytest.mark.parametrize(
    "section",
    [
        {"accounts": []},
        {"accounts": [{"accountSlug": "t"}]},
        {"accounts": [{"accessToken": "a", "accountSlug": "t", "siteLimit": 0}]},
        {"accessToken": "a", "accountSlug": "t", "sitePrefix": "Bad-Prefix"},
        {"accounts": [{"accessToken": "a", "accountSlug": "t"}, {"accessToken": "b", "accountSlug": "t"}]},
    ],
)
def test_malformed_pool_sections_are_refused(section: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        NetlifyServicePool.model_validate(section)
