"""``sitedeploy connect|connections|disconnect``: a user's own platform accounts, stored by the
service (KMS-encrypted, never shown again). Secrets are read without echo (getpass), or from
standard input with ``--secret-stdin`` for scripts — never from a flag, which would land in the
shell's history and in ``ps``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from sitedeploy_cli.client import ApiClient
from sitedeploy_cli.deploy import PLATFORMS


class ConnectError(Exception):
    pass


def add_parsers(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    connect = commands.add_parser(
        "connect",
        parents=common,
        help="connect your own Cloudflare, AWS, Netlify or Vercel account (the secret is prompted for, not echoed)",
    )
    connect.add_argument("platform", choices=PLATFORMS)
    connect.add_argument("--account-id", help="Cloudflare account id")
    connect.add_argument("--account-slug", help="Netlify team (account) slug (optional; your first team otherwise)")
    connect.add_argument("--team-id", help="Vercel team id (optional; your personal account otherwise)")
    connect.add_argument("--access-key-id", help="AWS access key id")
    connect.add_argument("--region", help="AWS region of the Amplify app, e.g. us-east-1")
    connect.add_argument("--app-id", help="an existing Amplify app (optional; one is created when absent)")
    connect.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the secret (API token, or AWS secret access key) from standard input",
    )
    connect.add_argument("--verify-only", action="store_true", help="check the credentials without storing them")
    commands.add_parser("connections", parents=common, help="list your connected accounts")
    disconnect = commands.add_parser("disconnect", parents=common, help="remove a connected account")
    disconnect.add_argument("platform", choices=PLATFORMS)


def _ask(prompt: str, given: str | None) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        raise ConnectError(f"{prompt.rstrip(': ')} is required (pass it as an option)")
    value = input(prompt).strip()
    if not value:
        raise ConnectError(f"{prompt.rstrip(': ')} is required")
    return value


def _secret(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().strip()
    elif sys.stdin.isatty():
        value = getpass.getpass(prompt)
    else:
        raise ConnectError("no terminal to prompt on: pass the secret on standard input with --secret-stdin")
    if not value:
        raise ConnectError("the secret is empty")
    return value


def connect(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any]
    if args.platform == "cloudflare":
        account = _ask("Cloudflare account id: ", args.account_id)
        body = {"accountId": account, "token": _secret("Cloudflare API token (not echoed): ", args.secret_stdin)}
    elif args.platform == "netlify":
        body = {"token": _secret("Netlify personal access token (not echoed): ", args.secret_stdin)}
        if args.account_slug:
            body["accountSlug"] = args.account_slug
    elif args.platform == "vercel":
        body = {"token": _secret("Vercel access token (not echoed): ", args.secret_stdin)}
        if args.team_id:
            body["teamId"] = args.team_id
    else:
        key = _ask("AWS access key id: ", args.access_key_id)
        region = _ask("AWS region: ", args.region)
        body = {
            "accessKeyId": key,
            "region": region,
            "secretAccessKey": _secret("AWS secret access key (not echoed): ", args.secret_stdin),
        }
        if args.app_id:
            body["appId"] = args.app_id
    path = f"/platform-tokens/{args.platform}" + ("/verify" if args.verify_only else "")
    answer: dict[str, Any] = client.request("POST" if args.verify_only else "PUT", path, body=body, idempotent=False)
    return answer


def describe(connection: dict[str, Any]) -> str:
    parts = [connection["platform"]]
    for label, key in (("account", "accountId"), ("name", "accountName"), ("app", "appId"), ("region", "region")):
        if connection.get(key):
            parts.append(f"{label} {connection[key]}")
    parts.append(f"since {connection.get('createdAt', '?')}")
    return "  ".join(parts)


def list_connections(client: ApiClient) -> list[dict[str, Any]]:
    answer = client.request("GET", "/platform-tokens")
    return list(answer["connections"])


def disconnect(client: ApiClient, platform: str) -> None:
    client.request("DELETE", f"/platform-tokens/{platform}", idempotent=True)
