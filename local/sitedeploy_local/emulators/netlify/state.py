"""What the Netlify emulator holds, and the platform's rules over it: accounts (teams), access
tokens and their users, sites (whose names are global across every account), deploys with their
state machine, and each site's content-addressed files.

No HTTP here. The API (``api`` and its ``routes``) turns a request into calls on ``NetlifyState``
and the result into the platform's JSON; the site servers (``sites``) read the published deploy of
a site on every visit. Everything is guarded by one re-entrant lock, ``_lock``.

A deploy moves through the platform's states: ``new`` (created without files, as netlify-cli does)
→ ``preparing`` (an ``async`` deploy whose file list is being diffed) → ``prepared`` (``required``
lists the distinct SHA-1 digests the site does not hold yet) → ``uploading`` → ``uploaded`` →
``processing`` → ``ready`` (the site's ``published_deploy``) or ``error`` (``error_message``). The
timed steps are applied lazily, whenever the state is looked at (an API request, a site visit,
``site_url``): no timer threads to cancel on ``reset`` or ``stop``, and a test that waits sees the
same sequence as a client that polls.

Emulator choices where the platform's behaviour is not documented (strict where an adapter bug
would otherwise hide):

- file paths in a deploy's ``files`` may be sent with or without the leading slash (the API's
  examples use one, netlify-cli sends none); they are stored with one;
- a digest must be 40 lowercase hex characters (SHA-1);
- an upload must carry the SHA-1 its deploy lists for the path (422 otherwise), and is refused
  (422) unless the deploy is ``prepared`` or ``uploading``;
- a site's content is its own (dedup per site, not per account): a new site uploads everything.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sitedeploy_local.emulators.loopback import SitePorts, SiteServer
from sitedeploy_local.emulators.netlify.sites import NetlifySites, SiteVersion
from sitedeploy_local.emulators.plumbing import Countdowns, PlatformState

SITE_LIMIT = 500  # sites per account: the emulator's default (the plans' quotas differ)
SITE_DOMAIN = "netlify.app"
SITE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SHA1 = re.compile(r"^[0-9a-f]{40}$")
ADMIN_BASE = "https://app.netlify.com/projects"
UPLOADABLE = frozenset({"prepared", "uploading"})
FINAL = frozenset({"ready", "error"})
DEFAULT_FAILURE = "Deploy failed (injected by the emulator)"

_ADJECTIVES = ("brave", "calm", "eager", "gentle", "jolly", "lively", "quiet", "sunny", "tidy", "witty")
_NOUNS = ("curie", "darwin", "euler", "gauss", "hopper", "lovelace", "noether", "turing", "wiles", "yalow")


class ApiError(Exception):
    """An answer in the platform's error shape ``{"code": status, "message": ...}`` (plus
    ``errors`` for validation failures)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.status, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def unprocessable(message: str) -> ApiError:
    return ApiError(422, message)


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def object_id() -> str:
    """Netlify's deploy ids look like MongoDB object ids: 24 hex characters."""
    return secrets.token_hex(12)


def _check_site_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"a site limit is a non-negative integer, not {limit!r}")


# -- records ----------------------------------------------------------------------------------------


@dataclass
class Account:
    id: str
    slug: str
    name: str
    site_limit: int
    created_at: datetime


@dataclass
class User:
    id: str
    slug: str
    full_name: str
    email: str
    created_at: datetime


@dataclass
class Token:
    value: str
    user: User
    account_slugs: tuple[str, ...]  # in order: the first is where ``POST /sites`` creates


def _what_runs(body: dict[str, Any]) -> tuple[str, ...]:
    raw = body.get("files")
    files: dict[str, Any] = raw if isinstance(raw, dict) else {}
    found = [f"function {name}" for name in (body.get("functions") or {})]
    found += [f"edge function {name}" for name in (body.get("edge_functions") or {})]
    for path in files:
        relative = str(path).lstrip("/")
        if relative == "netlify.toml":
            found.append("configuration netlify.toml")
        elif relative.startswith(".netlify/"):
            found.append(f"internal {relative}")
    return tuple(found)


