"""``sitedeploy``: deploy a built site and follow deployments from a terminal.

Every failure a person can cause or meet — no API, a bad token, a path the server refuses, a
deployment that ends in error, a missing folder, Ctrl-C — ends as one line on stderr and a
non-zero exit status (1, or 130 for Ctrl-C), never a traceback. With ``--json`` stdout carries
exactly one JSON object whatever happens, so a script can always parse it."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any

from sitedeploy_cli import connections, domains, versions
from sitedeploy_cli.client import ApiClient, ApiError
from sitedeploy_cli.config import ConfigError, resolve_config
from sitedeploy_cli.deploy import AUTH_MODES, PLATFORMS, DeployError, Deployment, DeployOptions
from sitedeploy_cli.files import FolderError
from sitedeploy_cli.output import deploy_summary, deployment_line, version_line
from sitedeploy_cli.progress import Progress
from sitedeploy_cli.uploads import UploadError

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """Ctrl-C during a deploy, remembering the deployment it had started (if it had)."""

    def __init__(self, deployment_id: str | None) -> None:
        super().__init__(deployment_id)
        self.deployment_id = deployment_id


def _common_options() -> argparse.ArgumentParser:
    """The global options, accepted after the command too (``sitedeploy deploy dist --json``).

    SUPPRESS keeps a subcommand from resetting what was given before it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", default=argparse.SUPPRESS, help="API base URL (or SITEDEPLOY_API_URL)")
    common.add_argument("--token", default=argparse.SUPPRESS, help="bearer token (or SITEDEPLOY_TOKEN)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitedeploy",
        description="Deploy a built static site to Cloudflare Workers Static Assets, AWS Amplify Hosting, Netlify "
        "or Vercel; roll it back, preview it, promote a preview, claim a Quick Deploy site.",
        epilog="Without --api/--token (or SITEDEPLOY_API_URL/SITEDEPLOY_TOKEN), .sitedeploy/local.json "
        "written by `make dev` is used, searched upward from the current folder.",
    )
    parser.add_argument("--api", help="API base URL (or SITEDEPLOY_API_URL)")
    parser.add_argument("--token", help="bearer token (or SITEDEPLOY_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (progress: stderr)")
    common = [_common_options()]
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    deploy = commands.add_parser(
        "deploy",
        parents=common,
        help="deploy a folder and follow it until it is live",
        description="Hash the folder's files, upload the ones the server does not have yet, deploy, and "
        "follow the deployment until it is ready. Skips .DS_Store, Thumbs.db, .git/, node_modules/, "
        ".sitedeploy/ and whatever DIR/.assetsignore lists (gitignore syntax).",
    )
    deploy.add_argument("directory", metavar="DIR", type=Path, help="the built site (e.g. dist)")
    deploy.add_argument("--platform", choices=PLATFORMS, default="cloudflare", help="where to (default: cloudflare)")
    deploy.add_argument(
        "--project",
        metavar="NAME",
        help="redeploys of a project update one site (default: DIR's name, or its parent's for dist, build, out...)",
    )
    deploy.add_argument(
        "--mode", choices=AUTH_MODES, default="platform-managed", help="whose account (default: platform-managed)"
    )
    deploy.add_argument(
        "--spa",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve index.html for unknown paths, or not (default: the server decides)",
    )
    deploy.add_argument(
        "--wait", action=argparse.BooleanOptionalAction, default=True, help="follow until ready (default) or not"
    )
    deploy.add_argument("--chat-id", metavar="ID", help="the builder chat this deployment belongs to")
    deploy.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=1800.0, help="stop waiting after this long (default 1800)"
    )
    deploy.add_argument(
        "--hash-cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip re-reading files unchanged since the last deploy of DIR (default: on)",
    )
    deploy.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    deploy.add_argument(
        "--preview",
        action="store_true",
        help="publish beside production, which keeps serving what it served, at the chat's preview URL",
    )

    status = commands.add_parser("status", parents=common, help="show one deployment")
    status.add_argument("deployment_id", metavar="ID")

    listing = commands.add_parser("list", parents=common, help="list your deployments, newest first")
    listing.add_argument("--chat-id", metavar="ID", help="only this chat's deployments")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")

    opener = commands.add_parser(
        "open",
        parents=common,
        help="print a deployment's URL and open it in a browser",
        description="Print the deployment's URL (its local URL on the local stack) and open it in a browser "
        "with --browser, or by default when stdout is a terminal and a browser and display are available.",
    )
    opener.add_argument("deployment_id", metavar="ID")
    opener.add_argument("--browser", action=argparse.BooleanOptionalAction, default=None, help="open it, or don't")
    connections.add_parsers(commands, common)
    versions.add_parsers(commands, common)
    domains.add_parsers(commands, common)
    return parser


