"""One Lambda execution environment: a process that imports a function's handler once and then
serves invocations one at a time, as Lambda's runtime does.

Invocations arrive as JSON lines on stdin; answers leave as JSON lines on the file descriptor named
by SITEDEPLOY_WORKER_FD, so that whatever the function prints (its logs) stays on stdout/stderr."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, function_name: str, memory: int, timeout: float, request_id: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    code_dir, handler_name, function_name, memory, timeout = sys.argv[1:6]
    answers = os.fdopen(int(os.environ["SITEDEPLOY_WORKER_FD"]), "w", buffering=1)
    sys.path.insert(0, code_dir)
    module_name, _, attribute = handler_name.rpartition(".")
    init_error: dict[str, Any] | None = None
    handler: Any = None
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:
        traceback.print_exc()
        init_error = {"ok": False, "errorType": type(exc).__name__, "errorMessage": f"init: {exc}"}
    answers.write(json.dumps({"ready": init_error is None}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            answers.write(json.dumps(init_error) + "\n")
            continue
        context = LambdaContext(
            function_name, int(memory), float(timeout), request.get("requestId") or str(uuid.uuid4())
        )
        try:
            result = handler(request["event"], context)
            answer: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:
            traceback.print_exc()
            answer = {"ok": False, "errorType": type(exc).__name__, "errorMessage": str(exc)}
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
