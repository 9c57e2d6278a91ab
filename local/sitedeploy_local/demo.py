"""``make demo``: start the local stack, deploy examples/site the way the front end does, wait until
it is live, fetch every file back from the served site, compare bytes and content types, stop."""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import urllib3

from sitedeploy.domain.sitefiles import content_type
from sitedeploy_local.stack import REPO_ROOT, LocalStack, StackOptions

EXAMPLE = REPO_ROOT / "examples" / "site"
TEXT_SUFFIXES = {".html", ".css", ".js", ".txt", ".json", ".svg", ".md", ""}
HOST_FILES = {"_headers", "_redirects"}


def front_end_body(folder: Path, project: str) -> dict[str, Any]:
    """The body the front end sends: text files as strings, everything else as base64."""
    files: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = "/" + path.relative_to(folder).as_posix()
        data = path.read_bytes()
        if path.suffix in TEXT_SUFFIXES:
            files[rel] = data.decode("utf-8")
        else:
            files[rel] = {"data": base64.b64encode(data).decode(), "encoding": "base64"}
    return {"files": files, "chatId": "demo-chat", "projectName": project, "authMode": "platform-managed"}


def served_path(rel: str) -> str:
    """Where Cloudflare's auto-trailing-slash serves a file: /a/index.html at /a/, /b.html at /b."""
    if rel.endswith("/index.html"):
        return rel[: -len("index.html")]
    if rel.endswith(".html"):
        return rel[: -len(".html")]
    return rel


class Demo:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=60))
        self.auth = {"Authorization": f"Bearer {stack.mint_token('demo-user')}"}
        self.failures = 0

    def check(self, ok: bool, what: str) -> None:
        self.failures += not ok
        print(f"    [{'ok ' if ok else 'BAD'}] {what}")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = dict(self.auth)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        answer = self.http.request(method, self.stack.api_url + path, body=data, headers=headers)
        return answer.status, json.loads(answer.data)

    def wait(self, status_url: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            _, state = self.call("GET", status_url)
            if not seen or seen[-1] != state["status"]:
                seen.append(state["status"])
                print(f"    status: {' → '.join(seen)} ({state.get('progress', 0)}%)")
            if state["status"] in {"ready", "error"}:
                return dict(state)
            time.sleep(0.5)
        raise TimeoutError(f"{status_url} did not finish in {timeout}s")

    def verify_site(self, local_url: str, folder: Path, platform: str) -> None:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        for path in files:
            rel = "/" + path.relative_to(folder).as_posix()
            if rel.lstrip("/") in HOST_FILES:
                continue
            path_served = served_path(rel) if platform == "cloudflare" else rel.removesuffix("index.html")
            answer = self.http.request("GET", local_url.rstrip("/") + path_served)
            expected_type = content_type(rel).split(";")[0]
            got_type = (answer.headers.get("Content-Type") or "").split(";")[0]
            self.check(
                answer.status == 200 and answer.data == path.read_bytes() and got_type == expected_type,
                f"{path_served:<22} {answer.status} {len(answer.data):>6} bytes  {got_type}",
            )
        spa = self.http.request("GET", local_url.rstrip("/") + "/dashboard")
        self.check(
            spa.status == 200 and spa.data == (folder / "index.html").read_bytes(),
            "/dashboard (SPA route) answers index.html",
        )
        # Every platform honours _redirects and _headers (Amplify as the app's rules and headers,
        # Vercel as the deployment's redirects and headers).
        moved = self.http.request("GET", local_url.rstrip("/") + "/old-about", redirect=False)
        self.check(
            moved.status == 301 and moved.headers.get("Location", "").endswith("/about/"),
            "/old-about redirects 301 to /about/ (_redirects)",
        )
        cached = self.http.request("GET", local_url.rstrip("/") + "/assets/logo.png")
        self.check(
            "immutable" in (cached.headers.get("Cache-Control") or ""),
            "/assets/* carry Cache-Control: immutable (_headers)",
        )

    def deploy_front_end_way(self, platform: str) -> dict[str, Any]:
        print(f"\n==> {platform}: POST /deployments/{platform} (inline files, as the front end sends)")
        status, accepted = self.call("POST", f"/deployments/{platform}", front_end_body(EXAMPLE, "example-site"))
        self.check(status == 202, f"accepted with 202: {accepted.get('deploymentId', accepted)}")
        if status != 202:
            return {}
        final = self.wait(accepted["statusUrl"])
        self.check(
            final["status"] == "ready",
            f"ready at {final.get('url')}"
            if final["status"] == "ready"
            else f"ended {final['status']}: {final.get('error')}",
        )
        if final.get("localUrl"):
            print(f"    served locally at {final['localUrl']}")
            self.verify_site(final["localUrl"], EXAMPLE, platform)
        else:
            self.check(False, "the status answer gives a localUrl")
        return final

    def deploy_with_the_cli(self, platform: str) -> dict[str, Any]:
        print(f"\n==> {platform}: sitedeploy deploy examples/site --platform {platform} (the terminal way)")
        env = {
            **os.environ,
            "SITEDEPLOY_API_URL": self.stack.api_url,
            "SITEDEPLOY_TOKEN": self.auth["Authorization"].removeprefix("Bearer "),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "sitedeploy_cli",
                "deploy",
                str(EXAMPLE),
                "--platform",
                platform,
                "--project",
                "example-site",
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        for line in done.stderr.strip().splitlines()[-4:]:
            print(f"    {line}")
        result: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
        self.check(
            done.returncode == 0 and result.get("status") == "ready",
            f"ready at {result.get('url')} ({result.get('uploadedFiles')} files uploaded)",
        )
        if result.get("localUrl"):
            print(f"    served locally at {result['localUrl']}")
            self.verify_site(str(result["localUrl"]), EXAMPLE, platform)
        result["platform"] = platform
        return result


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sitedeploy-demo-") as state:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False))
        print("starting the local stack (moto, emulators, functions, gateway, stream pump)...", flush=True)
        with stack:
            demo = Demo(stack)
            results = [
                demo.deploy_front_end_way("cloudflare"),
                demo.deploy_with_the_cli("amplify"),
                demo.deploy_front_end_way("netlify"),
                demo.deploy_with_the_cli("vercel"),
            ]
            print()
            for result in results:
                if result.get("url"):
                    print(f"{result['platform']}: {result['url']}  (locally: {result.get('localUrl')})")
            print("all checks passed" if not demo.failures else f"{demo.failures} check(s) FAILED")
            return 1 if demo.failures else 0


if __name__ == "__main__":
    mimetypes.init()
    sys.exit(main())
