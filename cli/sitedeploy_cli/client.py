"""A small HTTP client for the sitedeploy API, on urllib3.

Retries are per call: reads and ``/uploads`` (which only presigns) are safe to repeat on 429/5xx,
while creating a deployment is not — a repeated POST could start two — so it is retried only when
the connection failed before the request was sent. Every failure becomes an ``ApiError`` whose
message is one line a person can act on; the server's ``{"error", "code"}`` is kept as given
because it names the offending path or field."""

from __future__ import annotations

import json
import re
from typing import Any

import urllib3
from urllib3.util.retry import Retry

from sitedeploy_cli.config import ClientConfig

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    """A failed API call; ``status`` is 0 when the API could not be reached at all."""

    def __init__(self, status: int, message: str, code: str | None = None, payload: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.payload = payload


def describe_network_error(exc: BaseException) -> str:
    """``Connection refused`` rather than urllib3's pool and connection reprs, which help nobody."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    text = re.sub(r"^.*?Failed to establish a new connection: ", "", text)
    text = re.sub(r"^(?:<[^>]*>|\w+Connection(?:Pool)?\([^)]*\)): ", "", text)
    return re.sub(r"\[Errno -?\d+\] ", "", text) or type(reason).__name__


class ApiClient:
    def __init__(self, config: ClientConfig, *, retries: int = 3, backoff: float = 0.3) -> None:
        self.config = config
        self._safe_retry = Retry(
            total=retries,
            backoff_factor=backoff,
            status_forcelist=RETRIED_STATUSES,
            allowed_methods=None,  # the caller decided this call is safe to repeat
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._connect_only_retry = Retry(total=retries, connect=retries, read=0, status=0, backoff_factor=backoff)
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=60))

    def request(
        self,
        method: str,
        path: str,
        *,
        fields: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Call the API and return the decoded JSON answer; raise ApiError for anything else.

        ``idempotent`` defaults to True for GET only; pass True for a POST that is safe to repeat."""
        headers = {**(headers or {}), "Authorization": f"Bearer {self.config.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        query = {k: str(v) for k, v in (fields or {}).items() if v is not None}
        safe = method == "GET" if idempotent is None else idempotent
        try:
            response = self._http.request(
                method,
                self.config.api_url + path,
                fields=query or None,
                body=data,
                headers=headers,
                retries=self._safe_retry if safe else self._connect_only_retry,
            )
        except urllib3.exceptions.HTTPError as exc:
            why = describe_network_error(exc)
            raise ApiError(0, f"cannot reach the API at {self.config.api_url} ({why})") from None
        try:
            payload = json.loads(response.data or b"null")
        except ValueError:
            payload = None
        if response.status >= 400:
            raise error_from_answer(response.status, payload, response.reason)
        return payload


def error_from_answer(status: int, payload: Any, reason: str | None = None) -> ApiError:
    """The API's ``{"error", "code"}``; API Gateway's own 401 is ``{"message": "Unauthorized"}``."""
    if status == 401:
        return ApiError(401, "unauthorized: the token is missing, invalid or expired", "unauthorized", payload)
    if isinstance(payload, dict):
        message = payload.get("error") or payload.get("message") or reason or f"HTTP {status}"
        return ApiError(status, str(message), payload.get("code"), payload)
    return ApiError(status, f"HTTP {status} {reason or ''}".strip(), None, payload)
