"""Local Lambda environments, spawned as fresh interpreters or forked from the zygote: either way a
function sees its own environment, directory and arguments, imports its code afresh, answers
invocations one at a time, logs to the stack, reports an init error, and dies when killed."""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitedeploy_local import zygote
from sitedeploy_local.runtime import FunctionHost, InvokeError
from sitedeploy_local.template import FunctionSpec

HANDLER = """
import os, sys
import boto3  # preloaded in the zygote: the same module either way
LOADED_AT_IMPORT = "sitedeploy" in sys.modules
COUNT = 0
print("init log line", flush=True)

def handler(event, context):
    global COUNT
    COUNT += 1
    if event.get("crash"):
        os._exit(3)
    return {
        "cwd": os.getcwd(),
        "env": os.environ.get("FUNCTION_ONLY"),
        "leaked": os.environ.get("ZYGOTE_ONLY"),
        "function_name": context.function_name,
        "count": COUNT,
        "pid": os.getpid(),
        "sitedeploy_was_loaded": LOADED_AT_IMPORT,
        "path_head": sys.path[0],
    }
"""


@pytest.fixture(params=["forked", "spawned"])
def host_zygote(request: pytest.FixtureRequest) -> Iterator[zygote.Zygote | None]:
    if request.param == "spawned":
        yield None
        return
    if not zygote.available():
        pytest.fail("the zygote needs Linux pidfds; run the spawned variant only elsewhere")
    inherited = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    running = zygote.Zygote().start({**inherited, "ZYGOTE_ONLY": "yes", "PYTHONUNBUFFERED": "1"})
    yield running
    running.stop()


def _host(tmp_path: Path, source: str, started: zygote.Zygote | None, logs: list[str]) -> FunctionHost:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(source)
    spec = FunctionSpec("TestFunction", code, "app.handler", timeout=10, memory=128, environment={})
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "FUNCTION_ONLY": "mine",
        "PYTHONUNBUFFERED": "1",
    }
    return FunctionHost(spec, env, max_concurrency=2, log_sink=lambda _name, line: logs.append(line), zygote=started)


def test_an_environment_is_its_functions_own(tmp_path: Path, host_zygote: zygote.Zygote | None) -> None:
    logs: list[str] = []
    host = _host(tmp_path, HANDLER, host_zygote, logs)
    try:
        first = host.invoke({})
        second = host.invoke({})
        assert first["cwd"] == str(tmp_path / "fn")
        assert first["path_head"] == str(tmp_path / "fn")
        assert (first["env"], first["leaked"]) == ("mine", None)  # its environment, nothing of the zygote's
        assert first["function_name"] == "TestFunction"
        assert first["sitedeploy_was_loaded"] is False  # nothing of the service comes preloaded
        assert (first["count"], second["count"], second["pid"]) == (1, 2, first["pid"])  # one warm environment
        deadline = time.monotonic() + 5
        while "init log line" not in logs and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "init log line" in logs
        assert host.pids() == [first["pid"]]

        with pytest.raises(InvokeError) as died:
            host.invoke({"crash": True})
        assert died.value.error_type == "Runtime.ExitError"
        after = host.invoke({})
        assert after["count"] == 1  # a new environment, its module state fresh
        assert after["pid"] != first["pid"]

        host.kill_all()
        assert host.pids() == []
        with pytest.raises(ProcessLookupError):
            os.kill(after["pid"], 0)
    finally:
        host.stop()


def test_an_init_error_is_reported_on_every_invocation(tmp_path: Path, host_zygote: zygote.Zygote | None) -> None:
    host = _host(tmp_path, "raise RuntimeError('broken at import')\n", host_zygote, [])
    try:
        for _ in range(2):
            with pytest.raises(InvokeError) as failed:
                host.invoke({})
            assert failed.value.error_type == "RuntimeError"
            assert "broken at import" in failed.value.message
    finally:
        host.stop()


