"""Synthetic sites for the benchmarks: a realistic mix of text and already-compressed files."""

from __future__ import annotations

import hashlib
import os
import random

from sitedeploy.domain.sitefiles import ManifestEntry, SiteManifest, content_type

KINDS = [(".html", 0.15), (".css", 0.1), (".js", 0.3), (".json", 0.05), (".png", 0.2), (".woff2", 0.05), (".map", 0.15)]


def synthetic_site(files: int, total_bytes: int, *, seed: int = 7) -> dict[str, bytes]:
    """``files`` files adding up to about ``total_bytes``; text is compressible, images are random."""
    rng = random.Random(seed)
    average = max(1, total_bytes // files)
    site: dict[str, bytes] = {"index.html": b"<!doctype html><title>bench</title><h1>bench</h1>"}
    names = [ext for ext, weight in KINDS for _ in range(int(weight * 100))]
    for i in range(files - 1):
        ext = rng.choice(names)
        size = max(16, int(rng.expovariate(1 / average)))
        if ext in {".png", ".woff2"}:
            data = os.urandom(size)
        else:
            word = f"token{i % 97} ".encode()
            data = (word * (size // len(word) + 1))[:size]
        site[f"assets/d{i % 20}/file{i}{ext}"] = data
    return site


def manifest_for(site: dict[str, bytes]) -> SiteManifest:
    return SiteManifest(
        files=[
            ManifestEntry(path=p, sha256=hashlib.sha256(d).hexdigest(), size=len(d), contentType=content_type(p))
            for p, d in sorted(site.items())
        ]
    )
