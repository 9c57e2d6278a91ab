"""Benchmark: each handler's cold import, against importing the bare libraries it stands on.

Every function of ``template.yaml`` is imported in a fresh interpreter, as Lambda's init does: the
function's folder is the task root (``LAMBDA_TASK_ROOT``), the layer is on the path, the template's
environment is set (resource names are placeholders) and tracing is on, as ``Tracing: Active``
makes it. The clock runs from before ``import app`` to after it, so the interpreter's own start-up
is not counted, on either side. The bare figure is ``import boto3, pydantic`` plus the Powertools
HTTP resolver. Prints the median of ``--runs`` and the ratio; asserts nothing.

    .venv/bin/python -m bench.cold_import [--runs 7] [--profile FUNCTION]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from sitedeploy_local.template import FunctionSpec, Template

REPO = Path(__file__).resolve().parent.parent
LAYER = REPO / "layers" / "sitedeploy" / "python"
GOAL = 1.2
TIMED = "import time\nstarted = time.perf_counter()\n{imports}\nprint(time.perf_counter() - started)\n"
BARE = "import boto3, pydantic\nfrom aws_lambda_powertools.event_handler import APIGatewayHttpResolver"


def functions() -> dict[str, FunctionSpec]:
    template = Template.load(REPO / "template.yaml")
    for name in template.resources:
        template.physical[name] = f"placeholder-{name.lower()}"
        for attribute in ("Arn", "StreamArn", "KeyId"):
            template.attributes[(name, attribute)] = f"arn:aws:placeholder:us-east-1:123456789012:{name}"
    return template.functions()


def lambda_environment(spec: FunctionSpec) -> dict[str, str]:
    """What Lambda's python3.13 runtime sets, and what the template adds."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "PYTHONPATH": str(LAYER),
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "LAMBDA_RUNTIME_DIR": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "AWS_LAMBDA_FUNCTION_NAME": f"sitedeploy-{spec.logical_id}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "_X_AMZN_TRACE_ID": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=1",
        **spec.environment,
    }


def timed(imports: str, env: dict[str, str], cwd: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", TIMED.format(imports=imports)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return float(done.stdout.strip().splitlines()[-1])


def profile(spec: FunctionSpec) -> None:
    """The 25 costliest imports of one handler (python -X importtime, cumulative)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        env=lambda_environment(spec),
        cwd=spec.code_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, total, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
            if total.isdigit():
                rows.append((int(total), name))
    for micros, name in sorted(rows, reverse=True)[:25]:
        print(f"{micros / 1000:8.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", help="a function's logical id: print its costliest imports instead")
    args = parser.parse_args()
    specs = functions()
    if args.profile:
        profile(specs[args.profile])
        return
    any_spec = next(iter(specs.values()))
    bare = statistics.median(timed(BARE, lambda_environment(any_spec), any_spec.code_dir) for _ in range(args.runs))
    python = sys.version.split()[0]
    print(f"cold import, median of {args.runs} fresh interpreters; Python {python}, {os.cpu_count()} CPUs")
    print(f"{'function':<28} {'import ms':>9} {'vs bare':>8} {'goal':>6}")
    print(f"{'(boto3 + pydantic + resolver)':<28} {bare * 1000:>9.0f} {1.0:>7.2f}x")
    for name, spec in sorted(specs.items()):
        env = lambda_environment(spec)
        seconds = statistics.median(timed("import app", env, spec.code_dir) for _ in range(args.runs))
        print(f"{name:<28} {seconds * 1000:>9.0f} {seconds / bare:>7.2f}x {GOAL:>5.1f}x")


if __name__ == "__main__":
    main()
