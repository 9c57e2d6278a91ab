"""Benchmark: the `sitedeploy` CLI deploying folders of any size on the local stack.

For a 1,000-file / 50 MB site and a 2,000-file / 500 MB site, then a redeploy of each with one
changed file, on each platform (``--platform``), it reports: CLI wall time to ``ready``, bytes
moved client → S3 (what the CLI uploaded) and S3 → platform (what reached the emulator's file
upload route: Cloudflare's base64 multipart, Netlify's file PUTs, Vercel's /v2/files; Amplify's
zip is not counted), and the peak RSS of the CLI process and of the publisher's execution
environment (a fresh one per run). Prints a table; asserts nothing.

    .venv/bin/python -m bench.cli_deploy [--big-mb 500] [--platform cloudflare|amplify|netlify|vercel|all]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.stage import peak_rss_mib
from bench.synthetic import synthetic_site
from sitedeploy_local.stack import LocalStack, StackOptions

MIB = 1024 * 1024
PLATFORMS = ("cloudflare", "amplify", "netlify", "vercel")
# The emulator route that carries file bytes to each platform (Amplify's zip goes to S3-like URLs).
UPLOAD_ROUTES = {"cloudflare": "assets-upload", "netlify": "uploadDeployFile", "vercel": "files-upload"}
# Runs the CLI and reports its own peak RSS (VmHWM) on stderr as the last line.
LAUNCHER = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'): print('PEAK_RSS_KB', line.split()[1], file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "sys.argv = ['sitedeploy', *sys.argv[1:]]\n"
    "runpy.run_module('sitedeploy_cli', run_name='__main__')\n"
)


def write_site(folder: Path, site: dict[str, bytes]) -> None:
    for path, data in site.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def run_cli(
    stack: LocalStack, folder: Path, project: str, platform: str = "cloudflare"
) -> tuple[float, dict[str, object], float]:
    env = {**os.environ, "SITEDEPLOY_API_URL": stack.api_url, "SITEDEPLOY_TOKEN": stack.mint_token("bench-cli")}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LAUNCHER,
            "deploy",
            str(folder),
            "--project",
            project,
            "--platform",
            platform,
            "--json",
            "-q",
            "--timeout",
            "900",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
        check=False,
    )
    seconds = time.monotonic() - started
    peak = next(
        (int(line.split()[1]) / 1024 for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB")), 0.0
    )
    return seconds, json.loads(done.stdout), peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-mb", type=float, default=500)
    parser.add_argument("--platform", choices=(*PLATFORMS, "all"), default="all")
    args = parser.parse_args()
    platforms = PLATFORMS if args.platform == "all" else (args.platform,)
    rows = []
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as sites:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False)).start()
        try:
            publisher = stack.hosts["PublisherFunction"]
            sizes = (("50 MiB", 1000, 50 * MIB), (f"{args.big_mb:.0f} MiB", 2000, int(args.big_mb * MIB)))
            for platform, (label, files, size) in ((p, s) for p in platforms for s in sizes):
                folder = Path(sites) / f"{platform}-{label.replace(' ', '')}"
                site = synthetic_site(files, size, seed=files)
                write_site(folder, site)
                for run in ("first deploy", "1 file changed"):
                    if run == "1 file changed":
                        (folder / "assets/d1/file1.js").write_bytes(b"changed " + os.urandom(4096))
                    publisher.kill_all()
                    publisher.warm()
                    pid = publisher.pids()[0]
                    emulator = getattr(stack, platform)
                    before = len(emulator.requests)
                    seconds, result, cli_peak = run_cli(stack, folder, f"bench-{label.split()[0]}", platform)
                    route = UPLOAD_ROUTES.get(platform)
                    uploads = [r for r in emulator.requests[before:] if r.route == route]
                    rows.append(
                        (
                            platform,
                            label,
                            run,
                            result.get("status"),
                            seconds,
                            result.get("uploadedFiles"),
                            result.get("uploadedBytes"),
                            sum(r.bytes_in for r in uploads),
                            cli_peak,
                            peak_rss_mib(pid),
                        )
                    )
        finally:
            stack.stop()
    print(
        f"\n{'platform':<10} {'site':<9} {'run':<15} {'status':<7} {'wall s':>7} {'files up':>8} "
        f"{'client->S3 B':>13} {'S3->platform B':>15} {'CLI RSS MiB':>11} {'publisher RSS MiB':>17}"
    )
    for platform, label, run, status, seconds, files_up, bytes_up, to_platform, cli_peak, pub_peak in rows:
        sent = str(to_platform) if platform in UPLOAD_ROUTES else "-"
        print(
            f"{platform:<10} {label:<9} {run:<15} {status!s:<7} {seconds:>7.1f} {files_up!s:>8} {bytes_up!s:>13} "
            f"{sent:>15} {cli_peak:>11.1f} {pub_peak:>17.1f}"
        )


if __name__ == "__main__":
    main()
