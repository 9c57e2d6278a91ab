"""The whole local stack in one object: start it, use it, stop it. ``make dev`` runs it in the
foreground; the tests start one per session."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from sitedeploy_local import zygote
from sitedeploy_local.auth import KEY_ID, LOCAL_AUDIENCE, LOCAL_ISSUER, DevIssuer, JwtAuthorizer
from sitedeploy_local.aws import MotoServer, provision, put_secret_json
from sitedeploy_local.console import ConsoleServer
from sitedeploy_local.control import ControlServer
from sitedeploy_local.emulators.amplify import AmplifyEmulator
from sitedeploy_local.emulators.cloudflare import CloudflareEmulator
from sitedeploy_local.emulators.dns import Dns
from sitedeploy_local.emulators.netlify import NetlifyEmulator
from sitedeploy_local.emulators.vercel import VercelEmulator
from sitedeploy_local.gateway import Gateway
from sitedeploy_local.runtime import FunctionHost
from sitedeploy_local.schedules import Scheduler
from sitedeploy_local.streams import StreamPump
from sitedeploy_local.template import FunctionSpec, Template

REPO_ROOT = Path(__file__).resolve().parents[2]

# The platform-managed ("Quick Deploy") Cloudflare account of the local stack. Not secrets: they
# open nothing but the emulator on this machine.
LOCAL_CLOUDFLARE_ACCOUNT = "5f2c7d4e9a1b4c3d8e7f6a5b4c3d2e1f"
LOCAL_CLOUDFLARE_TOKEN = "local-platform-cloudflare-token"  # noqa: S105
LOCAL_CLOUDFLARE_SUBDOMAIN = "sitedeploy-local"
# Quick Deploy's Netlify account and Vercel team locally (the same: they open only the emulators).
LOCAL_NETLIFY_ACCOUNT = "sitedeploy-local"
LOCAL_NETLIFY_TOKEN = "local-platform-netlify-token"  # noqa: S105
LOCAL_VERCEL_TEAM = "team_sitedeploylocal"
LOCAL_VERCEL_TOKEN = "local-platform-vercel-token"  # noqa: S105
LOCAL_PLATFORMS = ("cloudflare", "amplify", "netlify", "vercel")
LAMBDA_EXECUTION_ENV = "AWS_Lambda_python3.13"


@dataclass
class StackOptions:
    root: Path = REPO_ROOT
    state_dir: Path | None = None
    gateway_port: int = 0
    # The web console's port (0: any free one); its origin is always allowed by CORS.
    console_port: int = 0
    # Further origins the API and the staging bucket allow (a front end under development, say).
    allowed_origins: list[str] = field(default_factory=list)
    echo_logs: bool = False
    max_concurrency: int = 4
    parameters: dict[str, Any] = field(default_factory=dict)
    extra_environment: dict[str, str] = field(default_factory=dict)
    write_local_json: bool = True
    warm: bool = True
    # Platform retries locally: short, so that fault tests take seconds, not minutes.
    retry_backoff_seconds: float = 0.1
    retry_after_cap_seconds: float = 3.0
    # How often a build is asked about (AWS: every 2 s; local builds are quicker).
    build_poll_seconds: float = 0.5
    # Amplify jobs locally: each phase (PENDING, RUNNING, VERIFY) this long.
    amplify_job_step_seconds: float = 0.3
    amplify_branch_delete_seconds: float = 2.0
    # The Amplify emulator's quotas (AWS's defaults); the template's pool parameters follow them.
    amplify_max_apps: int = 25
    amplify_max_branches_per_app: int = 50
    amplify_max_concurrent_jobs: int = 5
    # The service's Quick Deploy Cloudflare accounts (account id → Workers it may hold); the
    # emulator holds each to that many Workers too. None: the one local account, 500 Workers.
    cloudflare_accounts: dict[str, int] | None = None
    # Run the template's Schedule events (the sweeper) on their rate, as EventBridge would.
    run_schedules: bool = True
    # Quick Deploy to Cloudflare on Workers for Platforms instead of the accounts: (namespace,
    # domain); sites answer at ``http://<site>.<domain>:<port>/`` (use a ``*.localhost`` domain,
    # which browsers resolve to loopback).
    cloudflare_dispatch: tuple[str, str] | None = None


class LocalStack:
    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.state_dir = self.options.state_dir or (self.options.root / ".sitedeploy")
        self.log_dir = self.state_dir / "logs"
        self.moto = MotoServer(log_path=None)
        self.template: Template | None = None
        self.functions: dict[str, FunctionSpec] = {}
        self.hosts: dict[str, FunctionHost] = {}
        self.gateway: Gateway | None = None
        self.pump: StreamPump | None = None
        self.issuer: DevIssuer | None = None
        self.cloudflare = CloudflareEmulator()
        self.amplify = AmplifyEmulator(
            job_step_seconds=self.options.amplify_job_step_seconds,
            branch_delete_seconds=self.options.amplify_branch_delete_seconds,
            max_apps=self.options.amplify_max_apps,
            max_branches_per_app=self.options.amplify_max_branches_per_app,
            max_concurrent_jobs=self.options.amplify_max_concurrent_jobs,
        )
        self.netlify = NetlifyEmulator()
        self.vercel = VercelEmulator()
        # The DNS users "create" records in (the tests do): every emulator verifies custom domains
        # against it.
        self.dns = Dns()
        for emulator in (self.cloudflare, self.amplify, self.netlify, self.vercel):
            if hasattr(emulator, "dns"):
                emulator.dns = self.dns
        self.control = ControlServer()
        self.console = ConsoleServer(
            self.options.root / "clients" / "web", self.console_config, port=self.options.console_port
        )
        self._console_token: str | None = None
        self.scheduler: Scheduler | None = None
        self.zygote: zygote.Zygote | None = None
        self._log_lock = threading.Lock()
        self._log_files: dict[str, Any] = {}
        self.log_listeners: list[Callable[[str, str], None]] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if zygote.available():
            inherited = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH"}}
            # What the preloaded libraries may read at import: as every function's environment has it.
            self.zygote = zygote.Zygote().start(
                {**inherited, "AWS_EXECUTION_ENV": LAMBDA_EXECUTION_ENV, "PYTHONUNBUFFERED": "1"}
            )
        self.moto.start()
        self.cloudflare.start()
        for number, (account, limit) in enumerate(self.cloudflare_accounts.items()):
            subdomain = LOCAL_CLOUDFLARE_SUBDOMAIN if number == 0 else f"{LOCAL_CLOUDFLARE_SUBDOMAIN}-{number}"
            self.cloudflare.add_account(
                account, name=f"sitedeploy local {number}", subdomain=subdomain, worker_limit=limit
            )
        self.cloudflare.add_token(LOCAL_CLOUDFLARE_TOKEN, list(self.cloudflare_accounts))
        self.control.lookups["cloudflare"] = self.cloudflare.site_url
        self.control.previews["cloudflare"] = self.cloudflare.preview_url
        self.amplify.start()
        self.control.lookups["amplify"] = self.amplify.site_url
        self.netlify.start()
        self.netlify.add_account(LOCAL_NETLIFY_ACCOUNT, name="sitedeploy local")
        self.netlify.add_token(LOCAL_NETLIFY_TOKEN, [LOCAL_NETLIFY_ACCOUNT])
        self.control.lookups["netlify"] = self.netlify.site_url
        self.control.previews["netlify"] = self.netlify.preview_url
        self.vercel.start()
        self.vercel.add_team(LOCAL_VERCEL_TEAM, "sitedeploy-local")
        self.vercel.add_token(LOCAL_VERCEL_TOKEN, user="sitedeploy-local", teams=[LOCAL_VERCEL_TEAM])
        self.control.lookups["vercel"] = self.vercel.site_url
        self.control.previews["vercel"] = self.vercel.preview_url
        self.control.start()
        self.console.start()
        parameters = {
            "JwtIssuer": LOCAL_ISSUER,
            "JwtAudience": LOCAL_AUDIENCE,
            "CloudflareApiBaseUrl": self.cloudflare.api_base,
            "NetlifyApiBaseUrl": self.netlify.api_base,
            "VercelApiBaseUrl": self.vercel.api_base,
            "AmplifyPoolApps": self.options.amplify_max_apps,
            "AmplifyBranchesPerApp": self.options.amplify_max_branches_per_app,
            "AmplifyConcurrentJobs": self.options.amplify_max_concurrent_jobs,
            # Not the template's "*": a browser meets locally the refusal it would meet in AWS.
            "AllowedOrigins": ",".join([*self.console.origins, *self.options.allowed_origins]),
            **self.options.parameters,
        }
        template = Template.load(self.options.root / "template.yaml", parameters)
        provision(template, self.moto)
        self.template = template
        self.set_platform_secret()
        self.issuer = DevIssuer.load_or_create(self.state_dir / "jwt-key.pem")
        self.functions = template.functions()
        for name, spec in self.functions.items():
            self.hosts[name] = FunctionHost(
                spec,
                self.function_environment(spec),
                max_concurrency=self.options.max_concurrency,
                log_sink=self._log,
                zygote=self.zygote,
            )
        if self.options.warm:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda host: host.warm(), self.hosts.values()))
        auth = template.http_api_auth()
        public = self.issuer.private_key.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        authorizer = JwtAuthorizer(auth["issuer"], auth["audience"], {KEY_ID: public})
        routes = [route for spec in self.functions.values() for route in spec.routes]
        cors = self._cors_origins(template)
        self.gateway = Gateway(routes, self.hosts, authorizer, port=self.options.gateway_port, cors_origins=cors)
        self.gateway.start()
        self.pump = self._make_pump(template)
        for host in self.hosts.values():
            host.returned = self.pump.kick
        self.pump.start()
        if self.options.run_schedules:
            self.scheduler = Scheduler(self.functions, self.hosts)
            self.scheduler.start()
        self.write_functions_json()
        if self.options.write_local_json:
            self.write_local_json()
        return self

    def stop(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
        if self.pump:
            self.pump.stop()
        if self.gateway:
            self.gateway.stop()
        for host in self.hosts.values():
            host.stop()
        if self.zygote is not None:
            self.zygote.stop()
            self.zygote = None
        self.cloudflare.stop()
        self.amplify.stop()
        self.netlify.stop()
        self.vercel.stop()
        self.control.stop()
        self.console.stop()
        self.moto.stop()
        with self._log_lock:
            for handle in self._log_files.values():
                handle.close()
            self._log_files.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- pieces ---------------------------------------------------------------------------------

    def function_environment(self, spec: FunctionSpec) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH"}}
        stack_name = self.template.stack_name if self.template else "sitedeploy-local"
        return {
            **inherited,
            **spec.environment,
            **self.moto.environment,
            "AWS_LAMBDA_FUNCTION_NAME": f"{stack_name}-{spec.logical_id}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_EXECUTION_ENV": LAMBDA_EXECUTION_ENV,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
            "SITEDEPLOY_LOCAL": "1",
            "SITEDEPLOY_LOCAL_CONTROL_URLS": json.dumps(
                {platform: self.control.base_for(platform) for platform in LOCAL_PLATFORMS}
            ),
            "AWS_ENDPOINT_URL_AMPLIFY": self.amplify.endpoint_url,
            "PLATFORM_RETRY_BACKOFF_SECONDS": str(self.options.retry_backoff_seconds),
            "PLATFORM_RETRY_AFTER_CAP_SECONDS": str(self.options.retry_after_cap_seconds),
            # Local builds take a second or so: ask about them about as often.
            "BUILD_POLL_SECONDS": str(self.options.build_poll_seconds),
            **self.options.extra_environment,
        }

    def _make_pump(self, template: Template) -> StreamPump:
        tables: dict[str, str] = {}
        streams: dict[str, str] = {}
        ttl: dict[str, str] = {}
        for name, res in template.of_type("AWS::DynamoDB::Table").items():
            tables[name] = template.physical[name]
            arn = template.attributes.get((name, "StreamArn"))
            if arn:
                streams[name] = arn
            spec = (res.get("Properties") or {}).get("TimeToLiveSpecification") or {}
            if spec.get("Enabled"):
                ttl[name] = spec["AttributeName"]
        pump = StreamPump(self.moto.client, tables, streams, ttl)
        for spec in self.functions.values():
            for subscription in spec.subscriptions:
                pump.subscribe(subscription, self.hosts[spec.logical_id])
                if subscription.on_failure:
                    pump.failure_queues[spec.logical_id] = template.physical[subscription.on_failure]
        return pump

    @staticmethod
    def _cors_origins(template: Template) -> list[str]:
        for res in template.of_type("AWS::Serverless::HttpApi").values():
            cors = (res.get("Properties") or {}).get("CorsConfiguration") or {}
            origins = template.resolve(cors.get("AllowOrigins") or [])
            return [str(o) for o in origins] if isinstance(origins, list) else [str(origins)]
        return []

    def _log(self, function: str, line: str) -> None:
        with self._log_lock:
            handle = self._log_files.get(function)
            if handle is None:
                handle = open(self.log_dir / f"{function}.log", "a", encoding="utf-8")  # noqa: SIM115
                self._log_files[function] = handle
            handle.write(line + "\n")
            handle.flush()
        if self.options.echo_logs:
            print(f"[{function}] {line}", flush=True)
        for listener in self.log_listeners:
            listener(function, line)

    # -- for people and tests -------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def mint_token(self, sub: str = "dev-user", **kwargs: Any) -> str:
        assert self.issuer is not None
        return self.issuer.mint(sub, **kwargs)

    @property
    def cloudflare_accounts(self) -> dict[str, int]:
        return self.options.cloudflare_accounts or {LOCAL_CLOUDFLARE_ACCOUNT: 500}

    def platform_secret(self) -> dict[str, Any]:
        """What Quick Deploy uses locally: the emulator's accounts (one token opens them all)."""
        cloudflare: dict[str, Any] = {
            "accounts": [
                {"apiToken": LOCAL_CLOUDFLARE_TOKEN, "accountId": account, "workerLimit": limit}
                for account, limit in self.cloudflare_accounts.items()
            ],
            "workerPrefix": "sd",
        }
        if self.options.cloudflare_dispatch is not None:
            namespace, domain = self.options.cloudflare_dispatch
            account = next(iter(self.cloudflare_accounts))
            # The operator's zone for the domain: Cloudflare for SaaS custom hostnames live there.
            zone_id = self.cloudflare.add_zone(account, domain)
            cloudflare = {
                "dispatch": {
                    "apiToken": LOCAL_CLOUDFLARE_TOKEN,
                    "accountId": account,
                    "namespace": namespace,
                    "domain": domain,
                    "zoneId": zone_id,
                    "publicSuffix": True,
                },
                "workerPrefix": "sd",
            }
        return {
            "cloudflare": cloudflare,
            "netlify": {
                "accounts": [{"accessToken": LOCAL_NETLIFY_TOKEN, "accountSlug": LOCAL_NETLIFY_ACCOUNT}],
                "sitePrefix": "sd",
            },
            "vercel": {
                "accounts": [{"token": LOCAL_VERCEL_TOKEN, "teamId": LOCAL_VERCEL_TEAM}],
                "projectPrefix": "sd",
            },
        }

    def set_platform_secret(self, value: dict[str, Any] | None = None) -> None:
        """Replace the platform credentials secret (tests remove it to see Quick Deploy refused)."""
        put_secret_json(
            self.moto, self.resource("PlatformCredentialsSecret"), self.platform_secret() if value is None else value
        )

    def resource(self, logical_id: str) -> str:
        assert self.template is not None
        return self.template.physical[logical_id]

    def local_json(self, token: str) -> dict[str, Any]:
        return {
            "apiUrl": self.api_url,
            "token": token,
            "cloudflareApiUrl": self.cloudflare.api_base,
            "amplifyEndpointUrl": self.amplify.endpoint_url,
            "netlifyApiUrl": self.netlify.api_base,
            "vercelApiUrl": self.vercel.api_base,
            "consoleUrl": self.console.url,
        }

    def console_config(self) -> dict[str, Any] | None:
        """What the console page reads from /config.json: the API and a dev token (sub dev-user)."""
        if self.gateway is None or self.issuer is None:
            return None
        if self._console_token is None:
            self._console_token = self.mint_token("dev-user")
        return {"apiUrl": self.api_url, "token": self._console_token, "local": True}

    def write_functions_json(self) -> Path:
        """Each function's code, handler, limits and environment, for ``sitedeploy-local invoke``
        against this running stack (local endpoints and table names only: nothing secret)."""
        path = self.state_dir / "functions.json"
        functions = {
            name: {
                "codeDir": str(spec.code_dir),
                "handler": spec.handler,
                "timeout": spec.timeout,
                "memory": spec.memory,
                "environment": self.function_environment(spec),
            }
            for name, spec in self.functions.items()
        }
        path.write_text(json.dumps({"apiUrl": self.api_url, "functions": functions}, indent=2) + "\n")
        path.chmod(0o600)
        return path

    def write_local_json(self, token: str | None = None) -> Path:
        """``{"apiUrl", "token"}`` for the CLI and scripts; the dev token is for sub=dev-user."""
        path = self.state_dir / "local.json"
        path.write_text(json.dumps(self.local_json(token or self.mint_token("dev-user")), indent=2) + "\n")
        path.chmod(0o600)
        return path
