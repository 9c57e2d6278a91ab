"""Benchmark: ``sitedeploy deploy`` against Cloudflare's own ``wrangler deploy --assets``, side by side.

Both deploy the same folder (1,000 files, 50 MB of random bytes, mixed types by default) to the
same Cloudflare emulator of one local stack, in one run: a first deploy to ready, then a redeploy
with one file changed. Wrangler is installed by ``scripts/install-wrangler``; each client runs as
a user would run it (its own process, start-up included). Rounds alternate which goes first, each
round on a fresh site and a fresh owner so nothing is already uploaded. Prints the times, the
ratio (sitedeploy / wrangler) against the goal, and where sitedeploy's time went: hash, plan
(``/uploads``), upload (client → S3), accept (the deploy call), queue (accepted → the publisher
starts), publish (publisher start → ready), follow (ready → the CLI sees it). Asserts nothing.

    .venv/bin/python -m bench.versus_wrangler [--files 1000] [--mb 50] [--rounds 3]
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
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3

from bench.cli_deploy import write_site
from bench.synthetic import synthetic_site
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LOCAL_CLOUDFLARE_TOKEN, LocalStack, StackOptions

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
GOALS = {"first deploy": 0.7, "1 file changed": 0.5}
PHASES = ("hash", "plan", "upload", "accept", "queue", "publish", "follow")
CHANGED_FILE = "assets/d1/file1.js"


def install_wrangler() -> str:
    done = subprocess.run(
        [str(REPO / "scripts" / "install-wrangler")], capture_output=True, text=True, timeout=600, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def wrangler_version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "?"


def run_wrangler(binary: str, stack: LocalStack, folder: Path, name: str, home: Path) -> float:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CLOUDFLARE_API_BASE_URL": stack.cloudflare.api_base,
        "CLOUDFLARE_API_TOKEN": LOCAL_CLOUDFLARE_TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": LOCAL_CLOUDFLARE_ACCOUNT,
        "WRANGLER_SEND_METRICS": "false",
        "WRANGLER_SEND_ERROR_REPORTS": "false",
        "WRANGLER_HIDE_BANNER": "true",
        "CI": "true",
        "NO_COLOR": "1",
    }
    args = [binary, "deploy", "--assets", str(folder), "--name", name, "--compatibility-date", "2025-06-01"]
    started = time.monotonic()
    done = subprocess.run(args, cwd=home, env=env, capture_output=True, text=True, timeout=900, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"wrangler failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def run_sitedeploy(stack: LocalStack, folder: Path, project: str, owner: str) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "SITEDEPLOY_API_URL": stack.api_url, "SITEDEPLOY_TOKEN": stack.mint_token(owner)}
    args = [sys.executable, "-m", "sitedeploy_cli", "deploy", str(folder), "--project", project, "--json", "-q"]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"sitedeploy failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return seconds, result


def _stamp(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def phases(stack: LocalStack, owner: str, result: dict[str, Any], seconds: float) -> dict[str, float]:
    """The CLI's own steps, and the server's split of the time after the deploy was accepted."""
    timings: dict[str, float] = {k: float(v) for k, v in (result.get("timings") or {}).items()}
    answer = urllib3.request(
        "GET",
        f"{stack.api_url}/deployments/{result['deploymentId']}",
        headers={"Authorization": f"Bearer {stack.mint_token(owner)}"},
    )
    record = json.loads(answer.data)
    created, started, completed = (_stamp(record.get(k)) for k in ("createdAt", "startedAt", "completedAt"))
    follow = timings.pop("follow", 0.0)
    out = {k: timings.get(k, 0.0) for k in ("hash", "plan", "upload", "accept")}
    if created and started and completed:
        out["queue"] = max(0.0, started - created)
        out["publish"] = max(0.0, completed - started)
        out["follow"] = max(0.0, follow - out["queue"] - out["publish"])
    else:
        out["follow"] = follow
    out["other"] = max(0.0, seconds - sum(out.values()))  # interpreter start-up and exit
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wrangler = install_wrangler()
    times: dict[tuple[str, str], list[float]] = {}
    split: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as work:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False)).start()
        try:
            stack.hosts["PublisherFunction"].warm()
            home = Path(work) / "home"
            home.mkdir()
            for number in range(args.rounds):
                folder = Path(work) / f"site{number}"
                write_site(folder, synthetic_site(args.files, int(args.mb * MIB), seed=1000 + number))
                owner = f"bench-versus-{number}-{os.getpid()}"
                order = ("wrangler", "sitedeploy") if number % 2 == 0 else ("sitedeploy", "wrangler")
                for run in GOALS:
                    if run == "1 file changed":
                        (folder / CHANGED_FILE).write_bytes(b"changed " + os.urandom(4096))
                    for tool in order:
                        if tool == "wrangler":
                            seconds = run_wrangler(wrangler, stack, folder, f"wr-bench-{number}", home)
                        else:
                            seconds, result = run_sitedeploy(stack, folder, f"sd-bench-{number}", owner)
                            split.setdefault(run, []).append(phases(stack, owner, result, seconds))
                        times.setdefault((tool, run), []).append(seconds)
                        print(f"round {number + 1} {run:<15} {tool:<10} {seconds:6.2f} s", flush=True)
        finally:
            stack.stop()
    print(
        f"\n{args.files} files, {args.mb:g} MB; wrangler {wrangler_version(wrangler)}; median of {args.rounds} rounds; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}"
    )
    print(f"{'run':<16} {'wrangler s':>10} {'sitedeploy s':>12} {'ratio':>6} {'goal':>6}")
    for run, goal in GOALS.items():
        ours = statistics.median(times[("sitedeploy", run)])
        theirs = statistics.median(times[("wrangler", run)])
        print(f"{run:<16} {theirs:>10.2f} {ours:>12.2f} {ours / theirs:>5.2f}x {goal:>5.1f}x")
    print(f"\nsitedeploy's time by phase (median s): {' '.join(PHASES)} other")
    for run, rows in split.items():
        cells = " ".join(f"{statistics.median(r.get(p, 0.0) for r in rows):6.2f}" for p in (*PHASES, "other"))
        print(f"{run:<16} {cells}")


if __name__ == "__main__":
    main()
