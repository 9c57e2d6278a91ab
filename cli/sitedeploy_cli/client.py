"""A small HTTP client for the sitedeploy API, on urllib3 with retries for idempotent calls."""

from __future__ import annotations

import json
from typing import Any

import urllib3
from urllib3.util.retry import Retry

from sitedeploy_cli.config import ClientConfig


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class ApiClient:
    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._http = urllib3.PoolManager(
            retries=Retry(total=3, backoff_factor=0.3, status_forcelist=(502, 503, 504), allowed_methods=["GET"]),
            timeout=urllib3.Timeout(connect=5, read=30),
        )

    def request(self, method: str, path: str, *, fields: dict[str, Any] | None = None, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.config.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        query = {k: str(v) for k, v in (fields or {}).items() if v is not None}
        url = self.config.api_url + path
        try:
            response = self._http.request(method, url, fields=query or None, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(0, f"cannot reach the API at {self.config.api_url}: {exc}") from None
        try:
            payload = json.loads(response.data or b"null")
        except ValueError:
            payload = None
        if response.status >= 400:
            if response.status == 401:
                raise ApiError(401, "unauthorized: the token is missing, invalid or expired", "unauthorized")
            if isinstance(payload, dict):
                message = payload.get("error") or payload.get("message") or response.reason
                raise ApiError(response.status, str(message), payload.get("code"))
            raise ApiError(response.status, f"HTTP {response.status}")
        return payload
