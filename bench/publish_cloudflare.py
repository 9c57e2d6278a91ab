"""Benchmark: publishing to Cloudflare on the local stack.

Stages a synthetic 1,000-file / 50 MB site in S3 (as /uploads will), deploys it by manifest and
times the real publisher (stream pump → PublisherFunction → emulator) until ``ready``. Then
redeploys with one changed file. Prints a table; asserts nothing about time.

    .venv/bin/python -m bench.publish_cloudflare [--files 1000] [--mb 50]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path

from bench.stage import publish as stage_publish
from bench.stage import stage
from bench.synthetic import synthetic_site
from sitedeploy.domain.models import Platform
from sitedeploy_local.stack import LocalStack, StackOptions


def publish(stack: LocalStack, site: dict[str, bytes], project: str) -> tuple[float, str]:
    """Stage what is missing, deploy by manifest, follow to the end: (seconds, final status)."""
    stage(stack, site)
    outcome = stage_publish(stack, site, project, Platform.CLOUDFLARE)
    return outcome.seconds, outcome.status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=float, default=50)
    args = parser.parse_args()
    site = synthetic_site(args.files, int(args.mb * 1024 * 1024))
    total = sum(len(d) for d in site.values())
    with tempfile.TemporaryDirectory() as state:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False)).start()
        try:
            emulator = stack.cloudflare
            rows = []
            for label, change in (("first deploy", False), ("redeploy, 1 file changed", True)):
                if change:
                    site["assets/d1/file1.js"] = b"changed " + os.urandom(4096)
                before = len(emulator.requests)
                seconds, status = publish(stack, site, "bench-site")
                calls = emulator.requests[before:]
                uploads = [r for r in calls if r.route == "assets-upload"]
                raw_uploaded = len(site["assets/d1/file1.js"]) if change else total
                rows.append(
                    (
                        label,
                        status,
                        seconds,
                        len(calls),
                        len(uploads),
                        sum(r.bytes_in for r in uploads),
                        sum(len(r.hashes) for r in uploads),
                        raw_uploaded,
                    )
                )
        finally:
            stack.stop()
    print(
        f"\nsite: {len(site)} files, {total / 1024 / 1024:.1f} MiB "
        f"(sha256 of the changed file: {hashlib.sha256(site['assets/d1/file1.js']).hexdigest()[:12]})"
    )
    print(
        f"{'run':<26} {'status':<7} {'seconds':>8} {'MiB/s':>7} {'API calls':>9} {'uploads':>7} "
        f"{'hashes up':>9} {'wire bytes up':>14} {'raw bytes':>10}"
    )
    for label, status, seconds, n_calls, n_uploads, wire, hashes, raw in rows:
        rate = total / 1024 / 1024 / seconds if label == "first deploy" else float("nan")
        print(
            f"{label:<26} {status:<7} {seconds:>8.2f} {rate:>7.1f} {n_calls:>9} {n_uploads:>7} {hashes:>9} "
            f"{wire:>14} {raw:>10}"
        )


if __name__ == "__main__":
    main()
