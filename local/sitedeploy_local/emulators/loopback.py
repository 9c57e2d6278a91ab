"""The servers every emulator runs on loopback: a ThreadingHTTPServer with a real backlog that
forgets its open connections on stop, in a daemon thread of its own."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sitedeploy_local.ports import HOST


class LoopbackServer(ThreadingHTTPServer):
    """Keeps track of its open connections so that stopping it also ends idle keep-alive ones
    (a stopped site must not go on answering a browser's pooled connection)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # bursts of clients queue instead of being reset
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (or a connection closed by ``stop``) is not an error worth a
        traceback; anything else is."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class BackgroundServer:
    """A ThreadingHTTPServer on 127.0.0.1 running in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, port: int = 0, name: str = "server") -> None:
        self.server = LoopbackServer((HOST, port), handler)
        self.name = name
        self._thread: threading.Thread | None = None
        self.stopped = False

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name=self.name
        )
        self._thread.start()

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()
        self.server.close_connections()
