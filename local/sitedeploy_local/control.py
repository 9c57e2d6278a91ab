"""The local stack's control endpoint: what the functions may ask about the emulators that no real
platform API would answer: where a deployed site, or a version at its own public URL (a preview),
is served on this machine."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sitedeploy_local.ports import HOST

SiteUrlLookup = Callable[[str, str], str | None]
PreviewUrlLookup = Callable[[str], str | None]


class ControlServer:
    def __init__(self) -> None:
        self.lookups: dict[str, SiteUrlLookup] = {}
        self.previews: dict[str, PreviewUrlLookup] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = dict(parse_qsl(split.query))
                parts = split.path.strip("/").split("/")
                status, payload = 404, {"error": "not found"}
                if len(parts) == 2 and parts[1] == "site-url" and parts[0] in server.lookups:
                    url = server.lookups[parts[0]](query.get("account", ""), query.get("name", ""))
                    status, payload = (200, {"url": url}) if url else (404, {"error": "no such site"})
                elif len(parts) == 2 and parts[1] == "preview-url" and parts[0] in server.previews:
                    url = server.previews[parts[0]](query.get("url", ""))
                    status, payload = (200, {"url": url}) if url else (404, {"error": "no such version"})
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def base_for(self, platform: str) -> str:
        return f"{self.url}/{platform}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True, name="control").start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
