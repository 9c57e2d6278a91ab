"""``make dev``: run the local stack in the foreground until Ctrl-C; ``sitedeploy-local invoke``
runs one function with a sample event (see ``sitedeploy_local.invoke``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sitedeploy_local.stack import LocalStack, StackOptions


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["invoke"]:
        from sitedeploy_local import invoke

        return invoke.main(args_in[1:])
    parser = argparse.ArgumentParser(
        prog="sitedeploy-local",
        description="Run sitedeploy on this machine. `sitedeploy-local invoke --help`: run one function with an event.",
    )
    parser.add_argument("--port", type=int, default=8787, help="port of the HTTP API gateway (default 8787)")
    parser.add_argument("--console-port", type=int, default=8788, help="port of the web console (default 8788)")
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another origin the API and the staging bucket allow (a front end in development); repeatable",
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo the functions' logs")
    parser.add_argument("--state-dir", type=Path, help="where local.json, the dev key and logs go (.sitedeploy)")
    args = parser.parse_args(args_in)

    stack = LocalStack(
        StackOptions(
            gateway_port=args.port,
            console_port=args.console_port,
            allowed_origins=args.allow_origin,
            echo_logs=not args.quiet,
            state_dir=args.state_dir,
        )
    )
    print("starting the local stack (moto, functions, gateway, stream pump)...", flush=True)
    stack.start()
    token = stack.mint_token("dev-user")
    local_json = stack.write_local_json(token)
    print(
        f"""
sitedeploy is running locally.

  API:      {stack.api_url}
  console:  {stack.console.url}   (deploy a folder, connect accounts, manage sites)
  token:    {token}
            (a dev JWT for sub=dev-user, valid 24 h; also in {local_json})

  try:      curl -H "Authorization: Bearer {token}" {stack.api_url}/deployments
            sitedeploy list
            sitedeploy-local invoke deploy_status --event events/deploy_status/list_deployments.json

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
