"""Tracing is loaded when a traced call first runs, not when a handler is imported, and not at all
while tracing is off. Each case runs in a fresh interpreter: what is imported is the point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

LAYER = ROOT / "layers" / "sitedeploy" / "python"
PROBE = """
import json, sys
from sitedeploy.observability import tracer, xray
seen = {"atImport": "aws_xray_sdk.core" in sys.modules, "disabled": tracer.disabled}

@tracer.capture_method
def traced():
    tracer.put_annotation("probe", 1)
    return 42

@tracer.capture_method
def fails():
    raise ValueError("boom")

seen["answer"] = traced()
try:
    fails()
except ValueError as exc:
    seen["raised"] = str(exc)
seen["afterCall"] = "aws_xray_sdk.core" in sys.modules
import botocore.client
seen["botocorePatched"] = getattr(botocore.client, "_xray_enabled", False)
print(json.dumps(seen))
"""


def _probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_LAMBDA_"))}
    clean.update(PYTHONPATH=str(LAYER), AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR", **env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_in_lambda_the_sdk_loads_and_patches_on_the_first_traced_call() -> None:
    seen = _probe(LAMBDA_TASK_ROOT=str(ROOT), AWS_LAMBDA_FUNCTION_NAME="probe")
    assert seen["disabled"] is False
    assert seen["atImport"] is False
    assert seen["answer"] == 42
    assert seen["raised"] == "boom"
    assert seen["afterCall"] is True
    assert seen["botocorePatched"] is True


def test_with_tracing_off_the_sdk_is_never_loaded() -> None:
    seen = _probe(LAMBDA_TASK_ROOT=str(ROOT), AWS_LAMBDA_FUNCTION_NAME="probe", POWERTOOLS_TRACE_DISABLED="true")
    assert seen["disabled"] is True
    assert seen["answer"] == 42
    assert seen["raised"] == "boom"
    assert seen["afterCall"] is False
    assert seen["botocorePatched"] is False
