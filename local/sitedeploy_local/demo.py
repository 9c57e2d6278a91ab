"""``make demo``: start the local stack, do the main job the way the front end does, stop.

Until a platform adapter lands, the main job is the status API: a dev user lists its deployments,
polls the front end's URL, and is refused without a token."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import urllib3

from sitedeploy_local.stack import LocalStack, StackOptions


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sitedeploy-demo-") as state:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False))
        print("starting the local stack...", flush=True)
        with stack:
            token = stack.mint_token("demo-user")
            http = urllib3.PoolManager()
            auth = {"Authorization": f"Bearer {token}"}
            steps = [
                ("list my deployments", "/deployments", auth, 200),
                ("poll the front end's URL without an id", "/deploy-status?platform=cloudflare", auth, 400),
                ("ask for a deployment that is not mine", "/deployments/dpl_" + "a" * 26, auth, 404),
                ("call without a token", "/deployments", {}, 401),
            ]
            failed = 0
            for title, path, headers, expected in steps:
                answer = http.request("GET", stack.api_url + path, headers=headers)
                mark = "ok " if answer.status == expected else "BAD"
                failed += answer.status != expected
                body = json.loads(answer.data)
                print(f"  [{mark}] {title}: GET {path} -> {answer.status} {json.dumps(body)}")
            print(f"\nAPI was at {stack.api_url}; `make dev` keeps it running.")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
