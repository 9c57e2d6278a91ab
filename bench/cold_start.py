"""Benchmark: cold start as a person feels it — each API function's import plus its first answered
request, in a fresh interpreter, against the local stack's moto server; beside the same for the
least Powertools app that answers the same kind of request (``bench/minimal_api.py``: the resolver
with validation on, one pydantic-validated route, one DynamoDB GetItem).

Each run starts a new interpreter with the function's environment from ``template.yaml`` (as the
local stack gives it, moto's endpoint included), then times ``import app`` and then one call of the
handler with an HTTP API event for a real route: a status read of a real deployment, the owner's
sites, a site's versions and domains, connections, an /uploads plan, and a small inline deploy for
the four deploy functions (which do more than one read: their figure is shown against the same
floor, and says so). Each function's runs alternate with runs of the minimal app, and its ratio is
against those: on a shared machine the load drifts over a minute, and a floor measured once at the
start put the same code anywhere from 0.9× to 2.0× in two runs ten minutes apart. With
``--tracing on`` (the default) X-Ray is on, as ``Tracing: Active`` makes it in AWS: the first traced
call loads the X-Ray SDK. The interpreter's own start is not counted on either side. Prints medians
of ``--runs``; asserts nothing.

    .venv/bin/python -m bench.cold_start [--runs 5] [--tracing on|off] [--only SitesFunction]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import urllib3

from sitedeploy_local.stack import LocalStack, StackOptions

REPO = Path(__file__).resolve().parent.parent
GOAL = 1.2

# Runs in the fresh interpreter: the clock starts before the handler's import, as Lambda's init.
FIRST_REQUEST = """
import json, sys, time
from sitedeploy_local.worker import LambdaContext
event = json.loads(sys.stdin.read())
started = time.perf_counter()
import {module} as handler_module
imported = time.perf_counter()
answer = handler_module.handler(event, LambdaContext("bench", 512, 30.0, "bench-request"))
answered = time.perf_counter()
print(json.dumps({{"import": imported - started, "first": answered - imported, "status": answer["statusCode"]}}))
"""


class Setup:
    """A local stack with one owner, one ready Quick Deploy site and its deployment."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.owner = f"bench-{uuid.uuid4().hex[:8]}"
        self.http = urllib3.PoolManager()
        self.auth = {"Authorization": f"Bearer {stack.mint_token(self.owner)}"}
        accepted = self.call("POST", "/deployments/cloudflare", small_site("cold-start"))
        self.deployment_id = str(accepted["deploymentId"])
        self.site_id = str(accepted["siteId"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.call("GET", f"/deployments/{self.deployment_id}")["status"] in ("ready", "failed"):
                break
            time.sleep(0.2)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, f"{self.stack.api_url}{path}", json=body, headers=self.auth)
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {answer.data[:300]!r}")
        return json.loads(answer.data) if answer.data else None

    def event(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """The HTTP API event the gateway would hand the function (claims as the authorizer gives them)."""
        gateway = self.stack.gateway
        assert gateway is not None
        found = gateway.match(method, path)
        assert found is not None, path
        compiled, params = found
        raw = json.dumps(body).encode() if body is not None else b""
        headers = {"content-type": "application/json", "host": "localhost"} if body is not None else {}
        now = int(time.time())
        claims = {"sub": self.owner, "iat": now, "exp": now + 3600}
        return gateway.build_event(
            method=method,
            raw_path=path,
            raw_query="",
            headers=headers,
            body=raw,
            compiled=compiled,
            path_params=params,
            claims=claims,
            source_ip="127.0.0.1",
        )


def small_site(project: str) -> dict[str, Any]:
    html = f"<!doctype html><title>{project}</title><p>cold start</p>"
    return {"files": {"/index.html": html}, "projectName": project, "authMode": "platform-managed"}


def requests(setup: Setup) -> dict[str, tuple[str, str, Any]]:
    """Each API function's first request: (method, path, body)."""
    site, deployment = setup.site_id, setup.deployment_id
    plan = {"files": [{"path": "/index.html", "sha256": "0" * 64, "size": 10}]}
    return {
        "DeployStatusFunction": ("GET", f"/deployments/{deployment}", None),
        "SitesFunction": ("GET", "/sites", None),
        "VersionsFunction": ("GET", f"/sites/{site}/deployments", None),
        "DomainsFunction": ("GET", f"/sites/{site}/domains", None),
        "PlatformTokensFunction": ("GET", "/platform-tokens", None),
        "UploadsFunction": ("POST", "/uploads", plan),
        "CloudflareDeployFunction": ("POST", "/deployments/cloudflare", small_site("cold-start")),
        "NetlifyDeployFunction": ("POST", "/deployments/netlify", small_site("cold-start")),
        "VercelDeployFunction": ("POST", "/deployments/vercel", small_site("cold-start")),
        "AmplifyDeployFunction": ("POST", "/deployments/amplify", small_site("cold-start")),
    }


def environment(stack: LocalStack, logical_id: str, *, tracing: bool) -> dict[str, str]:
    spec = stack.functions[logical_id]
    env = stack.function_environment(spec)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if tracing:
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
        env["_X_AMZN_TRACE_ID"] = "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=1"
        env["AWS_XRAY_CONTEXT_MISSING"] = "IGNORE_ERROR"
        env["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:2000"  # UDP: segments go nowhere, as with no daemon
    return env


def first_request(module: str, code_dir: Path, env: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_REQUEST.format(module=module)],
        input=json.dumps(event),
        env=env,
        cwd=code_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(float(run[key]) for run in runs)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tracing", choices=("on", "off"), default="on")
    parser.add_argument("--only", action="append", help="a function's logical id (repeatable)")
    args = parser.parse_args()
    tracing = args.tracing == "on"
    with tempfile.TemporaryDirectory() as state:
        options = StackOptions(
            state_dir=Path(state),
            write_local_json=False,
            warm=False,
            run_schedules=False,
            parameters={"DeploymentsInFlightPerOwner": 1000, "QuickDeploySitesPerOwner": 1000},
        )
        stack = LocalStack(options).start()
        try:
            setup = Setup(stack)
            chosen = {k: v for k, v in requests(setup).items() if not args.only or k in args.only}
            any_spec = stack.functions["DeployStatusFunction"]
            floor_env = environment(stack, "DeployStatusFunction", tracing=tracing)
            floor_env["PYTHONPATH"] = os.pathsep.join([str(REPO / "bench"), floor_env["PYTHONPATH"]])
            floor_event = setup.event("GET", f"/deployments/{setup.deployment_id}")
            python = sys.version.split()[0]
            print(
                f"cold start = import + first answered request, median of {args.runs} fresh interpreters, each "
                f"beside a run of the minimal app (alternating, so the machine's drift falls on both); "
                f"Python {python}, {os.cpu_count()} CPUs, X-Ray {'on' if tracing else 'off'}"
            )
            columns = ("import", "first", "total")
            print(
                f"{'function':<26} {'request':<34} "
                + " ".join(f"{c:>7}" for c in columns)
                + f" {'minimal':>7} {'ratio':>6} {'goal':>5}"
            )
            floors: list[dict[str, Any]] = []
            for logical_id, (method, path, body) in chosen.items():
                spec = stack.functions[logical_id]
                env = environment(stack, logical_id, tracing=tracing)
                event = setup.event(method, path, body)
                runs: list[dict[str, Any]] = []
                floor: list[dict[str, Any]] = []
                for number in range(args.runs):
                    for which in ("minimal", "app") if number % 2 == 0 else ("app", "minimal"):
                        if which == "minimal":
                            floor.append(first_request("minimal_api", any_spec.code_dir, floor_env, floor_event))
                        else:
                            runs.append(first_request("app", spec.code_dir, env, event))
                floors += floor
                statuses = sorted({run["status"] for run in runs})
                total = median_of(runs, "import") + median_of(runs, "first")
                floor_total = median_of(floor, "import") + median_of(floor, "first")
                shown = path if len(path) <= 24 else path[:21] + "..."
                label = f"{method} {shown} {statuses}"
                print(
                    f"{logical_id:<26} {label:<34} {median_of(runs, 'import'):>6.0f}ms "
                    f"{median_of(runs, 'first'):>6.0f}ms {total:>6.0f}ms {floor_total:>6.0f}ms "
                    f"{total / floor_total:>5.2f}x {GOAL:>4.1f}x",
                    flush=True,
                )
            if floors:
                print(
                    f"{'minimal Powertools app':<26} {'GET /deployments/{id} (GetItem)':<34} "
                    f"{median_of(floors, 'import'):>6.0f}ms {median_of(floors, 'first'):>6.0f}ms "
                    f"{median_of(floors, 'import') + median_of(floors, 'first'):>6.0f}ms  (all its runs)"
                )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
