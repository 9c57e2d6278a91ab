"""``make dev``: run the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sitedeploy_local.stack import LocalStack, StackOptions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sitedeploy-local", description="Run sitedeploy on this machine.")
    parser.add_argument("--port", type=int, default=8787, help="port of the HTTP API gateway (default 8787)")
    parser.add_argument("--quiet", action="store_true", help="do not echo the functions' logs")
    parser.add_argument("--state-dir", type=Path, help="where local.json, the dev key and logs go (.sitedeploy)")
    args = parser.parse_args(argv)

    stack = LocalStack(StackOptions(gateway_port=args.port, echo_logs=not args.quiet, state_dir=args.state_dir))
    print("starting the local stack (moto, functions, gateway, stream pump)...", flush=True)
    stack.start()
    token = stack.mint_token("dev-user")
    local_json = stack.write_local_json(token)
    print(
        f"""
sitedeploy is running locally.

  API:      {stack.api_url}
  token:    {token}
            (a dev JWT for sub=dev-user, valid 24 h; also in {local_json})

  try:      curl -H "Authorization: Bearer {token}" {stack.api_url}/deployments
            sitedeploy list

Ctrl-C stops everything.
""",
        flush=True,
    )
    stopped = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stopped.wait()
    print("stopping...", flush=True)
    stack.stop()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
