"""What the Cloudflare emulator holds, and the platform's rules over it: accounts, API tokens,
Workers with their versions and deployments, asset upload sessions (and the JWTs that name them),
and each account's content-addressed assets.

No HTTP here. The API (``api`` and its ``routes``) turns a request into calls on ``CloudflareState``
and the result into the platform's envelope; the site servers (``sites``) read the active version of
a Worker on every visit. Everything is guarded by one re-entrant lock, ``_lock``, which the API's
handlers also take when they read several things that must agree.

Quotas, as the platform enforces them: an account holds at most ``worker_limit`` Workers (500 on the
paid plan, 100 on the free one; per account, set by ``add_account`` or ``set_worker_limit``). The
script PUT that would create one more answers 400 with code 10037, "You have exceeded the limit of
500 Workers on your account." (the account's limit in it); updating an existing Worker still works
at the limit, and deleting one frees its place.

Emulator choices where the platform's behaviour is not documented (kept deliberately strict so that
an adapter bug shows up here rather than in production):

- error codes other than the known ones (7003, 1000, 10000, 10007, 10013, 10016, 10037, 10090, 10304,
  971) use 10021 with a message that says what is wrong;
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
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt

from sitedeploy_local.emulators.cloudflare.domains import CODE_KV_NOT_FOUND, CloudflareDomains
from sitedeploy_local.emulators.cloudflare.errors import ApiError
from sitedeploy_local.emulators.cloudflare.rules import SiteRules
from sitedeploy_local.emulators.cloudflare.sites import (
    HTML_HANDLING,
    NOT_FOUND_HANDLING,
    SiteVersion,
    StoredAsset,
    Visit,
    WorkerKey,
    WorkerSites,
    resolve,
)
from sitedeploy_local.emulators.hosts import host_of
from sitedeploy_local.emulators.loopback import SiteAnswer, SitePorts, SiteServer
from sitedeploy_local.emulators.plumbing import PlatformState

MAX_ASSET_SIZE = 25 * 1024 * 1024  # 26,214,400 bytes per file
MAX_FILES = 20_000  # Free plan; Paid allows 100,000
WORKER_LIMIT = 500  # Workers per account on the paid plan (100 on the free plan)
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
CODE_TOO_MANY_WORKERS = 10037
CODE_BAD_REQUEST = 10021
CODE_SERVICE_NOT_FOUND = 10090
CODE_INVALID_MANIFEST = 10304
CODE_NAMESPACE_NOT_FOUND = 100119  # what Workers for Platforms answers for an unknown namespace
CODE_NAMESPACE_EXISTS = 100120

SCRIPT_NOT_FOUND = "This Worker does not exist on your account."


def bad_request(message: str, code: int = CODE_BAD_REQUEST) -> ApiError:
    return ApiError(400, code, message)


def too_many_workers(limit: int) -> ApiError:
    """The platform's answer to creating a Worker on a full account (the number is the account's
    limit, 500 on the paid plan)."""
    return ApiError(400, CODE_TOO_MANY_WORKERS, f"You have exceeded the limit of {limit} Workers on your account.")


def _check_worker_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"a Worker limit is a non-negative integer, not {limit!r}")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_script_name(name: str) -> None:
    if not SCRIPT_NAME.match(name):
        raise ApiError(
            400,
            CODE_INVALID_NAME,
            f"Invalid Worker name {name!r}: use lowercase letters, digits and dashes, at most 63 "
            "characters, not starting or ending with a dash.",
        )


def _route_regex(pattern: str) -> re.Pattern[str]:
    """A Workers route pattern (``*.example.com/*``): ``*`` matches anything, the rest itself."""
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.lower().split("*")) + "$")


def _b64decode(encoded: bytes) -> bytes | None:
    """A part's bytes, or None when it is not base64. Clients send one unbroken line (wrangler
    does), decoded at once; only a part that fails that is searched for line breaks to drop: a
    regex pass over every part cost the emulator more CPU than the rest of an upload together,
    and on a shared machine that CPU is taken from the client being measured."""
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", encoded), validate=True)
    except (binascii.Error, ValueError):
        return None


# -- public records ---------------------------------------------------------------------------------


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
    # A dispatch Worker: the namespace its ``dispatch_namespace`` binding names (it runs natively:
    # each request goes to the namespace's Worker its hostname names), and all its bindings (a
    # ``DOMAIN`` text, a ``HOSTS`` KV namespace of custom hostnames).
    dispatch_namespace: str | None = None
    bindings: list[dict[str, Any]] = field(default_factory=list)

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
            bindings=[dict(b) for b in self.bindings],
        )

    def active_version(self) -> ScriptVersion:
        for version in self.versions:
            if version.id == self.active_version_id:
                return version
        return self.versions[-1]


# -- internal records -------------------------------------------------------------------------------


@dataclass
class Token:
    value: str
    id: str
    account_ids: frozenset[str]
    status: str


@dataclass
class Account:
    id: str
    name: str
    subdomain: str
    created_on: datetime
    assets: dict[str, StoredAsset] = field(default_factory=dict)
    scripts: dict[str, ScriptState] = field(default_factory=dict)
    worker_limit: int = WORKER_LIMIT  # how many Workers the account may hold (the plan's quota)
    # Workers for Platforms: the account's dispatch namespaces (each held as an account of its own,
    # with its own scripts and assets and no Worker limit), and its Workers' routes (pattern → Worker).
    namespaces: dict[str, Account] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)
    route_zones: dict[str, str | None] = field(default_factory=dict)  # pattern → the zone it names
    # For a namespace: the account it belongs to, and its name.
    parent: str | None = None
    namespace: str | None = None


@dataclass
class UploadSession:
    id: str
    account_id: str
    script_name: str
    token: str
    manifest: dict[str, str]  # path -> hash
    sizes: dict[str, int]  # hash -> size
    requested: frozenset[str]


# -- the state --------------------------------------------------------------------------------------


# Separates a Worker's name from a preview URL's label in a site server's key.
PREVIEW_KEY = "|"
PREVIEW_ALIAS = "workers/alias"


def _preview_version(script: ScriptState, label: str) -> ScriptVersion | None:
    """The version a preview URL label names: its id's first 8 characters, or its alias (the
    newest version with it)."""
    for version in reversed(script.versions):
        if version.annotations.get(PREVIEW_ALIAS) == label or version.id[:8] == label:
            return version
    return None


class CloudflareState(CloudflareDomains, PlatformState):
    """Accounts, tokens, Workers, upload sessions and assets, with the rules that change them, and
    the loopback site of every deployed Worker (``_site_ports``); zones, custom domains and KV
    (``domains.CloudflareDomains``), served by Host on ``domains_port``."""

    def __init__(
        self,
        *,
        upload_jwt_ttl: float,
        completion_jwt_ttl: float,
        max_files: int,
        bucket_max_files: int,
        bucket_max_bytes: int,
    ) -> None:
        self.upload_jwt_ttl = upload_jwt_ttl
        self.completion_jwt_ttl = completion_jwt_ttl
        self.max_files = max_files
        self.bucket_max_files = bucket_max_files
        self.bucket_max_bytes = bucket_max_bytes
        self._lock = threading.RLock()
        self._secret = secrets.token_bytes(32)
        self._accounts: dict[str, Account] = {}
        self._tokens: dict[str, Token] = {}
        self._sessions: dict[str, UploadSession] = {}
        self._site_ports: SitePorts[WorkerKey, Visit] = WorkerSites(self._lock, self._visit)
        self._dispatch_server: SiteServer | None = None
        self._init_domains()
        self._init_hosts(self._host_answer, name="cloudflare-domains", server_version="cloudflare")

    # -- seeding and inspecting (tests and the local stack) ---------------------------------------

    def add_account(self, account_id: str, *, name: str, subdomain: str, worker_limit: int = WORKER_LIMIT) -> None:
        """Create the account, or restate an existing one's name, subdomain and Worker limit (its
        Workers and assets stay). ``worker_limit``: how many Workers it may hold (500 on the paid
        plan, 100 on the free one); tests use small numbers to reach it."""
        _check_worker_limit(worker_limit)
        with self._lock:
            existing = self._accounts.get(account_id)
            if existing is not None:
                existing.name, existing.subdomain = name, subdomain
                existing.worker_limit = worker_limit
            else:
                self._accounts[account_id] = Account(account_id, name, subdomain, now(), worker_limit=worker_limit)

    def set_worker_limit(self, account_id: str, limit: int) -> None:
        """Change how many Workers the account may hold. Lowering it below the Workers it holds
        removes none: only the creation of new ones is refused until enough are deleted."""
        _check_worker_limit(limit)
        with self._lock:
            account = self._accounts.get(account_id)
            if account is None:
                raise ValueError(f"unknown account {account_id!r}: add_account first")
            account.worker_limit = limit

    def worker_limit(self, account_id: str) -> int | None:
        """The account's Worker limit; None for an unknown account."""
        with self._lock:
            account = self._accounts.get(account_id)
            return account.worker_limit if account else None

    def add_token(self, token: str, account_ids: list[str], *, status: str = "active") -> None:
        with self._lock:
            unknown = [a for a in account_ids if a not in self._accounts]
            if unknown:
                raise ValueError(f"unknown account(s) {unknown}: add_account first")
            self._tokens[token] = Token(token, uuid.uuid4().hex, frozenset(account_ids), status)

    def script(self, account_id: str, name: str) -> ScriptState | None:
        with self._lock:
            account = self._accounts.get(account_id)
            found = account.scripts.get(name) if account else None
            return found.snapshot() if found else None

    def scripts(self, account_id: str) -> list[str]:
        """The names of the account's Workers (none for an unknown account)."""
        with self._lock:
            account = self._accounts.get(account_id)
            return sorted(account.scripts) if account else []

    def asset(self, account_id: str, asset_hash: str) -> tuple[bytes, str] | None:
        with self._lock:
            account = self._accounts.get(account_id)
            stored = account.assets.get(asset_hash) if account else None
            return (stored.data, stored.content_type) if stored else None

    def site_url(self, account_id: str, name: str) -> str | None:
        """Where the Worker's site answers (a 404 "nothing here" page until its workers.dev
        subdomain is enabled); None when the Worker was never deployed or has been deleted. A
        Workers for Platforms site (``dispatch:<namespace>``) answers through its dispatcher."""
        if account_id.startswith("dispatch:"):
            return self.dispatch_url(account_id.removeprefix("dispatch:"), name)
        return self._site_ports.url((account_id, name))

    def public_url(self, account_id: str, name: str) -> str | None:
        """The URL the platform would print: ``https://{name}.{subdomain}.workers.dev``."""
        with self._lock:
            account = self._accounts.get(account_id)
            if account is None or name not in account.scripts:
                return None
            return f"https://{name}.{account.subdomain}.workers.dev"

    def _forget(self) -> list[SiteServer]:
        """Drop every Worker, asset, dispatch namespace, route and upload session (accounts and
        tokens stay); the site servers to stop, which the caller does outside the lock."""
        with self._lock:
            sites = self._site_ports.withdraw_all(close=self._site_ports.closed)
            for account in [a for a in self._accounts.values() if a.namespace is not None]:
                del self._accounts[account.id]
            for account in self._accounts.values():
                account.assets.clear()
                account.scripts.clear()
                account.namespaces.clear()
                account.routes.clear()
                account.route_zones.clear()
            self._sessions.clear()
            self._forget_domains()
            return sites

    # -- Workers for Platforms -------------------------------------------------------------------

    def _create_namespace(self, account: Account, name: str) -> Account:
        with self._lock:
            if name in account.namespaces:
                raise ApiError(409, CODE_NAMESPACE_EXISTS, f"A dispatch namespace named {name!r} already exists")
            held = Account(
                f"{account.id}/ns/{name}", name, account.subdomain, now(), worker_limit=10**9,
                parent=account.id, namespace=name,
            )  # fmt: skip
            account.namespaces[name] = held
            self._accounts[held.id] = held
            return held

    @staticmethod
    def _namespace(account: Account, name: str) -> Account:
        found = account.namespaces.get(name)
        if found is None:
            raise ApiError(404, CODE_NAMESPACE_NOT_FOUND, f"Dispatch namespace {name!r} not found")
        return found

    def _delete_namespace(self, account: Account, name: str) -> None:
        with self._lock:
            held = self._namespace(account, name)
            del account.namespaces[name]
            self._accounts.pop(held.id, None)

    def _put_dispatcher(
        self, account: Account, name: str, namespace: str, bindings: list[dict[str, Any]]
    ) -> ScriptState:
        """A dispatch Worker: it holds no assets; its binding names the namespace it dispatches to,
        and a ``kv_namespace`` binding must name a namespace of the account (400, 10041)."""
        moment = now()
        with self._lock:
            for binding in bindings:
                if (
                    binding.get("type") == "kv_namespace"
                    and self._kv_binding(account.id, [binding], str(binding.get("name"))) is None
                ):
                    raise bad_request(f"KV namespace '{binding.get('namespace_id')}' is not valid.", CODE_KV_NOT_FOUND)
            script = account.scripts.get(name)
            if script is None:
                if len(account.scripts) >= account.worker_limit:
                    raise too_many_workers(account.worker_limit)
                script = ScriptState(
                    account_id=account.id, name=name, created_on=moment, modified_on=moment, etag="",
                    deployment_id=str(uuid.uuid4()), manifest={}, config={}, has_assets=False,
                )  # fmt: skip
                account.scripts[name] = script
            script.dispatch_namespace = namespace
            script.bindings = [dict(b) for b in bindings]
            script.modified_on = moment
            script.etag = hashlib.sha256(f"{name}:{namespace}:{moment}".encode()).hexdigest()
            return script

    def _set_routes(self, account: Account, name: str, routes: list[tuple[str, str | None]]) -> None:
        """A Worker's routes, all of them, each with the zone it names if it does (what PUT
        .../scripts/{name}/routes does)."""
        with self._lock:
            self._existing(account, name)
            account.routes = {p: w for p, w in account.routes.items() if w != name}
            account.route_zones = {p: z for p, z in account.route_zones.items() if p in account.routes}
            account.routes.update({pattern: name for pattern, _ in routes})
            account.route_zones.update(dict(routes))
            if self._dispatch_server is None:
                self._dispatch_server = SiteServer(
                    self._dispatched, name="cloudflare-dispatch", server_version="cloudflare"
                )
                self._dispatch_server.start()

    def _dispatched(self, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer:
        """A request reaching the operator's zones: the Worker the first matching route names (a
        route naming a zone sees that zone's names and its routed custom hostnames); a dispatch
        Worker hands it on as ``dispatch_name`` says."""
        host = host_of(headers)
        path = urlsplit(target).path or "/"
        with self._lock:
            routed = self._routed(host, path)
            if routed is None:
                return SiteAnswer(522, [("Content-Type", "text/plain")], b"No Worker route matches this host.")
            account, script = routed
            if script.dispatch_namespace is None:
                if not script.versions:
                    return SiteAnswer(500, [("Content-Type", "text/plain")], b"The Worker has nothing to serve.")
                site, assets = script.active_version().site, account.assets.get
            else:
                held = account.namespaces.get(script.dispatch_namespace)
                own, name = self._dispatch_name(account, script, host)
                if not own and name is None:  # passed on to the origin: the emulator has none
                    return SiteAnswer(522, [("Content-Type", "text/plain")], b"No origin answers this hostname.")
                user = held.scripts.get(name) if held is not None and name else None
                if held is None or user is None:
                    return SiteAnswer(404, [("Content-Type", "text/plain")], b"This site does not exist.")
                site, assets = user.active_version().site, held.assets.get
        return resolve(site, assets, method=method, target=target, request_headers=headers)

    def _routed(self, host: str, path: str) -> tuple[Account, ScriptState] | None:
        """The account and Worker of the first route matching ``host`` + ``path``. Caller holds the
        lock."""
        for account in [a for a in self._accounts.values() if a.namespace is None]:
            for pattern, worker in account.routes.items():
                if not _route_regex(pattern).match(f"{host}{path}"):
                    continue
                if not self._route_applies(account.route_zones.get(pattern), host):
                    continue
                script = account.scripts.get(worker)
                if script is not None:
                    return account, script
        return None

    def _dispatch_name(self, account: Account, script: ScriptState, host: str) -> tuple[bool, str | None]:
        """What the dispatch Worker (``dispatch.DISPATCHER_SOURCE``) does: whether ``host`` is a
        site's own, and the Worker it names. A hostname under its ``DOMAIN`` names its Worker by its
        first label; any other (a custom hostname) is looked up in its ``HOSTS`` KV namespace, and
        one not there is passed on to its origin. Without a ``DOMAIN`` every hostname is a site's."""
        texts = {b.get("name"): b.get("text") for b in script.bindings if b.get("type") == "plain_text"}
        domain = texts.get("DOMAIN")
        if not isinstance(domain, str) or host.endswith(f".{domain}"):
            return True, host.split(".", maxsplit=1)[0]
        hosts = self._kv_binding(account.id, script.bindings, "HOSTS")
        value = hosts.values.get(host) if hosts is not None else None
        return False, value.decode() if value is not None else None

    def _host_answer(self, host: str, method: str, target: str, headers: Mapping[str, str]) -> SiteAnswer | None:
        """What answers ``host`` on ``domains_port``: a Workers Custom Domain whose certificate is
        issued, its Worker's production version (whether its workers.dev route is on or not); else
        an active custom hostname, through the zone's routes as on the dispatch port."""
        with self._lock:
            domain = self._worker_domain_live(host)
            if domain is None:
                routed = self._routed_hostname(host) is not None
            else:
                account = self._accounts.get(domain.account_id)
                script = account.scripts.get(domain.service) if account else None
                if account is None or script is None or not script.versions:
                    return None
                site, assets = script.active_version().site, account.assets.get
        if domain is None:
            return self._dispatched(method, target, headers) if routed else None
        return resolve(site, assets, method=method, target=target, request_headers=headers)

    @property
    def dispatch_port(self) -> int | None:
        server = self._dispatch_server
        return server.port if server is not None else None

    def dispatch_url(self, namespace: str, name: str) -> str | None:
        """Where a namespace's Worker answers locally: ``http://<name>.<domain>:<port>/``, the domain
        being its dispatcher's route's (``*.sites.localhost/*``: browsers resolve ``*.localhost``
        to loopback; a test sends the ``Host`` header to ``127.0.0.1:<port>``)."""
        with self._lock:
            for account in self._accounts.values():
                held = account.namespaces.get(namespace)
                if held is None or name not in held.scripts or self._dispatch_server is None:
                    continue
                for pattern, worker in account.routes.items():
                    script = account.scripts.get(worker)
                    if script is not None and script.dispatch_namespace == namespace and pattern.startswith("*."):
                        domain = pattern[2:].split("/", 1)[0]
                        return f"http://{name}.{domain}:{self._dispatch_server.port}/"
        return None

    def namespace_scripts(self, namespace: str) -> list[str]:
        """The names of a dispatch namespace's Workers (any account's), for tests."""
        with self._lock:
            for account in self._accounts.values():
                if namespace in account.namespaces:
                    return sorted(account.namespaces[namespace].scripts)
        return []

    @staticmethod
    def _existing(account: Account, name: str, *, service: bool = False) -> ScriptState:
        script = account.scripts.get(name)
        if script is None:
            if service:
                raise ApiError(404, CODE_SERVICE_NOT_FOUND, "workers.api.error.service_not_found")
            raise ApiError(404, CODE_SCRIPT_NOT_FOUND, SCRIPT_NOT_FOUND)
        return script

    # -- upload sessions ------------------------------------------------------------------------

    def _manifest_from(self, raw_manifest: dict[str, Any]) -> tuple[dict[str, str], dict[str, int]]:
        """A session request's manifest checked: (path -> hash, hash -> size)."""
        if not raw_manifest:
            raise bad_request("the manifest lists no files", CODE_INVALID_MANIFEST)
        if len(raw_manifest) > self.max_files:
            raise bad_request(
                f"the manifest lists {len(raw_manifest)} files; the limit is {self.max_files} files per Worker",
                CODE_INVALID_MANIFEST,
            )
        manifest: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for path, entry in raw_manifest.items():
            if not path.startswith("/"):
                raise bad_request(f"manifest path {path!r} must start with '/'", CODE_INVALID_MANIFEST)
            if not isinstance(entry, dict):
                raise bad_request(f"manifest entry for {path} must be {{hash, size}}", CODE_INVALID_MANIFEST)
            asset_hash, size = entry.get("hash"), entry.get("size")
            if not isinstance(asset_hash, str) or not ASSET_HASH.match(asset_hash):
                raise bad_request(
                    f"manifest entry for {path}: hash must be 32 lowercase hex characters, got {asset_hash!r}",
                    CODE_INVALID_MANIFEST,
                )
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise bad_request(
                    f"manifest entry for {path}: size must be a non-negative integer", CODE_INVALID_MANIFEST
                )
            if size > MAX_ASSET_SIZE:
                raise bad_request(
                    f"Asset too large: {path} is {size} bytes; Workers assets are limited to 25 MiB "
                    f"({MAX_ASSET_SIZE} bytes) per file",
                    CODE_INVALID_MANIFEST,
                )
            if sizes.setdefault(asset_hash, size) != size:
                raise bad_request(
                    f"manifest entry for {path}: hash {asset_hash} is listed with two different sizes",
                    CODE_INVALID_MANIFEST,
                )
            manifest[path] = asset_hash
        return manifest, sizes

    def _open_session(
        self, token: Token, account: Account, name: str, manifest: dict[str, str], sizes: dict[str, int]
    ) -> tuple[UploadSession, list[str]]:
        """A new session asking for the manifest's hashes the account does not hold yet (returned
        in manifest order)."""
        with self._lock:
            missing = [h for h in dict.fromkeys(manifest.values()) if h not in account.assets]
            session = UploadSession(
                id=uuid.uuid4().hex,
                account_id=account.id,
                script_name=name,
                token=token.value,
                manifest=manifest,
                sizes=sizes,
                requested=frozenset(missing),
            )
            self._sessions[session.id] = session
        return session, missing

    def _buckets(self, hashes: list[str], sizes: dict[str, int]) -> list[list[str]]:
        """The hashes to upload, in order, grouped into requests of at most ``bucket_max_files``
        files and ``bucket_max_bytes`` bytes (a larger file gets a bucket of its own)."""
        buckets: list[list[str]] = [[]]
        bucket_bytes = 0
        for asset_hash in hashes:
            size = sizes[asset_hash]
            current = buckets[-1]
            if current and (len(current) >= self.bucket_max_files or bucket_bytes + size > self.bucket_max_bytes):
                buckets.append([])
                bucket_bytes = 0
            buckets[-1].append(asset_hash)
            bucket_bytes += size
        return buckets

    def _receive(
        self, session: UploadSession, account: Account, parts: Iterable[tuple[str, str | None, bytes]]
    ) -> list[str]:
        """Store an upload's parts, each (hash, content type, base64 bytes), all or none; the hashes
        the session still waits for."""
        received: dict[str, StoredAsset] = {}
        for asset_hash, content_type, encoded in parts:
            if asset_hash not in session.sizes:
                raise bad_request(f"hash {asset_hash!r} is not in this upload session's manifest")
            if asset_hash not in session.requested:
                raise bad_request(f"hash {asset_hash} was not requested by this upload session")
            data = _b64decode(encoded)
            if data is None:
                raise bad_request(f"the part for {asset_hash} is not valid base64")
            expected = session.sizes[asset_hash]
            if len(data) != expected:
                raise bad_request(
                    f"the part for {asset_hash} decodes to {len(data)} bytes; the manifest says {expected}"
                )
            received[asset_hash] = StoredAsset(data, content_type or "application/octet-stream")
        with self._lock:
            account.assets.update(received)
            return [h for h in session.requested if h not in account.assets]

    # -- JWTs -----------------------------------------------------------------------------------

    def _sign(self, session: UploadSession, kind: str, ttl: float) -> str:
        issued = time.time()
        expires: float = int(issued + ttl) if ttl >= 10 else round(issued + ttl, 3)
        claims = {"sid": session.id, "acct": session.account_id, "typ": kind, "iat": int(issued), "exp": expires}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _session_from(self, token: str, kind: str) -> UploadSession:
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

    # -- versions and deployments -----------------------------------------------------------------

    def _version_from(self, account: Account, name: str, metadata: dict[str, Any], source: str) -> ScriptVersion:
        """A new version of the Worker from the metadata of a script PUT or a versions POST."""
        existing = account.scripts.get(name)
        assets = metadata.get("assets")
        if assets is None and metadata.get("keep_assets") and existing is not None:
            previous = existing.active_version()
            manifest, config = dict(previous.manifest), dict(previous.config)
        else:
            if not isinstance(assets, dict) or not isinstance(assets.get("jwt"), str):
                raise bad_request("an assets-only Worker needs metadata.assets.jwt (the completion token)")
            manifest = self._completed_manifest(assets["jwt"], account, name)
            config = self._asset_config(assets.get("config"))
        compatibility_date = metadata.get("compatibility_date")
        if compatibility_date is not None and (
            not isinstance(compatibility_date, str) or not COMPATIBILITY_DATE.match(compatibility_date)
        ):
            raise bad_request(f"compatibility_date must look like 2025-06-01, not {compatibility_date!r}")
        flags = metadata.get("compatibility_flags") or []
        if not isinstance(flags, list) or not all(isinstance(flag, str) for flag in flags):
            raise bad_request("compatibility_flags must be a list of strings")
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
            created_on=now(),
            manifest=manifest,
            config=config,
            compatibility_date=compatibility_date,
            compatibility_flags=list(flags),
            source=source,
            site=site,
            annotations=dict(annotations or {}),
        )

    def _completed_manifest(self, token: str, account: Account, name: str) -> dict[str, str]:
        try:
            session = self._session_from(token, "completion")
        except ApiError as exc:
            raise bad_request(f"invalid assets JWT: {exc.message}") from None
        if session.account_id != account.id or session.script_name != name:
            raise bad_request(f"invalid assets JWT: it was issued for Worker {session.script_name!r} of another upload")
        with self._lock:
            missing = [h for h in set(session.manifest.values()) if h not in account.assets]
        if missing:
            raise bad_request(f"invalid assets JWT: {len(missing)} asset(s) of its manifest were never uploaded")
        return dict(session.manifest)

    @staticmethod
    def _asset_config(raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise bad_request("metadata.assets.config must be an object")
        unknown = sorted(set(raw) - ASSET_CONFIG_KEYS)
        if unknown:
            raise bad_request(f"unknown key(s) in metadata.assets.config: {unknown}")
        html = raw.get("html_handling")
        if html is not None and html not in HTML_HANDLING:
            raise bad_request(f"html_handling must be one of {list(HTML_HANDLING)}, not {html!r}")
        not_found = raw.get("not_found_handling")
        if not_found is not None and not_found not in NOT_FOUND_HANDLING:
            raise bad_request(f"not_found_handling must be one of {list(NOT_FOUND_HANDLING)}, not {not_found!r}")
        for key in ("_headers", "_redirects"):
            if key in raw and not isinstance(raw[key], str):
                raise bad_request(f"{key} must be the text of the file")
        return {key: value for key, value in raw.items() if value is not None}

    def _activate(self, account: Account, name: str, version: ScriptVersion, trigger: str) -> ScriptState:
        """Make ``version`` the one served (100%); create the Worker if new, unless the account
        already holds its limit of Workers (ApiError 10037). Caller holds the lock. Every Worker is
        created here, so the limit holds whichever route creates one, and holds under concurrent
        uploads: the check and the creation happen under the same lock."""
        moment = now()
        script = account.scripts.get(name)
        if script is None:
            if len(account.scripts) >= account.worker_limit:
                raise too_many_workers(account.worker_limit)
            script = ScriptState(
                account_id=account.id,
                name=name,
                created_on=moment,
                modified_on=moment,
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
            "created_on": iso(moment),
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
        script.modified_on = moment
        script.etag = hashlib.sha256(f"{name}:{version.id}".encode()).hexdigest()
        if account.namespace is None:  # a namespace's Workers are reached through its dispatcher
            self._site_ports.serve((account.id, name), name)
        return script

    def _delete(self, account: Account, name: str) -> None:
        with self._lock:
            account.scripts.pop(name, None)
            self._drop_worker_domains(account.id, name)
            site = self._site_ports.withdraw((account.id, name))
        if site is not None:
            site.stop()

    # -- what a visitor finds ---------------------------------------------------------------------

    def _visit(self, key: WorkerKey) -> Visit | None:
        """The Worker's active site and its account's assets; None when it is gone. Called with the
        lock held, by the site server of ``key``. A key ``(account, "<worker>|<label>")`` is a
        preview URL, ``<label>-<worker>.<subdomain>.workers.dev``: the version of that id prefix,
        or the newest with that preview alias."""
        account_id, name = key
        name, _, label = name.partition(PREVIEW_KEY)
        account = self._accounts.get(account_id)
        script = account.scripts.get(name) if account else None
        if account is None or script is None:
            return None
        if label:
            version = _preview_version(script, label)
            site = version.site if version is not None and script.previews_enabled else None
        else:
            site = script.active_version().site if script.subdomain_enabled else None
        return Visit(site=site, assets=account.assets.get)

    def preview_url(self, url: str) -> str | None:
        """Where a Worker version's preview URL (``<version id prefix or alias>-<worker>.<subdomain>
        .workers.dev``) answers on loopback."""
        host = urlsplit(url).hostname or ""
        with self._lock:
            for account in self._accounts.values():
                suffix = f".{account.subdomain}.workers.dev"
                if not host.endswith(suffix):
                    continue
                head = host.removesuffix(suffix)
                for name, script in account.scripts.items():
                    label = head.removesuffix(f"-{name}")
                    if label != head and label and _preview_version(script, label) is not None:
                        key = (account.id, f"{name}{PREVIEW_KEY}{label}")
                        self._site_ports.serve(key, f"{label}-{name}")
                        break
                else:
                    continue
                break
            else:
                return None
        return self._site_ports.url(key)
