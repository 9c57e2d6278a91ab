"""Lambda environments started by ``fork`` from one process that has already imported the heavy
libraries every function imports (boto3 and botocore, pydantic, Powertools, urllib3).

A fresh interpreter spends most of a local cold start importing those: about 0.3-0.5 s of CPU per
environment, and a test session starts a few hundred environments (every function of every stack,
then one more per concurrent invocation). A forked child starts with them imported and imports
only the function's own code, which is what differs between environments, so every environment
still starts from a clean slate: nothing of the service (``sitedeploy``) is imported here, no AWS
client or session exists, and the child takes its function's environment, working directory and
arguments before it imports the handler, exactly as a spawned ``python -m sitedeploy_local.worker``.

botocore's data files (the services' models and endpoint rules, the partitions) are parsed here
too, once: decoding them was most of a new environment's first clients (about 170 ms of CPU for
DynamoDB's, S3's, Secrets Manager's and KMS's, 15 ms with the data already parsed). An environment's
sessions take a copy of that loader with the parsed data in common (``_share_botocore_data``); the
data is botocore's, the same for every function, and the child's copy is its own (fork), so nothing
one environment does reaches another.

The zygote is single-threaded (``fork`` of a threaded process is unsafe) and keeps no state: it
receives a request (arguments, environment, directory) with the child's three pipe ends over a
Unix socket, forks, and answers the child's pid. The parent holds each child by a pidfd, so a
child is killed and waited for without being the parent's own child and without pid reuse.

Only on Linux (pidfds, ``SCM_RIGHTS``); ``SITEDEPLOY_LOCAL_FORK=0`` turns it off."""

from __future__ import annotations

import copy
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from typing import IO

# Imported once, here; none of them reads the environment at import in a way functions differ by.
PRELOAD = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "botocore.config",
    "pydantic",
    "urllib3",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.utilities.typing",
    "aws_lambda_powertools.utilities.parameters",
    "aws_lambda_powertools.utilities.batch",
)
# The services the layer makes clients of; their data is parsed in the zygote.
BOTOCORE_SERVICES = ("dynamodb", "s3", "secretsmanager", "kms", "amplify", "sts")
MAX_MESSAGE = 1 << 20


def available() -> bool:
    return (
        sys.platform == "linux"
        and hasattr(os, "pidfd_open")
        and hasattr(socket, "send_fds")
        and os.environ.get("SITEDEPLOY_LOCAL_FORK", "1") != "0"
    )


class ForkedProcess:
    """What ``FunctionHost`` needs of a ``subprocess.Popen``, for a child of the zygote."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None
        self._pidfd: int | None = os.pidfd_open(pid)
        self._lock = threading.Lock()

    def _ended(self, timeout: float | None) -> bool:
        with self._lock:
            if self._pidfd is None:
                return True
            readable, _, _ = select.select([self._pidfd], [], [], timeout)
            if not readable:
                return False
            os.close(self._pidfd)
            self._pidfd = None
            self.returncode = -signal.SIGKILL  # reaped by the zygote: the real status is not ours to read
            return True

    def poll(self) -> int | None:
        return self.returncode if self._ended(0) else None

    def kill(self) -> None:
        with self._lock:
            if self._pidfd is None:
                return
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended(timeout):
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        return self.returncode if self.returncode is not None else 0


class Zygote:
    """The parent's side: start it, fork environments from it, stop it."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._ready = False

    def start(self, environment: dict[str, str]) -> Zygote:
        """Start it importing; the first ``spawn`` waits until it has (the stack starts meanwhile)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sitedeploy_local.zygote", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=environment,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._socket = ours
        self._ready = False
        return self

    def _wait_ready(self) -> None:
        if self._socket is None:
            raise RuntimeError("the local Lambda zygote is not running")
        if not self._ready:
            if self._socket.recv(16) != b"ready":
                raise RuntimeError("the local Lambda zygote did not start")
            self._ready = True

    def spawn(self, arguments: list[str], environment: dict[str, str], cwd: str) -> ForkedProcess:
        """A new environment running ``python -m sitedeploy_local.worker <arguments>``; its answers
        go to the file descriptor the caller names in ``SITEDEPLOY_WORKER_FD`` (passed here as
        ``answers``: the write end the child keeps)."""
        child_in, parent_in = os.pipe()
        parent_out, child_out = os.pipe()
        answers = int(environment["SITEDEPLOY_WORKER_FD"])
        request = json.dumps({"arguments": arguments, "environment": environment, "cwd": cwd}).encode()
        try:
            with self._lock:
                self._wait_ready()
                assert self._socket is not None  # for mypy: _wait_ready raised otherwise
                socket.send_fds(self._socket, [request], [child_in, child_out, answers])
                reply = self._socket.recv(MAX_MESSAGE)
            if not reply:
                raise RuntimeError("the local Lambda zygote is gone")
            pid = int(json.loads(reply)["pid"])
        except BaseException:
            os.close(parent_in)  # the child's ends are closed below; nothing of this spawn is kept
            os.close(parent_out)
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        return ForkedProcess(pid, os.fdopen(parent_in, "wb"), os.fdopen(parent_out, "rb"))

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # the zygote reads the end of its socket and exits
            self._socket = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


# -- in the zygote ------------------------------------------------------------------------------


def _child(request: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become the environment the request describes, then serve it."""
    stdin_fd, output_fd, answers_fd = fds
    os.dup2(stdin_fd, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(stdin_fd)
    os.close(output_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    environment = dict(request["environment"])  # type: ignore[call-overload]
    environment["SITEDEPLOY_WORKER_FD"] = str(answers_fd)
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(str(request["cwd"]))
    sys.argv = ["sitedeploy_local.worker", *request["arguments"]]  # type: ignore[misc]
    from sitedeploy_local import worker

    worker.main()


def _share_botocore_data() -> None:
    """Parse botocore's data for the layer's services into one loader, and give it to every session
    made with botocore's own data path (``AWS_DATA_PATH`` unset, as the functions run): a session
    that names another path gets a loader of its own, as without the zygote."""
    import botocore.loaders
    import botocore.session

    loader = botocore.loaders.create_loader()
    for name in ("endpoints", "sdk-default-configuration", "partitions"):
        loader.load_data(name)
    for service in BOTOCORE_SERVICES:
        version = loader.determine_latest_version(service, "service-2")
        for type_name in ("service-2", "endpoint-rule-set-1", "paginators-1"):
            # Cached by how it is asked (botocore asks all three ways), so asked each way here.
            loader.load_service_model(service, type_name, api_version=None)
            loader.load_service_model(service, type_name, api_version=version)
            loader.load_service_model(service, type_name, version)
    create_loader = botocore.loaders.create_loader

    def shared(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string is not None:
            return create_loader(search_path_string)
        # Each session's own loader (boto3 appends its data folder to a session's search paths),
        # with the parsed data in common.
        own = copy.copy(loader)
        own._search_paths = list(loader.search_paths)  # type: ignore[attr-defined]
        return own

    botocore.session.create_loader = shared


def serve(channel: socket.socket) -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    _share_botocore_data()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they end
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C ends the stack, which closes our socket
    try:
        channel.sendall(b"ready")
    except (BrokenPipeError, ConnectionResetError):  # the stack stopped while we were importing
        return
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, 3)
        except ConnectionResetError:  # the stack stopped before it read our "ready" (nothing forked)
            return
        if not message:
            return
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                channel.close()
                _child(request, fds)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        for fd in fds:
            os.close(fd)
        channel.sendall(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
