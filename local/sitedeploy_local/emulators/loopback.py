"""The HTTP plumbing every emulator runs on loopback, shared so that a fix to body reading or to
connection handling reaches the API servers and the site servers of every platform at once:

- ``LoopbackServer`` / ``BackgroundServer``: a ThreadingHTTPServer with a real backlog that forgets
  its open connections on stop, in a daemon thread of its own;
- ``QuietHandler``: an HTTP/1.1 keep-alive request handler that never logs to stderr, reads bodies
  safely (Content-Length or chunked, with a limit) and can reset a connection on purpose (a fault);
- ``SiteServer``: one deployed site's own port, answering from whatever its emulator says is
  deployed at the moment of each request;
- ``SitePorts``: the registry of those ports, one per site, kept across redeploys.
"""

from __future__ import annotations

import shutil
import socket
import struct
import sys
import threading
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO, ClassVar, Generic, TypeVar

from sitedeploy_local.ports import HOST

CHUNK = 256 * 1024
SITE_BODY_LIMIT = 16 * 1024 * 1024  # a visitor's request body is read and dropped up to this size


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


# -- the request handler ----------------------------------------------------------------------------


class BodyTooLarge(Exception):
    """A request body past the caller's limit; the connection is closed after the answer."""


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that never logs to stderr and reads bodies safely."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stalls
    timeout = 60  # an idle keep-alive connection is dropped after this many seconds
    _headers_buffer: list[bytes]  # http.server's pending head, sent by flush_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def version_string(self) -> str:
        return self.server_version

    def iter_body(self, limit: int, *, truncated_ok: bool = False) -> Iterator[bytes]:
        """The request body in chunks (Content-Length or chunked); BodyTooLarge past ``limit``. A
        body the client cuts short raises ConnectionError, or with ``truncated_ok`` ends where the
        client stopped (the Cloudflare emulator acts on what arrived, as it always has)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                total += size
                if total > limit:
                    self.close_connection = True
                    raise BodyTooLarge(str(total))
                if not (yield from self._read_exactly(size, truncated_ok=truncated_ok)):
                    return
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self.close_connection = True
            raise BodyTooLarge(str(length))
        yield from self._read_exactly(length, truncated_ok=truncated_ok)

    def _read_exactly(self, size: int, *, truncated_ok: bool) -> Generator[bytes, None, bool]:
        """Yields ``size`` bytes in chunks; its result is False when the client stopped short."""
        remaining = size
        while remaining:
            data = self.rfile.read(min(CHUNK, remaining))
            if not data:
                if truncated_ok:
                    return False
                self.close_connection = True
                raise ConnectionError("the client closed the connection mid-body")
            remaining -= len(data)
            yield data
        return True

    def read_body(self, limit: int, *, truncated_ok: bool = False) -> bytes:
        """The whole request body (see ``iter_body``)."""
        return b"".join(self.iter_body(limit, truncated_ok=truncated_ok))

    def send_all(
        self, status: int, headers: Iterable[tuple[str, str]], body: bytes = b"", *, close: bool = False
    ) -> None:
        """One answer with its Content-Length (none for 204 and 304, no body for HEAD)."""
        with_body = self.command != "HEAD" and status not in (204, 304)
        self._send_head(status, headers, len(body), close=close, body=body if with_body else b"")

    def send_stream(self, status: int, headers: Iterable[tuple[str, str]], stream: BinaryIO) -> None:
        """An answer whose body is copied from ``stream`` (then closed); ``headers`` carry its
        Content-Length."""
        with stream:
            self._send_head(status, headers, None, close=False)
            if self.command == "HEAD":
                return
            shutil.copyfileobj(stream, self.wfile, CHUNK)

    def send_answer(self, answer: SiteAnswer) -> None:
        if answer.stream is not None:
            self.send_stream(answer.status, answer.headers, answer.stream)
        else:
            self.send_all(answer.status, answer.headers, answer.body, close=answer.close)

    def _send_head(
        self, status: int, headers: Iterable[tuple[str, str]], length: int | None, *, close: bool, body: bytes = b""
    ) -> None:
        """The status line and headers, and ``body`` with them in the same write (one packet for a
        small answer, rather than a head and a body the client acknowledges one at a time)."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if length is not None and status not in (204, 304):
            self.send_header("Content-Length", str(length))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def reset_connection(self) -> None:
        """Drop the connection without an answer: SO_LINGER 0 makes the close send a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def handler_class(server_version: str, dispatch: Callable[[QuietHandler], None]) -> type[QuietHandler]:
    """A QuietHandler that hands every request, whatever its method, to ``dispatch``."""

    class Handler(QuietHandler):
        def _dispatch(self) -> None:
            dispatch(self)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    Handler.server_version = server_version
    return Handler


# -- one deployed site --------------------------------------------------------------------------------


@dataclass
class SiteAnswer:
    """What a site server sends a visitor: ``body``, or the bytes of ``stream`` (an open file whose
    size the headers give); ``close`` ends the connection after the answer."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: BinaryIO | None = None
    close: bool = False


