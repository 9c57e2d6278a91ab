"""Where the API is and who we are: flags, then environment, then the local stack's local.json."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class ClientConfig:
    api_url: str
    token: str
    local: bool


def find_local_json(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".sitedeploy" / "local.json"
        if candidate.is_file():
            return candidate
    return None


def resolve_config(api: str | None, token: str | None) -> ClientConfig:
    api = api or os.environ.get("SITEDEPLOY_API_URL")
    token = token or os.environ.get("SITEDEPLOY_TOKEN")
    if api and token:
        return ClientConfig(api.rstrip("/"), token, local=False)
    local = find_local_json()
    if local is not None:
        data = json.loads(local.read_text())
        return ClientConfig((api or data["apiUrl"]).rstrip("/"), token or data["token"], local=api is None)
    raise ConfigError(
        "no API configured: pass --api and --token (or set SITEDEPLOY_API_URL and SITEDEPLOY_TOKEN), "
        "or start the local stack with `make dev`"
    )
