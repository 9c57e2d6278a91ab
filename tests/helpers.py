"""Helpers shared by the end-to-end tests: deploy through the gateway and wait like the front end."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import Api

TERMINAL = {"ready", "error"}


def inline_files(files: dict[str, bytes]) -> dict[str, Any]:
    """The front end's encoding: UTF-8 text as strings, anything else as base64."""
    out: dict[str, Any] = {}
    for path, data in files.items():
        try:
            out[path] = data.decode("utf-8") if not path.endswith((".png", ".woff2", ".bin")) else None
        except UnicodeDecodeError:
            out[path] = None
        if out[path] is None:
            out[path] = {"data": base64.b64encode(data).decode(), "encoding": "base64"}
    return out


def folder_files(folder: Path) -> dict[str, bytes]:
    return {"/" + p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    """The files (relative path → bytes) written under ``folder``, which is returned."""
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def wait_terminal(api: Api, deployment_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        status, body, _ = api.get(f"/deployments/{deployment_id}")
        assert status == 200, body
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in TERMINAL:
            body["_seen"] = seen
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"{deployment_id} still {seen[-1] if seen else '?'} after {timeout}s (saw {seen})")


def wait_all_terminal(
    jobs: Sequence[tuple[Api, str]], *, timeout: float, interval: float = 0.5
) -> list[dict[str, Any]]:
    """Each deployment's terminal status, in order, each read with its own GET as the front end
    reads it. The oldest unfinished one is asked until it ends, then the next: deployments end
    roughly in the order they were accepted, so each is read about once, where asking every pending
    one each pass read hundreds per pass and made the stack busier than the deploys did."""
    deadline = time.monotonic() + timeout
    finals: list[dict[str, Any]] = []
    for api, deployment_id in jobs:
        while True:
            status, body, _ = api.get(f"/deployments/{deployment_id}")
            assert status == 200, body
            if body["status"] in TERMINAL:
                finals.append(dict(body))
                break
            if time.monotonic() >= deadline:
                unfinished = [d for _, d in jobs[len(finals) :]]
                raise AssertionError(f"{len(unfinished)} deployments not ended after {timeout}s: {unfinished[:20]}")
            time.sleep(interval)
    return finals


def deploy(api: Api, platform: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    status, answer, _ = api.request("POST", f"/deployments/{platform}", body=body, headers=headers or None)
    assert status == 202, answer
    return dict(answer)


def amplify_app(url: str) -> str:
    """The Amplify app of a site URL, ``https://{branch}.{appId}.amplifyapp.com``."""
    return url.removeprefix("https://").split(".")[1]


def branch_of(url: str) -> str:
    """The Worker or branch name of a site URL (its first label)."""
    return url.removeprefix("https://").split(".")[0]


def scratch_table(stack: Any, name: str) -> str:
    """A table shaped like DeploymentsTable (from the template) that no stream consumer watches: the
    live publisher would otherwise race a test to claim every pending deployment it writes. A module
    whose tests a worker runs apart (pytest-xdist hands out tests, not modules) sets its fixture up
    again: the table made the first time is the one it gets."""
    assert stack.template is not None
    props = stack.template.resolve(stack.template.resources["DeploymentsTable"]["Properties"])
    ddb = stack.moto.shared("dynamodb")
    try:
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
            BillingMode="PAY_PER_REQUEST",
        )
    except ddb.exceptions.ResourceInUseException:
        pass
    return name


def create_records(stack: Any, records: list[dict[str, str]]) -> None:
    """What the user does at their DNS provider: create each record a domain's answer lists."""
    for record in records:
        stack.dns.add(record["name"], record["type"], record["value"])


def until_domain(api: Api, site_id: str, hostname: str, wanted: str, timeout: float = 40.0) -> dict[str, Any]:
    """Read the site's domains (as the console does) until ``hostname`` is ``wanted``; the statuses
    seen on the way are in the failure's message."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        status, body, _ = api.get(f"/sites/{site_id}/domains")
        assert status == 200, body
        found = next((d for d in body["domains"] if d["hostname"] == hostname), None)
        if found is None:
            raise AssertionError(f"{hostname} is not among the site's domains: {body['domains']} (saw {seen})")
        if not seen or seen[-1] != found["status"]:
            seen.append(found["status"])
        if found["status"] == wanted:
            return dict(found)
        time.sleep(0.5)
    raise AssertionError(f"{hostname} never {wanted}: saw {seen}")


@contextmanager
def calls_of(client: Any, operation: str) -> Iterator[list[str]]:
    """The names of the calls a boto3 client makes inside the block, of one operation (e.g.
    ``dynamodb.GetItem``) or of every one of a service (``dynamodb``), noted on its own event hooks
    and unhooked after (test clients are shared by a session)."""
    made: list[str] = []

    def count(model: Any, **_: Any) -> None:
        made.append(model.name)

    event = f"before-call.{operation}"
    client.meta.events.register(event, count)
    try:
        yield made
    finally:
        client.meta.events.unregister(event, count)
