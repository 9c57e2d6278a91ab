"""The pure parts of the Cloudflare adapter: asset hashes and the not-found rule."""

from __future__ import annotations

import re

from sitedeploy.platforms.cloudflare.assets import asset_hash, not_found_handling

SHA = "ab" * 32


def test_asset_hash_is_32_hex_and_includes_the_extension() -> None:
    css = asset_hash(SHA, "a/style.css")
    assert re.fullmatch(r"[0-9a-f]{32}", css)
    assert asset_hash(SHA, "other/place.css") == css  # same bytes, same extension: uploaded once
    assert asset_hash(SHA, "style.txt") != css  # same bytes, another type: kept apart
    assert asset_hash(SHA, "STYLE.CSS") == css
    assert asset_hash("cd" * 32, "style.css") != css


def test_not_found_handling() -> None:
    assert not_found_handling(["index.html"], None) == "single-page-application"
    assert not_found_handling(["index.html", "404.html"], None) == "404-page"
    assert not_found_handling(["about.html"], None) == "none"
    assert not_found_handling(["index.html", "404.html"], True) == "single-page-application"
    assert not_found_handling(["index.html"], False) == "none"
    assert not_found_handling(["index.html", "404.html"], False) == "404-page"
