"""What the Vercel emulator holds, and the platform's rules over it: users and their personal
accounts, teams, tokens, each account's content-addressed files, projects with their deployments,
the global ``*.vercel.app`` aliases, and the loopback site of every project that has a production
deployment.

No HTTP here. The API (``api`` and its ``routes``) turns a request into calls on ``VercelState`` and
the result into the platform's JSON; the site servers (``sites``) read the project's production
deployment on every visit. Everything is guarded by one re-entrant lock, ``_lock``.

A deployment's progress is computed lazily from the clock (``QUEUED`` → ``INITIALIZING`` →
``BUILDING`` → ``READY``, one step every ``step_seconds``, fixed when the deployment is created) and
settled whenever anyone looks: every API request, every site visit, ``site_url`` and the inspection
helpers. Reaching ``READY`` as a production deployment promotes it: the project's alias
``<name>.vercel.app`` (``<name>-<account slug>.vercel.app`` when another account holds that name;
aliases are global, like the platform's) is assigned and the project's site serves it.

Emulator choices where the platform's behaviour is not documented (strict, so that an adapter bug
shows here rather than in production):

- a file path in a deployment must be relative (no leading slash, no ``..``), each listed once;
- a deployment of a new project without ``projectSettings`` answers 400 ``missing_project_settings``
  unless the query has ``skipAutoDetectionConfirmation=1`` (then the project is created with
  auto-detected, i.e. empty, settings, as the platform does for ``vercel --yes``);
- the files check comes before the project checks: ``missing_files`` lists the distinct unknown
  SHA-1s in the order the body first names them;
- canceling a deployment that has finished answers 400 ``deployment_not_cancelable``;
- more than ``max_files`` files (15,000 by default) answers 400 ``too_many_files``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sitedeploy_local.emulators.loopback import SitePorts, SiteServer
from sitedeploy_local.emulators.plumbing import Countdowns, PlatformState
from sitedeploy_local.emulators.vercel.domains import ProjectDomain, VercelDomains
from sitedeploy_local.emulators.vercel.output import Detection, Output
from sitedeploy_local.emulators.vercel.rules import SiteConfig
from sitedeploy_local.emulators.vercel.sites import ProjectKey, ProjectSites, ServedDeployment, Visit

PROJECT_LIMIT = 200
STEP_SECONDS = 0.05
MAX_FILES = 15_000  # files per deployment created through the API/CLI
MAX_FILE_BYTES = 100 * 1024 * 1024  # per uploaded file
PROGRESS = ("QUEUED", "INITIALIZING", "BUILDING")
FINAL_STATES = ("READY", "ERROR", "CANCELED")
PROJECT_NAME = re.compile(r"^[a-z0-9._-]{1,100}$")
SHA1 = re.compile(r"^[0-9a-f]{40}$")
_ALPHABET = string.ascii_letters + string.digits


class VercelError(Exception):
    """An answer in the platform's error shape ``{"error": {"code", "message", **extra}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def bad_request(message: str, code: str = "bad_request") -> VercelError:
    return VercelError(400, code, message)


def not_found(message: str = "Not Found") -> VercelError:
    return VercelError(404, "not_found", message)


def random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"a project limit is a non-negative integer, not {limit!r}")


# -- records ---------------------------------------------------------------------------------------


@dataclass
class Account:
    """A team, or a user's personal account (``kind`` "user", its id the user's id)."""

    id: str
    slug: str
    name: str
    kind: str
    project_limit: int
    created_ms: int
    files: dict[str, bytes] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)  # by project id

    def find(self, id_or_name: str) -> Project | None:
        found = self.projects.get(id_or_name)
        if found is not None:
            return found
        return next((p for p in self.projects.values() if p.name == id_or_name), None)


@dataclass
class User:
    id: str
    username: str
    email: str
    name: str


@dataclass
class Token:
    value: str
    user_id: str
    team_ids: frozenset[str]


