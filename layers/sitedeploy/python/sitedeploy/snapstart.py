"""Lambda SnapStart for the API functions (the template's ``SnapStart`` parameter).

With SnapStart, Lambda runs a function's init once, when a version is published, snapshots the
memory of that environment and starts every later environment from the snapshot. Two things follow:

* Work done at init is paid once per version instead of once per cold start, so the API functions
  do at init what their first request would otherwise do: build the services, load botocore's
  service models, make the AWS clients and build the validators of the service's pydantic models
  (which otherwise wait for their first use: ``defer_build``, so that an on-demand cold start
  builds only the models its request touches). None of it opens a connection (a socket in a snapshot
  is dead on restore) or reads a secret (a secret in a snapshot outlives its rotation).
* Whatever init left in memory is shared by every restored environment. ``random``'s state is: left
  alone, every environment restored from one snapshot draws the same numbers, so a burst of new
  sites on fresh environments all pick the same pool member (the spread in
  ``flows.placement`` exists to avoid exactly that) and retry jitter is identical everywhere. It is
  re-seeded after each restore. Identifiers come from ``uuid4``/``secrets`` (the OS's randomness,
  read at each call) and are safe as they are. Credentials: under SnapStart the runtime serves them
  from the container credentials endpoint, which botocore's refreshable credentials re-read when
  they expire, so a client made at init keeps working after a restore of any age.

Outside SnapStart (``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``on-demand``, the local stack, the tests)
nothing here runs: a cold start there pays for the warm-up only when a request needs it."""

from __future__ import annotations

import os
import random
from collections.abc import Callable

from pydantic import BaseModel

SNAPSTART = "snap-start"
AWS_CLIENTS = ("dynamodb", "s3", "kms", "secretsmanager")


def under_snapstart() -> bool:
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == SNAPSTART


def prepare_for_snapshot(*warmups: Callable[[], object]) -> bool:
    """At init under SnapStart: run the warm-ups and the shared one (the AWS clients), and register
    what each restored environment must redo. Answers whether it ran."""
    if not under_snapstart():
        return False
    # Lambda's managed Python runtimes (3.12 and later) ship this module; nothing else has it.
    from snapshot_restore_py import register_after_restore

    from sitedeploy.stores import aws

    for name in AWS_CLIENTS:
        aws.client(name)
    for warm in warmups:
        warm()
    build_models()  # last: the warm-ups import modules of their own
    register_after_restore(after_restore)
    return True


def service_models() -> list[type[BaseModel]]:
    """The service's models imported so far: the layer's and the handler's (``app``)."""
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for model in pending.pop().__subclasses__():
            pending.append(model)
            ours = model.__module__ == "app" or model.__module__.startswith("sitedeploy.")
            if ours and model not in found:
                found.append(model)
    return found


def unbuilt_models() -> list[type[BaseModel]]:
    """The service's models whose validator still waits for a first use."""
    return [model for model in service_models() if not model.__pydantic_complete__]


def build_models() -> None:
    for model in unbuilt_models():
        model.model_rebuild(force=True)


def after_restore() -> None:
    """Runs in every environment restored from the snapshot, before its first request."""
    random.seed()  # from the OS's randomness: each environment its own sequence
