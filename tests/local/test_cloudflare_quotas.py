"""The Cloudflare emulator's Workers-per-account quota, over real HTTP: creating a Worker on a full
account answers what the platform answers (400, code 10037, the account's limit in the message),
while updating an existing Worker still works and deleting one frees its place. The limit is tiny
here (the platform's is 500 on the paid plan) so the tests stay fast."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from sitedeploy_local.emulators import CloudflareEmulator
from sitedeploy_local.emulators.cloudflare import WORKER_LIMIT
from tests.local.emulator_http import unique
from tests.local.test_cloudflare_emulator import (
    ACCOUNT,
    OTHER_ACCOUNT,
    OTHER_TOKEN,
    SUBDOMAIN,
    TOKEN,
    Client,
    CloudflareAnswer,
    fetch,
    metadata,
)

LIMIT = 2


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    emulator = CloudflareEmulator()
    emulator.add_account(ACCOUNT, name="Account A", subdomain=SUBDOMAIN, worker_limit=LIMIT)
    emulator.add_account(OTHER_ACCOUNT, name="Account B", subdomain="other")
    emulator.add_token(TOKEN, [ACCOUNT])
    emulator.add_token(OTHER_TOKEN, [OTHER_ACCOUNT])
    with emulator:
        yield emulator


@pytest.fixture
def client(emulator: CloudflareEmulator) -> Client:
    return Client(emulator)


def limit_envelope(limit: int) -> dict[str, object]:
    """The platform's answer to a new Worker on a full account, word for word."""
    return {
        "success": False,
        "errors": [{"code": 10037, "message": f"You have exceeded the limit of {limit} Workers on your account."}],
        "messages": [],
        "result": None,
    }


def put_new(client: Client, name: str, files: dict[str, bytes]) -> CloudflareAnswer:
    """Every step of a first deploy up to and including the script PUT, whose answer it returns."""
    session = client.session(name, files)
    assert session.status == 200, session.body
    completion = session.result["jwt"]
    for answer in client.upload_buckets(session, files):
        assert answer.status in (201, 202), answer.body
        completion = answer.result.get("jwt") or completion
    return client.put_script(name, metadata(completion))


def listed(client: Client) -> list[str]:
    answer = client.call("GET", "/accounts/{acct}/workers/scripts")
    assert answer.status == 200, answer.body
    return [script["id"] for script in answer.result]


def test_a_new_worker_on_a_full_account_answers_10037(client: Client, emulator: CloudflareEmulator) -> None:
    first, second, third = unique(), unique(), unique()
    client.deploy(first, {"/index.html": b"one"})
    client.deploy(second, {"/index.html": b"two"})

    refused = put_new(client, third, {"/index.html": b"three"})

    assert refused.status == 400
    assert refused.headers["Content-Type"] == "application/json"
    assert json.loads(refused.raw) == limit_envelope(LIMIT)
    assert emulator.script(ACCOUNT, third) is None
    assert emulator.site_url(ACCOUNT, third) is None
    assert sorted(listed(client)) == sorted([first, second])
    assert emulator.requests_for("script-put")[-1].status == 400


def test_updating_a_worker_at_the_limit_still_works(client: Client, emulator: CloudflareEmulator) -> None:
    first, second = unique(), unique()
    client.deploy(first, {"/index.html": b"v1"})
    client.deploy(second, {"/index.html": b"other"})

    client.deploy(first, {"/index.html": b"v2"})  # asserts the PUT answered 200

    script = emulator.script(ACCOUNT, first)
    assert script is not None
    assert script.put_count == 2
    assert fetch(emulator, first, "/").data == b"v2"
    assert put_new(client, unique(), {"/index.html": b"x"}).codes == [10037]  # still full


@pytest.mark.parametrize("route", ["scripts", "services"])
def test_deleting_a_worker_frees_its_place(client: Client, emulator: CloudflareEmulator, route: str) -> None:
    first, second, third = unique(), unique(), unique()
    client.deploy(first, {"/index.html": b"one"})
    client.deploy(second, {"/index.html": b"two"})
    assert put_new(client, third, {"/index.html": b"three"}).codes == [10037]

    deleted = client.call("DELETE", f"/accounts/{{acct}}/workers/{route}/{first}")
    assert deleted.status == 200, deleted.body
    client.deploy(third, {"/index.html": b"three"})

    assert fetch(emulator, third, "/").data == b"three"
    assert sorted(listed(client)) == sorted([second, third])
    assert put_new(client, unique(), {"/index.html": b"four"}).codes == [10037]  # full again


def test_the_limit_is_per_account_and_settable(client: Client, emulator: CloudflareEmulator) -> None:
    assert emulator.worker_limit(ACCOUNT) == LIMIT
    assert emulator.worker_limit(OTHER_ACCOUNT) == WORKER_LIMIT == 500  # add_account's default
    names = [unique(), unique()]
    for name in names:
        client.deploy(name, {"/index.html": name.encode()})
    other = Client(emulator, token=OTHER_TOKEN, account=OTHER_ACCOUNT)
    other.deploy(unique(), {"/index.html": b"elsewhere"})  # another account's Workers do not count

    emulator.set_worker_limit(ACCOUNT, 3)
    client.deploy(names[0] + "-3", {"/index.html": b"3"})
    refused = put_new(client, unique(), {"/index.html": b"4"})
    assert json.loads(refused.raw) == limit_envelope(3)

    emulator.set_worker_limit(ACCOUNT, 1)  # below what it holds: nothing is removed
    assert len(listed(client)) == 3
    client.deploy(names[0], {"/index.html": b"updated"})
    assert fetch(emulator, names[0], "/").data == b"updated"
    assert json.loads(put_new(client, unique(), {"/index.html": b"x"}).raw) == limit_envelope(1)

    emulator.add_account(ACCOUNT, name="Account A", subdomain=SUBDOMAIN)  # restated: the default again
    assert emulator.worker_limit(ACCOUNT) == WORKER_LIMIT
    with pytest.raises(ValueError, match="unknown account"):
        emulator.set_worker_limit("0" * 32, 5)
    with pytest.raises(ValueError, match="non-negative"):
        emulator.set_worker_limit(ACCOUNT, -1)


def test_concurrent_first_deploys_never_overfill_the_account(client: Client, emulator: CloudflareEmulator) -> None:
    emulator.set_worker_limit(ACCOUNT, 1)
    names = [unique() for _ in range(6)]
    completions: dict[str, str] = {}
    for name in names:  # every upload done first, so the PUTs race
        session = client.session(name, {"/index.html": name.encode()})
        completion = session.result["jwt"]
        for answer in client.upload_buckets(session, {"/index.html": name.encode()}):
            completion = answer.result.get("jwt") or completion
        completions[name] = completion

    def put(name: str) -> int:
        return Client(emulator).put_script(name, metadata(completions[name])).status

    with ThreadPoolExecutor(len(names)) as pool:
        statuses = list(pool.map(put, names))

    assert sorted(statuses) == [200] + [400] * (len(names) - 1)
    assert len(listed(client)) == 1
