"""Benchmark: ``sitedeploy deploy`` to Amplify against what a user would script instead, side by side.

Amplify has no deploy CLI for a folder outside Git; the way to do it is the manual-deploy API:
zip the folder, ``create_deployment``, PUT the zip, ``start_deployment``, poll ``get_job``
(``bench/amplify_script.py``, boto3, its own process; the first run makes the app and branch too,
polls every ``--poll`` seconds). Both deploy the same folder (1,000 files, 50 MB by default) to the
same Amplify emulator of one local stack, in one run: a first deploy to ready, then a redeploy with
one file changed. Rounds alternate which goes first, each on a fresh app/site and a fresh owner.
Prints medians, the ratio (sitedeploy / script) against the goal (1.0), the script's steps and
sitedeploy's phases; asserts nothing.

    .venv/bin/python -m bench.versus_amplify [--files 1000] [--mb 50] [--rounds 3] [--poll 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cli_deploy import write_site
from bench.synthetic import synthetic_site
from bench.versus_clients import run_sitedeploy
from bench.versus_wrangler import PHASES, phases
from sitedeploy_local.stack import LocalStack, StackOptions

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
GOALS = {"first deploy": 1.0, "1 file changed": 1.0}
CHANGED_FILE = "assets/d1/file1.js"
SCRIPT_STEPS = ("create app and branch", "zip", "create_deployment", "PUT zip", "start_deployment", "poll get_job")


def run_script(stack: LocalStack, folder: Path, name: str, app_id: str | None, poll: float) -> tuple[float, Any]:
    env = {
        **os.environ,
        **stack.amplify.environment,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    args = [sys.executable, str(REPO / "bench" / "amplify_script.py"), str(folder), "--app-name", name]
    args += ["--poll", str(poll), *(["--app-id", app_id] if app_id else [])]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the script failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["status"] != "SUCCEED":
        raise RuntimeError(f"the script's job ended {report['status']}")
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll", type=float, default=1.0, help="the script's get_job polling, seconds")
    args = parser.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    steps: dict[str, list[dict[str, float]]] = {}
    split: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as work:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False)).start()
        try:
            stack.hosts["PublisherFunction"].warm()
            for number in range(args.rounds):
                folder = Path(work) / f"site{number}"
                write_site(folder, synthetic_site(args.files, int(args.mb * MIB), seed=3000 + number))
                owner = f"bench-amplify-{number}-{os.getpid()}"
                order = ("script", "sitedeploy") if number % 2 == 0 else ("sitedeploy", "script")
                app_id: str | None = None
                for run in GOALS:
                    if run == "1 file changed":
                        (folder / CHANGED_FILE).write_bytes(b"changed " + os.urandom(4096))
                    for tool in order:
                        if tool == "script":
                            seconds, report = run_script(stack, folder, f"script-{number}", app_id, args.poll)
                            app_id = report["appId"]
                            steps.setdefault(run, []).append(report["steps"])
                        else:
                            seconds, result = run_sitedeploy(
                                stack,
                                folder,
                                platform_name="amplify",
                                project=f"sd-amplify-{number}",
                                owner=owner,
                                cache=Path(work) / "cache",
                            )
                            split.setdefault(run, []).append(phases(stack, owner, result, seconds))
                        times.setdefault((tool, run), []).append(seconds)
                        print(f"round {number + 1} {run:<15} {tool:<10} {seconds:6.2f} s", flush=True)
        finally:
            stack.stop()
    print(
        f"\n{args.files} files, {args.mb:g} MB; the script polls every {args.poll:g} s; median of {args.rounds} "
        f"rounds; {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{'run':<16} {'script s':>9} {'sitedeploy s':>12} {'ratio':>6} {'goal':>6}")
    for run, goal in GOALS.items():
        ours = statistics.median(times[("sitedeploy", run)])
        theirs = statistics.median(times[("script", run)])
        print(f"{run:<16} {theirs:>9.2f} {ours:>12.2f} {ours / theirs:>5.2f}x {goal:>5.1f}x")
    print(f"\nthe script's time by step (median s): {', '.join(SCRIPT_STEPS)}")
    for run, rows in steps.items():
        cells = " ".join(f"{statistics.median(r.get(s, 0.0) for r in rows):6.2f}" for s in SCRIPT_STEPS)
        print(f"{run:<16} {cells}")
    print(f"\nsitedeploy's time by phase (median s): {' '.join(PHASES)} other")
    for run, rows in split.items():
        cells = " ".join(f"{statistics.median(r.get(p, 0.0) for r in rows):6.2f}" for p in (*PHASES, "other"))
        print(f"{run:<16} {cells}")


if __name__ == "__main__":
    main()