@dataclass
class Project:
    id: str
    name: str
    account_id: str
    created_ms: int
    updated_ms: int
    settings: dict[str, Any]
    production_id: str | None = None
    alias: str | None = None
    deployment_ids: list[str] = field(default_factory=list)
    # The last promote's progress, as ``GET /v9/projects/{id}`` shows it (``lastAliasRequest``).
    last_alias_request: dict[str, Any] | None = None
    # Aliases assigned to single deployments (``POST /v2/deployments/{id}/aliases``) → the deployment.
    deployment_aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class Deployment:
    id: str
    url: str
    name: str
    project_id: str
    account_id: str
    creator_id: str
    target: str | None
    files: dict[str, str]  # path (no leading slash) -> sha1
    config: SiteConfig
    created_ms: int
    started: float  # time.monotonic() at creation
    step: float
    fail: tuple[str, str] | None = None  # (errorCode, errorMessage) it will end with
    state: str = "QUEUED"
    building_ms: int | None = None
    ready_ms: int | None = None
    canceled_ms: int | None = None
    error: dict[str, str] | None = None
    alias: list[str] = field(default_factory=list)
    alias_assigned: bool = False
    # A prebuilt deployment's Build Output; and what Vercel would build and run for it.
    output: Output | None = None
    detection: Detection = field(default_factory=lambda: Detection(prebuilt=False))

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


# -- the state ---------------------------------------------------------------------------------------


