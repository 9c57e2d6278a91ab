"""``_redirects`` / ``_headers`` as a Vercel deployment's configuration, and the SPA decision."""

from __future__ import annotations

import json

import pytest

from sitedeploy.platforms.base import SiteConfig
from sitedeploy.platforms.vercel.output import config_json
from sitedeploy.platforms.vercel.routing import SPA_REWRITE, header_rules, redirect_rules, vercel_routing


def test_redirects_and_rewrites_keep_their_order_and_statuses() -> None:
    redirects, rewrites, skipped = redirect_rules(
        "# moved pages\n"
        "/old /new\n"
        "/gone /new 301\n"
        "/blog/* /news/:splat 302\n"
        "/see /other 303 # trailing comment\n"
        "/temp /t 307!\n"
        "/perm /p 308\n"
        "/users/:id /people/:id\n"
        "/api/* /index.html 200\n"
        "/app/* /app/index.html 200!\n"
        "/proxy/* https://example.com/:splat 200\n"
        "/out https://example.com/x 301\n"
    )
    assert redirects == [
        {"source": "/old", "destination": "/new", "statusCode": 301},
        {"source": "/gone", "destination": "/new", "statusCode": 301},
        {"source": "/blog/:splat*", "destination": "/news/:splat", "statusCode": 302},
        {"source": "/see", "destination": "/other", "statusCode": 303},
        {"source": "/temp", "destination": "/t", "statusCode": 307},
        {"source": "/perm", "destination": "/p", "statusCode": 308},
        {"source": "/users/:id", "destination": "/people/:id", "statusCode": 301},
        {"source": "/out", "destination": "https://example.com/x", "statusCode": 301},
    ]
    assert rewrites == [
        {"source": "/api/:splat*", "destination": "/index.html"},
        {"source": "/app/:splat*", "destination": "/app/index.html"},
        {"source": "/proxy/:splat*", "destination": "https://example.com/:splat"},
    ]
    assert skipped == []


@pytest.mark.parametrize(
    "line",
    [
        "/missing /404.html 404",  # a custom 404 per path: Vercel has no such rule
        "/teapot /x 418",
        "/fr/* /fr/index.html 200 Country=fr",  # conditions
        "/admin/* /admin 200! Role=admin",
        "/store id=:id /blog/:id 301",  # query matching
        "/search?q=x /find 301",
        "/a*b /c 301",  # a splat not at the end of a segment
        "/a/*/b /c 301",
        "/a/* /b/* 301",  # a star in the destination
        "/(old) /new 301",  # regex characters mean something else to path-to-regexp
        "/x+ /y 301",
        "/lonely",
        "/a /b 301 extra words",
        "/a /b three",
        "https://old.example.com/* https://new.example.com/:splat 301!",  # host matching
    ],
)
def test_lines_without_a_vercel_counterpart_are_skipped(line: str) -> None:
    redirects, rewrites, skipped = redirect_rules(f"/keep /kept 301\n{line}\n")
    assert redirects == [{"source": "/keep", "destination": "/kept", "statusCode": 301}]
    assert rewrites == []
    assert skipped == [line]


def test_headers_become_sources_of_any_depth() -> None:
    headers, skipped = header_rules(
        "# cache\n"
        "/assets/*\n"
        "  Cache-Control: public, max-age=31536000, immutable\n"
        "  ! X-Removed\n"
        "/*\n"
        "  X-Frame-Options: DENY\n"
        "  Content-Security-Policy: default-src 'self'; img-src *\n"
        "/posts/:slug\n"
        "  X-Post: yes\n"
        "/empty\n"
        "  Bad Name: x\n"
        "/(weird)\n"
        "  X-A: b\n"
    )
    assert headers == [
        {
            "source": "/assets/(.*)",
            "headers": [{"key": "Cache-Control", "value": "public, max-age=31536000, immutable"}],
        },
        {
            "source": "/(.*)",
            "headers": [
                {"key": "X-Frame-Options", "value": "DENY"},
                {"key": "Content-Security-Policy", "value": "default-src 'self'; img-src *"},
            ],
        },
        {"source": "/posts/:slug", "headers": [{"key": "X-Post", "value": "yes"}]},
    ]
    assert skipped == ["! X-Removed", "Bad Name: x", "/(weird)", "X-A: b"]


