"""``sitedeploy domains add | list | remove``: a site's custom domains, from a terminal.

``add`` prints the DNS records to create at your DNS provider, and with ``--wait`` follows the
domain until it is active (or failed, with the platform's reason)."""

from __future__ import annotations

import argparse
import time
from typing import Any
from urllib.parse import quote

from sitedeploy_cli.client import ApiClient

SETTLED = {"active", "failed"}


class DomainError(Exception):
    def __init__(self, message: str, code: str, answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.answer = answer or {}


def add_parsers(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    domains = commands.add_parser("domains", parents=common, help="a site's custom domains")
    actions = domains.add_subparsers(dest="domains_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=common, help="attach a hostname; prints the DNS records to create")
    add.add_argument("site_id", metavar="SITE")
    add.add_argument("hostname", metavar="HOSTNAME")
    add.add_argument("--wait", action="store_true", help="follow it until active or failed")
    add.add_argument("--timeout", metavar="SECONDS", type=float, default=600.0, help="stop waiting after this")
    listing = actions.add_parser("list", parents=common, help="the site's domains, their status and records")
    listing.add_argument("site_id", metavar="SITE")
    remove = actions.add_parser("remove", parents=common, help="detach a hostname: it no longer routes to the site")
    remove.add_argument("site_id", metavar="SITE")
    remove.add_argument("hostname", metavar="HOSTNAME")


def run(client: ApiClient, args: argparse.Namespace, *, sleep: Any = time.sleep) -> dict[str, Any]:
    site = quote(args.site_id, safe="")
    if args.domains_command == "list":
        return dict(client.request("GET", f"/sites/{site}/domains"))
    if args.domains_command == "remove":
        client.request("DELETE", f"/sites/{site}/domains/{quote(args.hostname, safe='')}")
        return {"removed": args.hostname}
    domain = dict(client.request("POST", f"/sites/{site}/domains", body={"hostname": args.hostname}))
    if not args.wait:
        return domain
    deadline = time.monotonic() + args.timeout
    delay = 1.0
    while domain.get("status") not in SETTLED:
        if time.monotonic() >= deadline:
            raise DomainError(
                f"{domain['hostname']} is still {domain.get('status')} after {args.timeout:g}s: "
                "create the records above, then `sitedeploy domains list`",
                "timeout",
                domain,
            )
        sleep(delay)
        delay = min(10.0, delay * 1.5)
        listed = client.request("GET", f"/sites/{site}/domains")
        domain = next((d for d in listed["domains"] if d["hostname"] == domain["hostname"]), domain)
    if domain["status"] == "failed":
        raise DomainError(f"{domain['hostname']} failed: {domain.get('reason')}", "domain_failed", domain)
    return domain


def lines(domain: dict[str, Any]) -> list[str]:
    """A domain for people: its status, its reason, then each record to create."""
    out = [f"{domain['hostname']}  {domain['status']}" + (f"  ({domain['reason']})" if domain.get("reason") else "")]
    for record in domain.get("records") or []:
        out.append(f"  {record['purpose']:<12} {record['type']:<6} {record['name']}  {record['value']}")
    return out
