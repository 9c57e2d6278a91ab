"""Benchmark: the status endpoint against the one DynamoDB read it is made of.

``GET /deployments/{id}`` of a finished deployment is the gateway (JWT check, routing), the status
function and one GetItem. This times, on one local stack, ``--requests`` of each:

- the status call on a kept-alive connection (as the CLI and a browser poll),
- the status call on a fresh connection each time,
- a GetItem of the same record through boto3 (kept alive, as the function itself reads it),

and prints p50/p99 and the status/GetItem ratio against the goal (2x). Asserts nothing.

    .venv/bin/python -m bench.status_latency [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import urllib3

from bench.load import percentile
from sitedeploy_local.stack import LocalStack, StackOptions

GOAL = 2.0


def timings(call: Callable[[], None], count: int) -> list[float]:
    for _ in range(min(20, count)):  # warm: environments, connections, caches
        call()
    out = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False)).start()
        try:
            token = stack.mint_token("bench-status")
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            body = json.dumps({"files": {"index.html": "<h1>status</h1>"}, "projectName": "status-bench"})
            accepted = json.loads(
                urllib3.request("POST", f"{stack.api_url}/deployments/cloudflare", body=body, headers=headers).data
            )
            url = f"{stack.api_url}/deployments/{accepted['deploymentId']}"
            port = urllib3.util.parse_url(stack.api_url).port
            kept = urllib3.PoolManager(maxsize=1)
            while json.loads(kept.request("GET", url, headers=headers).data)["status"] not in {"ready", "error"}:
                time.sleep(0.1)

            def kept_alive() -> None:
                answer = kept.request("GET", url, headers=headers)
                assert answer.status == 200, answer.data

            def fresh() -> None:
                pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)
                answer = pool.request("GET", url, headers=headers)
                assert answer.status == 200, answer.data
                pool.close()

            dynamodb = stack.moto.client("dynamodb")
            table = stack.resource("DeploymentsTable")
            key = {"pk": {"S": f"DEPLOYMENT#{accepted['deploymentId']}"}, "sk": {"S": "META"}}

            def get_item() -> None:
                assert "Item" in dynamodb.get_item(TableName=table, Key=key)

            rows = [
                ("GetItem (boto3, kept alive)", timings(get_item, args.requests)),
                ("status, kept-alive connection", timings(kept_alive, args.requests)),
                ("status, fresh connection", timings(fresh, args.requests)),
            ]
        finally:
            stack.stop()
    base = percentile(rows[0][1], 99)
    print(f"\n{args.requests} requests each; {os.cpu_count()} CPUs")
    print(f"{'':<32} {'p50 ms':>7} {'p99 ms':>7} {'p99 vs GetItem':>15} {'goal':>5}")
    for label, values in rows:
        p99 = percentile(values, 99)
        goal = "" if label.startswith("GetItem") else f"{GOAL:.1f}x"
        print(f"{label:<32} {percentile(values, 50) * 1000:>7.1f} {p99 * 1000:>7.1f} {p99 / base:>14.2f}x {goal:>5}")


if __name__ == "__main__":
    main()
