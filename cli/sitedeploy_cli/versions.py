"""``sitedeploy versions | rollback | promote | claim``: a site's versions, from a terminal.

Each action asks the API for a new deployment (the server holds the files: nothing is uploaded)
and, unless ``--no-wait``, follows it like ``deploy`` does until it is ready or fails."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sitedeploy_cli.client import ApiClient

TERMINAL = {"ready", "error"}
FIRST_POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 1.0


class VersionError(Exception):
    def __init__(self, message: str, code: str, answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.answer = answer or {}


def add_parsers(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    listing = commands.add_parser("versions", parents=common, help="list a site's versions, newest first")
    listing.add_argument("site_id", metavar="SITE")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    rollback = commands.add_parser(
        "rollback",
        parents=common,
        help="make an earlier version of a site live again (no upload)",
        description="Roll production back to the version live before the current one, or to --to.",
    )
    rollback.add_argument("site_id", metavar="SITE")
    rollback.add_argument("--to", metavar="ID", help="the version (a deployment id) to make live")
    promote = commands.add_parser("promote", parents=common, help="make a preview the live version (no upload)")
    promote.add_argument("deployment_id", metavar="ID")
    claim = commands.add_parser(
        "claim",
        parents=common,
        help="move a Quick Deploy site into your own connected account (no upload)",
        description="Publish the site's live version to your connected account (sitedeploy connect ...); "
        "with --release the Quick Deploy site is deleted once the copy is live.",
    )
    claim.add_argument("site_id", metavar="SITE")
    claim.add_argument("--project", metavar="NAME", help="the project on your account (default: the site's)")
    claim.add_argument("--release", action="store_true", help="delete the Quick Deploy site once the copy is live")
    for parser in (rollback, promote, claim):
        parser.add_argument(
            "--wait", action=argparse.BooleanOptionalAction, default=True, help="follow until ready (default) or not"
        )
        parser.add_argument("--timeout", metavar="SECONDS", type=float, default=600.0, help="stop waiting after this")


def run(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    """The command's answer: the versions listing, or the new deployment as last seen."""
    if args.command == "versions":
        return dict(client.request("GET", f"/sites/{args.site_id}/deployments", fields={"limit": args.limit}))
    if args.command == "rollback":
        body: dict[str, Any] = {"deploymentId": args.to} if args.to else {}
        accepted = client.request("POST", f"/sites/{args.site_id}/rollback", body=body)
    elif args.command == "promote":
        accepted = client.request("POST", f"/deployments/{args.deployment_id}/promote", body={})
    else:
        body = {"release": bool(args.release)}
        if args.project:
            body["projectName"] = args.project
        accepted = client.request("POST", f"/sites/{args.site_id}/claim", body=body)
    if not args.wait:
        return dict(accepted)
    return follow(client, str(accepted["deploymentId"]), timeout=args.timeout)


def follow(client: ApiClient, deployment_id: str, *, timeout: float, sleep: Any = time.sleep) -> dict[str, Any]:
    """Poll until the deployment is ready (its answer) or fails (VersionError)."""
    deadline = time.monotonic() + timeout
    delay = FIRST_POLL_SECONDS
    while True:
        answer = client.request("GET", f"/deployments/{deployment_id}")
        if answer.get("status") == "ready":
            return dict(answer)
        if answer.get("status") == "error":
            raise VersionError(f"deployment {deployment_id} failed: {answer.get('error')}", "deployment_failed", answer)
        if time.monotonic() >= deadline:
            raise VersionError(
                f"deployment {deployment_id} is still {answer.get('status')} after {timeout:g}s; "
                f"follow it with `sitedeploy status {deployment_id}`",
                "timeout",
                answer,
            )
        sleep(delay)
        delay = min(MAX_POLL_SECONDS, delay * 1.5)
