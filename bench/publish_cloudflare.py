"""Benchmark: publishing to Cloudflare on the local stack.

Stages a synthetic 1,000-file / 50 MB site in S3 (as /uploads will), writes the pending deployment
and times the real publisher (stream pump → PublisherFunction → emulator) until ``ready``. Then
redeploys with one changed file. Prints a table; asserts nothing about time.

    .venv/bin/python -m bench.publish_cloudflare [--files 1000] [--mb 50]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from bench.synthetic import manifest_for, synthetic_site
from sitedeploy.domain import clock
from sitedeploy.domain.models import AuthMode, DeploymentRecord, DeploymentStatus, Platform
from sitedeploy.domain.naming import derived_name, site_id
from sitedeploy.stores.deployments import DeploymentsRepository, new_deployment_id
from sitedeploy.stores.staging import Staging
from sitedeploy_local.stack import LocalStack, StackOptions

OWNER = "bench-user"


def publish(stack: LocalStack, site: dict[str, bytes], project: str) -> tuple[float, DeploymentRecord]:
    staging = Staging(stack.resource("StagingBucket"), stack.moto.client("s3"))
    repo = DeploymentsRepository(stack.resource("DeploymentsTable"), stack.moto.client("dynamodb"))
    manifest = manifest_for(site)
    missing = staging.missing(OWNER, {f.sha256 for f in manifest.files})
    for entry in manifest.files:
        if entry.sha256 in missing:
            staging.put_blob(OWNER, site[entry.path], entry.sha256)
            missing.discard(entry.sha256)
    deployment_id = new_deployment_id()
    staging.put_manifest(deployment_id, manifest)
    now = clock.now_iso()
    record = DeploymentRecord(
        deployment_id=deployment_id,
        owner_id=OWNER,
        project_name=project,
        site_id=site_id(OWNER, "cloudflare", project),
        platform=Platform.CLOUDFLARE,
        auth_mode=AuthMode.PLATFORM_MANAGED,
        external_name=derived_name("sd", OWNER, project),
        file_count=len(manifest.files),
        total_size_bytes=manifest.total_bytes,
        created_at=now,
        updated_at=now,
    )
    started = time.monotonic()
    repo.create(record)
    while True:
        current = repo.get(deployment_id)
        assert current is not None
        if current.status in {DeploymentStatus.READY, DeploymentStatus.ERROR}:
            return time.monotonic() - started, current
        time.sleep(0.05)


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
                seconds, record = publish(stack, site, "bench-site")
                calls = emulator.requests[before:]
                uploads = [r for r in calls if r.route == "assets-upload"]
                raw_uploaded = len(site["assets/d1/file1.js"]) if change else total
                rows.append(
                    (
                        label,
                        record.status.value,
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
