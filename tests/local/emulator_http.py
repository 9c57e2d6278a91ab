"""What the platform emulators' tests share: a JSON client for an emulator's API with a bearer token
(``ApiClient``, its answers as ``Answer``), fetching a served site (``fetch_site``), the real
platform clients installed by the project's scripts (``install_client``) and small helpers.

Each platform's test module keeps what is its own: the URL it calls (an account in the path, a
``teamId`` in the query), what an answer's body means (``result``, ``error.code``) and the protocol
steps it drives.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import urllib3

REPO = Path(__file__).resolve().parents[2]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def unique(prefix: str = "s") -> str:
    """A name no other test uses (site and project names are global on the emulators)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Answer:
    """An API answer: ``body`` is the JSON (None for an empty or non-JSON body), ``raw`` the bytes."""

    status: int
    body: Any
    headers: Any
    raw: bytes


A = TypeVar("A", bound=Answer)


class ApiClient(Generic[A]):
    """A urllib3 client that sends ``Authorization: Bearer <token>`` and JSON bodies and parses JSON
    answers, never retrying or following redirects (the tests look at what the emulator says). A
    platform's client says where a path is (``url``) and adds its protocol's steps."""

    def __init__(self, answer_type: type[A], token: str | None) -> None:
        self.token = token
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))
        self._answer_type = answer_type

    def url(self, path: str, query: str) -> str:
        """Where ``path`` (and ``query``) of the platform's API is: the platform's client says."""
        raise NotImplementedError

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        query: str = "",
    ) -> A:
        """One request; ``token`` (else the client's) is the bearer, none when both are None."""
        sent = dict(headers or {})
        auth = token if token is not None else self.token
        if auth is not None:
            sent["Authorization"] = f"Bearer {auth}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        response = self.http.request(method, self.url(path, query), body=body, headers=sent, redirect=False)
        try:
            payload = json.loads(response.data) if response.data else None
        except ValueError:
            payload = None
        return self._answer_type(response.status, payload, response.headers, response.data)


def fetch_site(base: str | None, name: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
    """A request to a served site at ``base`` (its ``site_url``), as a browser would send it."""
    assert base is not None, f"{name} is not served"
    return urllib3.request(method, base.rstrip("/") + path, redirect=False, retries=False, **kwargs)


def install_client(script: str, package: str) -> str:
    """A platform's own client, installed from the npm registry by ``scripts/<script>``; its path.
    Not skipped: a machine without npm fails here, loudly."""
    assert shutil.which("npm"), f"npm (Node.js >= 20) is needed to install {package}"
    installed = subprocess.run(
        [str(REPO / "scripts" / script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert installed.returncode == 0, installed.stderr
    return installed.stdout.strip().splitlines()[-1]
