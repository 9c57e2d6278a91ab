"""Credentials at rest: the service's own (one Secrets Manager secret, cached) and users' (sealed
with KMS under an encryption context).

A sealed payload is bound to its context (the deployment and its owner, or the owner and the
platform), so a ciphertext copied onto another item does not decrypt. What the payloads mean is each
platform's business (``platforms/<name>/credentials.py``); this module only keeps them safe."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError

from sitedeploy.stores import aws

SECRET_CACHE_SECONDS = 300


class CredentialsError(Exception):
    """Credentials are missing, malformed or do not decrypt; the message never carries a secret."""


class ServiceSecret:
    """The platform credentials secret: a JSON object with one section per platform, read through
    Powertools' parameters (cached for a few minutes across invocations)."""

    def __init__(self, secret_name: str) -> None:
        self._name = secret_name
        self._provider: parameters.SecretsProvider | None = None

    def _secrets(self) -> parameters.SecretsProvider:
        """A provider on the service's shared Secrets Manager client: Powertools' default one
        makes a boto3 session and client of its own, which a cold start pays for again."""
        if self._provider is None:
            self._provider = parameters.SecretsProvider(boto3_client=aws.client("secretsmanager"))
        return self._provider

    def section(self, name: str) -> Mapping[str, Any] | None:
        """One platform's section, or None when the service has none for it."""
        if not self._name:
            return None
        try:
            raw: Any = self._secrets().get(self._name, transform="json", max_age=SECRET_CACHE_SECONDS)
        except parameters.exceptions.GetParameterError:
            raise CredentialsError("the platform credentials secret cannot be read") from None
        except parameters.exceptions.TransformParameterError:
            raise CredentialsError("the platform credentials secret is not JSON") from None
        if not isinstance(raw, dict):
            raise CredentialsError("the platform credentials secret is not a JSON object")
        value = raw.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise CredentialsError(f"the platform credentials secret's {name} is not a JSON object")
        return value


class KmsSealer:
    """KMS encryption of small JSON payloads under an encryption context."""

    def __init__(self, key_id: str, client: Any = None) -> None:
        self._key = key_id
        self._client = client

    @property
    def _kms(self) -> Any:
        return self._client or aws.client("kms")

    def seal(self, payload: Mapping[str, Any], context: Mapping[str, str]) -> str:
        if not self._key:
            raise CredentialsError("no KMS key is configured for user credentials")
        answer = self._kms.encrypt(
            KeyId=self._key, Plaintext=json.dumps(dict(payload)).encode(), EncryptionContext=dict(context)
        )
        return base64.b64encode(answer["CiphertextBlob"]).decode()

    def unseal(self, ciphertext: str, context: Mapping[str, str]) -> dict[str, Any]:
        """Decrypt what ``seal`` made; another context (owner, deployment or platform) fails."""
        try:
            blob = base64.b64decode(ciphertext, validate=True)
            answer = self._kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(context))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise CredentialsError(f"sealed credentials do not decrypt ({code})") from None
        except ValueError:
            raise CredentialsError("sealed credentials are not valid base64") from None
        data = json.loads(answer["Plaintext"])
        if not isinstance(data, dict):
            raise CredentialsError("sealed credentials are malformed")
        return data


def deployment_context(deployment_id: str, owner_id: str) -> dict[str, str]:
    return {"deploymentId": deployment_id, "ownerId": owner_id}


def connection_context(owner_id: str, platform: str) -> dict[str, str]:
    return {"ownerId": owner_id, "platform": platform}
