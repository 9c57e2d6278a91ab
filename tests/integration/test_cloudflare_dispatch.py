"""Workers for Platforms against the emulator over real HTTP: the service makes its namespace, the
dispatch Worker and its route once, finds them the next time with reads only, never caches a
failure, and a site uploaded into the namespace answers on its own hostname; the secret's dispatch
form is checked before anything is called."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import urllib3
from pydantic import SecretStr, ValidationError

from sitedeploy.platforms.cloudflare import dispatch
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError
from sitedeploy.platforms.cloudflare.assets import AssetsOptions, CloudflarePublisher, CloudflareTarget
from sitedeploy.platforms.cloudflare.credentials import CloudflareServicePool
from sitedeploy_local.emulators.cloudflare import CloudflareEmulator
from sitedeploy_local.stack import LocalStack
from tests.sites import Site

ACCOUNT = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TOKEN = "dispatch-test-token"
DOMAIN = "sites.localhost"
ZONE = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def emulator(stack: LocalStack) -> Iterator[CloudflareEmulator]:
    emulator = stack.cloudflare
    emulator.reset()
    emulator.add_account(ACCOUNT, name="dispatch tests", subdomain="dispatch-tests")
    emulator.add_token(TOKEN, [ACCOUNT])
    yield emulator
    emulator.faults.clear()


@pytest.fixture
def namespace() -> str:
    return f"ns-{uuid.uuid4().hex[:10]}"


def _api(emulator: CloudflareEmulator, token: str = TOKEN) -> CloudflareApi:
    return CloudflareApi(SecretStr(token), base_url=emulator.api_base, backoff=0.05, retry_after_cap=2.0)


def _calls(emulator: CloudflareEmulator) -> list[tuple[str, str]]:
    return [(r.method, r.route) for r in emulator.requests]


def _forget() -> None:
    """A new execution environment: nothing is known to be ready."""
    with dispatch._ready_lock:
        dispatch._ready.clear()


def _get(emulator: CloudflareEmulator, host: str, path: str = "/") -> urllib3.BaseHTTPResponse:
    port = emulator.dispatch_port
    assert port is not None
    return urllib3.request("GET", f"http://127.0.0.1:{port}{path}", headers={"Host": f"{host}:{port}"}, redirect=False)


def test_the_namespace_dispatcher_and_route_are_made_once_and_serve_each_site_on_its_hostname(
    emulator: CloudflareEmulator, namespace: str
) -> None:
    emulator.requests.clear()
    dispatch.ensure_dispatch(
        _api(emulator), ACCOUNT, namespace, dispatcher="sitedeploy-dispatcher", domain=DOMAIN, zone_id=ZONE
    )
    assert _calls(emulator) == [
        ("GET", "namespace-get"),
        ("POST", "namespaces-create"),
        ("GET", "settings-get"),
        ("PUT", "script-put"),
        ("PUT", "script-routes-put"),
    ]
    listed = _api(emulator).call("GET", f"/accounts/{ACCOUNT}/workers/scripts/sitedeploy-dispatcher/routes")[1]
    assert [r["pattern"] for r in listed] == [f"*.{DOMAIN}/*"]

    # The same environment asks nothing again.
    emulator.requests.clear()
    dispatch.ensure_dispatch(
        _api(emulator), ACCOUNT, namespace, dispatcher="sitedeploy-dispatcher", domain=DOMAIN, zone_id=ZONE
    )
    assert emulator.requests == []

    # A site uploaded into the namespace answers on <name>.<domain>; an unknown label is a 404.
    site = Site({"index.html": b"<h1>tenant a</h1>", "app.js": b"console.log(1)"})
    target = CloudflareTarget(ACCOUNT, "site-a", namespace=namespace, domain=DOMAIN)
    CloudflarePublisher(_api(emulator)).publish(target, site.files(), AssetsOptions(), site.read, lambda s, t: None)
    assert emulator.namespace_scripts(namespace) == ["site-a"]
    assert "site-a" not in emulator.scripts(ACCOUNT)  # a user Worker, not one of the account's
    answer = _get(emulator, f"site-a.{DOMAIN}")
    assert answer.status == 200
    assert answer.data == b"<h1>tenant a</h1>"
    missing = _get(emulator, f"site-b.{DOMAIN}")
    assert missing.status == 404
    assert b"does not exist" in missing.data


def test_a_new_environment_finds_what_is_there_with_reads_only(emulator: CloudflareEmulator, namespace: str) -> None:
    dispatch.ensure_dispatch(_api(emulator), ACCOUNT, namespace, dispatcher="sitedeploy-dispatcher", domain=DOMAIN)
    _forget()
    emulator.requests.clear()
    dispatch.ensure_dispatch(_api(emulator), ACCOUNT, namespace, dispatcher="sitedeploy-dispatcher", domain=DOMAIN)
    assert [m for m, _ in _calls(emulator)] == ["GET", "GET"]


def test_a_failure_is_raised_and_not_remembered(emulator: CloudflareEmulator, namespace: str) -> None:
    emulator.add_account("00000000000000000000000000000000", name="another", subdomain="another")
    emulator.add_token("other-account-token", ["00000000000000000000000000000000"])
    with pytest.raises(CloudflareError) as raised:
        dispatch.ensure_dispatch(
            _api(emulator, "other-account-token"), ACCOUNT, namespace, dispatcher="sitedeploy-dispatcher", domain=DOMAIN
        )
    assert raised.value.status in (401, 403)
    assert emulator.namespace_scripts(namespace) == []
    emulator.requests.clear()
    dispatch.ensure_dispatch(_api(emulator), ACCOUNT, namespace, dispatcher="sitedeploy-dispatcher", domain=DOMAIN)
    assert any(m == "PUT" for m, _ in _calls(emulator))  # made now, with a token that may


def test_the_secret_dispatch_form_is_one_member_holding_any_number_of_sites() -> None:
    pool = CloudflareServicePool.model_validate(
        {
            "dispatch": {"apiToken": "t", "accountId": ACCOUNT, "namespace": "sites", "domain": "apps.example.com"},
            "workerPrefix": "sd",
        }
    )
    member = pool.dispatch
    assert member is not None
    assert member.id == "dispatch:sites"
    assert member.capacity == 1_000_000
    assert member.dispatcher == "sitedeploy-dispatcher"
    assert not member.public_suffix


@pytest.mark.parametrize(
    "dispatch_form",
    [
        {"apiToken": "t", "accountId": ACCOUNT, "namespace": "sites"},  # no domain
        {"apiToken": "t", "accountId": ACCOUNT, "namespace": "Sites!", "domain": "apps.example.com"},
        {"apiToken": "t", "accountId": ACCOUNT, "namespace": "sites", "domain": "not a domain"},
        {"apiToken": "t", "accountId": ACCOUNT, "namespace": "sites", "domain": "a.example", "zoneId": "zone"},
        {"apiToken": "", "accountId": ACCOUNT, "namespace": "sites", "domain": "a.example"},
    ],
)
def test_a_malformed_dispatch_form_is_refused(dispatch_form: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CloudflareServicePool.model_validate({"dispatch": dispatch_form})


def test_the_emulator_refuses_a_route_naming_a_malformed_zone(emulator: CloudflareEmulator, namespace: str) -> None:
    with pytest.raises(CloudflareError) as raised:
        dispatch.ensure_dispatch(
            _api(emulator), ACCOUNT, namespace, dispatcher="sitedeploy-dispatcher", domain=DOMAIN, zone_id="not-a-zone"
        )
    assert raised.value.status == 400