PROXY_TIMEOUT_SECONDS = 5.0
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Every request a site proxied to another origin, as (emulator, method, url): what a test reads to
# prove a proxy happened, or never did.
PROXIED: list[tuple[str, str, str]] = []


def proxy(via: str, method: str, url: str, request_headers: Mapping[str, str]) -> SiteAnswer:
    """What the platforms do for a rewrite (status 200) to another origin: fetch it and answer with
    what it answered, as a reverse proxy. On loopback only: an emulator never reaches past this
    machine (a test points the rule at a server of its own); any other host answers 502."""
    from urllib.parse import urlsplit

    import urllib3

    host = urlsplit(url).hostname or ""
    if host not in _LOOPBACK_HOSTS:
        return SiteAnswer(502, [("Content-Type", "text/plain; charset=utf-8")], b"proxying is loopback-only here\n")
    PROXIED.append((via, method, url))
    forwarded = {k: v for k, v in request_headers.items() if k in {"accept", "user-agent", "cookie"}}
    try:
        answer = urllib3.request(
            method, url, headers=forwarded, redirect=False, retries=False, timeout=PROXY_TIMEOUT_SECONDS
        )
    except urllib3.exceptions.HTTPError:
        return SiteAnswer(502, [("Content-Type", "text/plain; charset=utf-8")], b"the origin did not answer\n")
    kept = [(k, v) for k, v in answer.headers.items() if k.lower() in {"content-type", "set-cookie", "location"}]
    return SiteAnswer(answer.status, [*kept, ("X-Proxied-By", via)], answer.data)


# What a site server asks its emulator on every request: method, target and the request's headers
# (names lowercased) in, the answer out, so that a redeploy or a deletion shows at once.
SiteResponder = Callable[[str, str, Mapping[str, str]], SiteAnswer]


class SiteServer(BackgroundServer):
    """One deployed site's own loopback port. A visitor's request body is read and dropped (413
    past 16 MiB); ``respond`` answers from what is deployed at that moment."""

    def __init__(self, respond: SiteResponder, *, name: str, server_version: str, truncated_ok: bool = False) -> None:
        def dispatch(handler: QuietHandler) -> None:
            try:
                for _ in handler.iter_body(SITE_BODY_LIMIT, truncated_ok=truncated_ok):
                    pass
            except (BodyTooLarge, ValueError, ConnectionError):
                handler.send_all(413, [], b"", close=True)
                return
            headers = {k.lower(): v for k, v in handler.headers.items()}
            handler.send_answer(respond(handler.command.upper(), handler.path, headers))

        super().__init__(handler_class(server_version, dispatch), name=name)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SitePorts(Generic[K, V]):
    """Every served site's own loopback port, by the platform's key for the site. A site keeps its
    port across redeploys (an open browser tab or a test's URL stays good), loses it when deleted
    (``withdraw``) and on stop (``withdraw_all``; ``close``: no new port until ``closed`` is
    cleared, so a late state change of a stopped emulator starts no server).

    Every request looks the site up with ``visit``, under ``lock`` (the state's), so a redeploy
    shows at once; a server that was withdrawn or replaced answers ``_gone`` (and closes the
    connection) even on an open keep-alive connection. The platform's subclass says how a site it
    found answers (``_respond``) and what a gone one looks like."""

    server_version: ClassVar[str] = "loopback"
    truncated_ok: ClassVar[bool] = False  # act on a visitor's body cut short (Cloudflare's way)

    def __init__(self, lock: threading.RLock, visit: Callable[[K], V | None]) -> None:
        self._lock = lock
        self._visit = visit
        self._servers: dict[K, SiteServer] = {}
        self.closed = False

    def serve(self, key: K, name: str) -> None:
        """Give the site its port if it has none yet (kept across redeploys). Caller holds the lock."""
        if self.closed or key in self._servers:
            return
        server = SiteServer(
            lambda method, target, headers: self._answer(key, server, method, target, headers),
            name=f"{self.server_version.lower()}-site-{name}",
            server_version=self.server_version,
            truncated_ok=self.truncated_ok,
        )
        server.start()
        self._servers[key] = server

    def url(self, key: K) -> str | None:
        with self._lock:
            server = self._servers.get(key)
            return server.url if server else None

    def withdraw(self, key: K) -> SiteServer | None:
        """Forget the site's server; the caller stops it, outside the lock."""
        with self._lock:
            return self._servers.pop(key, None)

    def withdraw_all(self, *, close: bool = False) -> list[SiteServer]:
        """Forget every server (the caller stops them); ``close``: open no more until reopened."""
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
            self.closed = close
            return servers

    def answer(self, key: K, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        """What the site of ``key`` answers, however the request reached it (a custom hostname)."""
        with self._lock:
            found = self._visit(key)
        if found is None:
            return self._gone()
        return self._respond(found, method, target, headers)

    def _answer(self, key: K, server: SiteServer, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        with self._lock:
            found = self._visit(key) if self._servers.get(key) is server else None
        if found is None:
            return self._gone()
        return self._respond(found, method, target, headers)

    def _respond(self, found: V, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        raise NotImplementedError

    def _gone(self) -> SiteAnswer:
        """What a withdrawn site's server answers; it closes the connection."""
        raise NotImplementedError