@dataclass
class Deploy:
    """One deploy. ``timeline`` holds the timed steps still to come, (monotonic time, state)."""

    id: str
    site_id: str
    created_at: datetime
    updated_at: datetime
    title: str | None = None
    draft: bool = False
    branch: str | None = None
    state: str = "new"
    files: dict[str, str] | None = None  # "/path" -> sha1
    required: list[str] = field(default_factory=list)
    hidden_required: list[str] = field(default_factory=list)  # while preparing
    error_message: str | None = None
    published_at: datetime | None = None
    fail_message: str | None = None
    timeline: list[tuple[float, str]] = field(default_factory=list)
    version: SiteVersion | None = None  # what visitors get once ready
    # What Netlify would run or read as configuration for it (the emulator runs none of it):
    # functions and edge functions the body declares or the files carry, a netlify.toml among them.
    runs: tuple[str, ...] = ()


@dataclass
class Site:
    id: str
    name: str
    account_slug: str
    user_id: str
    created_at: datetime
    updated_at: datetime
    blobs: dict[str, bytes] = field(default_factory=dict)  # sha1 -> bytes (the site's content)
    deploys: list[str] = field(default_factory=list)  # deploy ids, oldest first
    published_deploy_id: str | None = None
    # Its custom domains (``domains``: the rules over them, and their certificate).
    custom_domain: str | None = None
    domain_aliases: list[str] = field(default_factory=list)


# -- the state --------------------------------------------------------------------------------------


# Separates a site's id from the label of one of its deploys' own URLs in a site server's key.
PREVIEW_KEY = "|"


