"""``sitedeploy-local invoke FUNCTION --event FILE``: ``sam local invoke`` without Docker.

The function runs in an execution environment of its own (a worker process, as the local stack
runs every function) with its template environment, against the running local stack when there is
one (``make dev`` writes ``functions.json`` into its state folder) or else against a stack started
for this one call. The function's logs go to stderr and its response to stdout as one JSON
document, as ``sam local invoke`` prints them; a function error is printed as
``{"errorType", "errorMessage"}`` and the command exits 1."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sitedeploy_local.ports import HOST, wait_for_port
from sitedeploy_local.runtime import FunctionHost, InvokeError
from sitedeploy_local.template import FunctionSpec

EXIT_FUNCTION_ERROR = 1
EXIT_USAGE = 2


class InvokeUsageError(Exception):
    """The command cannot run: no such function, an unreadable event."""


def _spec_named(name: str, functions: dict[str, Any]) -> tuple[FunctionSpec, dict[str, str]]:
    """A function by logical id (``DeployStatusFunction``) or by folder (``deploy_status``), the
    name its sample events are filed under."""
    for logical_id, entry in functions.items():
        if name in {logical_id, Path(entry["codeDir"]).name}:
            spec = FunctionSpec(
                logical_id=logical_id,
                code_dir=Path(entry["codeDir"]),
                handler=entry["handler"],
                timeout=int(entry["timeout"]),
                memory=int(entry["memory"]),
                environment=dict(entry["environment"]),
            )
            return spec, dict(entry["environment"])
    known = ", ".join(sorted(f"{Path(e['codeDir']).name} ({i})" for i, e in functions.items()))
    raise InvokeUsageError(f"no function {name!r}; the template has: {known}")


def _running_stack(state_dir: Path) -> dict[str, Any] | None:
    """The running stack's functions.json, if its gateway still answers."""
    path = state_dir / "functions.json"
    if not path.exists():
        return None
    described: dict[str, Any] = json.loads(path.read_text())
    try:
        port = int(str(described["apiUrl"]).rsplit(":", 1)[1])
        wait_for_port(port, timeout=0.5, host=HOST)
    except (KeyError, ValueError, TimeoutError):
        return None
    return described


def invoke(name: str, event: Any, *, state_dir: Path, log: Any = sys.stderr, quiet: bool = False) -> tuple[bool, Any]:
    """Run one invocation; (True, response) or (False, {errorType, errorMessage})."""
    with ExitStack() as cleanup:
        described = _running_stack(state_dir)
        if described is None:
            from sitedeploy_local.stack import LocalStack, StackOptions

            print("no local stack is running: starting one for this invocation...", file=log, flush=True)
            stack = LocalStack(
                StackOptions(state_dir=state_dir, write_local_json=False, run_schedules=False, warm=False)
            )
            cleanup.enter_context(stack)
            described = json.loads((state_dir / "functions.json").read_text())
        spec, environment = _spec_named(name, described["functions"])

        def echo(_function: str, line: str) -> None:
            if not quiet:
                print(line, file=log, flush=True)

        host = FunctionHost(spec, environment, max_concurrency=1, log_sink=echo)
        cleanup.callback(host.stop)
        try:
            return True, host.invoke(event)
        except InvokeError as exc:
            return False, {"errorType": exc.error_type, "errorMessage": exc.message}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sitedeploy-local invoke",
        description="Run one function with a sample event, like `sam local invoke`, without Docker.",
    )
    parser.add_argument("function", help="logical id (DeployStatusFunction) or folder name (deploy_status)")
    parser.add_argument("--event", "-e", type=Path, required=True, help="the event JSON (see events/)")
    parser.add_argument("--state-dir", type=Path, default=Path(".sitedeploy"), help="the stack's state folder")
    parser.add_argument("--quiet", action="store_true", help="do not print the function's logs")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text())
    except (OSError, ValueError) as exc:
        print(f"sitedeploy-local invoke: cannot read the event {args.event}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        ok, response = invoke(args.function, event, state_dir=args.state_dir, quiet=args.quiet)
    except InvokeUsageError as exc:
        print(f"sitedeploy-local invoke: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(response))
    return 0 if ok else EXIT_FUNCTION_ERROR