CLIENTS = """
import os
import botocore.loaders
import botocore.session

READS = []
_load_file = botocore.loaders.JSONFileLoader.load_file


def _counted(self, file_path):
    READS.append(file_path)
    return _load_file(self, file_path)


botocore.loaders.JSONFileLoader.load_file = _counted


def handler(event, context):
    if event.get("data_path"):
        os.environ["AWS_DATA_PATH"] = event["data_path"]
    READS.clear()
    session = botocore.session.get_session()
    keys = {"region_name": "eu-west-1", "aws_access_key_id": "a", "aws_secret_access_key": "b"}
    dynamodb = session.create_client("dynamodb", **keys)
    s3 = session.create_client("s3", **keys)
    dynamodb.get_paginator("query")
    loaders = [botocore.session.get_session().get_component("data_loader") for _ in range(2)]
    return {
        "own_search_paths": loaders[0].search_paths is not loaders[1].search_paths,
        "reads": len(READS),
        "paths": READS[:],
        "operations": [
            "GetItem" in dynamodb.meta.service_model.operation_names,
            "PutObject" in s3.meta.service_model.operation_names,
        ],
        "endpoint": dynamodb.meta.endpoint_url,
    }
"""


def test_botocore_data_is_parsed_once_in_the_zygote_and_an_own_data_path_still_reads_its_own(
    tmp_path: Path, host_zygote: zygote.Zygote | None
) -> None:
    host = _host(tmp_path, CLIENTS, host_zygote, [])
    try:
        first = host.invoke({})
        assert first["operations"] == [True, True]
        assert first["own_search_paths"] is True  # boto3 appends to a session's: never to another's
        assert first["endpoint"] == "https://dynamodb.eu-west-1.amazonaws.com"
        if host_zygote is None:
            assert first["reads"] > 0  # a fresh interpreter parses the models itself
        else:
            assert first["reads"] == 0, first["paths"]  # every file was parsed before the fork
        own = tmp_path / "models"
        own.mkdir()
        other = host.invoke({"data_path": str(own)})
        assert other["operations"] == [True, True]
        assert other["reads"] > 0  # a session that names its own data path gets a loader of its own
    finally:
        host.stop()


def test_a_zygote_that_is_gone_is_said_so(tmp_path: Path) -> None:
    if not zygote.available():
        pytest.fail("the zygote needs Linux pidfds")
    started = zygote.Zygote().start({"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path)})
    started.stop()
    host = _host(tmp_path, HANDLER, started, [])
    before = _open_fds()
    with pytest.raises(RuntimeError, match="not running"):
        host.invoke({})
    assert _open_fds() == before  # the pipes made for the environment are closed again


def test_a_zygote_stopped_before_it_forked_anything_exits_cleanly() -> None:
    """A stack that starts no environment never reads the zygote's "ready": closing the socket then
    resets it, which is the zygote's cue to end, not a traceback in the stack's output."""
    if not zygote.available():
        pytest.fail("the zygote needs Linux pidfds")
    started = zygote.Zygote().start({"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path)})
    process, channel = started._process, started._socket
    assert process is not None
    assert channel is not None
    readable, _, _ = select.select([channel], [], [], 60)
    assert readable  # its "ready" is waiting, unread
    started.stop()
    assert process.returncode == 0


def test_a_zygote_that_died_is_said_so_and_leaves_no_pipe_open(tmp_path: Path) -> None:
    if not zygote.available():
        pytest.fail("the zygote needs Linux pidfds")
    started = zygote.Zygote().start({"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        host = _host(tmp_path, HANDLER, started, [])
        assert host.invoke({"n": 1}) is not None  # it served
        host.kill_all()
        assert started._process is not None
        started._process.kill()  # it dies; its socket is still open on our side
        started._process.wait()
        before = _open_fds()
        with pytest.raises((RuntimeError, OSError)):
            host.invoke({})
        assert _open_fds() == before
    finally:
        started.stop()


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))
