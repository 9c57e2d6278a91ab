"""A site's routing as Amplify's app-wide settings: the translation, and when two sites may share an app."""

from __future__ import annotations

import yaml

from sitedeploy.platforms.amplify.routing import NOT_FOUND_RULE, SPA_RULE, header_rules, redirect_rules, routing_profile
from sitedeploy.platforms.cloudflare.credentials import CloudflareServicePool


def test_redirects_become_custom_rules_in_order() -> None:
    rules, skipped = redirect_rules(
        "# moved pages\n"
        "/old /new 301\n"
        "/blog/* /news/:splat 302\n"
        "/api/* /index.html 200\n"
        "/users/:id /people/:id\n"
        "/temp /t 307!\n"
        "/search?q=:q /find 301\n"
        "/fr/* /fr/index.html 200 Country=fr\n"
        "/teapot /x 418\n"
    )
    assert rules == [
        {"source": "/old", "target": "/new", "status": "301"},
        {"source": "/blog/<*>", "target": "/news/<*>", "status": "302"},
        {"source": "/api/<*>", "target": "/index.html", "status": "200"},
        {"source": "/users/<id>", "target": "/people/<id>", "status": "301"},
        {"source": "/temp", "target": "/t", "status": "302"},
    ]
    assert skipped == ["/search?q=:q /find 301", "/fr/* /fr/index.html 200 Country=fr", "/teapot /x 418"]


def test_headers_become_patterns_of_any_depth() -> None:
    text = (
        "/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n  ! X-Removed\n/*\n  X-Frame-Options: DENY\n"
    )
    assert header_rules(text) == [
        ("/assets/**", [("Cache-Control", "public, max-age=31536000, immutable")]),
        ("/**", [("X-Frame-Options", "DENY")]),
    ]


def test_the_fallback_comes_last_and_the_yaml_is_amplifys() -> None:
    spa = routing_profile(
        redirects_text="/old /new 301\n", headers_text="/*\n  X-A: 'quoted'\n", spa=None, paths={"index.html"}
    )
    assert spa.custom_rules[-1] == SPA_RULE
    assert yaml.safe_load(spa.custom_headers) == {
        "customHeaders": [{"pattern": "/**", "headers": [{"key": "X-A", "value": "'quoted'"}]}]
    }
    with_404 = routing_profile(redirects_text=None, headers_text=None, spa=None, paths={"index.html", "404.html"})
    assert with_404.custom_rules == [NOT_FOUND_RULE]
    assert with_404.custom_headers == ""


def test_sites_share_an_app_only_with_identical_settings() -> None:
    def key(**kwargs: object) -> str:
        defaults: dict[str, object] = {
            "redirects_text": None,
            "headers_text": None,
            "spa": None,
            "paths": {"index.html"},
        }
        return routing_profile(**{**defaults, **kwargs}).key  # type: ignore[arg-type]

    assert key() == key(paths={"index.html", "about.html"})  # the same routing, whatever the files
    assert key() == key(spa=True)
    assert key() != key(spa=False)
    assert key() != key(paths={"index.html", "404.html"})
    assert key() != key(redirects_text="/a /b 301")
    assert key() != key(headers_text="/*\n  X-A: 1\n")
    assert key(redirects_text="# only a comment\n") == key()


def test_the_cloudflare_pool_takes_both_secret_forms() -> None:
    one = CloudflareServicePool.model_validate({"apiToken": "t", "accountId": "a" * 32, "workerPrefix": "qd"})
    assert [(a.account_id, a.worker_limit) for a in one.accounts] == [("a" * 32, 500)]
    assert one.worker_prefix == "qd"
    many = CloudflareServicePool.model_validate(
        {
            "accounts": [
                {"apiToken": "t", "accountId": "b" * 32, "workerLimit": 100},
                {"apiToken": "u", "accountId": "c" * 32},
            ]
        }
    )
    assert [(a.account_id, a.worker_limit) for a in many.accounts] == [("b" * 32, 100), ("c" * 32, 500)]
    assert many.account("c" * 32) is not None
    assert many.account("d" * 32) is None
