"""boto3 clients, made once per execution environment and reused across invocations.

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local stack points every client at
moto's server without any code here knowing about it."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.utils import parse_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Standard retry mode: exponential backoff with jitter on throttling and transient errors. The pool
# is as large as the widest fan-out (staging lookups run 16 at once): a connection beyond the pool
# is closed after one call instead of kept alive.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30, max_pool_connections=32
)


def timestamp(value: Any) -> datetime:
    """botocore's timestamp parsing, with a fast path for the ISO 8601 S3 lists every object with:
    its default goes through dateutil, about a millisecond a key, a second for a 1,000-key listing."""
    if isinstance(value, str) and len(value) >= 20 and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    result: datetime = parse_timestamp(value)
    return result


@cache
def _session() -> boto3.session.Session:
    """One session for every client: it loads the endpoint rules, the list of services and the
    credentials once, where a session per client paid for each again (about 40 ms a client at a
    cold start). Sessions are not thread-safe, so clients are made under a lock; the clients are."""
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=timestamp)
    return boto3.session.Session(botocore_session=core)


_MAKING = threading.Lock()


@cache
def client(service: str) -> Any:
    return client_as(service, _CONFIG, region=None)


@cache
def client_with_config(service: str, config: Config) -> Any:
    return client_as(service, _CONFIG.merge(config), region=None)


def client_as(
    service: str,
    config: Config,
    *,
    region: str | None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
) -> Any:
    """Every client is made here, from the one session (under its lock): with other keys or in
    another region than the function's own (a user's AWS keys, a site's region), or, with neither,
    signing as the function's role in its region. A session of its own parsed botocore's models and
    endpoint list again, 70-150 ms of CPU a client, and every status poll of an Amplify deployment
    made one. Not cached here: each caller's keys are its own, and a client now costs about 3 ms."""
    with _MAKING:
        return _session().client(  # type: ignore[call-overload]
            service,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            config=config,
        )


def dynamodb() -> DynamoDBClient:
    result: DynamoDBClient = client("dynamodb")
    return result
