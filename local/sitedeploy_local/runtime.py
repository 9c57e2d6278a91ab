"""Lambda, locally: each function gets worker processes (execution environments) of its own, with
the environment the template gives it, a timeout that kills the environment, and bounded
concurrency. A crash or a kill is what a Lambda dying mid-invocation looks like."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from sitedeploy_local.template import FunctionSpec
from sitedeploy_local.zygote import Zygote

LogSink = Callable[[str, str], None]


class InvokeError(Exception):
    """The invocation did not return a result: the function raised, timed out or died."""

    def __init__(self, function: str, error_type: str, message: str) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function = function
        self.error_type = error_type
        self.message = message


class _Process(Protocol):
    """A spawned interpreter (``subprocess.Popen``) or a child of the zygote (``ForkedProcess``)."""

    @property
    def pid(self) -> int: ...
    @property
    def stdin(self) -> IO[bytes] | None: ...
    @property
    def stdout(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...
    def kill(self) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class _Worker:
    process: _Process
    answers: queue.Queue[dict[str, Any] | None]
    stdin: IO[bytes]


class FunctionHost:
    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str],
        *,
        max_concurrency: int = 4,
        log_sink: LogSink | None = None,
        zygote: Zygote | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.logical_id
        self._env = environment
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._log_sink = log_sink
        self._zygote = zygote
        self.invocations = 0
        # Called after every invocation, however it ended (the stack's stream pump: a function that
        # returned may have written to a table).
        self.returned: Callable[[], None] | None = None

    # -- processes ------------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        read_fd, write_fd = os.pipe()
        env = {**self._env, "SITEDEPLOY_WORKER_FD": str(write_fd)}
        spec = self.spec
        arguments = [str(spec.code_dir), spec.handler, self.name, str(spec.memory), str(spec.timeout)]
        process: _Process
        try:
            if self._zygote is not None:
                process = self._zygote.spawn(arguments, env, str(self.spec.code_dir))
            else:
                process = subprocess.Popen(
                    [sys.executable, "-m", "sitedeploy_local.worker", *arguments],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                    pass_fds=(write_fd,),
                    cwd=str(self.spec.code_dir),
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        reader = os.fdopen(read_fd, "r")

        def read_answers() -> None:
            for line in reader:
                answers.put(json.loads(line))
            answers.put(None)  # EOF: the environment is gone

        def read_logs() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                text = raw.decode(errors="replace").rstrip("\n")
                if self._log_sink:
                    self._log_sink(self.name, text)

        threading.Thread(target=read_answers, daemon=True, name=f"{self.name}-answers").start()
        threading.Thread(target=read_logs, daemon=True, name=f"{self.name}-logs").start()
        assert process.stdin is not None
        worker = _Worker(process=process, answers=answers, stdin=process.stdin)
        ready = answers.get(timeout=120)
        if ready is None:
            raise InvokeError(self.name, "InitError", "the execution environment exited during init")
        with self._lock:
            self._all.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def warm(self) -> None:
        """Start one environment ahead of the first request (a provisioned-concurrency of one)."""
        worker = self._spawn()
        with self._lock:
            self._idle.append(worker)

    # -- invocations ----------------------------------------------------------------------------

    def invoke(self, event: Any, *, timeout: float | None = None) -> Any:
        try:
            return self._invoke(event, timeout)
        finally:
            if self.returned is not None:
                self.returned()

    def _invoke(self, event: Any, timeout: float | None) -> Any:
        limit = float(timeout if timeout is not None else self.spec.timeout)
        with self._slots:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None or worker.process.poll() is not None:
                worker = self._spawn()
            self.invocations += 1
            request = {"event": event, "requestId": str(uuid.uuid4())}
            try:
                worker.stdin.write(json.dumps(request).encode() + b"\n")
                worker.stdin.flush()
                answer = worker.answers.get(timeout=limit + 1.0)
            except queue.Empty:
                self._retire(worker)
                raise InvokeError(self.name, "Timeout", f"task timed out after {limit:.0f}s") from None
            except (BrokenPipeError, OSError):
                self._retire(worker)
                raise InvokeError(self.name, "Runtime.ExitError", "the execution environment died") from None
            if answer is None:
                self._retire(worker)
                raise InvokeError(self.name, "Runtime.ExitError", "the execution environment died")
            with self._lock:
                self._idle.append(worker)
            if not answer.get("ok"):
                raise InvokeError(self.name, str(answer.get("errorType")), str(answer.get("errorMessage")))
            return answer.get("result")

    def pids(self) -> list[int]:
        """Process ids of the live execution environments (benchmarks read their memory)."""
        with self._lock:
            return [worker.process.pid for worker in self._all if worker.process.poll() is None]

    def kill_all(self) -> None:
        """Every environment of this function dies at once, as when Lambda is killed mid-work."""
        with self._lock:
            workers = list(self._all)
            self._idle.clear()
        for worker in workers:
            self._retire(worker)

    def stop(self) -> None:
        self.kill_all()
