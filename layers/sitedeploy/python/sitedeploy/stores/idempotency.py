"""Idempotent deploys: a retried request with the same ``Idempotency-Key`` gets the original answer
instead of a second deployment (Powertools Idempotency, persisted in DynamoDB).

The key is scoped to the caller and the route, so two users — or one user's two platforms — never
share an answer; reusing a key with a different body is refused rather than silently ignored."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

from sitedeploy.domain.errors import BadRequest, Conflict
from sitedeploy.domain.models import DeployResponse, Platform
from sitedeploy.domain.requests import DeployRequest
from sitedeploy.stores import aws

KEY_PATTERN = r"^[A-Za-z0-9._:\-]{8,128}$"
ANSWER_KEPT_SECONDS = 24 * 3600

config = IdempotencyConfig(
    event_key_jmespath="[owner, platform, key]",
    payload_validation_jmespath="body",
    expires_after_seconds=ANSWER_KEPT_SECONDS,
    raise_on_no_idempotency_key=True,
)


def persistence(table_name: str) -> BasePersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=aws.dynamodb())


def _fingerprint(request: DeployRequest) -> dict[str, Any]:
    """What must match for a retry to be "the same request" (secrets masked, bytes hashed)."""
    # Receipts are hints about staging, not what is deployed: a retry may carry other ones.
    body: dict[str, Any] = request.model_dump(mode="json", by_alias=True, exclude={"files", "upload_receipts"})
    body["files"] = {f.path: f.sha256 for f in request.staged_files}
    return body


def deploy_once(
    store: BasePersistenceLayer,
    owner_id: str,
    platform: Platform,
    key: str | None,
    request: DeployRequest,
    *,
    accept: Callable[[], DeployResponse],
) -> DeployResponse:
    """Run ``accept`` once per (owner, platform, key); without a key, every call runs it."""
    return run_once(store, owner_id, platform.value, key, _fingerprint(request), accept=accept)


def run_once(
    store: BasePersistenceLayer,
    owner_id: str,
    scope: str,
    key: str | None,
    fingerprint: dict[str, Any],
    *,
    accept: Callable[[], DeployResponse],
) -> DeployResponse:
    """Run ``accept`` once per (owner, scope, key), the route's ``scope`` keeping keys of different
    routes apart; ``fingerprint`` is what a retry must repeat (never a secret: it is stored)."""
    if key is None:
        return accept()

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="data",
        config=config,
        persistence_store=store,
        output_serializer=PydanticSerializer(DeployResponse),
    )
    def run(data: dict[str, Any]) -> DeployResponse:
        return accept()

    try:
        result: DeployResponse = run(data={"owner": owner_id, "platform": scope, "key": key, "body": fingerprint})
    except IdempotencyValidationError:
        raise Conflict(
            "this Idempotency-Key was already used with a different request", code="idempotency_key_reused"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            code="idempotency_in_progress",
        ) from None
    return result


def check_key(key: str | None) -> str | None:
    if key is not None and not re.match(KEY_PATTERN, key):
        raise BadRequest(
            "Idempotency-Key must be 8-128 characters of letters, digits and ._:-", code="validation_error"
        )
    return key
