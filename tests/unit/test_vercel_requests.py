"""Vercel's deploy request, user credentials and the service pool section."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sitedeploy.platforms.vercel.credentials import PERSONAL, VercelServicePool, VercelToken
from sitedeploy.platforms.vercel.requests import VercelDeployRequest

FILES = {"index.html": "<h1>hi</h1>"}


def _request(**fields: Any) -> VercelDeployRequest:
    return VercelDeployRequest.model_validate({"files": FILES, **fields})


def test_quick_deploy_drops_every_user_token_field_whatever_it_holds() -> None:
    request = _request(authMode="platform-managed", token="secret", teamId="!!bad!!", projectId="NOT VALID")
    assert request.token is None
    assert request.team_id is None
    assert request.project_id is None
    assert request.inline_credentials() is None


def test_empty_strings_are_not_given() -> None:
    request = _request(authMode="user-token", token="", teamId="", projectId="")
    assert (request.token, request.team_id, request.project_id) == (None, None, None)
    assert request.inline_credentials() is None


def test_inline_credentials_with_and_without_a_team() -> None:
    personal = _request(authMode="user-token", token="s3cr3t-tok")
    creds = personal.inline_credentials()
    assert isinstance(creds, VercelToken)
    assert creds.team_id is None
    assert creds.payload() == {"token": "s3cr3t-tok"}
    team = _request(authMode="user-token", token="s3cr3t-tok", teamId="team_abc", projectId="my-site")
    creds = team.inline_credentials()
    assert creds is not None
    assert creds.payload() == {"token": "s3cr3t-tok", "teamId": "team_abc"}
    assert team.project_id == "my-site"
    assert "s3cr3t" not in repr(creds)


@pytest.mark.parametrize("name", ["my-site", "a", "my.site_2", "x" * 100])
def test_project_names_vercel_accepts(name: str) -> None:
    assert _request(authMode="user-token", token="t", projectId=name).project_id == name


@pytest.mark.parametrize("name", ["My-Site", "a---b", "x" * 101, "a b", "a/b", ".", "..", "..."])
def test_project_names_vercel_refuses(name: str) -> None:
    with pytest.raises(ValidationError, match="projectId"):
        _request(authMode="user-token", token="t", projectId=name)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        _request(authMode="user-token", token="t", accountId="x")


def test_user_credentials_model() -> None:
    assert VercelToken.model_validate({"token": "t", "teamId": ""}).team_id is None
    with pytest.raises(ValidationError):
        VercelToken.model_validate({"token": "", "teamId": "team_1"})
    with pytest.raises(ValidationError):
        VercelToken.model_validate({"token": "t", "accountSlug": "x"})


def test_the_service_pool_section_both_forms() -> None:
    pool = VercelServicePool.model_validate(
        {
            "accounts": [
                {"token": "a", "teamId": "team_1", "projectLimit": 50},
                {"token": "b", "teamId": None},
            ],
            "projectPrefix": "qd",
        }
    )
    assert [a.id for a in pool.accounts] == ["team_1", PERSONAL]
    assert pool.accounts[0].project_limit == 50
    assert pool.accounts[1].project_limit == 200
    assert pool.project_prefix == "qd"
    personal = pool.account(PERSONAL)
    assert personal is not None
    assert personal.team_id is None
    one = VercelServicePool.model_validate({"token": "a", "teamId": "", "projectPrefix": "x"})
    assert [(a.id, a.team_id) for a in one.accounts] == [(PERSONAL, None)]
    assert one.project_prefix == "x"


def test_two_personal_accounts_need_member_ids() -> None:
    with pytest.raises(ValidationError, match="memberId"):
        VercelServicePool.model_validate({"accounts": [{"token": "a"}, {"token": "b"}]})
    pool = VercelServicePool.model_validate({"accounts": [{"token": "a"}, {"token": "b", "memberId": "second"}]})
    assert [a.id for a in pool.accounts] == [PERSONAL, "second"]
