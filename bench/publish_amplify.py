"""Benchmark: publishing to Amplify on the local stack.

1. zip and upload throughput for a 1,000-file / 50 MB site (the adapter's two phases, timed apart);
2. the publisher's peak memory (VmHWM of its execution environment) for a 50 MB and a 500 MB site:
   the zip is spooled to /tmp and blobs are streamed, so the peak should not grow with the site;
3. time to ``ready`` through the status endpoint (which polls the job).

    .venv/bin/python -m bench.publish_amplify [--big-mb 500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.stage import OWNER, peak_rss_mib, publish, stage
from bench.synthetic import manifest_for, synthetic_site
from sitedeploy.domain.models import Platform
from sitedeploy.platforms.amplify.client import amplify_client
from sitedeploy.platforms.amplify.credentials import AmplifyAccess
from sitedeploy.platforms.amplify.publisher import AmplifyPublisher, build_zip
from sitedeploy.platforms.base import SiteFile
from sitedeploy.stores.staging import Staging
from sitedeploy_local.stack import LocalStack, StackOptions

MIB = 1024 * 1024
# Time to ready measured by this benchmark before the speed work of issue #13 (same machine type):
# printed beside today's figures, so that a change that slows Amplify down shows.
BEFORE_SECONDS = {"50 MiB": 8.0, "500 MiB": 13.9}


def zip_and_upload(stack: LocalStack, site: dict[str, bytes]) -> tuple[float, float, int]:
    """Time building the zip from staged blobs, and the PUT of it, using the adapter's own code."""
    staging = Staging(stack.resource("StagingBucket"), stack.moto.client("s3"))
    files = [SiteFile(f.path, f.sha256, f.size, f.content_type) for f in manifest_for(site).files]
    started = time.monotonic()
    body, size = build_zip(files, lambda f: staging.iter_blob(OWNER, f.sha256))
    zipped = time.monotonic() - started
    client = amplify_client(AmplifyAccess("us-east-1"))
    publisher = AmplifyPublisher(client)
    app = stack.amplify.create_app_directly(f"bench-{os.getpid()}")
    client.create_branch(appId=app, branchName="bench", enableAutoBuild=False)
    created = client.create_deployment(appId=app, branchName="bench")
    started = time.monotonic()
    publisher.upload_zip(created["zipUploadUrl"], body, size)
    uploaded = time.monotonic() - started
    body.close()
    return zipped, uploaded, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-mb", type=float, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False)).start()
        os.environ.update(stack.moto.environment)
        os.environ["AWS_ENDPOINT_URL_AMPLIFY"] = stack.amplify.endpoint_url
        try:
            small = synthetic_site(1000, 50 * MIB)
            stage(stack, small)
            zipped, uploaded, size = zip_and_upload(stack, small)
            total = sum(len(d) for d in small.values())
            print(f"\nzip + upload, {len(small)} files, {total / MIB:.1f} MiB of content -> {size / MIB:.1f} MiB zip")
            print(f"  {'phase':<10} {'seconds':>8} {'MiB/s':>8}")
            print(f"  {'zip':<10} {zipped:>8.2f} {total / MIB / zipped:>8.1f}")
            print(f"  {'upload':<10} {uploaded:>8.2f} {size / MIB / uploaded:>8.1f}")

            host = stack.hosts["PublisherFunction"]
            rows = []
            for label, given in (("50 MiB", small), (f"{args.big_mb:.0f} MiB", None)):
                site = given if given is not None else synthetic_site(2000, int(args.big_mb * MIB), seed=11)
                if given is None:
                    stage(stack, site)
                host.kill_all()
                host.warm()  # a fresh execution environment: its peak RSS is this deployment's
                pid = host._all[0].process.pid
                baseline = peak_rss_mib(pid)
                outcome = publish(stack, site, f"bench-{label.split()[0]}", Platform.AMPLIFY)
                rows.append((label, len(site), outcome.status, outcome.seconds, baseline, peak_rss_mib(pid)))
            print("\npublisher peak memory and time to ready (through the status endpoint)")
            print(
                f"  {'site':<9} {'files':>6} {'status':<7} {'to ready s':>10} {'before s':>9} "
                f"{'RSS idle MiB':>13} {'RSS peak MiB':>13}"
            )
            for label, files, status, seconds, idle, peak in rows:
                before = BEFORE_SECONDS.get(label)
                was = f"{before:>9.1f}" if before is not None else f"{'-':>9}"
                print(f"  {label:<9} {files:>6} {status:<7} {seconds:>10.2f} {was} {idle:>13.1f} {peak:>13.1f}")
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
