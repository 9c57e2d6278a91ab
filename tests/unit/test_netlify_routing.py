"""The routing a Netlify deploy carries: the generated ``_redirects`` (the user's rules, then the
SPA fallback when the site is a single-page app) and ``_headers``."""

from __future__ import annotations

import hashlib

import pytest

from sitedeploy.platforms.base import SiteConfig
from sitedeploy.platforms.netlify.routing import (
    SPA_RULE,
    GeneratedFile,
    headers_file,
    is_valid_site_name,
    redirects_file,
    routing_files,
)

SPA_FILES = frozenset({"index.html", "assets/app.js"})
WITH_404 = frozenset({"index.html", "404.html"})


@pytest.mark.parametrize(
    ("spa", "paths", "expected"),
    [
        (None, SPA_FILES, True),  # an index.html and no 404.html: the files say SPA
        (None, WITH_404, False),  # a 404 page: unknown paths answer it
        (None, frozenset({"about.html"}), False),  # no index.html: not an app
        (True, WITH_404, True),  # the request overrides the files
        (False, SPA_FILES, False),
    ],
)
def test_spa_rule_follows_the_shared_decision(spa: bool | None, paths: frozenset[str], expected: bool) -> None:
    config = SiteConfig(spa=spa)
    assert config.single_page_app(paths) is expected
    generated = redirects_file(config, paths)
    if expected:
        assert generated == (SPA_RULE + "\n").encode()
    else:
        assert generated is None


def test_user_rules_come_first_and_the_spa_fallback_last() -> None:
    text = "/old /new 301\n/api/* https://api.example.com/:splat 200"
    generated = redirects_file(SiteConfig(redirects_text=text), SPA_FILES)
    assert generated == b"/old /new 301\n/api/* https://api.example.com/:splat 200\n/* /index.html 200\n"


def test_user_rules_are_kept_byte_for_byte_without_spa() -> None:
    text = "# moved\n/a  /b  302!\n/blog/:slug /posts/:slug\n"
    assert redirects_file(SiteConfig(redirects_text=text), WITH_404) == text.encode()


def test_non_ascii_rules_are_utf8() -> None:
    text = "/café /caf%C3%A9 301\n"
    assert redirects_file(SiteConfig(redirects_text=text, spa=False), frozenset()) == text.encode("utf-8")


def test_blank_texts_generate_nothing() -> None:
    config = SiteConfig(redirects_text="  \n", headers_text="\n", spa=False)
    assert redirects_file(config, SPA_FILES) is None
    assert headers_file(config) is None
    assert routing_files(config, SPA_FILES) == []


def test_headers_travel_as_given_with_a_final_newline() -> None:
    text = "/*\n  X-Frame-Options: DENY\n/assets/*\n  Cache-Control: public, max-age=31536000"
    assert headers_file(SiteConfig(headers_text=text)) == (text + "\n").encode()


def test_routing_files_carry_their_own_sha1() -> None:
    config = SiteConfig(redirects_text="/a /b", headers_text="/*\n  X-A: 1\n")
    files = routing_files(config, SPA_FILES)
    assert [f.path for f in files] == ["_redirects", "_headers"]
    for generated in files:
        assert generated.sha1 == hashlib.sha1(generated.data).hexdigest()
        assert generated.size == len(generated.data)
    assert files[0].data.endswith(b"/* /index.html 200\n")


def test_same_config_same_bytes() -> None:
    """A redeploy with the same routing sends the same digest, so Netlify asks for nothing."""
    config = SiteConfig(redirects_text="/a /b\n")
    assert routing_files(config, SPA_FILES) == routing_files(config, SPA_FILES)
    assert GeneratedFile("_redirects", b"x").sha1 == GeneratedFile("_redirects", b"x").sha1


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("my-site", True),
        ("a", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("My-Site", False),
        ("-a", False),
        ("a-", False),
        ("a_b", False),
        ("a.b", False),
        ("", False),
    ],
)
def test_site_names_are_dns_labels(name: str, valid: bool) -> None:
    assert is_valid_site_name(name) is valid