# Separates a project's id from a deployment's own host in a site server's key.
DEPLOYMENT_KEY = "|"
ALIAS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def datetime_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class VercelState(VercelDomains, PlatformState):
    """Users, teams, tokens, files, projects and deployments, with the rules that change them, and
    the loopback site of every project with a production deployment (``_site_ports``)."""

    def __init__(self, *, step_seconds: float, max_files: int, max_file_bytes: int) -> None:
        self.step_seconds = step_seconds
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        self._users: dict[str, User] = {}
        self._tokens: dict[str, Token] = {}
        self._deployments: dict[str, Deployment] = {}
        self._aliases: dict[str, ProjectKey] = {}
        self._failures: Countdowns[tuple[str, str]] = Countdowns()  # project name -> (code, message)
        self._last_ms = 0
        self._site_ports: SitePorts[ProjectKey, Visit] = ProjectSites(self._lock, self._visit)
        self._domains: dict[str, ProjectDomain] = {}
        self._init_hosts(self._host_answer, name="vercel-domains", server_version="Vercel")

    # -- seeding (tests and the local stack) -------------------------------------------------------

    def add_team(self, team_id: str, slug: str, *, project_limit: int = PROJECT_LIMIT, name: str | None = None) -> None:
        """Create the team, or restate an existing one's slug, name and project limit (its projects
        and files stay)."""
        _check_limit(project_limit)
        with self._lock:
            existing = self._accounts.get(team_id)
            if existing is not None:
                existing.slug, existing.name, existing.project_limit = slug, name or slug, project_limit
                return
            self._accounts[team_id] = Account(team_id, slug, name or slug, "team", project_limit, self._ms())

    def add_token(
        self, token: str, *, user: str = "local", teams: list[str] | None = None, project_limit: int = PROJECT_LIMIT
    ) -> None:
        """A token of ``user`` (created with its personal account, ``project_limit`` projects, on
        first mention) that may act in ``teams``."""
        _check_limit(project_limit)
        with self._lock:
            unknown = [t for t in teams or [] if self._accounts.get(t) is None or self._accounts[t].kind != "team"]
            if unknown:
                raise ValueError(f"unknown team(s) {unknown}: add_team first")
            found = self._user_named(user)
            if found is None:
                user_id = "usr_" + hashlib.sha1(user.encode()).hexdigest()[:20]  # noqa: S324 (a stable id)
                found = User(user_id, user, f"{user}@sitedeploy.invalid", user)
                self._users[user_id] = found
                self._accounts[user_id] = Account(user_id, user, user, "user", project_limit, self._ms())
            self._tokens[token] = Token(token, found.id, frozenset(teams or []))

    def set_project_limit(self, account: str, limit: int) -> None:
        """Change how many projects a team (by id) or personal account (user id or name) may hold;
        lowering it removes none."""
        _check_limit(limit)
        with self._lock:
            found = self._account_for(account)
            if found is None:
                raise ValueError(f"unknown account {account!r}")
            found.project_limit = limit

    def fail_next_deployment(
        self, project: str, message: str = "Build failed", *, code: str = "BUILD_FAILED", times: int = 1
    ) -> None:
        """The next ``times`` deployments of the project named ``project`` (in any account) end in
        ERROR with this errorCode/errorMessage instead of READY."""
        with self._lock:
            self._failures.set(project, (code, message), times)

    def cancel(self, deployment_id: str) -> bool:
        """Cancel a deployment still in progress (what ``PATCH /v12/deployments/{id}/cancel``
        does); False when it has already finished or does not exist."""
        with self._lock:
            deployment = self._deployments.get(deployment_id)
            if deployment is None:
                return False
            self._advance(deployment)
            if deployment.final:
                return False
            deployment.state = "CANCELED"
            deployment.canceled_ms = self._ms()
            return True

    # -- inspecting --------------------------------------------------------------------------------

    def site_url(self, account: str, name: str) -> str | None:
        """Where the project's production deployment is served; None before its first production
        deployment is READY, or once the project is deleted. ``account``: a team id, a user id or
        name, or "" for the personal accounts."""
        with self._lock:
            self._settle()
            project = self._project_for(account, name)
            key = (project.account_id, project.id) if project else None
        return self._site_ports.url(key) if key else None

    def public_url(self, account: str, name: str) -> str | None:
        """``https://<alias>`` once the project's production alias is assigned."""
        with self._lock:
            self._settle()
            project = self._project_for(account, name)
            return f"https://{project.alias}" if project and project.alias else None

    def project_names(self, account: str) -> list[str]:
        with self._lock:
            found = self._account_for(account)
            return sorted(p.name for p in found.projects.values()) if found else []

    def file(self, account: str, sha: str) -> bytes | None:
        with self._lock:
            found = self._account_for(account)
            return found.files.get(sha) if found else None

    def deployment_state(self, deployment_id: str) -> str | None:
        with self._lock:
            deployment = self._deployments.get(deployment_id)
            if deployment is None:
                return None
            self._advance(deployment)
            return deployment.state

    # -- lookups -----------------------------------------------------------------------------------

    def _user_named(self, username: str) -> User | None:
        return next((u for u in self._users.values() if u.username == username), None)

    def _account_for(self, account: str) -> Account | None:
        if account in self._accounts:
            return self._accounts[account]
        user = self._user_named(account)
        return self._accounts.get(user.id) if user else None

    def _project_for(self, account: str, name: str) -> Project | None:
        if account:
            found = self._account_for(account)
            return found.find(name) if found else None
        for candidate in self._accounts.values():
            if candidate.kind == "user" and (project := candidate.find(name)) is not None:
                return project
        return None

    def _ms(self) -> int:
        """Milliseconds since the epoch, strictly increasing (projects page by updatedAt)."""
        self._last_ms = max(self._last_ms + 1, int(time.time() * 1000))
        return self._last_ms

    # -- projects and deployments ------------------------------------------------------------------

    def _create_project(self, account: Account, name: str, settings: dict[str, Any]) -> Project:
        """Caller holds the lock: the limit check and the creation happen under it."""
        if len(account.projects) >= account.project_limit:
            raise VercelError(
                400,
                "project_limit",
                f"You have reached the limit of {account.project_limit} projects for this account. "
                "Delete a project to create a new one.",
                {"limit": account.project_limit},
            )
        moment = self._ms()
        project = Project(random_id("prj_", 28), name, account.id, moment, moment, dict(settings))
        account.projects[project.id] = project
        return project

    def _create_deployment(
        self,
        account: Account,
        project: Project,
        *,
        creator: User,
        name: str,
        target: str | None,
        files: dict[str, str],
        config: SiteConfig,
        output: Output | None = None,
        detection: Detection | None = None,
    ) -> Deployment:
        """Caller holds the lock."""
        deployment = Deployment(
            id=random_id("dpl_", 28),
            url=f"{name}-{random_id('', 9).lower()}.vercel.app",
            name=name,
            project_id=project.id,
            account_id=account.id,
            creator_id=creator.id,
            target=target,
            files=files,
            config=config,
            created_ms=self._ms(),
            started=time.monotonic(),
            step=self.step_seconds,
            fail=self._failures.take(project.name),
            output=output,
            detection=detection or Detection(prebuilt=output is not None),
        )
        self._deployments[deployment.id] = deployment
        project.deployment_ids.append(deployment.id)
        project.updated_ms = self._ms()
        return deployment

    def detection(self, deployment_id: str) -> Detection | None:
        """What Vercel would build and run for a deployment (tests prove it is nothing)."""
        with self._lock:
            found = self._deployments.get(deployment_id)
            return found.detection if found else None

    def _settle(self) -> None:
        """Bring every unfinished deployment up to the clock. Caller holds the lock."""
        for deployment in [d for d in self._deployments.values() if not d.final]:
            self._advance(deployment)

    def _advance(self, deployment: Deployment) -> None:
        if deployment.final:
            return
        elapsed = time.monotonic() - deployment.started
        steps = len(PROGRESS) if deployment.step <= 0 else int(elapsed / deployment.step)
        if steps < len(PROGRESS):
            deployment.state = PROGRESS[steps]
            if deployment.state == "BUILDING" and deployment.building_ms is None:
                deployment.building_ms = self._ms()
            return
        if deployment.building_ms is None:
            deployment.building_ms = self._ms()
        if deployment.fail is not None:
            code, message = deployment.fail
            deployment.state = "ERROR"
            deployment.error = {"errorCode": code, "errorMessage": message, "errorStep": "build"}
            deployment.ready_ms = self._ms()
            return
        deployment.state = "READY"
        deployment.ready_ms = self._ms()
        deployment.alias_assigned = True
        project = self._project_of(deployment)
        # A project's first deployment takes its production domain whatever its target: Vercel's
        # rule, and why a preview must never be a project's first deployment.
        if deployment.target == "production" or (project is not None and project.production_id is None):
            self._promote(deployment)

    def _project_of(self, deployment: Deployment) -> Project | None:
        account = self._accounts.get(deployment.account_id)
        return account.projects.get(deployment.project_id) if account else None

    def _promote_to(self, account: Account, project: Project, deployment: Deployment) -> dict[str, Any]:
        """``POST /v10/projects/{id}/promote/{deploymentId}``: a READY production deployment, older
        or not, takes the production domain again, with no build (caller holds the lock)."""
        if deployment.project_id != project.id:
            raise not_found("Deployment not found.")
        self._advance(deployment)
        if deployment.state != "READY":
            raise bad_request(f"The deployment is {deployment.state}: only a READY deployment can be promoted.")
        if deployment.target != "production":
            raise bad_request(
                "A preview deployment cannot be promoted without a new build: create a production deployment.",
                "preview_promotion",
            )
        previous = project.production_id
        if project.alias is None:
            project.alias = self._free_alias(account, project)
            self._aliases[project.alias] = (account.id, project.id)
        project.production_id = deployment.id
        project.updated_ms = self._ms()
        deployment.alias = [project.alias]
        project.last_alias_request = {
            "type": "promote",
            "jobStatus": "succeeded",
            "requestedAt": self._ms(),
            "fromDeploymentId": previous,
            "toDeploymentId": deployment.id,
        }
        self._site_ports.serve((account.id, project.id), project.name)
        return project.last_alias_request

    def _assign_alias(self, account: Account, deployment: Deployment, alias: str) -> dict[str, Any]:
        """``POST /v2/deployments/{id}/aliases``: a ``*.vercel.app`` name (global, first come) for one
        deployment; the same call moves it to a newer deployment of the same project."""
        project = self._project_of(deployment)
        if project is None:
            raise not_found("Deployment not found.")
        if not alias.endswith(".vercel.app") or not ALIAS_LABEL.match(alias.removesuffix(".vercel.app")):
            raise bad_request(f"Invalid alias {alias!r}: a subdomain of vercel.app is expected.", "invalid_alias")
        held = self._aliases.get(alias)
        if held is not None and held != (account.id, project.id):
            raise VercelError(403, "alias_in_use", f"The alias {alias} is already in use.")
        if alias == project.alias:
            raise VercelError(403, "alias_in_use", f"The alias {alias} is the project's production domain.")
        self._aliases[alias] = (account.id, project.id)
        old = project.deployment_aliases.get(alias)
        project.deployment_aliases[alias] = deployment.id
        answer: dict[str, Any] = {"uid": random_id("", 24), "alias": alias, "created": datetime_iso(self._ms())}
        if old and old != deployment.id:
            answer["oldDeploymentId"] = old
        return answer

    def preview_url(self, url: str) -> str | None:
        """Where a deployment's own URL, or an alias assigned to it, answers on loopback."""
        host = urlsplit(url).hostname or ""
        with self._lock:
            self._settle()
            for deployment in self._deployments.values():
                project = self._project_of(deployment)
                if project is None:
                    continue
                if deployment.url == host or project.deployment_aliases.get(host) == deployment.id:
                    if deployment.state != "READY":
                        return None
                    key = (deployment.account_id, f"{project.id}{DEPLOYMENT_KEY}{host}")
                    self._site_ports.serve(key, host.split(".")[0])
                    break
            else:
                return None
        return self._site_ports.url(key)

    def _promote(self, deployment: Deployment) -> None:
        account = self._accounts.get(deployment.account_id)
        project = account.projects.get(deployment.project_id) if account else None
        if account is None or project is None:
            return
        current = self._deployments.get(project.production_id or "")
        if current is not None and current.created_ms > deployment.created_ms:
            return  # a newer production deployment is already live
        if project.alias is None:
            project.alias = self._free_alias(account, project)
            self._aliases[project.alias] = (account.id, project.id)
        project.production_id = deployment.id
        project.updated_ms = self._ms()
        deployment.alias = [project.alias]
        self._site_ports.serve((account.id, project.id), project.name)

    def _free_alias(self, account: Account, project: Project) -> str:
        """``<name>.vercel.app``, or ``<name>-<slug>.vercel.app`` when another account holds it."""
        for candidate in (f"{project.name}.vercel.app", f"{project.name}-{account.slug}.vercel.app"):
            if candidate not in self._aliases:
                return candidate
        return f"{project.name}-{account.slug}-{random_id('', 6).lower()}.vercel.app"

    def _delete_project(self, account: Account, project: Project) -> SiteServer | None:
        """Caller holds the lock; the returned server is stopped by the caller, outside it."""
        account.projects.pop(project.id, None)
        for deployment_id in project.deployment_ids:
            self._deployments.pop(deployment_id, None)
        if project.alias is not None:
            self._aliases.pop(project.alias, None)
        for name in [n for n, d in self._domains.items() if d.project_id == project.id]:
            del self._domains[name]
        return self._site_ports.withdraw((account.id, project.id))

    def _forget(self) -> list[SiteServer]:
        """Drop every project, deployment, alias and file (users, teams and tokens stay); the site
        servers to stop, which the caller does outside the lock."""
        with self._lock:
            sites = self._site_ports.withdraw_all(close=self._site_ports.closed)
            for account in self._accounts.values():
                account.files.clear()
                account.projects.clear()
            self._deployments.clear()
            self._aliases.clear()
            self._domains.clear()
            self._failures.clear()
            return sites

    # -- what a visitor finds ----------------------------------------------------------------------

    def _visit(self, key: ProjectKey) -> Visit | None:
        """The project's production deployment and its account's files; None when it is gone.
        Called with the lock held, by the site server of ``key``."""
        self._settle()
        account = self._accounts.get(key[0])
        project_id, _, host = key[1].partition(DEPLOYMENT_KEY)
        project = account.projects.get(project_id) if account else None
        deployment = self._deployments.get(project.production_id or "") if project else None
        if host and project is not None:
            own = [d for d in self._deployments.values() if d.project_id == project.id and d.url == host]
            aliased = self._deployments.get(project.deployment_aliases.get(host, ""))
            deployment = own[0] if own else aliased
        if account is None or deployment is None:
            return None
        served = ServedDeployment(
            id=deployment.id, files=deployment.files, config=deployment.config, output=deployment.output
        )
        return Visit(deployment=served, read=account.files.get)
