"""Benchmark: what tenancy costs a deploy — the DynamoDB calls and the milliseconds that placement
(pool member, name claim, the one-transaction commit, superseding) adds to accepting a deployment.

Runs the accept flow in-process against the local stack's moto server (the real DynamoDB API over
HTTP, the real stores), for new sites and for redeploys of placed sites, counting every DynamoDB
call by operation and timing the placement steps apart from the rest, with the pool already
holding each of ``--existing`` Quick Deploy sites (30 accounts of 500 Workers; the pool is topped
up between levels by accepting sites for 50 other owners, on a few threads). Placement must stay
flat as the pool fills: the same DynamoDB calls per deploy at every level, and about the same time.
The milliseconds are moto's; the local stack's moto reads only the partition a query names, as
DynamoDB does (``sitedeploy_local.moto_index``). Prints tables; asserts nothing.

    .venv/bin/python -m bench.placement [--sites 40] [--existing 0,100,1000,10000] [--fill-threads 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sitedeploy.domain.models import Platform
from sitedeploy.flows import accept, lifecycle, placement
from sitedeploy.observability import logger
from sitedeploy.platforms.cloudflare.requests import CloudflareDeployRequest
from sitedeploy.services import Services
from sitedeploy.settings import Settings
from sitedeploy.stores import aws
from sitedeploy_local.stack import LocalStack, StackOptions

calls: Counter[str] = Counter()
spent: dict[str, float] = {}


def _count(event_name: str, **_: Any) -> None:
    calls[event_name.rsplit(".", 1)[-1]] += 1


@contextmanager
def _timed(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - started


def _wrap(module: Any, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        with _timed(label):
            return original(*args, **kwargs)

    setattr(module, name, timed)


def _run(services: Services, owner: str, projects: list[str]) -> tuple[list[float], Counter[str], dict[str, float]]:
    calls.clear()
    spent.clear()
    seconds = []
    for project in projects:
        body = {"files": {"index.html": f"<h1>{project}</h1>"}, "projectName": project}
        request = CloudflareDeployRequest.model_validate(body)
        started = time.perf_counter()
        accept.accept(services, Platform.CLOUDFLARE, owner, request)
        seconds.append(time.perf_counter() - started)
    return seconds, Counter(calls), dict(spent)


POOL = {f"{n:032x}": 500 for n in range(0xB0, 0xB0 + 30)}  # 30 accounts × 500 Workers


def _fill(services: Services, have: int, want: int, threads: int) -> None:
    def one(n: int) -> None:
        body = {"files": {"index.html": f"<p>{n}</p>"}, "projectName": f"fill-{n}"}
        request = CloudflareDeployRequest.model_validate(body)
        accept.accept(services, Platform.CLOUDFLARE, f"fill-owner-{n % 50}", request)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(have, want)))
    if want > have:
        print(f"filled the pool from {have} to {want} sites in {time.perf_counter() - started:.0f} s", flush=True)


def _report(label: str, seconds: list[float], counted: Counter[str], timed: dict[str, float]) -> None:
    n = len(seconds)
    print(f"\n{label}: {n} deploys, accept p50 {statistics.median(seconds) * 1000:.1f} ms")
    print(f"  {'DynamoDB call':<22} {'per deploy':>10}")
    for name, count in sorted(counted.items()):
        print(f"  {name:<22} {count / n:>10.2f}")
    print(f"  {'placement step':<28} {'ms per deploy':>13}")
    for name, total in sorted(timed.items()):
        print(f"  {name:<28} {total / n * 1000:>13.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--existing", default="0,100,1000", help="pool sizes to measure at, ascending")
    parser.add_argument("--fill-threads", type=int, default=4, help="threads accepting the filler sites")
    args = parser.parse_args()
    levels = sorted(int(n) for n in args.existing.split(","))
    rows: list[tuple[int, float, float, float, float, float]] = []
    with tempfile.TemporaryDirectory() as state:
        options = StackOptions(
            state_dir=Path(state),
            write_local_json=False,
            run_schedules=False,
            cloudflare_accounts=dict(POOL),
            parameters={"QuickDeploySitesPerOwner": 100000, "DeploymentsInFlightPerOwner": 100000},
        )
        stack = LocalStack(options).start()
        try:
            env = stack.function_environment(stack.functions["CloudflareDeployFunction"])
            os.environ.update({k: v for k, v in env.items() if k.startswith(("AWS_", "SITEDEPLOY_"))})
            services = Services.from_settings(Settings.from_env(env))
            logger.setLevel("WARNING")
            aws.dynamodb().meta.events.register("before-call.dynamodb.*", _count)
            _wrap(placement, "_choose_member", "choose a pool member")
            _wrap(placement, "_choose_name", "choose a free name")
            _wrap(accept, "place", "placement (all of it)")
            _wrap(type(services.stores.tenancy), "commit_deploy", "commit: one transaction")
            _wrap(lifecycle, "supersede", "supersede the previous")
            stack.pump.pause("PublisherFunction")  # type: ignore[union-attr]  # accepting only
            placed = 0
            for level in levels:
                _fill(services, placed, level, args.fill_threads)
                placed = level
                projects = [f"bench-{level}-{n}" for n in range(args.sites)]
                new_seconds, new_calls, new_spent = _run(services, "bench-owner", projects)
                again_seconds, again_calls, again_spent = _run(services, "bench-owner", projects)
                placed += len(projects)
                print(f"\n== with {level} Quick Deploy sites already in the pool ==")
                _report("new sites", new_seconds, new_calls, new_spent)
                _report("redeploys of placed sites", again_seconds, again_calls, again_spent)
                n = len(projects)
                rows.append(
                    (
                        level,
                        statistics.median(new_seconds) * 1000,
                        new_spent.get("commit: one transaction", 0.0) / n * 1000,
                        statistics.median(again_seconds) * 1000,
                        sum(new_calls.values()) / n,
                        sum(again_calls.values()) / n,
                    )
                )
        finally:
            stack.stop()
    header = ("sites in the pool", "new p50 ms", "commit ms", "redeploy p50 ms", "calls new", "calls again")
    print("\n" + " ".join(f"{h:>17}" for h in header))
    for level, new_p50, commit, again_p50, calls_new, calls_again in rows:
        timings = (f"{v:.1f}" for v in (new_p50, commit, again_p50))
        cells = (str(level), *timings, f"{calls_new:.2f}", f"{calls_again:.2f}")
        print(" ".join(f"{c:>17}" for c in cells))
    if len(rows) > 1:
        print(
            f"largest / smallest pool: accept {rows[-1][1] / rows[0][1]:.2f}x, commit {rows[-1][2] / rows[0][2]:.2f}x"
            " (goal: within 1.2x)"
        )
    print(
        "\nBefore tenancy a deploy wrote the Site (UpdateItem) and the Deployment (PutItem) apart; now"
        " they go in one TransactWriteItems with the name claim and the seat. What placement adds:"
        " the members Query, the name BatchGetItem, the GetItem of the committed site, and, on a"
        " redeploy, the conditional UpdateItem that supersedes an older pending deployment."
    )


if __name__ == "__main__":
    main()
