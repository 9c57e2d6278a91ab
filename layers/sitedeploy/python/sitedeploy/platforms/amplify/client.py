"""boto3's ``amplify`` client for a set of credentials, and Amplify's errors in the platform's own
words. Endpoints come from the environment (the local stack points ``AWS_ENDPOINT_URL_AMPLIFY`` at
its emulator), so nothing here knows about it."""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sitedeploy.platforms.amplify.credentials import AmplifyAccess
from sitedeploy.platforms.base import PlatformError
from sitedeploy.stores import aws


class AmplifyError(PlatformError):
    pass


# A status poll answers within the status function's budget: few retries, short timeouts.
QUICK = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=3)
PATIENT = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def amplify_client(credentials: AmplifyAccess, *, quick: bool = False) -> Any:
    """A client for these credentials; endpoints come from the environment (the local stack)."""
    return client_for("amplify", credentials, QUICK if quick else PATIENT)


def client_for(service: str, credentials: AmplifyAccess, config: Config) -> Any:
    """A client signed with these keys in their region, or as the function's role without keys."""
    if credentials.access_key_id and credentials.secret_access_key:
        return aws.client_as(
            service,
            config,
            region=credentials.region,
            access_key_id=credentials.access_key_id,
            secret_access_key=credentials.secret_access_key.get_secret_value(),
            session_token=credentials.session_token.get_secret_value() if credentials.session_token else None,
        )
    return aws.client_as(service, config, region=credentials.region)


def amplify_error(exc: ClientError | BotoCoreError, what: str) -> AmplifyError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = error.get("Message") or str(code)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "LimitExceededException":
            message = f"Amplify quota reached while {what}: {message}"
        return AmplifyError(f"{what}: {message} ({code})", status=status, code=code)
    return AmplifyError(f"{what}: {type(exc).__name__}")
