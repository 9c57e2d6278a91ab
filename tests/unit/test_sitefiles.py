"""Paths, content types and limits: the edge where bad input is refused before any work."""

from __future__ import annotations

import pytest

from sitedeploy.domain.sitefiles import (
    Limits,
    ManifestEntry,
    PathError,
    SiteManifest,
    check_limits,
    content_type,
    is_compressible,
    normalize_path,
    redirect_lines,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("index.html", "index.html"),
        ("/index.html", "index.html"),
        ("/assets/app.js", "assets/app.js"),
        ("a b/c d.txt", "a b/c d.txt"),
        (".well-known/security.txt", ".well-known/security.txt"),
        ("_headers", "_headers"),
        ("ünïcode/名前.html", "ünïcode/名前.html"),
    ],
)
def test_good_paths_normalise(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "non-empty"),
        ("../etc/passwd", "'..'"),
        ("a/../../b", "'..'"),
        ("a/./b", "'.'"),
        ("//etc/passwd", "absolute"),
        ("a//b", "empty segment"),
        ("a\\b", "backslash"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("dir/", "folder"),
        ("C:/windows", "drive"),
        ("x" * 1025, "longer"),
        ("a/" + "y" * 256, "segment longer"),
    ],
)
def test_bad_paths_are_refused_with_the_path_named(raw: str, reason: str) -> None:
    with pytest.raises(PathError) as refused:
        normalize_path(raw)
    assert reason in str(refused.value)
    if raw and len(raw) < 80 and "\x00" not in raw and "\n" not in raw:
        assert repr(raw)[1:-1] in str(refused.value)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("APP.JS", "text/javascript; charset=utf-8"),
        ("logo.png", "image/png"),
        ("icon.svg", "image/svg+xml; charset=utf-8"),
        ("font.woff2", "font/woff2"),
        ("module.wasm", "application/wasm"),
        ("data.json", "application/json"),
        ("README", "application/octet-stream"),
        ("blob.weird-ext", "application/octet-stream"),
    ],
)
def test_content_types(path: str, expected: str) -> None:
    assert content_type(path) == expected


def test_compressibility() -> None:
    assert is_compressible("index.html")
    assert is_compressible("app.js")
    assert not is_compressible("photo.JPG")
    assert not is_compressible("font.woff2")


def test_limits_name_the_offender() -> None:
    check_limits({"a": 10, "b": 20}, Limits(max_files=2, max_file_bytes=20, max_total_bytes=30))
    with pytest.raises(ValueError, match="3 files"):
        check_limits({"a": 1, "b": 1, "c": 1}, Limits(max_files=2))
    with pytest.raises(ValueError, match=r"'big\.bin'"):
        check_limits({"big.bin": 21}, Limits(max_file_bytes=20))
    with pytest.raises(ValueError, match="over the limit of 30"):
        check_limits({"a": 20, "b": 20}, Limits(max_total_bytes=30))


def test_manifest_separates_config_files() -> None:
    entries = [
        ManifestEntry(path=p, sha256="0" * 64, size=1, contentType="text/plain")
        for p in ("index.html", "_headers", "_redirects", "docs/_headers")
    ]
    manifest = SiteManifest(files=entries)
    assert [f.path for f in manifest.served()] == ["index.html", "docs/_headers"]
    assert manifest.config_file("_headers") is not None
    assert manifest.total_bytes == 4


def test_redirect_lines_are_read_once_for_every_platform_that_translates_them() -> None:
    text = (
        "# moved\n"
        "/old /new 301  # trailing comment\n"
        "\n"
        "/spa/* /index.html 200!\n"
        "/plain /target\n"
        "/country /uk 302 Country=gb\n"
        "/lonely\n"
    )
    lines = redirect_lines(text)
    assert [(line.source, line.target, line.status, line.usable) for line in lines] == [
        ("/old", "/new", "301", True),
        ("/spa/*", "/index.html", "200", True),
        ("/plain", "/target", "301", True),
        ("/country", "/uk", "302", False),  # a condition: no translation carries it
        ("/lonely", "", "301", False),
    ]
    assert lines[3].raw == "/country /uk 302 Country=gb"
    assert redirect_lines(None) == []
