"""The part of a platform's REST client that is only HTTP: one connection pool with the service's
retry policy under it, a bearer token on every call, JSON bodies out and in, and transport
failures as the platform's own error. What an error body says, and what a success carries, is
each client's to read."""

from __future__ import annotations

import io
import json
from typing import IO, Any, ClassVar
from urllib.parse import urlencode

import urllib3
from pydantic import SecretStr

from sitedeploy.platforms.base import CappedRetry, PlatformError, retry_policy

ATTEMPTS = 5
POOL_SIZE = 8
SEND_BLOCK_BYTES = 256 * 1024  # a body goes out in blocks this big (urllib3's default: 16 KiB)

Body = bytes | IO[bytes] | io.IOBase


class JsonApi:
    """A token's client for one API. ``send`` raises ``error_class`` only for transport failures
    (after the retries); an HTTP error status is answered like any other, for the client to read."""

    error_class: ClassVar[type[PlatformError]] = PlatformError
    retry_class: ClassVar[type[CappedRetry]] = CappedRetry
    # Headers every call carries besides the token.
    default_headers: ClassVar[dict[str, str]] = {}
    default_base_url: ClassVar[str]
    title: ClassVar[str]
    default_pool_size: ClassVar[int] = POOL_SIZE

    def __init__(
        self,
        token: SecretStr,
        *,
        base_url: str | None = None,
        backoff: float = 1.0,
        retry_after_cap: float = 30.0,
        attempts: int = ATTEMPTS,
        timeout: float = 60.0,
        pool_size: int | None = None,
    ) -> None:
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self._token = token
        self._attempts = attempts
        self._retries = retry_policy(
            attempts=attempts, backoff=backoff, retry_after_cap=retry_after_cap, retry_class=self.retry_class
        )
        self._http = urllib3.PoolManager(
            maxsize=pool_size or self.default_pool_size,
            retries=self._retries,
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
            blocksize=SEND_BLOCK_BYTES,
        )
        self.requests_sent = 0

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        if not query:
            return self.base_url + path
        return self.base_url + path + ("&" if "?" in path else "?") + urlencode(query)

    def answer(self, status: int, payload: Any, what: str) -> Any:
        """What a call answers: the payload, or the platform's error for an error status."""
        raise NotImplementedError

    def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        json_body: Any = None,
        body: Body | None = None,
        content_type: str | None = None,
        bearer: SecretStr | str | None = None,
        headers: dict[str, str] | None = None,
        what: str | None = None,
    ) -> tuple[int, Any]:
        """``(status, what ``answer`` makes of the decoded JSON)``."""
        what = what or f"{self.title} API call"
        status, payload = self.send(
            method,
            self.url(path, query),
            json_body=json_body,
            body=body,
            content_type=content_type,
            bearer=bearer,
            headers=headers,
            what=what,
        )
        return status, self.answer(status, payload, what)

    def send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        body: Body | None = None,
        content_type: str | None = None,
        bearer: SecretStr | str | None = None,
        headers: dict[str, str] | None = None,
        what: str,
    ) -> tuple[int, Any]:
        """``(status, decoded JSON or None)``. A file-like ``body`` is rewound by urllib3 on retry.
        The error names what failed and the transport's reason, never the URL or a header."""
        token = bearer if bearer is not None else self._token
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        sent = {"Authorization": f"Bearer {secret}", **self.default_headers, **(headers or {})}
        data: Any = body
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        elif content_type:
            sent["Content-Type"] = content_type
        try:
            self.requests_sent += 1
            response = self._http.request(method, url, body=data, headers=sent)
        except urllib3.exceptions.MaxRetryError as exc:
            raise self.error_class(
                f"{what} failed: {type(exc.reason).__name__} after {self._attempts} attempts"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self.error_class(f"{what} failed: {type(exc).__name__}") from None
        try:
            payload = json.loads(response.data) if response.data else None
        except ValueError:
            payload = None
        return response.status, payload
