"""Names the platforms accept, stable per (owner, project)."""

from __future__ import annotations

import pytest

from sitedeploy.domain.naming import DNS_LABEL, derived_name, derived_names, is_valid_label, site_id, slug


@pytest.mark.parametrize(
    ("text", "expected"),
    [("My Cool App!", "my-cool-app"), ("--x--", "x"), ("ÄÖÜ", "site"), ("a__b..c", "a-b-c"), ("", "site")],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected


@pytest.mark.parametrize(
    "project", ["landing", "My Cool App", "x" * 300, "-", "a" * 63, "日本語のサイト", "UPPER_case-Mixed 123"]
)
def test_derived_names_are_valid_and_bounded(project: str) -> None:
    name = derived_name("sd", "user-1", project)
    assert DNS_LABEL.match(name)
    assert len(name) <= 63
    assert name.startswith("sd-")


def test_derived_names_are_stable_and_owner_specific() -> None:
    assert derived_name("sd", "u1", "app") == derived_name("sd", "u1", "app")
    assert derived_name("sd", "u1", "app") != derived_name("sd", "u2", "app")
    assert derived_name("sd", "u1", "app") != derived_name("sd", "u1", "app2")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True),
        ("my-worker", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-a", False),
        ("a-", False),
        ("My-Worker", False),
        ("a_b", False),
        ("", False),
        ("a.b", False),
    ],
)
def test_label_rules(name: str, valid: bool) -> None:
    assert is_valid_label(name) is valid


def test_site_id_is_stable_per_owner_platform_project() -> None:
    assert site_id("u", "cloudflare", "p", "platform-managed") == site_id("u", "cloudflare", "p", "platform-managed")
    assert site_id("u", "cloudflare", "p", "platform-managed") != site_id("u", "amplify", "p", "platform-managed")
    assert site_id("u", "cloudflare", "p", "platform-managed") != site_id("u", "cloudflare", "p", "user-token")
    assert site_id("u", "cloudflare", "p", "platform-managed").startswith("site_")


def test_derived_names_keep_the_readable_name_first_and_differ_after() -> None:
    names = derived_names("sd", "owner", "My Shop")
    assert names[0] == derived_name("sd", "owner", "My Shop")
    assert len(set(names)) == len(names) == 4
    assert all(name.startswith("sd-my-shop-") and DNS_LABEL.match(name) for name in names)
