"""Benchmark: rollback and promote, per platform, on the local stack.

For each platform one Quick Deploy site (``--files`` files, ``--mb`` MB of random bytes) is deployed
twice; then ``--rounds`` rollbacks (each to the version live before, so production alternates) and
``--rounds`` promotes (each of a fresh one-file-changed preview) are timed from the API call to
``ready``. For each it prints p50 and p90 and the bytes moved: from the client (the request body:
no files are sent) and to the platform (its emulator's upload routes: Cloudflare's asset uploads,
Netlify's and Vercel's file uploads, Amplify's zip PUT). Where the platform keeps versions (a
Worker version, a Netlify deploy, a Vercel deployment) a rollback sends nothing at all; a Vercel
promote deploys the preview's files as production, which Vercel holds already; Amplify publishes
the kept files again (a new job), the client still sending nothing. Asserts nothing.

    .venv/bin/python -m bench.versions [--rounds 20] [--files 200] [--mb 3] [--platforms cloudflare,netlify]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import urllib3

from sitedeploy_local.stack import LocalStack, StackOptions

UPLOAD_ROUTES = {
    "cloudflare": ("assets-upload",),
    "netlify": ("uploadDeployFile",),
    "vercel": ("files-upload",),
    "amplify": ("zip-upload",),
}
PLATFORMS = ("cloudflare", "netlify", "vercel", "amplify")


def site(files: int, size: int, seed: str) -> dict[str, Any]:
    """Inline files: an index naming ``seed`` and random binaries, base64 (the front end's form)."""
    import base64

    per = max(1, size // max(1, files - 1))
    body: dict[str, Any] = {"index.html": f"<!doctype html><h1>{seed}</h1>"}
    for n in range(files - 1):
        data = os.urandom(per)
        body[f"assets/f{n:04d}.bin"] = {"data": base64.b64encode(data).decode(), "encoding": "base64"}
    return body


class Client:
    def __init__(self, stack: LocalStack, owner: str) -> None:
        self.base = stack.api_url
        self.headers = {"Authorization": f"Bearer {stack.mint_token(owner)}", "Content-Type": "application/json"}
        self.http = urllib3.PoolManager(maxsize=4, timeout=urllib3.Timeout(connect=5, read=120))
        self.sent = 0

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        self.sent += len(data or b"")
        answer = self.http.request(method, self.base + path, body=data, headers=self.headers)
        payload = json.loads(answer.data) if answer.data else {}
        if answer.status >= 400:
            raise RuntimeError(f"{method} {path}: {answer.status} {payload}")
        return dict(payload)

    def ready(self, deployment_id: str, timeout: float = 300.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            state = self.call("GET", f"/deployments/{deployment_id}")
            if state["status"] in {"ready", "error"}:
                if state["status"] != "ready":
                    raise RuntimeError(f"{deployment_id}: {state.get('error')}")
                return state
            time.sleep(delay)
            delay = min(0.25, delay * 1.5)
        raise RuntimeError(f"{deployment_id} not ready in {timeout}s")


def uploaded(stack: LocalStack, platform: str) -> int:
    emulator = getattr(stack, platform)
    return sum(r.bytes_in for r in emulator.requests if r.route in UPLOAD_ROUTES[platform])


def measure(stack: LocalStack, platform: str, args: argparse.Namespace) -> dict[str, Any]:
    client = Client(stack, f"bench-versions-{platform}-{time.time_ns()}")
    project = f"versions-{platform}"
    size = int(args.mb * 1024 * 1024)
    files = site(args.files, size, "first")
    first = client.ready(
        client.call("POST", f"/deployments/{platform}", {"files": files, "projectName": project})["deploymentId"]
    )
    files["index.html"] = "<!doctype html><h1>second</h1>"
    client.ready(
        client.call("POST", f"/deployments/{platform}", {"files": files, "projectName": project})["deploymentId"]
    )
    site_id = first["siteId"]
    rows: dict[str, Any] = {}
    for action in ("rollback", "promote"):
        times: list[float] = []
        client_bytes = platform_bytes = 0
        for n in range(args.rounds):
            if action == "promote":
                files["index.html"] = f"<!doctype html><h1>preview {n}</h1>"
                body = {"files": files, "projectName": project, "target": "preview", "chatId": "bench"}
                preview = client.ready(client.call("POST", f"/deployments/{platform}", body)["deploymentId"])
            sent_before, up_before = client.sent, uploaded(stack, platform)
            started = time.perf_counter()
            if action == "rollback":
                accepted = client.call("POST", f"/sites/{site_id}/rollback", {})
            else:
                accepted = client.call("POST", f"/deployments/{preview['deploymentId']}/promote", {})
            client.ready(accepted["deploymentId"])
            times.append(time.perf_counter() - started)
            client_bytes += client.sent - sent_before
            platform_bytes += uploaded(stack, platform) - up_before
        ordered = sorted(times)
        rows[action] = {
            "p50": statistics.median(ordered),
            "p90": ordered[max(0, int(len(ordered) * 0.9) - 1)],
            "client_bytes": client_bytes / len(times),
            "platform_bytes": platform_bytes / len(times),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--mb", type=float, default=3.0)
    parser.add_argument("--platforms", default=",".join(PLATFORMS))
    args = parser.parse_args()
    wanted = [p for p in args.platforms.split(",") if p]
    with tempfile.TemporaryDirectory() as state:
        options = StackOptions(
            state_dir=Path(state),
            write_local_json=False,
            parameters={"DeploymentsInFlightPerOwner": 1000, "VersionsPerSite": 100},
        )
        with LocalStack(options) as stack:
            results = {platform: measure(stack, platform, args) for platform in wanted}
    what = f"{args.rounds} rounds each, a {args.files}-file {args.mb:g} MB site (seconds; bytes per action)"
    print(f"\nrollback and promote, {what}")
    print(f"{'platform':<11}{'action':<10}{'p50':>8}{'p90':>8}{'client bytes':>14}{'platform bytes':>16}")
    for platform, rows in results.items():
        for action, row in rows.items():
            print(
                f"{platform:<11}{action:<10}{row['p50']:>8.3f}{row['p90']:>8.3f}"
                f"{row['client_bytes']:>14.0f}{row['platform_bytes']:>16.0f}"
            )


if __name__ == "__main__":
    main()