def test_the_spa_fallback_comes_after_the_users_rewrites() -> None:
    routing = vercel_routing(
        redirects_text="/old /new 301\n/api/* /api.html 200\n/x /y 404\n",
        headers_text="/*\n  X-A: b\n",
        spa=True,
        html_handling=None,
    )
    assert routing.clean_urls is True
    assert routing.redirects == ({"source": "/old", "destination": "/new", "statusCode": 301},)
    assert routing.rewrites == ({"source": "/api/:splat*", "destination": "/api.html"}, SPA_REWRITE)
    assert routing.headers == ({"source": "/(.*)", "headers": [{"key": "X-A", "value": "b"}]},)
    assert routing.skipped == ("/x /y 404",)
    # The Build Output routes, in routing-utils' order: clean URLs, redirects, headers, the
    # filesystem, then the rewrites, the SPA fallback last.
    routes = json.loads(config_json(routing, ["index.html", "api.html"]))["routes"]
    kinds = [
        "clean"
        if r.get("status") == 308
        else r.get("handle")
        or ("redirect" if "status" in r else None)
        or ("header" if r.get("continue") else "rewrite")
        for r in routes
    ]
    assert kinds == ["clean", "clean", "redirect", "header", "filesystem", "rewrite", "rewrite"]
    assert routes[2] == {"src": "^\\/old$", "headers": {"Location": "/new"}, "status": 301}
    assert routes[5] == {
        "src": "^\\/api(?:\\/((?:[^\\/#\\?]+?)(?:\\/(?:[^\\/#\\?]+?))*))?$",
        "dest": "/api.html",
        "check": True,
    }
    assert routes[-1] == {"src": "^(?:\\/(.*))$", "dest": "/index.html", "check": True}


def test_a_site_without_routing_has_only_clean_urls_and_its_404_page() -> None:
    routing = vercel_routing(redirects_text=None, headers_text=None, spa=False, html_handling=None)
    config = json.loads(config_json(routing, ["index.html", "about.html", "docs/index.html", "404.html"]))
    assert config["version"] == 3
    assert [r.get("handle") for r in config["routes"]] == [None, None, "filesystem", "error", None]
    assert config["routes"][-1] == {"status": 404, "src": "^/(.*)$", "dest": "/404.html"}
    assert config["overrides"] == {"about.html": {"path": "about"}}
    assert routing.skipped == ()


@pytest.mark.parametrize(
    ("handling", "clean", "trailing"),
    [
        (None, True, None),
        ("auto-trailing-slash", True, None),
        ("force-trailing-slash", True, True),
        ("drop-trailing-slash", True, False),
        ("none", False, None),
    ],
)
def test_html_handling_is_clean_urls_and_trailing_slash(
    handling: str | None, clean: bool, trailing: bool | None
) -> None:
    routing = vercel_routing(redirects_text=None, headers_text=None, spa=False, html_handling=handling)
    assert routing.clean_urls is clean
    assert routing.trailing_slash is trailing


@pytest.mark.parametrize(
    ("spa", "paths", "expected"),
    [
        (None, {"index.html", "a.css"}, True),  # an index.html and no 404.html: an SPA
        (None, {"index.html", "404.html"}, False),  # a 404 page: Vercel serves it for unknown paths
        (None, {"about.html"}, False),  # no index.html
        (True, {"about.html", "404.html"}, True),  # the request decides
        (False, {"index.html"}, False),
    ],
)
def test_the_spa_decision_is_the_shared_one(spa: bool | None, paths: set[str], expected: bool) -> None:
    decided = SiteConfig(spa=spa).single_page_app(frozenset(paths))
    assert decided is expected
    rewrites = vercel_routing(redirects_text=None, headers_text=None, spa=decided, html_handling=None).rewrites
    assert (SPA_REWRITE in rewrites) is expected
