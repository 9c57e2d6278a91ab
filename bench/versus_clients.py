"""Benchmark: ``sitedeploy deploy`` against Netlify's and Vercel's own published clients, side by side.

For each platform, both deploy the same folder (1,000 files, 50 MB of random bytes, mixed types by
default) to the same emulator of one local stack, in one run: a first deploy to ready, then a
redeploy of the same site with one file changed. The official clients are installed by
``scripts/install-netlify-client`` and ``scripts/install-vercel-client`` and driven by node scripts
beside this file:

- Vercel: ``@vercel/client``'s ``createDeployment`` (what the Vercel CLI deploys with), followed
  to ``alias-assigned`` (``bench/vercel_deploy.mjs``).
- Netlify: ``@netlify/api`` driven the way netlify-cli's ``deploy`` drives it
  (``bench/netlify_deploy.mjs``): SHA-1 of every file, ``createSiteDeploy`` with the file list and
  ``async: true``, poll until ``prepared``, upload the required files 5 at a time (netlify-cli's
  ``DEFAULT_CONCURRENT_UPLOAD``), poll until ``ready``; polls every ``--netlify-poll`` seconds
  (netlify-cli's ``DEPLOY_POLL``: 1 s). The first deploy creates the site (``createSite``).

The official clients act on an account/team and token of their own, seeded into the emulators (a
fresh one each round); sitedeploy deploys through the local API with the stack's platform-managed
account and a fresh owner per round and platform, so neither has anything already uploaded. Each
client runs as a user would run it (its own process, start-up included). Rounds alternate which goes
first, each round on a fresh site/project. With ``--latency`` every call to either emulator waits that
long first, for both clients: the round trip of a real API, which the loopback lacks (it is what
upload concurrency is for).
Prints the times, the ratio (sitedeploy / official client), the files each moved (the emulator's
upload route: ``uploadDeployFile``, ``files-upload``), and where each one's time went. Asserts
nothing.

    .venv/bin/python -m bench.versus_clients [--files 1000] [--mb 50] [--rounds 3] [--netlify-poll 1.0] [--latency 0.04]
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
from bench.versus_wrangler import PHASES, phases
from sitedeploy_local.emulators.faults import ANY_ROUTE
from sitedeploy_local.stack import LocalStack, StackOptions

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
MIB = 1024 * 1024
PLATFORMS = ("netlify", "vercel")
RUNS = ("first deploy", "1 file changed")
CHANGED_FILE = "assets/d1/file1.js"
UPLOAD_ROUTES = {"netlify": "uploadDeployFile", "vercel": "files-upload"}
CLIENTS = {"netlify": "@netlify/api", "vercel": "@vercel/client"}
NETLIFY_CONCURRENCY = 5  # netlify-cli's DEFAULT_CONCURRENT_UPLOAD (src/utils/deploy/constants)
# The official clients' own accounts, teams and tokens in the emulators (not the stack's; one per round).
OFFICIAL_ACCOUNT = "bench-official"
OFFICIAL_NETLIFY_TOKEN = "bench-official-netlify-token"
OFFICIAL_VERCEL_TEAM = "team_benchofficial"
OFFICIAL_VERCEL_TOKEN = "bench-official-vercel-token"
# Where each official client's time went, in the order the steps happen.
CLIENT_PHASES = {
    "netlify": ("startup", "hash", "create", "prepare", "upload", "ready"),
    "vercel": ("startup", "hash", "upload", "build", "alias"),
}


def install_client(platform_name: str) -> str:
    done = subprocess.run(
        [str(REPO / "scripts" / f"install-{platform_name}-client")],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def client_version(package: str) -> str:
    data: dict[str, Any] = json.loads((Path(package) / "package.json").read_text())
    return str(data.get("version", "?"))


def seed_official(stack: LocalStack, number: int) -> tuple[str, str]:
    """A Netlify account and a Vercel team of the official clients' own for round ``number`` (so
    nothing is already uploaded), each with its own token; returns the two tokens."""
    account, team = f"{OFFICIAL_ACCOUNT}-{number}", f"{OFFICIAL_VERCEL_TEAM}{number}"
    netlify_token, vercel_token = f"{OFFICIAL_NETLIFY_TOKEN}-{number}", f"{OFFICIAL_VERCEL_TOKEN}-{number}"
    stack.netlify.add_account(account, name="bench official client")
    stack.netlify.add_token(netlify_token, [account], user_slug=OFFICIAL_ACCOUNT)
    stack.vercel.add_team(team, f"{OFFICIAL_ACCOUNT}-{number}")
    stack.vercel.add_token(vercel_token, user=OFFICIAL_ACCOUNT, teams=[team])
    return netlify_token, vercel_token


def run_node(script: Path, request: dict[str, Any], home: Path) -> tuple[float, dict[str, Any]]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "NO_COLOR": "1"}
    started = time.monotonic()
    done = subprocess.run(
        ["node", str(script), json.dumps(request)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, report


def run_netlify_client(
    package: str,
    stack: LocalStack,
    folder: Path,
    *,
    token: str,
    name: str,
    site_id: str | None,
    poll: float,
    home: Path,
) -> tuple[float, dict[str, Any], dict[str, float]]:
    scheme, _, rest = stack.netlify.api_base.partition("://")
    host, _, prefix = rest.partition("/")
    request = {
        "client": package,
        "token": token,
        "scheme": scheme,
        "host": host,
        "pathPrefix": "/" + prefix,
        "dir": str(folder),
        "name": name,
        "siteId": site_id,
        "concurrency": NETLIFY_CONCURRENCY,
        "pollMs": round(poll * 1000),
    }
    seconds, report = run_node(BENCH / "netlify_deploy.mjs", request, home)
    split = {k: float(v) for k, v in report["timings"].items()}
    split["other"] = max(0.0, seconds - sum(split.values()))
    return seconds, report, split


def run_vercel_client(
    package: str, stack: LocalStack, folder: Path, *, token: str, team: str, name: str, home: Path
) -> tuple[float, dict[str, Any], dict[str, float]]:
    request = {
        "client": package,
        "token": token,
        "teamId": team,
        "apiUrl": stack.vercel.api_base,
        "dir": str(folder),
        "name": name,
    }
    seconds, report = run_node(BENCH / "vercel_deploy.mjs", request, home)
    events = {k: float(v) for k, v in report["events"].items()}
    marks = [
        ("startup", events["start"]),
        ("hash", events.get("hashes-calculated", events["start"])),
        ("upload", events.get("created", events["start"])),  # create → missing files → upload → create
        ("build", events.get("ready", events["alias-assigned"])),
        ("alias", events["alias-assigned"]),
    ]
    split: dict[str, float] = {}
    previous = 0.0
    for phase, moment in marks:
        split[phase] = max(0.0, moment - previous)
        previous = max(previous, moment)
    split["other"] = max(0.0, seconds - previous)
    return seconds, report, split


def run_sitedeploy(
    stack: LocalStack, folder: Path, *, platform_name: str, project: str, owner: str, cache: Path
) -> tuple[float, dict[str, Any]]:
    env = {
        **os.environ,
        "SITEDEPLOY_API_URL": stack.api_url,
        "SITEDEPLOY_TOKEN": stack.mint_token(owner),
        "SITEDEPLOY_CACHE_DIR": str(cache),
    }
    args = [sys.executable, "-m", "sitedeploy_cli", "deploy", str(folder), "--platform", platform_name]
    args += ["--project", project, "--json", "-q"]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"sitedeploy failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return seconds, result


# sitedeploy / official client, at most (issue #23).
GOALS = {("netlify", "first deploy"): 0.8, ("netlify", "1 file changed"): 0.8}
GOALS |= {("vercel", "first deploy"): 0.6, ("vercel", "1 file changed"): 0.7}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--netlify-poll", type=float, default=1.0, help="netlify-cli's DEPLOY_POLL, seconds")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds each call to the platform waits in the emulator, for both clients: a real API's round trip",
    )
    args = parser.parse_args()
    packages = {name: install_client(name) for name in PLATFORMS}
    times: dict[tuple[str, str, str], list[float]] = {}  # (platform, run, tool)
    moved: dict[tuple[str, str, str], list[tuple[int, int]]] = {}  # files, bytes through the upload route
    split: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as work:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False)).start()
        try:
            stack.hosts["PublisherFunction"].warm()
            if args.latency:
                for emulator in (stack.netlify, stack.vercel):
                    emulator.faults.add(ANY_ROUTE, delay=args.latency, times=None)
            home = Path(work) / "home"
            home.mkdir()
            cache = Path(work) / "cache"
            for number in range(args.rounds):
                site = synthetic_site(args.files, int(args.mb * MIB), seed=2000 + number)
                order = ("official", "sitedeploy") if number % 2 == 0 else ("sitedeploy", "official")
                netlify_token, vercel_token = seed_official(stack, number)
                for name in PLATFORMS:
                    owner = f"bench-clients-{name}-{number}-{os.getpid()}"  # nothing already in its staging
                    emulator = stack.netlify if name == "netlify" else stack.vercel
                    folder = Path(work) / f"{name}{number}"
                    write_site(folder, site)
                    official_name = f"official-{name[:2]}-{number}-{os.getpid()}"
                    site_id: str | None = None
                    for run in RUNS:
                        if run == "1 file changed":
                            (folder / CHANGED_FILE).write_bytes(b"changed " + os.urandom(4096))
                        for tool in order:
                            before = len(emulator.requests)
                            if tool == "sitedeploy":
                                project = f"sd-{name[:2]}-{number}-{os.getpid()}"
                                seconds, result = run_sitedeploy(
                                    stack, folder, platform_name=name, project=project, owner=owner, cache=cache
                                )
                                phase = phases(stack, owner, result, seconds)
                            elif name == "netlify":
                                seconds, report, phase = run_netlify_client(
                                    packages[name],
                                    stack,
                                    folder,
                                    token=netlify_token,
                                    name=official_name,
                                    site_id=site_id,
                                    poll=args.netlify_poll,
                                    home=home,
                                )
                                site_id = report["siteId"]
                            else:
                                seconds, report, phase = run_vercel_client(
                                    packages[name],
                                    stack,
                                    folder,
                                    token=vercel_token,
                                    team=f"{OFFICIAL_VERCEL_TEAM}{number}",
                                    name=official_name,
                                    home=home,
                                )
                            uploads = [r for r in emulator.requests[before:] if r.route == UPLOAD_ROUTES[name]]
                            key = (name, run, tool)
                            times.setdefault(key, []).append(seconds)
                            moved.setdefault(key, []).append((len(uploads), sum(r.bytes_in for r in uploads)))
                            split.setdefault(key, []).append(phase)
                            print(
                                f"round {number + 1} {name:<8} {run:<15} {tool:<10} {seconds:6.2f} s "
                                f"{len(uploads):5d} files up",
                                flush=True,
                            )
        finally:
            stack.stop()
    versions = ", ".join(f"{CLIENTS[name]} {client_version(packages[name])}" for name in PLATFORMS)
    print(
        f"\n{args.files} files, {args.mb:g} MB; {versions}; netlify poll {args.netlify_poll:g} s, "
        f"{NETLIFY_CONCURRENCY} uploads at once; {args.latency * 1000:g} ms added to each platform call; "
        f"median of {args.rounds} rounds; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}"
    )
    print(
        f"{'platform':<9} {'run':<16} {'official s':>10} {'sitedeploy s':>12} {'ratio':>6} {'goal':>5} "
        f"{'files up (official/sitedeploy)':>31} {'MB up (official/sitedeploy)':>28}"
    )
    for name in PLATFORMS:
        for run in RUNS:
            ours = statistics.median(times[(name, run, "sitedeploy")])
            theirs = statistics.median(times[(name, run, "official")])
            both = [moved[(name, run, tool)] for tool in ("official", "sitedeploy")]
            files = "/".join(f"{statistics.median(f for f, _ in rows):g}" for rows in both)
            mb = "/".join(f"{statistics.median(b for _, b in rows) / MIB:.1f}" for rows in both)
            goal = GOALS.get((name, run), 1.0)
            print(
                f"{name:<9} {run:<16} {theirs:>10.2f} {ours:>12.2f} {ours / theirs:>5.2f}x {goal:>4.1f}x "
                f"{files:>31} {mb:>28}"
            )
    print(f"\nsitedeploy's time by phase (median s): {' '.join(PHASES)} other")
    for name in PLATFORMS:
        for run in RUNS:
            rows = split[(name, run, "sitedeploy")]
            cells = " ".join(f"{statistics.median(r.get(p, 0.0) for r in rows):6.2f}" for p in (*PHASES, "other"))
            print(f"{name:<9} {run:<16} {cells}")
    for name in PLATFORMS:
        steps = (*CLIENT_PHASES[name], "other")
        print(f"\n{CLIENTS[name]}'s time by phase (median s): {' '.join(steps)}")
        for run in RUNS:
            rows = split[(name, run, "official")]
            cells = " ".join(f"{statistics.median(r.get(p, 0.0) for r in rows):6.2f}" for p in steps)
            print(f"{name:<9} {run:<16} {cells}")


if __name__ == "__main__":
    main()
