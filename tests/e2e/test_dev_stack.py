"""`make dev` as a newcomer uses it: start the stack in the foreground, read the printed token from
local.json, list deployments over HTTP, then Ctrl-C stops everything cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3

from sitedeploy_local.ports import free_port


@pytest.mark.e2e
def test_dev_stack_serves_the_api_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "sitedeploy_local", "--port", str(port), "--quiet", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    try:
        deadline = time.monotonic() + 120
        printed = ""
        assert process.stdout is not None
        while "Ctrl-C stops everything" not in printed:
            line = process.stdout.readline()
            assert line or process.poll() is None, printed
            printed += line
            assert time.monotonic() < deadline, printed
        local = json.loads((state / "local.json").read_text())
        assert local["apiUrl"] == f"http://127.0.0.1:{port}"
        assert local["token"] in printed
        http = urllib3.PoolManager()
        answer = http.request(
            "GET", f"{local['apiUrl']}/deployments", headers={"Authorization": f"Bearer {local['token']}"}
        )
        assert answer.status == 200
        assert json.loads(answer.data) == {"deployments": [], "nextCursor": None}
        assert http.request("GET", f"{local['apiUrl']}/deployments").status == 401
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "stopped." in out
