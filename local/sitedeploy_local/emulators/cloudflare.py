"""The Cloudflare v4 API for an assets-only Worker, on loopback.

sitedeploy publishes sites to Workers Static Assets. Testing that against the real platform needs an
account, a network and patience, and cannot make the platform misbehave on cue. This emulator speaks
the same wire protocol (what ``wrangler deploy --assets`` and ``wrangler delete`` send: see
shared/reference/cloudflare-wrangler-calls.md), with the platform's envelope, error codes, upload
JWTs that expire, content dedup per account and buckets, and it serves every deployed Worker on a
loopback port of its own (``cloudflare_sites``) so that a test can fetch the bytes back and a person
can open the site in a browser. Faults (429 + retry-after, 5xx, 524, resets, slowness, a lost
completion token) are injected per route through ``faults.FaultInjector``.

Emulator choices where the platform's behaviour is not documented (kept deliberately strict so that
an adapter bug shows up here rather than in production):

- error codes other than the known ones (7003, 1000, 10000, 10007, 10013, 10016, 10090, 10304, 971)
  use 10021 with a message that says what is wrong;
- a completion JWT is bound to the account and Worker name its session was opened for, and may be
  used any number of times until it expires (a retried PUT sends it again);
- an upload must only carry hashes that its session asked for, each decoding to the manifest size;
- a part type of ``application/null`` is stored as given and served without a Content-Type header
  (what the platform does: wrangler sends it for unknown extensions);
- a new Worker's workers.dev subdomain starts disabled; until it is enabled its site answers 404
  "There is nothing here yet".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from sitedeploy_local.emulators.cloudflare_sites import (
    HTML_HANDLING,
    NOT_FOUND_HANDLING,
    QuietHandler,
    RequestTooLarge,
    SiteResponse,
    SiteRules,
    SiteServer,
    SiteVersion,
    StoredAsset,
    nothing_here,
    resolve,
)
from sitedeploy_local.emulators.faults import FaultAction, FaultInjector
from sitedeploy_local.emulators.loopback import BackgroundServer
from sitedeploy_local.ports import HOST

API_PREFIX = "/client/v4"
MAX_ASSET_SIZE = 25 * 1024 * 1024  # 26,214,400 bytes per file
MAX_FILES = 20_000  # Free plan; Paid allows 100,000
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # Cloudflare's request body limit (Free / Pro)
BUCKET_MAX_FILES = 50
BUCKET_MAX_BYTES = 40 * 1024 * 1024  # raw bytes; base64 makes the request ~4/3 of that
SCRIPT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ASSET_HASH = re.compile(r"^[0-9a-f]{32}$")
COMPATIBILITY_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ASSET_CONFIG_KEYS = frozenset(
    {"html_handling", "not_found_handling", "run_worker_first", "serve_directly", "_headers", "_redirects"}
)
AUTHOR_EMAIL = "local@sitedeploy.invalid"

# Error codes the platform is known to answer with.
CODE_NO_ROUTE = 7003
CODE_RATE_LIMITED = 971
CODE_INVALID_TOKEN = 1000
CODE_AUTH = 10000
CODE_SCRIPT_NOT_FOUND = 10007
CODE_UNKNOWN = 10013
CODE_INVALID_NAME = 10016
CODE_BAD_REQUEST = 10021
CODE_SERVICE_NOT_FOUND = 10090
CODE_INVALID_MANIFEST = 10304

SCRIPT_NOT_FOUND = "This Worker does not exist on your account."


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _bad_request(message: str, code: int = CODE_BAD_REQUEST) -> ApiError:
    return ApiError(400, code, message)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- public records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestLogEntry:
    """One API request as the emulator saw it (``status`` 0: the connection was reset)."""

    method: str
    path: str
    route: str
    status: int
    bytes_in: int
    time: float
    duration: float = 0.0
    account_id: str | None = None
    fault: str | None = None
    hashes: tuple[str, ...] = ()  # asset upload: the hashes the request carried


@dataclass
class ScriptVersion:
    id: str
    number: int
    created_on: datetime
    manifest: dict[str, str]
    config: dict[str, Any]
    compatibility_date: str | None
    compatibility_flags: list[str]
    source: str  # "upload" (script PUT) or "versions" (versions POST)
    site: SiteVersion
    annotations: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScriptState:
    """A Worker as the platform holds it; ``manifest``/``config`` are those of the active version."""

    account_id: str
    name: str
    created_on: datetime
    modified_on: datetime
    etag: str
    deployment_id: str
    manifest: dict[str, str]
    config: dict[str, Any]
    compatibility_date: str | None = None
    compatibility_flags: list[str] = field(default_factory=list)
    has_assets: bool = True
    subdomain_enabled: bool = False
    previews_enabled: bool = False
    put_count: int = 0
    active_version_id: str = ""
    versions: list[ScriptVersion] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    script_settings: dict[str, Any] = field(default_factory=dict)
    rule_warnings: list[str] = field(default_factory=list)

    def snapshot(self) -> ScriptState:
        return replace(
            self,
            manifest=dict(self.manifest),
            config=dict(self.config),
            compatibility_flags=list(self.compatibility_flags),
            versions=list(self.versions),
            deployments=[dict(d) for d in self.deployments],
            script_settings=dict(self.script_settings),
            rule_warnings=list(self.rule_warnings),
        )

    def active_version(self) -> ScriptVersion:
        for version in self.versions:
            if version.id == self.active_version_id:
                return version
        return self.versions[-1]


# -- internal state ---------------------------------------------------------------------------------


@dataclass
class _Token:
    value: str
    id: str
    account_ids: frozenset[str]
    status: str


@dataclass
class _Account:
    id: str
    name: str
    subdomain: str
    created_on: datetime
    assets: dict[str, StoredAsset] = field(default_factory=dict)
    scripts: dict[str, ScriptState] = field(default_factory=dict)


@dataclass
class _UploadSession:
    id: str
    account_id: str
    script_name: str
    token: str
    manifest: dict[str, str]  # path -> hash
    sizes: dict[str, int]  # hash -> size
    requested: frozenset[str]


@dataclass
class _Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    route: str
    params: dict[str, str]
    account_id: str | None = None
    fault: str | None = None
    hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormPart:
    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[FormPart]:
    """A binary-safe multipart/form-data parser (``cgi`` is gone from 3.13)."""
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise _bad_request(f"expected multipart/form-data, got {content_type or 'no content type'}")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _bad_request("multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    position = body.find(delimiter)
    if position < 0:
        raise _bad_request("multipart body without its boundary")
    parts: list[FormPart] = []
    while True:
        position += len(delimiter)
        if body[position : position + 2] == b"--":
            return parts
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise _bad_request("truncated multipart body")
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise _bad_request("unterminated multipart part")
        raw = body[start:end]
        if raw.startswith(b"\r\n"):
            head, data = b"", raw[2:]
        else:
            head, separator, data = raw.partition(b"\r\n\r\n")
            if not separator:
                raise _bad_request("multipart part without a header/body separator")
        part_headers = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                part_headers[name.strip()] = value.strip()
        disposition = part_headers.get("content-disposition")
        field_name = filename = None
        if disposition:
            field_name = part_headers.get_param("name", header="content-disposition")
            filename = part_headers.get_param("filename", header="content-disposition")
        parts.append(
            FormPart(
                name=unquote(field_name) if isinstance(field_name, str) else None,
                filename=filename if isinstance(filename, str) else None,
                content_type=part_headers.get("content-type"),
                data=data,
            )
        )
        position = end + 2


def _json_body(call: _Call) -> Any:
    try:
        return json.loads(call.body or b"null")
    except ValueError as exc:
        raise _bad_request(f"the request body is not valid JSON: {exc}") from None


def _ray() -> str:
    return f"{secrets.token_hex(8)}-LCL"


@dataclass(frozen=True)
class _Reply:
    status: int  # 0 with reset=True: the connection is dropped without an answer
    headers: list[tuple[str, str]]
    body: bytes
    reset: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, extra: Mapping[str, str] | None = None) -> _Reply:
        headers = [("Content-Type", "application/json"), ("cf-ray", _ray()), *(extra or {}).items()]
        return cls(status, headers, json.dumps(payload).encode())


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Callable[[CloudflareEmulator, _Call], tuple[int, Any]]


def _route(method: str, template: str, name: str) -> Callable[..., Any]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)

    def register(handler: Callable[[CloudflareEmulator, _Call], tuple[int, Any]]) -> Any:
        _ROUTES.append(_Route(method, re.compile(f"^{regex}$"), name, handler))
        return handler

    return register


_ROUTES: list[_Route] = []

NO_ROUTE = "no-route"
ROUTE_NAMES = (
    "tokens-verify",
    "accounts-list",
    "account-get",
    "scripts-list",
    "script-put",
    "script-delete",
    "assets-upload-session",
    "assets-upload",
    "account-subdomain-get",
    "subdomain-get",
    "subdomain-post",
    "service-get",
    "service-delete",
    "deployments-list",
    "deployments-create",
    "versions-list",
    "versions-create",
    "settings-get",
    "script-settings-get",
    "script-settings-patch",
    "kv-namespaces-list",
    "references-get",
    "tails-by-consumer",
    NO_ROUTE,
)


class CloudflareEmulator:
    """A loopback Cloudflare API (``api_base``) plus one loopback site server per deployed Worker."""

    def __init__(
        self,
        *,
        port: int = 0,
        upload_jwt_ttl: float = 3600.0,
        completion_jwt_ttl: float = 3600.0,
        max_files: int = MAX_FILES,
        bucket_max_files: int = BUCKET_MAX_FILES,
        bucket_max_bytes: int = BUCKET_MAX_BYTES,
        rate_limit: int | None = None,
        rate_window: float = 300.0,
    ) -> None:
        self.upload_jwt_ttl = upload_jwt_ttl
        self.completion_jwt_ttl = completion_jwt_ttl
        self.max_files = max_files
        self.bucket_max_files = bucket_max_files
        self.bucket_max_bytes = bucket_max_bytes
        self.rate_limit = rate_limit  # requests per token per rate_window seconds; None: unlimited
        self.rate_window = rate_window
        self.faults = FaultInjector(routes=frozenset(ROUTE_NAMES))
        self.requests: list[RequestLogEntry] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._secret = secrets.token_bytes(32)
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _Token] = {}
        self._sessions: dict[str, _UploadSession] = {}
        self._sites: dict[tuple[str, str], SiteServer] = {}
        self._rate: dict[str, deque[float]] = {}
        emulator = self

        class Handler(QuietHandler):
            server_version = "cloudflare"

            def _dispatch(self) -> None:
                emulator._handle(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

        self._server = BackgroundServer(Handler, port=port, name="cloudflare-api")

    # -- lifecycle and public API ---------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def api_base(self) -> str:
        return f"http://{HOST}:{self.port}{API_PREFIX}"

    def start(self) -> None:
        self._stopping.clear()
        self._server.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sites = list(self._sites.values())
            self._sites.clear()
        for site in sites:
            site.stop()
        self._server.stop()

    def __enter__(self) -> CloudflareEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_account(self, account_id: str, *, name: str, subdomain: str) -> None:
        with self._lock:
            existing = self._accounts.get(account_id)
            if existing is not None:
                existing.name, existing.subdomain = name, subdomain
            else:
                self._accounts[account_id] = _Account(account_id, name, subdomain, _now())

    def add_token(self, token: str, account_ids: list[str], *, status: str = "active") -> None:
        with self._lock:
            unknown = [a for a in account_ids if a not in self._accounts]
            if unknown:
                raise ValueError(f"unknown account(s) {unknown}: add_account first")
            self._tokens[token] = _Token(token, uuid.uuid4().hex, frozenset(account_ids), status)

    def script(self, account_id: str, name: str) -> ScriptState | None:
        with self._lock:
            account = self._accounts.get(account_id)
            found = account.scripts.get(name) if account else None
            return found.snapshot() if found else None

    def asset(self, account_id: str, asset_hash: str) -> tuple[bytes, str] | None:
        with self._lock:
            account = self._accounts.get(account_id)
            stored = account.assets.get(asset_hash) if account else None
            return (stored.data, stored.content_type) if stored else None

    def site_url(self, account_id: str, name: str) -> str | None:
        """Where the Worker's site answers (a 404 "nothing here" page until its workers.dev
        subdomain is enabled); None when the Worker was never deployed or has been deleted."""
        with self._lock:
            site = self._sites.get((account_id, name))
            return site.url if site else None

    def public_url(self, account_id: str, name: str) -> str | None:
        """The URL the platform would print: ``https://{name}.{subdomain}.workers.dev``."""
        with self._lock:
            account = self._accounts.get(account_id)
            if account is None or name not in account.scripts:
                return None
            return f"https://{name}.{account.subdomain}.workers.dev"

    def reset(self) -> None:
        with self._lock:
            sites = list(self._sites.values())
            self._sites.clear()
            for account in self._accounts.values():
                account.assets.clear()
                account.scripts.clear()
            self._sessions.clear()
            self._rate.clear()
            self.requests.clear()
            self.faults.clear()
        for site in sites:
            site.stop()

    def requests_for(self, route: str) -> list[RequestLogEntry]:
        with self._lock:
            return [entry for entry in self.requests if entry.route == route]

    # -- HTTP -----------------------------------------------------------------------------------

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        if not path.startswith(API_PREFIX + "/"):
            return None, {}
        rest = path[len(API_PREFIX) :]
        for route in _ROUTES:
            if route.method != method:
                continue
            found = route.pattern.match(rest)
            if found:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None, {}

    def _handle(self, handler: QuietHandler) -> None:
        arrived, started = time.time(), time.monotonic()
        split = urlsplit(handler.path)
        method = handler.command.upper()
        try:
            body = handler.read_body(MAX_REQUEST_BYTES)
        except (RequestTooLarge, ValueError) as exc:
            handler.close_connection = True  # the rest of the body is still on the wire
            too_large = ApiError(413, CODE_BAD_REQUEST, f"request body too large or malformed ({exc})")
            self._log(
                method=method,
                path=split.path,
                route=NO_ROUTE,
                status=413,
                bytes_in=0,
                arrived=arrived,
                started=started,
                account_id=None,
            )
            self._send(handler, self._envelope(413, None, too_large))
            return
        route, params = self._match(method, split.path)
        call = _Call(
            method=method,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            route=route.name if route else NO_ROUTE,
            params=params,
            account_id=params.get("account_id"),
        )
        action = self.faults.on_request(call.route)
        if action is not None:
            call.fault = action.describe()
            if action.delay:
                self._stopping.wait(action.delay)
        if action is not None and action.interrupts and not action.after:
            reply = self._fault_reply(action)
        else:
            status, result, error = self._run(route, call)
            reply = self._envelope(status, result, error)
            if action is not None and action.interrupts:  # after=True: it happened, the answer is lost
                reply = self._fault_reply(action)
        # Logged before answering, so that a client that has its answer also finds it in the log.
        self._log_call(call, reply.status, arrived, started)
        self._send(handler, reply)

    def _run(self, route: _Route | None, call: _Call) -> tuple[int, Any, ApiError | None]:
        try:
            if route is None:
                raise ApiError(404, CODE_NO_ROUTE, "No route for the URI")
            status, result = route.handler(self, call)
            return status, result, None
        except ApiError as exc:
            return exc.status, None, exc
        except Exception as exc:  # an emulator bug must still answer like the platform would
            return 500, None, ApiError(500, CODE_UNKNOWN, f"An unknown error has occurred ({exc!r})")

    @staticmethod
    def _envelope(status: int, result: Any, error: ApiError | None) -> _Reply:
        if error is not None:
            payload: dict[str, Any] = {
                "success": False,
                "errors": [{"code": error.code, "message": error.message}],
                "messages": [],
                "result": None,
            }
            return _Reply.json(status, payload, error.headers)
        payload = {"success": True, "errors": [], "messages": [], "result": result}
        if isinstance(result, list):
            payload["result_info"] = {
                "page": 1,
                "per_page": max(len(result), 20),
                "count": len(result),
                "total_count": len(result),
                "total_pages": 1,
            }
        return _Reply.json(status, payload)

    @staticmethod
    def _send(handler: QuietHandler, reply: _Reply) -> None:
        if reply.reset:
            handler.reset_connection()
            return
        try:
            handler.send_all(reply.status, reply.headers, reply.body)
        except OSError:
            handler.close_connection = True

    def _fault_reply(self, action: FaultAction) -> _Reply:
        """The answer (or the reset, status 0) a fault stands for."""
        if action.reset:
            return _Reply(0, [], b"", reset=True)
        status = int(action.status or 500)
        extra: dict[str, str] = {}
        if action.retry_after is not None:
            extra["retry-after"] = str(max(0, math.ceil(action.retry_after)))
        if action.body is not None:
            return _Reply.json(status, action.body, extra)
        if status == 524:
            headers = [("Content-Type", "text/html; charset=UTF-8"), ("cf-ray", _ray()), *extra.items()]
            return _Reply(status, headers, _timeout_page().encode())
        if status == 429:
            error = ApiError(status, CODE_RATE_LIMITED, "Please wait and consider throttling your request speed")
        elif status in (401, 403):
            error = ApiError(status, CODE_AUTH, "Authentication error")
        elif status >= 500:
            error = ApiError(status, CODE_UNKNOWN, "An unknown error has occurred")
        else:
            error = ApiError(status, CODE_BAD_REQUEST, f"Injected fault {status}")
        error.headers = extra
        return self._envelope(status, None, error)

    def _log_call(self, call: _Call, status: int, arrived: float, started: float) -> None:
        self._log(
            method=call.method,
            path=call.path,
            route=call.route,
            status=status,
            bytes_in=len(call.body),
            arrived=arrived,
            started=started,
            account_id=call.account_id,
            fault=call.fault,
            hashes=call.hashes,
        )

    def _log(
        self,
        *,
        method: str,
        path: str,
        route: str,
        status: int,
        bytes_in: int,
        arrived: float,
        started: float,
        account_id: str | None,
        fault: str | None = None,
        hashes: tuple[str, ...] = (),
    ) -> None:
        entry = RequestLogEntry(
            method=method,
            path=path,
            route=route,
            status=status,
            bytes_in=bytes_in,
            time=arrived,
            duration=time.monotonic() - started,
            account_id=account_id,
            fault=fault,
            hashes=hashes,
        )
        with self._lock:
            self.requests.append(entry)

    # -- authorization --------------------------------------------------------------------------

    def _bearer(self, call: _Call) -> str:
        scheme, _, value = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, CODE_AUTH, "Authentication error")
        return value.strip()

    def _authorize(self, call: _Call, account_id: str | None) -> _Token:
        value = self._bearer(call)
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.status != "active":
                raise ApiError(401, CODE_AUTH, "Authentication error")
            if account_id is not None and account_id not in token.account_ids:
                raise ApiError(403, CODE_AUTH, "Authentication error")
            self._count_rate(token.value)
        return token

    def _count_rate(self, token: str) -> None:
        if self.rate_limit is None:
            return
        now = time.monotonic()
        window = self._rate.setdefault(token, deque())
        while window and window[0] <= now - self.rate_window:
            window.popleft()
        if len(window) >= self.rate_limit:
            wait = max(1, math.ceil(window[0] + self.rate_window - now))
            raise ApiError(
                429,
                CODE_RATE_LIMITED,
                "Please wait and consider throttling your request speed",
                {"retry-after": str(wait)},
            )
        window.append(now)

    def _account_call(self, call: _Call) -> tuple[_Token, _Account]:
        account_id = call.params["account_id"]
        token = self._authorize(call, account_id)
        with self._lock:
            account = self._accounts.get(account_id)
        if account is None:
            raise ApiError(403, CODE_AUTH, "Authentication error")
        return token, account

    def _script_call(self, call: _Call) -> tuple[_Token, _Account, str]:
        token, account = self._account_call(call)
        name = call.params["name"]
        if not SCRIPT_NAME.match(name):
            raise ApiError(
                400,
                CODE_INVALID_NAME,
                f"Invalid Worker name {name!r}: use lowercase letters, digits and dashes, at most 63 "
                "characters, not starting or ending with a dash.",
            )
        return token, account, name

    @staticmethod
    def _existing(account: _Account, name: str, *, service: bool = False) -> ScriptState:
        script = account.scripts.get(name)
        if script is None:
            if service:
                raise ApiError(404, CODE_SERVICE_NOT_FOUND, "workers.api.error.service_not_found")
            raise ApiError(404, CODE_SCRIPT_NOT_FOUND, SCRIPT_NOT_FOUND)
        return script

    # -- JWTs -----------------------------------------------------------------------------------

    def _sign(self, session: _UploadSession, kind: str, ttl: float) -> str:
        now = time.time()
        expires: float = int(now + ttl) if ttl >= 10 else round(now + ttl, 3)
        claims = {"sid": session.id, "acct": session.account_id, "typ": kind, "iat": int(now), "exp": expires}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _session_from(self, token: str, kind: str) -> _UploadSession:
        """The session a JWT names; ApiError with ``expired`` in the message when it has expired."""
        try:
            # Expiry is checked here rather than by PyJWT, which truncates a fractional ``exp`` and
            # so cannot honour the sub-second TTLs that tests use.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sid", "typ"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            raise ApiError(401, CODE_AUTH, "Authentication error: invalid JWT") from None
        if float(claims["exp"]) <= time.time():
            raise ApiError(401, CODE_AUTH, "Expired JWT: start a new upload session")
        if claims.get("typ") != kind:
            raise ApiError(401, CODE_AUTH, f"Authentication error: this is not an asset {kind} JWT")
        with self._lock:
            session = self._sessions.get(str(claims["sid"]))
        if session is None:
            raise ApiError(401, CODE_AUTH, "Authentication error: unknown upload session")
        return session

    # -- metadata shared by the script PUT and the versions POST --------------------------------

    def _metadata(self, call: _Call) -> dict[str, Any]:
        parts = parse_multipart(call.body, call.headers.get("content-type", ""))
        metadata_parts = [part for part in parts if part.name == "metadata"]
        if len(metadata_parts) != 1:
            raise _bad_request("expected exactly one multipart part named 'metadata'")
        try:
            metadata = json.loads(metadata_parts[0].data)
        except ValueError as exc:
            raise _bad_request(f"the metadata part is not valid JSON: {exc}") from None
        if not isinstance(metadata, dict):
            raise _bad_request("the metadata part must be a JSON object")
        if metadata.get("main_module") or metadata.get("body_part") or len(parts) > 1:
            raise _bad_request("this emulator runs assets-only Workers: upload no script modules")
        return metadata

    def _version_from(self, account: _Account, name: str, metadata: dict[str, Any], source: str) -> ScriptVersion:
        existing = account.scripts.get(name)
        assets = metadata.get("assets")
        if assets is None and metadata.get("keep_assets") and existing is not None:
            previous = existing.active_version()
            manifest, config = dict(previous.manifest), dict(previous.config)
        else:
            if not isinstance(assets, dict) or not isinstance(assets.get("jwt"), str):
                raise _bad_request("an assets-only Worker needs metadata.assets.jwt (the completion token)")
            manifest = self._completed_manifest(assets["jwt"], account, name)
            config = self._asset_config(assets.get("config"))
        compatibility_date = metadata.get("compatibility_date")
        if compatibility_date is not None and (
            not isinstance(compatibility_date, str) or not COMPATIBILITY_DATE.match(compatibility_date)
        ):
            raise _bad_request(f"compatibility_date must look like 2025-06-01, not {compatibility_date!r}")
        flags = metadata.get("compatibility_flags") or []
        if not isinstance(flags, list) or not all(isinstance(flag, str) for flag in flags):
            raise _bad_request("compatibility_flags must be a list of strings")
        html_handling = config.get("html_handling", "auto-trailing-slash")
        rules = SiteRules.parse(config.get("_redirects"), config.get("_headers"), html_handling=html_handling)
        site = SiteVersion(
            host=f"{name}.{account.subdomain}.workers.dev",
            manifest=manifest,
            html_handling=html_handling,
            not_found_handling=config.get("not_found_handling", "none"),
            rules=rules,
        )
        annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
        return ScriptVersion(
            id=str(uuid.uuid4()),
            number=len(existing.versions) + 1 if existing else 1,
            created_on=_now(),
            manifest=manifest,
            config=config,
            compatibility_date=compatibility_date,
            compatibility_flags=list(flags),
            source=source,
            site=site,
            annotations=dict(annotations or {}),
        )

    def _completed_manifest(self, token: str, account: _Account, name: str) -> dict[str, str]:
        try:
            session = self._session_from(token, "completion")
        except ApiError as exc:
            raise _bad_request(f"invalid assets JWT: {exc.message}") from None
        if session.account_id != account.id or session.script_name != name:
            raise _bad_request(
                f"invalid assets JWT: it was issued for Worker {session.script_name!r} of another upload"
            )
        with self._lock:
            missing = [h for h in set(session.manifest.values()) if h not in account.assets]
        if missing:
            raise _bad_request(f"invalid assets JWT: {len(missing)} asset(s) of its manifest were never uploaded")
        return dict(session.manifest)

    @staticmethod
    def _asset_config(raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise _bad_request("metadata.assets.config must be an object")
        unknown = sorted(set(raw) - ASSET_CONFIG_KEYS)
        if unknown:
            raise _bad_request(f"unknown key(s) in metadata.assets.config: {unknown}")
        html = raw.get("html_handling")
        if html is not None and html not in HTML_HANDLING:
            raise _bad_request(f"html_handling must be one of {list(HTML_HANDLING)}, not {html!r}")
        not_found = raw.get("not_found_handling")
        if not_found is not None and not_found not in NOT_FOUND_HANDLING:
            raise _bad_request(f"not_found_handling must be one of {list(NOT_FOUND_HANDLING)}, not {not_found!r}")
        for key in ("_headers", "_redirects"):
            if key in raw and not isinstance(raw[key], str):
                raise _bad_request(f"{key} must be the text of the file")
        return {key: value for key, value in raw.items() if value is not None}

    def _activate(self, account: _Account, name: str, version: ScriptVersion, trigger: str) -> ScriptState:
        """Make ``version`` the one served (100%); create the Worker if new. Caller holds the lock."""
        now = _now()
        script = account.scripts.get(name)
        if script is None:
            script = ScriptState(
                account_id=account.id,
                name=name,
                created_on=now,
                modified_on=now,
                etag="",
                deployment_id="",
                manifest={},
                config={},
            )
            account.scripts[name] = script
        if version not in script.versions:
            script.versions.append(version)
        deployment_id = str(uuid.uuid4())
        deployment: dict[str, Any] = {
            "id": deployment_id,
            "source": "api",
            "strategy": "percentage",
            "author_email": AUTHOR_EMAIL,
            "created_on": _iso(now),
            "annotations": {"workers/triggered_by": trigger},
            "versions": [{"version_id": version.id, "percentage": 100.0}],
        }
        script.deployments.insert(0, deployment)
        script.active_version_id = version.id
        script.deployment_id = deployment_id
        script.manifest = dict(version.manifest)
        script.config = dict(version.config)
        script.compatibility_date = version.compatibility_date
        script.compatibility_flags = list(version.compatibility_flags)
        script.rule_warnings = list(version.site.rules.warnings)
        script.modified_on = now
        script.etag = hashlib.sha256(f"{name}:{version.id}".encode()).hexdigest()
        if (account.id, name) not in self._sites:
            site = SiteServer((account.id, name), self._respond_site)
            site.start()
            self._sites[(account.id, name)] = site
        return script

    def _delete(self, account: _Account, name: str) -> None:
        with self._lock:
            account.scripts.pop(name, None)
            site = self._sites.pop((account.id, name), None)
        if site is not None:
            site.stop()

    # -- site serving ---------------------------------------------------------------------------

    def _respond_site(self, server: SiteServer, method: str, target: str, headers: Mapping[str, str]) -> SiteResponse:
        account_id, name = server.key
        with self._lock:
            account = self._accounts.get(account_id)
            script = account.scripts.get(name) if account else None
            if account is None or script is None or self._sites.get(server.key) is not server:
                response = nothing_here()
                response.close = True
                return response
            if not script.subdomain_enabled:
                return nothing_here()
            site = script.active_version().site
            lookup = account.assets.get
        return resolve(site, lookup, method=method, target=target, request_headers=headers)

    # -- views ----------------------------------------------------------------------------------

    @staticmethod
    def _script_view(script: ScriptState) -> dict[str, Any]:
        return {
            "id": script.name,
            "etag": script.etag,
            "handlers": ["fetch"],
            "named_handlers": [],
            "has_assets": script.has_assets,
            "has_modules": False,
            "created_on": _iso(script.created_on),
            "modified_on": _iso(script.modified_on),
            "compatibility_date": script.compatibility_date,
            "compatibility_flags": list(script.compatibility_flags),
            "usage_model": "standard",
            "logpush": False,
            "tail_consumers": None,
            "placement": {},
        }

    @staticmethod
    def _version_view(version: ScriptVersion, script: ScriptState) -> dict[str, Any]:
        return {
            "id": version.id,
            "number": version.number,
            "metadata": {
                "author_email": AUTHOR_EMAIL,
                "author_id": "local",
                "source": "api" if version.source == "versions" else "upload",
                "created_on": _iso(version.created_on),
                "modified_on": _iso(version.created_on),
                "has_preview": False,
            },
            "annotations": dict(version.annotations),
            "resources": {
                "script": {"etag": script.etag, "handlers": ["fetch"], "last_deployed_from": "api"},
                "script_runtime": {
                    "compatibility_date": version.compatibility_date,
                    "compatibility_flags": list(version.compatibility_flags),
                    "usage_model": "standard",
                    "limits": {"cpu_ms": 30000},
                },
                "bindings": [],
            },
            "startup_time_ms": 0,
        }

    def _settings_view(self, script: ScriptState) -> dict[str, Any]:
        return {
            "bindings": [],
            "compatibility_date": script.compatibility_date,
            "compatibility_flags": list(script.compatibility_flags),
            "logpush": False,
            "placement": {},
            "tail_consumers": [],
            "usage_model": "standard",
            **script.script_settings,
        }


# -- routes -----------------------------------------------------------------------------------------


@_route("GET", "/user/tokens/verify", "tokens-verify")
def _tokens_verify(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    value = emu._bearer(call)
    with emu._lock:
        token = emu._tokens.get(value)
    if token is None:
        raise ApiError(401, CODE_INVALID_TOKEN, "Invalid API Token")
    return 200, {"id": token.id, "status": token.status}


@_route("GET", "/accounts", "accounts-list")
def _accounts_list(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    token = emu._authorize(call, None)
    with emu._lock:
        accounts = [emu._accounts[a] for a in sorted(token.account_ids) if a in emu._accounts]
    return 200, [_account_view(account) for account in accounts]


def _account_view(account: _Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "type": "standard",
        "settings": {"enforce_twofactor": False, "api_access_enabled": None, "abuse_contact_email": None},
        "created_on": _iso(account.created_on),
    }


@_route("GET", "/accounts/{account_id}", "account-get")
def _account_get(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account = emu._account_call(call)
    return 200, _account_view(account)


@_route("GET", "/accounts/{account_id}/workers/scripts", "scripts-list")
def _scripts_list(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account = emu._account_call(call)
    with emu._lock:
        scripts = sorted(account.scripts.values(), key=lambda s: s.created_on)
        return 200, [emu._script_view(script) for script in scripts]


@_route("POST", "/accounts/{account_id}/workers/scripts/{name}/assets-upload-session", "assets-upload-session")
def _upload_session(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    token, account, name = emu._script_call(call)
    body = _json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("manifest"), dict):
        raise _bad_request('expected {"manifest": {"/path": {"hash": ..., "size": ...}}}', CODE_INVALID_MANIFEST)
    raw_manifest: dict[str, Any] = body["manifest"]
    if not raw_manifest:
        raise _bad_request("the manifest lists no files", CODE_INVALID_MANIFEST)
    if len(raw_manifest) > emu.max_files:
        raise _bad_request(
            f"the manifest lists {len(raw_manifest)} files; the limit is {emu.max_files} files per Worker",
            CODE_INVALID_MANIFEST,
        )
    manifest: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for path, entry in raw_manifest.items():
        if not path.startswith("/"):
            raise _bad_request(f"manifest path {path!r} must start with '/'", CODE_INVALID_MANIFEST)
        if not isinstance(entry, dict):
            raise _bad_request(f"manifest entry for {path} must be {{hash, size}}", CODE_INVALID_MANIFEST)
        asset_hash, size = entry.get("hash"), entry.get("size")
        if not isinstance(asset_hash, str) or not ASSET_HASH.match(asset_hash):
            raise _bad_request(
                f"manifest entry for {path}: hash must be 32 lowercase hex characters, got {asset_hash!r}",
                CODE_INVALID_MANIFEST,
            )
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad_request(f"manifest entry for {path}: size must be a non-negative integer", CODE_INVALID_MANIFEST)
        if size > MAX_ASSET_SIZE:
            raise _bad_request(
                f"Asset too large: {path} is {size} bytes; Workers assets are limited to 25 MiB "
                f"({MAX_ASSET_SIZE} bytes) per file",
                CODE_INVALID_MANIFEST,
            )
        if sizes.setdefault(asset_hash, size) != size:
            raise _bad_request(
                f"manifest entry for {path}: hash {asset_hash} is listed with two different sizes",
                CODE_INVALID_MANIFEST,
            )
        manifest[path] = asset_hash
    with emu._lock:
        missing = [h for h in dict.fromkeys(manifest.values()) if h not in account.assets]
        session = _UploadSession(
            id=uuid.uuid4().hex,
            account_id=account.id,
            script_name=name,
            token=token.value,
            manifest=manifest,
            sizes=sizes,
            requested=frozenset(missing),
        )
        emu._sessions[session.id] = session
    if not missing:
        if emu.faults.on_completion(call.route) is not None:
            call.fault = f"lose-completion on {call.route}"
            return 200, {"jwt": None, "buckets": []}
        return 200, {"jwt": emu._sign(session, "completion", emu.completion_jwt_ttl), "buckets": []}
    buckets: list[list[str]] = [[]]
    bucket_bytes = 0
    for asset_hash in missing:
        size = sizes[asset_hash]
        current = buckets[-1]
        if current and (len(current) >= emu.bucket_max_files or bucket_bytes + size > emu.bucket_max_bytes):
            buckets.append([])
            bucket_bytes = 0
        buckets[-1].append(asset_hash)
        bucket_bytes += size
    return 200, {"jwt": emu._sign(session, "upload", emu.upload_jwt_ttl), "buckets": buckets}


@_route("POST", "/accounts/{account_id}/workers/assets/upload", "assets-upload")
def _assets_upload(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    session = emu._session_from(emu._bearer(call), "upload")
    if session.account_id != call.params["account_id"]:
        raise ApiError(403, CODE_AUTH, "Authentication error: the upload JWT belongs to another account")
    with emu._lock:
        account = emu._accounts.get(session.account_id)
        emu._count_rate(session.token)
    if account is None:
        raise ApiError(403, CODE_AUTH, "Authentication error")
    if call.query.get("base64") != ["true"]:
        raise _bad_request("send the files base64-encoded with ?base64=true")
    parts = parse_multipart(call.body, call.headers.get("content-type", ""))
    call.hashes = tuple(part.name or "" for part in parts)
    if not parts:
        raise _bad_request("the upload carries no files")
    received: dict[str, StoredAsset] = {}
    for part in parts:
        asset_hash = part.name or ""
        if asset_hash not in session.sizes:
            raise _bad_request(f"hash {asset_hash!r} is not in this upload session's manifest")
        if asset_hash not in session.requested:
            raise _bad_request(f"hash {asset_hash} was not requested by this upload session")
        try:
            data = base64.b64decode(re.sub(rb"\s+", b"", part.data), validate=True)
        except (binascii.Error, ValueError):
            raise _bad_request(f"the part for {asset_hash} is not valid base64") from None
        expected = session.sizes[asset_hash]
        if len(data) != expected:
            raise _bad_request(f"the part for {asset_hash} decodes to {len(data)} bytes; the manifest says {expected}")
        received[asset_hash] = StoredAsset(data, part.content_type or "application/octet-stream")
    with emu._lock:
        account.assets.update(received)
        remaining = [h for h in session.requested if h not in account.assets]
    if remaining:
        return 202, {}
    if emu.faults.on_completion(call.route) is not None:
        call.fault = f"lose-completion on {call.route}"
        return 202, {}
    return 201, {"jwt": emu._sign(session, "completion", emu.completion_jwt_ttl)}


@_route("PUT", "/accounts/{account_id}/workers/scripts/{name}", "script-put")
def _script_put(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    metadata = emu._metadata(call)
    version = emu._version_from(account, name, metadata, "upload")
    with emu._lock:
        script = emu._activate(account, name, version, "upload")
        script.put_count += 1
        view = emu._script_view(script)
        view["deployment_id"] = script.deployment_id
        view["startup_time_ms"] = 0
    return 200, view


@_route("DELETE", "/accounts/{account_id}/workers/scripts/{name}", "script-delete")
def _script_delete(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        emu._existing(account, name)
    emu._delete(account, name)
    return 200, None


@_route("GET", "/accounts/{account_id}/workers/subdomain", "account-subdomain-get")
def _account_subdomain(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account = emu._account_call(call)
    return 200, {"subdomain": account.subdomain}


@_route("GET", "/accounts/{account_id}/workers/scripts/{name}/subdomain", "subdomain-get")
def _subdomain_get(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        script = emu._existing(account, name)
        return 200, {"enabled": script.subdomain_enabled, "previews_enabled": script.previews_enabled}


@_route("POST", "/accounts/{account_id}/workers/scripts/{name}/subdomain", "subdomain-post")
def _subdomain_post(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    body = _json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
        raise _bad_request('expected {"enabled": true|false}')
    previews = body.get("previews_enabled", body["enabled"])
    if not isinstance(previews, bool):
        raise _bad_request("previews_enabled must be a boolean")
    with emu._lock:
        script = emu._existing(account, name)
        script.subdomain_enabled = body["enabled"]
        script.previews_enabled = previews
        return 200, {"enabled": script.subdomain_enabled, "previews_enabled": script.previews_enabled}


@_route("GET", "/accounts/{account_id}/workers/services/{name}", "service-get")
def _service_get(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        script = emu._existing(account, name, service=True)
        return 200, {
            "id": name,
            "created_on": _iso(script.created_on),
            "modified_on": _iso(script.modified_on),
            "default_environment": {
                "environment": "production",
                "created_on": _iso(script.created_on),
                "modified_on": _iso(script.modified_on),
                "script": emu._script_view(script),
            },
            "environments": [{"environment": "production"}],
        }


@_route("DELETE", "/accounts/{account_id}/workers/services/{name}", "service-delete")
def _service_delete(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        emu._existing(account, name, service=True)
    emu._delete(account, name)
    return 200, None


@_route("GET", "/accounts/{account_id}/workers/scripts/{name}/deployments", "deployments-list")
def _deployments_list(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        script = emu._existing(account, name)
        return 200, {"deployments": [dict(d) for d in script.deployments]}


@_route("POST", "/accounts/{account_id}/workers/scripts/{name}/deployments", "deployments-create")
def _deployments_create(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    body = _json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("versions"), list) or not body["versions"]:
        raise _bad_request('expected {"strategy": "percentage", "versions": [{"version_id", "percentage"}]}')
    if body.get("strategy", "percentage") != "percentage":
        raise _bad_request("strategy must be 'percentage'")
    split: list[tuple[str, float]] = []
    for item in body["versions"]:
        if not isinstance(item, dict) or not isinstance(item.get("version_id"), str):
            raise _bad_request("each version needs a version_id")
        percentage = item.get("percentage")
        if not isinstance(percentage, int | float) or isinstance(percentage, bool) or not 0 <= percentage <= 100:
            raise _bad_request("each version needs a percentage between 0 and 100")
        split.append((item["version_id"], float(percentage)))
    if abs(sum(p for _, p in split) - 100.0) > 1e-6:
        raise _bad_request("the percentages of a deployment must add up to 100")
    with emu._lock:
        script = emu._existing(account, name)
        versions = {version.id: version for version in script.versions}
        unknown = [vid for vid, _ in split if vid not in versions]
        if unknown:
            raise _bad_request(f"unknown version id(s) {unknown}")
        served = max(split, key=lambda item: item[1])[0]  # the emulator serves the majority version
        emu._activate(account, name, versions[served], "deployment")
        deployment = script.deployments[0]
        deployment["versions"] = [{"version_id": vid, "percentage": p} for vid, p in split]
        annotations = body.get("annotations")
        if isinstance(annotations, dict):
            deployment["annotations"] = {**deployment["annotations"], **annotations}
        return 200, dict(deployment)


@_route("GET", "/accounts/{account_id}/workers/scripts/{name}/versions", "versions-list")
def _versions_list(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        script = emu._existing(account, name)
        items = [emu._version_view(v, script) for v in reversed(script.versions)]
        return 200, {"items": items}


@_route("POST", "/accounts/{account_id}/workers/scripts/{name}/versions", "versions-create")
def _versions_create(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        emu._existing(account, name)
    metadata = emu._metadata(call)
    version = emu._version_from(account, name, metadata, "versions")
    with emu._lock:
        script = emu._existing(account, name)
        script.versions.append(version)
        return 200, emu._version_view(version, script)


@_route("GET", "/accounts/{account_id}/workers/scripts/{name}/settings", "settings-get")
def _settings_get(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        return 200, emu._settings_view(emu._existing(account, name))


@_route("GET", "/accounts/{account_id}/workers/scripts/{name}/script-settings", "script-settings-get")
def _script_settings_get(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        script = emu._existing(account, name)
        return 200, {"logpush": False, "tail_consumers": [], **script.script_settings}


@_route("PATCH", "/accounts/{account_id}/workers/scripts/{name}/script-settings", "script-settings-patch")
def _script_settings_patch(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    body = _json_body(call)
    if not isinstance(body, dict):
        raise _bad_request("expected a JSON object of settings")
    with emu._lock:
        script = emu._existing(account, name)
        script.script_settings.update(body)
        return 200, {"logpush": False, "tail_consumers": [], **script.script_settings}


@_route("GET", "/accounts/{account_id}/storage/kv/namespaces", "kv-namespaces-list")
def _kv_namespaces(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    emu._account_call(call)
    return 200, []


@_route("GET", "/accounts/{account_id}/workers/scripts/{name}/references", "references-get")
def _references(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    _, account, name = emu._script_call(call)
    with emu._lock:
        emu._existing(account, name)
    return 200, {
        "services": {"incoming": [], "outgoing": [], "pages_function": False},
        "durable_objects": [],
        "dispatch_outbounds": [],
    }


@_route("GET", "/accounts/{account_id}/workers/tails/by-consumer/{name}", "tails-by-consumer")
def _tails_by_consumer(emu: CloudflareEmulator, call: _Call) -> tuple[int, Any]:
    emu._script_call(call)
    return 200, []


def _timeout_page() -> str:
    """What Cloudflare's edge answers when the origin takes longer than 100 s: not JSON."""
    return (
        "<!DOCTYPE html>\n<html><head><title>api.cloudflare.com | 524: A timeout occurred</title></head>"
        "<body><h1>A timeout occurred <span>Error code 524</span></h1>"
        "<p>The origin web server timed out responding to this request.</p></body></html>\n"
    )
