"""The web console, served by the local stack on an origin of its own.

The console is a static site (``clients/web/``: the browser client and a page that uses it), so
this is a plain file server plus one generated file, ``config.json``, which tells the page where
the local API is and hands it the dev token. Its origin is one of the stack's AllowedOrigins, so
the page meets the API's and the staging bucket's CORS rules exactly as a front end does in AWS.
A second instance on another port is how the tests play a page the stack does not allow."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sitedeploy_local.ports import HOST

# What the page reads first: {"apiUrl": ..., "token": ...}; None until the stack is up.
ConfigSource = Callable[[], dict[str, Any] | None]


class ConsoleServer:
    def __init__(self, root: Path, config: ConfigSource, *, port: int = 0) -> None:
        self.root = root

        class Handler(SimpleHTTPRequestHandler):
            extensions_map = {
                **SimpleHTTPRequestHandler.extensions_map,
                ".js": "text/javascript",
                ".mjs": "text/javascript",
                ".ts": "text/plain",
            }

            def log_message(self, format: str, *args: Any) -> None:
                return

            def end_headers(self) -> None:
                # A console under development: the browser always asks again.
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] == "/config.json":
                    body = json.dumps(config() or {}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

        self._server = ThreadingHTTPServer((HOST, port), partial(Handler, directory=str(root)))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def origins(self) -> list[str]:
        """The origins a browser may use for this server (the same port under both names)."""
        return [self.url, f"http://localhost:{self.port}"]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="console")
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
