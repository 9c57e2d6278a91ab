"""Benchmark: sustained deploys per minute, and what that load does to the status endpoint.

The front end presses Deploy and then polls ``GET /deployments/{id}`` every 2–3 s, so the two
numbers that matter under load are how many deployments the stack carries to ``ready`` per minute
and how long a poll takes while it does. This starts its own local stack, then:

1. **idle baseline**: polls one finished deployment sequentially, nothing else running;
2. **sustained load**: ``--clients`` threads, each an owner with a few small sites (text plus random
   binaries), deploy through the gateway, alternating Cloudflare and Amplify per ``--amplify-share``,
   poll like the front end until the deployment ends, and deploy again, for ``--seconds``; a probe
   thread meanwhile polls the finished deployment of step 1, so its latency is comparable to the
   baseline (the clients' own polls also include Amplify's live ``GetJob`` refresh);
3. prints a table: p50/p99 status latency idle and under load, ready deploys per minute sustained
   (deployments that reached ``ready`` inside the window, per minute), POST latency, errors.

Nothing is asserted: the numbers depend on the machine (two cores run moto, the gateway, every
function's execution environments and both emulators).

    .venv/bin/python -m bench.load [--clients 8] [--seconds 60] [--amplify-share 0.4] [--poll 2]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

from sitedeploy_local.stack import LocalStack, StackOptions

TERMINAL = frozenset({"ready", "error"})
PROJECTS_PER_CLIENT = 3


def small_site(tag: str, rng: random.Random) -> dict[str, Any]:
    """A few files, as the front end sends them: text inline, binaries base64."""
    binary = {
        "/assets/logo.png": b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randrange(2_000, 8_000)),
        "/data/blob.bin": rng.randbytes(rng.randrange(500, 3_000)),
    }
    return {
        "/index.html": f"<!doctype html><h1>{tag}</h1>",
        "/about/index.html": f"<h1>about {tag}</h1>",
        "/assets/app.js": f"console.log({tag!r})",
        **{path: {"data": base64.b64encode(data).decode(), "encoding": "base64"} for path, data in binary.items()},
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


class Client:
    """One caller of the gateway with its own token and connection pool."""

    def __init__(self, stack: LocalStack, owner: str) -> None:
        self.base = stack.api_url
        self.auth = {"Authorization": f"Bearer {stack.mint_token(owner)}"}
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=120))

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
        headers = dict(self.auth)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        answer = self.http.request(method, self.base + path, body=data, headers=headers)
        elapsed = time.monotonic() - started
        try:
            payload = json.loads(answer.data) if answer.data else None
        except ValueError:
            payload = answer.data[:200]
        return answer.status, payload, elapsed


@dataclass
class Tally:
    """What the load phase saw; appended to from many threads (list.append is atomic)."""

    posts: list[float] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)
    probe: list[float] = field(default_factory=list)
    ready_at: list[tuple[float, str]] = field(default_factory=list)  # (when, platform)
    errors: list[str] = field(default_factory=list)  # deployments that ended "error"
    api_failures: list[str] = field(default_factory=list)  # non-2xx answers and transport errors
    unfinished: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)  # the platform of each deploy sent


def follow(client: Client, deployment_id: str, poll: float, tally: Tally, give_up: float) -> dict[str, Any] | None:
    """Poll like the front end until the deployment ends (or ``give_up``, a monotonic time)."""
    while time.monotonic() < give_up:
        time.sleep(poll)
        try:
            status, body, elapsed = client.call("GET", f"/deployments/{deployment_id}")
        except urllib3.exceptions.HTTPError as exc:
            tally.api_failures.append(f"GET {deployment_id}: {type(exc).__name__}")
            continue
        tally.polls.append(elapsed)
        if status != 200:
            tally.api_failures.append(f"GET {deployment_id}: {status} {body!r}")
            continue
        if body["status"] in TERMINAL:
            return dict(body)
    return None


def deployer(
    stack: LocalStack, index: int, args: argparse.Namespace, *, stop_at: float, drain_until: float, tally: Tally
) -> None:
    rng = random.Random(index)
    client = Client(stack, f"bench-load-{index}")
    n = 0
    while time.monotonic() < stop_at:
        platform = "amplify" if rng.random() < args.amplify_share else "cloudflare"
        project = f"{platform[:3]}-{n % PROJECTS_PER_CLIENT}"
        body = {"files": small_site(f"{index}-{n}", rng), "projectName": project}
        n += 1
        tally.submitted.append(platform)
        try:
            status, answer, elapsed = client.call("POST", f"/deployments/{platform}", body)
        except urllib3.exceptions.HTTPError as exc:
            tally.api_failures.append(f"POST {platform}: {type(exc).__name__}")
            continue
        tally.posts.append(elapsed)
        if status != 202:
            tally.api_failures.append(f"POST {platform}: {status} {answer!r}")
            continue
        final = follow(client, answer["deploymentId"], args.poll, tally, drain_until)
        if final is None:
            tally.unfinished.append(answer["deploymentId"])
        elif final["status"] == "ready":
            tally.ready_at.append((time.monotonic(), platform))
        else:
            tally.errors.append(f"{platform} {answer['deploymentId']}: {final.get('error')}")


def probe(client: Client, deployment_id: str, interval: float, until: threading.Event, tally: Tally) -> None:
    while not until.wait(interval):
        try:
            status, body, elapsed = client.call("GET", f"/deployments/{deployment_id}")
        except urllib3.exceptions.HTTPError as exc:
            tally.api_failures.append(f"probe GET: {type(exc).__name__}")
            continue
        if status == 200:
            tally.probe.append(elapsed)
        else:
            tally.api_failures.append(f"probe GET: {status} {body!r}")


def baseline(stack: LocalStack, samples: int) -> tuple[str, list[float]]:
    """One finished deployment, then ``samples`` sequential polls of it with nothing else running."""
    client = Client(stack, "bench-load-baseline")
    status, answer, _ = client.call(
        "POST",
        "/deployments/cloudflare",
        {"files": small_site("baseline", random.Random(0)), "projectName": "base"},
    )
    if status != 202:
        raise SystemExit(f"the baseline deploy was refused: {status} {answer!r}")
    tally = Tally()
    final = follow(client, answer["deploymentId"], 0.2, tally, time.monotonic() + 120)
    if final is None or final["status"] != "ready":
        raise SystemExit(f"the baseline deployment did not become ready: {final!r}")
    for _ in range(5):  # warm: the first polls may start execution environments
        client.call("GET", f"/deployments/{answer['deploymentId']}")
    times = []
    for _ in range(samples):
        status, _, elapsed = client.call("GET", f"/deployments/{answer['deploymentId']}")
        if status == 200:
            times.append(elapsed)
    return str(answer["deploymentId"]), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent deploying clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the sustained-load window")
    parser.add_argument("--amplify-share", type=float, default=0.4, help="share of deploys that go to Amplify")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between a client's status polls")
    parser.add_argument("--probe-interval", type=float, default=0.25)
    parser.add_argument("--baseline-samples", type=int, default=200)
    parser.add_argument("--max-concurrency", type=int, default=4, help="execution environments per function")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as state:
        options = StackOptions(state_dir=Path(state), write_local_json=False, max_concurrency=args.max_concurrency)
        stack = LocalStack(options).start()
        try:
            probe_id, idle = baseline(stack, args.baseline_samples)
            tally = Tally()
            started = time.monotonic()
            stop_at = started + args.seconds
            drain_until = stop_at + 180.0
            done = threading.Event()
            probe_thread = threading.Thread(
                target=probe,
                args=(Client(stack, "bench-load-baseline"), probe_id, args.probe_interval, done, tally),
                daemon=True,
            )
            probe_thread.start()
            threads = [
                threading.Thread(
                    target=deployer,
                    args=(stack, i, args),
                    kwargs={"stop_at": stop_at, "drain_until": drain_until, "tally": tally},
                    daemon=True,
                )
                for i in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            time.sleep(max(0.0, stop_at - time.monotonic()))
            done.set()  # the probe measures the window only
            for thread in threads:
                thread.join()
            drained = time.monotonic() - stop_at
        finally:
            stack.stop()

    window = args.seconds
    in_window = [platform for when, platform in tally.ready_at if when <= stop_at]
    per_minute = 60 * len(in_window) / window
    print(
        f"\n{args.clients} clients for {window:.0f}s, {args.amplify_share:.0%} Amplify, polls every {args.poll:g}s, "
        f"{args.max_concurrency} execution environments per function"
    )
    print(
        f"\n{'status endpoint (GET /deployments/{id})':<44} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    rows = [
        ("idle baseline (finished deployment)", idle),
        ("under load: probe (finished deployment)", tally.probe),
        ("under load: clients' polls (in flight)", tally.polls),
    ]
    for label, values in rows:
        print(
            f"{label:<44} {len(values):>8} {percentile(values, 50) * 1000:>8.0f} {percentile(values, 99) * 1000:>8.0f} "
            f"{max(values, default=float('nan')) * 1000:>8.0f}"
        )
    print(f"{'POST /deployments/{platform}':<44} {len(tally.posts):>8} ", end="")
    print(
        f"{percentile(tally.posts, 50) * 1000:>8.0f} {percentile(tally.posts, 99) * 1000:>8.0f} "
        f"{max(tally.posts, default=float('nan')) * 1000:>8.0f}"
    )
    print(f"\n{'deploys':<44} {'count':>8}")
    print(f"{'submitted':<44} {len(tally.submitted):>8}")
    print(f"{'ready inside the window':<44} {len(in_window):>8}")
    print(f"{'  of which Cloudflare':<44} {in_window.count('cloudflare'):>8}")
    print(f"{'  of which Amplify':<44} {in_window.count('amplify'):>8}")
    drained_label = f"ready after the window (drained in {drained:.0f}s)"
    print(f"{drained_label:<44} {len(tally.ready_at) - len(in_window):>8}")
    print(f"{'error':<44} {len(tally.errors):>8}")
    print(f"{'unfinished after draining':<44} {len(tally.unfinished):>8}")
    print(f"{'API failures (non-2xx, transport)':<44} {len(tally.api_failures):>8}")
    print(f"\nready deploys per minute, sustained: {per_minute:.1f}")
    for line in (tally.errors + tally.api_failures + [f"unfinished {d}" for d in tally.unfinished])[:20]:
        print(f"  ! {line}")


if __name__ == "__main__":
    main()