def _fail(args: argparse.Namespace, message: str, code: str | None, payload: dict[str, Any] | None = None) -> int:
    print(f"sitedeploy: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps(payload or {"error": message, "code": code or "error"}))
    return EXIT_FAILED


def _api_code(exc: ApiError) -> str:
    return exc.code or ("unreachable" if exc.status == 0 else f"http_{exc.status}")


def _exit_if_workers_linger(code: int) -> None:
    """After Ctrl-C a worker may sit in a socket read for up to a minute, and the interpreter joins
    pool threads before exiting; nothing is half-written here (the CLI only reads files), so leave
    at once rather than make the person wait."""
    if any(t is not threading.current_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _browser_available() -> bool:
    """A GUI browser this process can start without taking over the terminal or hanging in CI."""
    if os.environ.get("CI"):
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _open(client: ApiClient, args: argparse.Namespace) -> int:
    answer = client.request("GET", f"/deployments/{args.deployment_id}")
    url = answer.get("localUrl") or answer.get("url")
    if not url:
        return _fail(args, f"deployment {args.deployment_id} has no URL yet (it is {answer.get('status')})", "no_url")
    wanted = args.browser if args.browser is not None else sys.stdout.isatty() and _browser_available()
    opened = bool(wanted and webbrowser.open(url))
    if args.json:
        shown = {"deploymentId": answer.get("deploymentId"), "status": answer.get("status"), "url": url}
        print(json.dumps({**shown, "opened": opened}))
    else:
        print(url)
    if answer.get("status") != "ready":
        print(f"sitedeploy: note: the deployment is {answer.get('status')}, not ready", file=sys.stderr)
    if args.browser and not opened:
        print("sitedeploy: could not start a browser; open the URL above yourself", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _deploy(client: ApiClient, args: argparse.Namespace, cancel: threading.Event) -> int:
    options = DeployOptions(
        directory=args.directory,
        platform=args.platform,
        project=args.project,
        mode=args.mode,
        spa=args.spa,
        chat_id=args.chat_id,
        wait=args.wait,
        timeout=args.timeout,
        hash_cache=args.hash_cache,
        preview=args.preview,
    )
    run = Deployment(client, options, Progress(None if args.quiet else sys.stderr), cancel=cancel)
    try:
        result = run.run()
    except KeyboardInterrupt:
        raise Interrupted(run.result.deployment_id) from None
    except (DeployError, ApiError) as exc:
        code = _api_code(exc) if isinstance(exc, ApiError) else exc.code
        if run.result.deployment_id is None:
            return _fail(args, exc.message, code)
        # Started, then failed or lost from sight: say which deployment, with all that is known of it.
        payload = {**run.result.as_json(), "error": run.result.error or exc.message, "code": code}
        return _fail(args, exc.message, code, payload)
    if args.json:
        print(json.dumps(result.as_json()))
    else:
        print("\n".join(deploy_summary(result)))
    return 0


def _versions(client: ApiClient, args: argparse.Namespace) -> int:
    try:
        answer = versions.run(client, args)
    except versions.VersionError as exc:
        return _fail(args, exc.message, exc.code, {**exc.answer, "error": exc.message, "code": exc.code})
    if args.json:
        print(json.dumps(answer))
    elif args.command == "versions":
        for version in answer["deployments"]:
            print(version_line(version))
        if not answer["deployments"]:
            print("no versions yet")
    else:
        print(deployment_line(answer))
    return 0


def _domains(client: ApiClient, args: argparse.Namespace) -> int:
    try:
        answer = domains.run(client, args)
    except domains.DomainError as exc:
        if not args.json:
            print("\n".join(domains.lines(exc.answer)) if exc.answer.get("hostname") else "", file=sys.stderr)
        return _fail(args, exc.message, exc.code, {**exc.answer, "error": exc.message, "code": exc.code})
    if args.json:
        print(json.dumps(answer))
    elif args.domains_command == "list":
        for domain in answer["domains"]:
            print("\n".join(domains.lines(domain)))
        if not answer["domains"]:
            print("no custom domains (sitedeploy domains add SITE HOSTNAME)")
    elif args.domains_command == "remove":
        print(f"removed {answer['removed']}")
    else:
        print("\n".join(domains.lines(answer)))
        if answer.get("status") != "active":
            print("create these records at your DNS provider; follow with: sitedeploy domains list " + args.site_id)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cancel = threading.Event()
    try:
        client = ApiClient(resolve_config(args.api, args.token))
        if args.command == "deploy":
            return _deploy(client, args, cancel)
        if args.command == "open":
            return _open(client, args)
        if args.command in {"versions", "rollback", "promote", "claim"}:
            return _versions(client, args)
        if args.command == "domains":
            return _domains(client, args)
        if args.command == "connect":
            answer = connections.connect(client, args)
            shown = answer.get("connection", answer)
            verb = "verified" if args.verify_only else "connected"
            print(json.dumps(answer) if args.json else f"{verb}: {connections.describe(shown)}")
        elif args.command == "connections":
            found = connections.list_connections(client)
            if args.json:
                print(json.dumps({"connections": found}))
            else:
                for connection in found:
                    print(connections.describe(connection))
                if not found:
                    print("no connected accounts (sitedeploy connect cloudflare|amplify|netlify|vercel)")
        elif args.command == "disconnect":
            connections.disconnect(client, args.platform)
            print(json.dumps({"disconnected": args.platform}) if args.json else f"disconnected {args.platform}")
        if args.command == "status":
            answer = client.request("GET", f"/deployments/{args.deployment_id}")
            print(json.dumps(answer) if args.json else deployment_line(answer))
        elif args.command == "list":
            answer = client.request("GET", "/deployments", fields={"chatId": args.chat_id, "limit": args.limit})
            if args.json:
                print(json.dumps(answer))
            else:
                for deployment in answer["deployments"]:
                    print(deployment_line(deployment))
                if not answer["deployments"]:
                    print("no deployments yet")
    except ApiError as exc:
        return _fail(args, exc.message, _api_code(exc))
    except (ConfigError, FolderError, UploadError, connections.ConnectError) as exc:
        code = {
            ConfigError: "not_configured",
            FolderError: "bad_folder",
            UploadError: "upload_failed",
            connections.ConnectError: "bad_input",
        }[type(exc)]
        return _fail(args, str(exc), code)
    except (KeyboardInterrupt, Interrupted) as exc:
        cancel.set()  # the worker threads stop at their next block
        started = exc.deployment_id if isinstance(exc, Interrupted) else None
        message = "interrupted"
        if started:
            message += f"; deployment {started} goes on on the server, follow it with: sitedeploy status {started}"
        print(f"\nsitedeploy: {message}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": message, "code": "interrupted", "deploymentId": started}))
        _exit_if_workers_linger(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
