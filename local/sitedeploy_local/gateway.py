"""API Gateway (HTTP API), locally: the template's routes, its JWT authorizer, payload format 2.0.

Each request becomes the event API Gateway would send, is handed to the function's execution
environment, and the function's answer becomes the HTTP response, with API Gateway's own answers
(401 Unauthorized, 404 Not Found, 413, 500, 503) where API Gateway would give them."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sitedeploy_local.auth import AuthorizerDenied, JwtAuthorizer, claims_as_api_gateway_sends
from sitedeploy_local.ports import HOST
from sitedeploy_local.runtime import FunctionHost, InvokeError
from sitedeploy_local.template import ACCOUNT_ID, HttpRoute

# API Gateway waits at most 30 s for an integration; Lambda takes at most 6 MB of request.
INTEGRATION_TIMEOUT = 30.0
MAX_REQUEST_BYTES = 6 * 1024 * 1024
_TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded|javascript)|.*\+(json|xml))", re.I)


@dataclass(frozen=True)
class _CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    specificity: tuple[int, int]

    @property
    def route_key(self) -> str:
        return f"{self.route.method} {self.route.path}"


def _compile(route: HttpRoute) -> _CompiledRoute:
    params: list[str] = []
    regex = ""
    literal_segments = 0
    for segment in route.path.strip("/").split("/"):
        if not segment:
            continue
        greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
        single = re.fullmatch(r"\{(\w+)\}", segment)
        if greedy:
            params.append(greedy.group(1))
            regex += r"/(.+)"
        elif single:
            params.append(single.group(1))
            regex += r"/([^/]+)"
        else:
            literal_segments += 1
            regex += "/" + re.escape(segment)
    return _CompiledRoute(
        route=route,
        pattern=re.compile("^" + (regex or "/") + "$"),
        params=tuple(params),
        specificity=(literal_segments, -len(params)),
    )


class Gateway:
    def __init__(
        self,
        routes: list[HttpRoute],
        hosts: dict[str, FunctionHost],
        authorizer: JwtAuthorizer,
        *,
        port: int = 0,
        cors_origins: list[str] | None = None,
    ) -> None:
        self._routes = sorted((_compile(r) for r in routes), key=lambda c: c.specificity, reverse=True)
        self._hosts = hosts
        self._authorizer = authorizer
        self._cors = cors_origins or []
        self._server = _Server((HOST, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="gateway")
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- routing --------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[_CompiledRoute, dict[str, str]] | None:
        for compiled in self._routes:
            if compiled.route.method not in {method, "ANY"}:
                continue
            found = compiled.pattern.match(path)
            if found:
                return compiled, {n: unquote(v) for n, v in zip(compiled.params, found.groups(), strict=True)}
        return None

    def build_event(
        self,
        *,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: dict[str, str],
        body: bytes,
        compiled: _CompiledRoute,
        path_params: dict[str, str],
        claims: dict[str, Any] | None,
        source_ip: str,
    ) -> dict[str, Any]:
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        content_type = headers.get("content-type", "")
        is_base64 = False
        text_body: str | None = None
        if body:
            if _TEXT_TYPES.match(content_type) or not content_type:
                try:
                    text_body = body.decode("utf-8")
                except UnicodeDecodeError:
                    text_body, is_base64 = base64.b64encode(body).decode(), True
            else:
                text_body, is_base64 = base64.b64encode(body).decode(), True
        now = datetime.now(UTC)
        context: dict[str, Any] = {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": headers.get("host", f"{HOST}:{self.port}"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": compiled.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if claims is not None:
            context["authorizer"] = {"jwt": {"claims": claims_as_api_gateway_sends(claims), "scopes": None}}
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": compiled.route_key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": is_base64,
        }
        if "cookie" in headers:
            event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
        if query:
            event["queryStringParameters"] = query
        if path_params:
            event["pathParameters"] = path_params
        if text_body is not None:
            event["body"] = text_body
        return event

    # -- HTTP -----------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "sitedeploy-local-gateway"
            # A response in two writes (head, then body) on a Nagle socket waits for the client's
            # delayed ACK: 40 ms on every kept-alive call. No Nagle, and one write per answer.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                sent = {k.lower() for k in (headers or {})}
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if "content-type" not in sent:
                    self.send_header("Content-Type", "application/json")
                for name, value in gateway._cors_headers(self.headers.get("Origin")).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("apigw-requestid", uuid.uuid4().hex[:16])
                try:
                    # end_headers(), with the body in the same write
                    self._headers_buffer.append(b"\r\n" if self.command == "HEAD" else b"\r\n" + body)
                    self.flush_headers()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up; nothing to tell it

            def _message(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps({"message": message}).encode(), headers)

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self.rfile.read(length)
                    self._message(413, "Request Entity Too Large")
                    return
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                method = self.command.upper()
                if method == "OPTIONS" and gateway._cors and self.headers.get("Origin"):
                    self._send(204, b"", {"Access-Control-Max-Age": "600"})
                    return
                found = gateway.match(method, split.path)
                if found is None:
                    self._message(404, "Not Found")
                    return
                compiled, params = found
                headers = {k.lower(): v for k, v in self.headers.items()}
                claims: dict[str, Any] | None = None
                if compiled.route.authorized:
                    try:
                        claims = gateway._authorizer.verify(headers.get("authorization"))
                    except AuthorizerDenied:
                        self._message(401, "Unauthorized", {"www-authenticate": 'Bearer error="invalid_token"'})
                        return
                event = gateway.build_event(
                    method=method,
                    raw_path=unquote(split.path),  # HTTP APIs hand functions the path decoded
                    raw_query=split.query,
                    headers=headers,
                    body=body,
                    compiled=compiled,
                    path_params=params,
                    claims=claims,
                    source_ip=self.client_address[0],
                )
                host = gateway._hosts[compiled.route.function]
                started = time.monotonic()
                try:
                    result = host.invoke(event, timeout=min(INTEGRATION_TIMEOUT, float(host.spec.timeout)))
                except InvokeError as exc:
                    if exc.error_type == "Timeout" and time.monotonic() - started >= INTEGRATION_TIMEOUT:
                        self._message(503, "Service Unavailable")
                    else:
                        self._message(500, "Internal Server Error")
                    return
                status, out_headers, out_body = _to_http(result)
                self._send(status, out_body, out_headers)

            def __getattr__(self, name: str) -> Any:
                # Every method reaches the router, as at API Gateway: one no route takes is a 404,
                # never http.server's 501 page for a method it has no do_ method for.
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

        return Handler

    def _cors_headers(self, origin: str | None) -> dict[str, str]:
        if not origin or not self._cors:
            return {}
        if "*" in self._cors:
            allowed = "*"
        elif origin in self._cors:
            allowed = origin
        else:
            return {}
        return {
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Headers": "authorization,content-type,idempotency-key",
            "Access-Control-Allow-Methods": "GET,POST,PUT,DELETE,OPTIONS",
        }


class _Server(ThreadingHTTPServer):
    """A listen backlog like a real front door's: Python's default of 5 resets bursts of clients."""

    request_queue_size = 1024


def _to_http(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Payload format 2.0: a dict with statusCode is a response; anything else is a JSON 200."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        status = int(result["statusCode"])
        try:
            HTTPStatus(status)
        except ValueError:
            return 500, {}, json.dumps({"message": "Internal Server Error"}).encode()
        return status, headers, raw
    return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
