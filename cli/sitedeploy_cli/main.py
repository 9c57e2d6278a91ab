"""``sitedeploy``: deployments from a terminal (status and listing today; deploy arrives with uploads)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sitedeploy_cli.client import ApiClient, ApiError
from sitedeploy_cli.config import ConfigError, resolve_config


def _print_deployment(d: dict[str, Any]) -> None:
    line = f"{d['deploymentId']}  {d['platform']:<10} {d['status']:<9} {d.get('progress', 0):>3}%"
    line += f"  {d.get('projectName', '')}  {d.get('url') or ''}"
    if d.get("error"):
        line += f"  error: {d['error']}"
    print(line)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitedeploy", description="Deploy static sites with sitedeploy.")
    parser.add_argument("--api", help="API base URL (or SITEDEPLOY_API_URL)")
    parser.add_argument("--token", help="bearer token (or SITEDEPLOY_TOKEN)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="show one deployment")
    status.add_argument("deployment_id")
    listing = commands.add_parser("list", help="list your deployments, newest first")
    listing.add_argument("--chat-id")
    listing.add_argument("--limit", type=int, default=20)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        client = ApiClient(resolve_config(args.api, args.token))
        if args.command == "status":
            answer = client.request("GET", f"/deployments/{args.deployment_id}")
            if args.json:
                print(json.dumps(answer))
            else:
                _print_deployment(answer)
        elif args.command == "list":
            answer = client.request("GET", "/deployments", fields={"chatId": args.chat_id, "limit": args.limit})
            if args.json:
                print(json.dumps(answer))
            else:
                for deployment in answer["deployments"]:
                    _print_deployment(deployment)
                if not answer["deployments"]:
                    print("no deployments yet")
    except (ConfigError, ApiError) as exc:
        print(f"sitedeploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
