"""boto3 clients, made once per execution environment and reused across invocations.

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local stack points every client at
moto's server without any code here knowing about it."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Standard retry mode: exponential backoff with jitter on throttling and transient errors.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def client_with_config(service: str, config: Config) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG.merge(config))  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    result: DynamoDBClient = client("dynamodb")
    return result