class NetlifyState(PlatformState):
    """Accounts, tokens, sites, deploys and files, with the rules that change them, and the loopback
    server of every published site (``_site_ports``)."""

    def __init__(self, *, prepare_seconds: float, process_seconds: float, deploys_per_minute: int | None) -> None:
        self.prepare_seconds = prepare_seconds
        self.process_seconds = process_seconds
        self.deploys_per_minute = deploys_per_minute
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        self._users: dict[str, User] = {}
        self._tokens: dict[str, Token] = {}
        self._sites: dict[str, Site] = {}  # id -> site
        self._names: dict[str, str] = {}  # name -> site id (names are global)
        self._deploys: dict[str, Deploy] = {}
        self._failures: Countdowns[str] = Countdowns()  # site name -> message for its next deploys
        self._deploy_times: dict[str, deque[float]] = {}  # site id -> creation times (rate limit)
        self._site_ports: SitePorts[str, SiteVersion] = NetlifySites(self._lock, self._visit)

    # -- seeding and inspecting (tests and the local stack) ---------------------------------------

    def add_account(self, slug: str, name: str | None = None, site_limit: int = SITE_LIMIT) -> None:
        """Create the account (team), or restate an existing one's name and site limit (its sites
        stay)."""
        _check_site_limit(site_limit)
        with self._lock:
            existing = self._accounts.get(slug)
            if existing is not None:
                existing.name = name or existing.name
                existing.site_limit = site_limit
                return
            account_id = uuid.uuid5(uuid.NAMESPACE_URL, f"netlify-account:{slug}").hex[:24]
            self._accounts[slug] = Account(account_id, slug, name or slug, site_limit, now())

    def set_site_limit(self, slug: str, limit: int) -> None:
        """Change how many sites the account may hold; lowering it removes none."""
        _check_site_limit(limit)
        with self._lock:
            account = self._accounts.get(slug)
            if account is None:
                raise ValueError(f"unknown account {slug!r}: add_account first")
            account.site_limit = limit

    def add_token(self, token: str, account_slugs: list[str], *, user_slug: str | None = None) -> None:
        """A personal access token of ``user_slug`` (default: the first account's slug) that sees
        ``account_slugs``."""
        with self._lock:
            unknown = [slug for slug in account_slugs if slug not in self._accounts]
            if unknown:
                raise ValueError(f"unknown account(s) {unknown}: add_account first")
            slug = user_slug or (account_slugs[0] if account_slugs else "local")
            user = self._users.get(slug)
            if user is None:
                user_id = uuid.uuid5(uuid.NAMESPACE_URL, f"netlify-user:{slug}").hex[:24]
                user = User(user_id, slug, slug.replace("-", " ").title(), f"{slug}@sitedeploy.invalid", now())
                self._users[slug] = user
            self._tokens[token] = Token(token, user, tuple(account_slugs))

    def fail_next_deploy(self, site_name: str, message: str = DEFAULT_FAILURE, *, times: int = 1) -> None:
        """The next ``times`` deploys created for the site named ``site_name`` end in ``error``
        with ``message`` instead of going live."""
        with self._lock:
            self._failures.set(site_name, message, times)

    def site(self, site_id_or_name: str) -> dict[str, Any] | None:
        """The site (by id, name or ``NAME.netlify.app``) as the API shows it; None when unknown."""
        with self._lock:
            found = self._find_site(site_id_or_name, by_name=True)
            if found is None:
                return None
            self._advance_site(found)
            return self._site_view(found)

    def sites(self, account_slug: str | None = None) -> list[str]:
        """The names of the account's sites (of every account when None)."""
        with self._lock:
            return sorted(s.name for s in self._sites.values() if account_slug in (None, s.account_slug))

    def deploy(self, deploy_id: str) -> dict[str, Any] | None:
        """The deploy as the API shows it; None when unknown."""
        with self._lock:
            found = self._deploys.get(deploy_id)
            if found is None:
                return None
            self._advance(found, time.monotonic())
            return self._deploy_view(found)

    def file(self, site_name: str, path: str) -> bytes | None:
        """The bytes the site's published deploy holds at ``path`` ("/a/b.html")."""
        with self._lock:
            found = self._find_site(site_name, by_name=True)
            if found is None:
                return None
            self._advance_site(found)
            deploy = self._deploys.get(found.published_deploy_id or "")
            digest = (deploy.files or {}).get(path) if deploy else None
            return found.blobs.get(digest) if digest else None

    def site_url(self, account: str, name: str) -> str | None:
        """Where the site's published deploy answers on loopback; None until a deploy is live, or
        once the site is deleted. ``account`` (a slug) is checked when given."""
        with self._lock:
            found = self._find_site(name, by_name=True)
            if found is None or (account and found.account_slug != account):
                return None
            self._advance_site(found)
            return self._site_ports.url(found.id)

    def public_url(self, name: str) -> str | None:
        """The URL the platform would print: ``https://NAME.netlify.app``."""
        with self._lock:
            return f"https://{name}.{SITE_DOMAIN}" if name in self._names else None

    def _forget(self) -> list[SiteServer]:
        """Drop every site, deploy and file (accounts, users and tokens stay); the site servers to
        stop, which the caller does outside the lock."""
        with self._lock:
            servers = self._site_ports.withdraw_all(close=self._site_ports.closed)
            self._sites.clear()
            self._names.clear()
            self._deploys.clear()
            self._failures.clear()
            self._deploy_times.clear()
            return servers

    # -- lookups --------------------------------------------------------------------------------

    def _find_site(self, key: str, *, by_name: bool = False) -> Site | None:
        """A site by id or by its domain ``NAME.netlify.app`` (and by bare name when ``by_name``).
        Caller holds the lock."""
        found = self._sites.get(key)
        if found is not None:
            return found
        name = key.lower()
        suffix = f".{SITE_DOMAIN}"
        if name.endswith(suffix):
            name = name[: -len(suffix)]
        elif not by_name:
            return None
        site_id = self._names.get(name)
        return self._sites.get(site_id) if site_id else None

    def _visible_site(self, token: Token, key: str) -> Site:
        """The site the token may see (404 otherwise, as the platform hides others' sites)."""
        with self._lock:
            found = self._find_site(key)
            if found is None or found.account_slug not in token.account_slugs:
                raise not_found()
            self._advance_site(found)
            return found

    def _visible_deploy(self, token: Token, deploy_id: str, site: Site | None = None) -> Deploy:
        with self._lock:
            found = self._deploys.get(deploy_id)
            if found is None:
                raise not_found()
            owner = self._sites.get(found.site_id)
            if owner is None or owner.account_slug not in token.account_slugs:
                raise not_found()
            if site is not None and owner.id != site.id:
                raise not_found()
            self._advance(found, time.monotonic())
            return found

    def _account_for(self, token: Token, slug: str | None) -> Account:
        with self._lock:
            if slug is None:
                if not token.account_slugs:
                    raise not_found()
                slug = token.account_slugs[0]
            account = self._accounts.get(slug)
            if account is None or slug not in token.account_slugs:
                raise not_found()
            return account

    # -- sites ----------------------------------------------------------------------------------

    def _create_site(self, token: Token, account: Account, name: str | None) -> Site:
        with self._lock:
            if name is None:
                name = self._random_name()
            if not SITE_NAME.match(name):
                raise ApiError(422, "Validation Failed", errors={"subdomain": ["is invalid"]})
            if name in self._names:
                raise ApiError(422, "Validation Failed", errors={"subdomain": ["must be unique"]})
            held = sum(1 for s in self._sites.values() if s.account_slug == account.slug)
            if held >= account.site_limit:
                raise unprocessable(
                    f"You have reached the site limit of {account.site_limit} sites for the account "
                    f"{account.slug}. Delete a site or upgrade the account's plan."
                )
            moment = now()
            site = Site(str(uuid.uuid4()), name, account.slug, token.user.id, moment, moment)
            self._sites[site.id] = site
            self._names[name] = site.id
            return site

    def _random_name(self) -> str:
        while True:
            word = f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.token_hex(3)}"
            if word not in self._names:
                return word

    def _delete_site(self, site: Site) -> SiteServer | None:
        """Forget the site, its deploys and files; its server, which the caller stops."""
        with self._lock:
            self._sites.pop(site.id, None)
            if self._names.get(site.name) == site.id:
                del self._names[site.name]
            for deploy_id in site.deploys:
                self._deploys.pop(deploy_id, None)
            self._deploy_times.pop(site.id, None)
            return self._site_ports.withdraw(site.id)

    # -- deploys --------------------------------------------------------------------------------

    def _count_deploy(self, site: Site) -> None:
        """The platform's deploys-per-minute limit per site (``deploys_per_minute``; None: none)."""
        limit = self.deploys_per_minute
        if limit is None:
            return
        moment = time.monotonic()
        window = self._deploy_times.setdefault(site.id, deque())
        while window and window[0] <= moment - 60.0:
            window.popleft()
        if len(window) >= limit:
            wait = max(1.0, window[0] + 60.0 - moment)
            raise rate_limited(limit, wait, f"Rate limit exceeded: at most {limit} deploys per minute per site")
        window.append(moment)

    def _create_deploy(self, site: Site, body: dict[str, Any], title: str | None) -> Deploy:
        with self._lock:
            self._count_deploy(site)
            moment = now()
            deploy = Deploy(object_id(), site.id, moment, moment, title=title)
            deploy.draft = bool(body.get("draft", False))
            branch = body.get("branch")
            deploy.branch = branch if isinstance(branch, str) else None
            deploy.fail_message = self._failures.take(site.name)
            self._deploys[deploy.id] = deploy
            site.deploys.append(deploy.id)
            site.updated_at = moment
            if "files" in body:
                self._set_files(site, deploy, body)
            deploy.runs = _what_runs(body)
            return deploy

    def runs(self, deploy_id: str) -> tuple[str, ...]:
        """What Netlify would run or read as configuration for a deploy (tests prove: nothing)."""
        with self._lock:
            found = self._deploys.get(deploy_id)
            return found.runs if found else ()

    def _update_deploy(self, site: Site, deploy: Deploy, body: dict[str, Any]) -> Deploy:
        """``PUT /sites/{site_id}/deploys/{deploy_id}``: how netlify-cli sends the digests of a
        deploy it created empty."""
        with self._lock:
            if "files" in body:
                if deploy.state != "new":
                    raise unprocessable(f"the deploy is {deploy.state}: its files were already given")
                self._set_files(site, deploy, body)
            # Whether a deploy is a draft, and its branch alias, are fixed when it is created: the
            # CLI's own update sends "draft": false for its drafts too.
            deploy.updated_at = now()
            return deploy

    @staticmethod
    def _files_from(raw: Any) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise unprocessable('files must be an object {"/path": "<sha1>"}')
        files: dict[str, str] = {}
        for path, digest in raw.items():
            if not isinstance(path, str) or not path.strip("/"):
                raise unprocessable(f"invalid file path {path!r}")
            if not isinstance(digest, str) or not SHA1.match(digest):
                raise unprocessable(f"the digest of {path} must be a SHA-1 (40 lowercase hex characters)")
            files["/" + path.lstrip("/")] = digest
        return files

    def _set_files(self, site: Site, deploy: Deploy, body: dict[str, Any]) -> None:
        """The file list of a deploy: ``prepared`` at once, or ``preparing`` for a moment with
        ``async``. Caller holds the lock."""
        deploy.files = self._files_from(body["files"])
        start = time.monotonic()
        if body.get("async") is True:
            deploy.state = "preparing"
            deploy.required = []
            deploy.timeline = [(start + self.prepare_seconds, "prepared")]
        else:
            self._enter(deploy, "prepared", start)

    def _missing(self, site: Site, deploy: Deploy) -> list[str]:
        """The deploy's distinct digests the site does not hold, in the order of the file list."""
        return [d for d in dict.fromkeys((deploy.files or {}).values()) if d not in site.blobs]

    def _enter(self, deploy: Deploy, state: str, at: float) -> None:
        """Apply one step of the state machine (caller holds the lock)."""
        site = self._sites.get(deploy.site_id)
        if site is None:
            return
        deploy.updated_at = now()
        if state == "prepared":
            deploy.required = self._missing(site, deploy)
            deploy.state = "prepared"
            if not deploy.required:
                self._process(deploy, at)
        elif state == "ready":
            if deploy.fail_message is not None:
                deploy.state, deploy.error_message = "error", deploy.fail_message
                return
            deploy.state = "ready"
            deploy.version = self._version_of(site, deploy)
            site.updated_at = deploy.updated_at
            if not deploy.draft:  # a draft is served at its own URLs only, until it is restored
                self._publish(site, deploy)
        else:
            deploy.state = state

    def _publish(self, site: Site, deploy: Deploy) -> None:
        """The deploy becomes what the site serves (caller holds the lock)."""
        deploy.published_at = now()
        site.published_deploy_id = deploy.id
        self._site_ports.serve(site.id, site.name)

    def _restore(self, site: Site, deploy: Deploy) -> Deploy:
        """``POST /sites/{site_id}/deploys/{deploy_id}/restore``: publish a ready deploy of the site
        again (an earlier one, or a draft), with no upload."""
        with self._lock:
            self._advance_site(site)
            if deploy.site_id != site.id:
                raise not_found()
            if deploy.state != "ready" or deploy.version is None:
                raise unprocessable(f"the deploy is {deploy.state}: only a ready deploy can be published")
            self._publish(site, deploy)
            site.updated_at = now()
            return deploy

    def preview_url(self, url: str) -> str | None:
        """Where ``https://<deploy id or alias>--<site>.netlify.app`` answers on loopback: that
        deploy, or the newest ready deploy with that branch alias."""
        host = urlsplit(url).hostname or ""
        label, sep, rest = host.partition("--")
        if not sep or not rest.endswith(f".{SITE_DOMAIN}"):
            return None
        with self._lock:
            site = self._find_site(rest.removesuffix(f".{SITE_DOMAIN}"), by_name=True)
            if site is None:
                return None
            self._advance_site(site)
            key = f"{site.id}{PREVIEW_KEY}{label}"
            if self._visit(key) is None:
                return None
            self._site_ports.serve(key, f"{label}--{site.name}")
        return self._site_ports.url(key)

    def _process(self, deploy: Deploy, at: float, *, uploaded: bool = False) -> None:
        """Every file is there: ``processing`` (after half of ``process_seconds`` in ``uploaded``
        when the last one has just arrived), then ``ready`` (or ``error``) after ``process_seconds``."""
        done = at + self.process_seconds
        if uploaded:
            deploy.state = "uploaded"
            deploy.timeline = [(at + self.process_seconds / 2, "processing"), (done, "ready")]
        else:
            deploy.state = "processing"
            deploy.timeline = [(done, "ready")]

    def _advance(self, deploy: Deploy, moment: float) -> None:
        """Apply the timed steps that are due (caller holds the lock)."""
        while deploy.timeline and deploy.timeline[0][0] <= moment:
            at, state = deploy.timeline.pop(0)
            self._enter(deploy, state, at)

    def _advance_site(self, site: Site) -> None:
        moment = time.monotonic()
        for deploy_id in site.deploys:
            deploy = self._deploys.get(deploy_id)
            if deploy is not None and deploy.timeline:
                self._advance(deploy, moment)

    def _advance_all(self) -> None:
        with self._lock:
            moment = time.monotonic()
            for deploy in list(self._deploys.values()):
                if deploy.timeline:
                    self._advance(deploy, moment)

    def _receive(self, deploy: Deploy, path: str, data: bytes) -> tuple[str, str]:
        """Store an uploaded file; (its path as listed, its SHA-1)."""
        with self._lock:
            site = self._sites.get(deploy.site_id)
            if site is None:
                raise not_found()
            if deploy.state not in UPLOADABLE:
                raise unprocessable(f"the deploy is {deploy.state}; files can be uploaded only once it is prepared")
            listed = "/" + path.lstrip("/")
            expected = (deploy.files or {}).get(listed)
            if expected is None:
                raise not_found()
            actual = hashlib.sha1(data).hexdigest()  # noqa: S324 - the platform's content digest
            if actual != expected:
                raise unprocessable(f"the SHA-1 of the uploaded {listed} is {actual}; the deploy lists {expected}")
            site.blobs[actual] = data
            deploy.state = "uploading"
            deploy.updated_at = now()
            if not self._missing(site, deploy):
                self._process(deploy, time.monotonic(), uploaded=True)
            return listed, actual

    def _version_of(self, site: Site, deploy: Deploy) -> SiteVersion:
        files = dict(deploy.files or {})
        blobs = {digest: site.blobs[digest] for digest in set(files.values()) if digest in site.blobs}
        return SiteVersion.build(f"{site.name}.{SITE_DOMAIN}", files, blobs)

    def _visit(self, key: str) -> SiteVersion | None:
        """What a visitor of the site gets (caller holds the lock), or of one of its deploys at
        ``<deploy id or branch alias>--<site>``; None once the site is gone."""
        site_id, _, label = key.partition(PREVIEW_KEY)
        site = self._sites.get(site_id)
        if site is None:
            return None
        self._advance_site(site)
        if label:
            own = self._deploys.get(label)
            if own is not None and own.site_id == site.id:
                return own.version
            aliased = [
                d
                for d in (self._deploys.get(i) for i in reversed(site.deploys))
                if d is not None and d.branch == label and d.version is not None
            ]
            return aliased[0].version if aliased else None
        deploy = self._deploys.get(site.published_deploy_id or "")
        return deploy.version if deploy else None

    # -- views: the platform's shapes ------------------------------------------------------------

    def _deploy_view(self, deploy: Deploy) -> dict[str, Any]:
        site = self._sites.get(deploy.site_id)
        name = site.name if site else ""
        return {
            "id": deploy.id,
            "site_id": deploy.site_id,
            "user_id": site.user_id if site else None,
            "build_id": None,
            "state": deploy.state,
            "name": name,
            "url": f"http://{name}.{SITE_DOMAIN}",
            "ssl_url": f"https://{name}.{SITE_DOMAIN}",
            "admin_url": f"{ADMIN_BASE}/{name}",
            "deploy_url": f"http://{deploy.id}--{name}.{SITE_DOMAIN}",
            "deploy_ssl_url": f"https://{deploy.id}--{name}.{SITE_DOMAIN}",
            "screenshot_url": None,
            "review_id": None,
            "draft": deploy.draft,
            "required": list(deploy.required),
            "required_functions": [],
            "error_message": deploy.error_message,
            "branch": deploy.branch,
            "commit_ref": None,
            "commit_url": None,
            "skipped": None,
            "created_at": iso(deploy.created_at),
            "updated_at": iso(deploy.updated_at),
            "published_at": iso(deploy.published_at) if deploy.published_at else None,
            "title": deploy.title,
            "context": "production",
            "locked": None,
            "review_url": None,
            "framework": None,
            "function_schedules": [],
        }

    def _site_view(self, site: Site) -> dict[str, Any]:
        account = self._accounts.get(site.account_slug)
        published = self._deploys.get(site.published_deploy_id or "")
        return {
            "id": site.id,
            "site_id": site.id,
            "name": site.name,
            "state": "current",
            "plan": "nf_team_dev",
            "custom_domain": site.custom_domain,
            "domain_aliases": list(site.domain_aliases),
            "url": f"http://{site.name}.{SITE_DOMAIN}",
            "ssl_url": f"https://{site.name}.{SITE_DOMAIN}",
            "admin_url": f"{ADMIN_BASE}/{site.name}",
            "screenshot_url": None,
            "deploy_url": f"http://{published.id}--{site.name}.{SITE_DOMAIN}" if published else None,
            "ssl": True,
            "force_ssl": None,
            "managed_dns": True,
            "user_id": site.user_id,
            "account_id": account.id if account else None,
            "account_name": account.name if account else None,
            "account_slug": site.account_slug,
            "published_deploy": self._deploy_view(published) if published else None,
            "build_settings": {},
            "processing_settings": {"html": {"pretty_urls": True}},
            "capabilities": {},
            "created_at": iso(site.created_at),
            "updated_at": iso(site.updated_at),
        }


def rate_limited(limit: int, wait: float, message: str) -> ApiError:
    """A 429 with the platform's rate limit headers (and Retry-After)."""
    seconds = max(1, int(wait + 0.999))
    return ApiError(
        429,
        message,
        headers={
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + seconds),
            "Retry-After": str(seconds),
        },
    )
