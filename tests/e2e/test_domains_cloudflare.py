"""Custom domains on Cloudflare, through the API, against the emulator (#22).

A site in the user's own account takes Workers Custom Domains: the hostname's zone is found on the
account, Cloudflare makes the record itself (the user creates none), the status is
``pending_certificate`` until the zone's certificate pack for it is active, then the Worker answers
for that Host; removing it stops that. A hostname in no zone of the account, or in a zone not yet
active, is refused saying what to do. Quick Deploy sites on the account pool (workers.dev) take no
custom domains. (Quick Deploy on Workers for Platforms, Cloudflare for SaaS custom hostnames, is in
``test_workers_for_platforms.py``, on its stack.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from pydantic import SecretStr

from sitedeploy.domain.domains import DomainStatus
from sitedeploy.domain.models import SiteAddress
from sitedeploy.platforms.base import PlatformError
from sitedeploy.platforms.cloudflare import dispatch, domains, hostnames
from sitedeploy.platforms.cloudflare.api import CloudflareApi, CloudflareError
from sitedeploy.platforms.cloudflare.credentials import CloudflareToken
from sitedeploy.platforms.cloudflare.platform import CloudflarePlatform
from sitedeploy.settings import Settings
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import deploy, until_domain, wait_terminal

pytestmark = pytest.mark.e2e

USER_ACCOUNT = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
USER_TOKEN = "user-cloudflare-token-for-domains"  # opens only the emulator


def _connected(api: Api, stack: LocalStack) -> None:
    """The user's own account and token, connected (domains act with the stored connection)."""
    stack.cloudflare.add_account(USER_ACCOUNT, name="a user with domains", subdomain="domains-user")
    stack.cloudflare.add_token(USER_TOKEN, [USER_ACCOUNT])
    status, body, _ = api.request(
        "PUT", "/platform-tokens/cloudflare", body={"token": USER_TOKEN, "accountId": USER_ACCOUNT}
    )
    assert status == 200, body


def _own_site(api: Api, html: str) -> dict[str, Any]:
    body = {
        "files": {"index.html": html},
        "authMode": "user-token",
        "token": USER_TOKEN,
        "accountId": USER_ACCOUNT,
        "workerName": f"dom-{uuid.uuid4().hex[:8]}",
    }
    final = wait_terminal(api, deploy(api, "cloudflare", body)["deploymentId"])
    assert final["status"] == "ready", final
    return final


def _zone(stack: LocalStack, status: str = "active") -> str:
    name = f"z{uuid.uuid4().hex[:8]}.example"
    stack.cloudflare.add_zone(USER_ACCOUNT, name, status=status)
    return name


def _by_host(port: int, host: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=10, redirect=False)


def test_a_workers_custom_domain_is_issued_served_and_removed(
    api: Api, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.cloudflare, "certificate_seconds", 2.0)
    _connected(api, stack)
    site = _own_site(api, "<h1>on my own domain</h1>")
    worker = site["url"].removeprefix("https://").split(".")[0]
    hostname = f"www.{_zone(stack)}"

    status, attached, _ = api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": hostname})
    assert status == 202, attached
    assert attached["status"] == "pending_certificate", attached
    assert attached["records"] == []  # Cloudflare makes the DNS record itself
    assert stack.cloudflare.workers_domains(USER_ACCOUNT) == {hostname: worker}
    assert _by_host(stack.cloudflare.domains_port, hostname).status == 404  # no certificate yet

    until_domain(api, site["siteId"], hostname, "active")
    served = _by_host(stack.cloudflare.domains_port, hostname)
    assert (served.status, served.data) == (200, b"<h1>on my own domain</h1>")
    # Attaching it again is the same attachment.
    again = api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": hostname})
    assert again[0] == 202
    assert again[1]["status"] == "active"

    assert api.request("DELETE", f"/sites/{site['siteId']}/domains/{hostname}")[0] == 204
    assert _by_host(stack.cloudflare.domains_port, hostname).status == 404
    assert stack.cloudflare.workers_domains(USER_ACCOUNT) == {}
    assert api.get(f"/sites/{site['siteId']}/domains")[1]["domains"] == []


def test_deleting_the_site_detaches_its_custom_domains(api: Api, stack: LocalStack) -> None:
    _connected(api, stack)
    site = _own_site(api, "<h1>doomed</h1>")
    hostname = f"shop.{_zone(stack)}"
    assert api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": hostname})[0] == 202
    assert api.request("DELETE", f"/sites/{site['siteId']}")[0] == 204
    assert stack.cloudflare.workers_domains(USER_ACCOUNT) == {}


def test_a_hostname_without_an_active_zone_on_the_account_is_refused_saying_why(api: Api, stack: LocalStack) -> None:
    _connected(api, stack)
    site = _own_site(api, "<h1>mine</h1>")
    nowhere = f"www.{uuid.uuid4().hex[:8]}.example"
    status, body, _ = api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": nowhere})
    assert status == 409, body
    assert body["code"] == "domain_refused"
    assert f"no Cloudflare zone on your account holds {nowhere}" in body["error"]
    assert "add the domain to your Cloudflare account first" in body["error"]

    pending = _zone(stack, status="pending")
    status, body, _ = api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": f"www.{pending}"})
    assert status == 409, body
    assert f"the zone {pending} is pending on Cloudflare" in body["error"]
    assert "ns.cloudflare.com" in body["error"]  # the name servers to set
    assert api.get(f"/sites/{site['siteId']}/domains")[1]["domains"] == []  # the claims were given back
    assert stack.cloudflare.workers_domains(USER_ACCOUNT) == {}


def test_quick_deploy_sites_on_accounts_take_no_custom_domains(api: Api) -> None:
    final = wait_terminal(
        api, deploy(api, "cloudflare", {"files": {"index.html": "x"}, "projectName": "qd"})["deploymentId"]
    )
    assert final["status"] == "ready", final
    status, body, _ = api.request("POST", f"/sites/{final['siteId']}/domains", body={"hostname": "www.example.org"})
    assert status == 409, body
    assert body["code"] == "domains_unsupported"
    assert "workers.dev" in body["error"]
    assert "claim the site into your own account" in body["error"]


# -- the adapter's calls, against the emulator ------------------------------------------------------

OPERATOR = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
OPERATOR_TOKEN = "operator-saas-token"  # opens only the emulator


@pytest.fixture
def operator(stack: LocalStack) -> Iterator[tuple[CloudflareApi, str]]:
    """A fresh operator account with a zone, in a fresh execution environment."""
    stack.cloudflare.reset()
    stack.cloudflare.add_account(OPERATOR, name="operator", subdomain="operator")
    stack.cloudflare.add_token(OPERATOR_TOKEN, [OPERATOR])
    zone_id = stack.cloudflare.add_zone(OPERATOR, "apps.example")
    with dispatch._ready_lock:
        dispatch._ready.clear()
        dispatch._routing.clear()
    yield CloudflareApi(SecretStr(OPERATOR_TOKEN), base_url=stack.cloudflare.api_base, backoff=0.05), zone_id
    stack.cloudflare.faults.clear()


def test_hostname_routing_is_made_once_and_found_again_with_reads_only(
    stack: LocalStack, operator: tuple[CloudflareApi, str]
) -> None:
    api, zone_id = operator
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    stack.cloudflare.requests.clear()
    options = {"dispatcher": "sitedeploy-dispatcher", "domain": "apps.example", "zone_id": zone_id}
    kv = dispatch.ensure_hostname_routing(api, OPERATOR, namespace, **options)
    made = [(r.method, r.route) for r in stack.cloudflare.requests]
    assert ("POST", "kv-namespaces-create") in made
    assert ("PUT", "fallback-origin-put") in made
    assert ("POST", "dns-records-create") in made
    assert stack.cloudflare.kv_namespaces(OPERATOR) == {dispatch.hosts_title(namespace): kv}
    routes = api.call("GET", f"/accounts/{OPERATOR}/workers/scripts/sitedeploy-dispatcher/routes")[1]
    assert sorted(r["pattern"] for r in routes) == ["*.apps.example/*", "*/*"]
    settings = api.call("GET", f"/accounts/{OPERATOR}/workers/scripts/sitedeploy-dispatcher/settings")[1]
    assert {"type": "kv_namespace", "name": "HOSTS", "namespace_id": kv} in settings["bindings"]
    assert {"type": "plain_text", "name": "DOMAIN", "text": "apps.example"} in settings["bindings"]

    stack.cloudflare.requests.clear()
    assert dispatch.ensure_hostname_routing(api, OPERATOR, namespace, **options) == kv
    assert stack.cloudflare.requests == []  # known in this environment
    with dispatch._ready_lock:
        dispatch._ready.clear()
        dispatch._routing.clear()
    assert dispatch.ensure_hostname_routing(api, OPERATOR, namespace, **options) == kv
    assert {r.method for r in stack.cloudflare.requests} == {"GET"}  # a new one reads, makes nothing


def test_an_operators_own_fallback_origin_is_kept(stack: LocalStack, operator: tuple[CloudflareApi, str]) -> None:
    api, zone_id = operator
    record = {"type": "CNAME", "name": "origin.apps.example", "content": "lb.example.net", "proxied": True}
    api.call("POST", f"/zones/{zone_id}/dns_records", json_body=record)
    api.call("PUT", f"/zones/{zone_id}/custom_hostnames/fallback_origin", json_body={"origin": "origin.apps.example"})
    dispatch.ensure_hostname_routing(
        api, OPERATOR, "kept", dispatcher="sitedeploy-dispatcher", domain="apps.example", zone_id=zone_id
    )
    kept = api.call("GET", f"/zones/{zone_id}/custom_hostnames/fallback_origin")[1]
    assert kept["origin"] == "origin.apps.example"
    # The record customers CNAME to is there all the same.
    assert api.call("GET", f"/zones/{zone_id}/dns_records", query={"name": "fallback.apps.example"})[1]


def _hostname(status: str, ssl_status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "h-1",
        "hostname": "www.shop.example",
        "status": status,
        "ssl": {
            "status": ssl_status,
            "validation_records": [{"txt_name": "_acme-challenge.www.shop.example", "txt_value": "v"}],
        },
        "ownership_verification": {"type": "txt", "name": "_cf-custom-hostname.www.shop.example", "value": "o"},
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "ssl_status", "ours"),
    [
        ("pending", "pending_validation", DomainStatus.PENDING_VERIFICATION),
        ("active", "pending_validation", DomainStatus.PENDING_CERTIFICATE),
        ("active", "pending_issuance", DomainStatus.PENDING_CERTIFICATE),
        ("active", "active", DomainStatus.ACTIVE),
        ("moved", "pending_validation", DomainStatus.FAILED),
        ("blocked", "active", DomainStatus.FAILED),
        ("deleted", "deleted", DomainStatus.FAILED),
        ("active", "validation_timed_out", DomainStatus.FAILED),
    ],
)
def test_cloudflares_two_statuses_are_ours(status: str, ssl_status: str, ours: DomainStatus) -> None:
    found = _hostname(status, ssl_status, verification_errors=["custom hostname does not CNAME to this zone."])
    state = hostnames.hostname_state(found, "fallback.apps.example")
    assert state.status is ours
    assert state.ref == "h-1"
    assert [(r.type, r.name, r.value, r.purpose) for r in state.records] == [
        ("CNAME", "www.shop.example", "fallback.apps.example", "routing"),
        ("TXT", "_cf-custom-hostname.www.shop.example", "o", "ownership"),
        ("TXT", "_acme-challenge.www.shop.example", "v", "certificate"),
    ]
    if ours is not DomainStatus.ACTIVE:
        assert state.reason
    if status == "pending":
        assert state.reason is not None
        assert "does not CNAME to this zone" in state.reason


def test_a_workers_custom_domain_gone_or_taken_by_another_worker_is_failed(stack: LocalStack) -> None:
    stack.cloudflare.add_account(USER_ACCOUNT, name="a user with domains", subdomain="domains-user")
    stack.cloudflare.add_token(USER_TOKEN, [USER_ACCOUNT])
    api = CloudflareApi(SecretStr(USER_TOKEN), base_url=stack.cloudflare.api_base, backoff=0.05)
    hostname = f"www.{_zone(stack)}"
    gone = domains.custom_domain_state(api, USER_ACCOUNT, "my-worker", hostname)
    assert gone.status is DomainStatus.FAILED
    assert gone.reason is not None
    assert "no longer attaches" in gone.reason
    # Detaching what is not there is done.
    domains.detach_custom_domain(api, USER_ACCOUNT, "my-worker", hostname, None)


def test_a_refused_custom_hostname_leaves_no_mapping_and_a_retried_one_is_found(
    stack: LocalStack, operator: tuple[CloudflareApi, str]
) -> None:
    api, zone_id = operator
    kv = dispatch.ensure_hostname_routing(
        api, OPERATOR, "retries", dispatcher="sitedeploy-dispatcher", domain="apps.example", zone_id=zone_id
    )
    where = {"account_id": OPERATOR, "kv_id": kv, "worker": "sd-site", "target": "fallback.apps.example"}
    with pytest.raises(CloudflareError) as refused:
        hostnames.attach_hostname(api, zone_id, hostname="apps.example", **where)  # the zone's own name
    assert refused.value.status == 400
    assert stack.cloudflare.kv_value(kv, "apps.example") is None

    first = hostnames.attach_hostname(api, zone_id, hostname="www.shop.example", **where)
    again = hostnames.attach_hostname(api, zone_id, hostname="www.shop.example", **where)  # an attach cut short
    assert again.ref == first.ref
    assert again.status is DomainStatus.PENDING_VERIFICATION
    assert {r.purpose for r in again.records} == {"routing", "ownership", "certificate"}
    assert stack.cloudflare.kv_value(kv, "www.shop.example") == b"sd-site"
    hostnames.detach_hostname(api, zone_id, account_id=OPERATOR, kv_id=kv, hostname="www.shop.example", ref=None)
    hostnames.detach_hostname(api, zone_id, account_id=OPERATOR, kv_id=kv, hostname="www.shop.example", ref=first.ref)
    assert stack.cloudflare.kv_value(kv, "www.shop.example") is None
    assert stack.cloudflare.custom_hostname("www.shop.example") is None


class _NoSecret:
    def section(self, name: str) -> None:
        return None


def test_a_throttled_custom_domain_attach_or_check_answers_within_seconds(stack: LocalStack) -> None:
    """Attaching runs inside a 29 s API function and checking inside the refresher: Cloudflare
    asking for half a minute's wait must not hold either (the call fails with the platform's
    error; the domain stays pending for the next check), as on Netlify and Vercel."""
    stack.cloudflare.add_account(USER_ACCOUNT, name="a user with domains", subdomain="domains-user")
    stack.cloudflare.add_token(USER_TOKEN, [USER_ACCOUNT])
    settings = Settings(cloudflare_api_base=stack.cloudflare.api_base, retry_after_cap_seconds=30.0)
    platform = CloudflarePlatform(settings, _NoSecret())
    credentials = CloudflareToken.model_validate({"token": USER_TOKEN, "accountId": USER_ACCOUNT})
    address = SiteAddress(account_id=USER_ACCOUNT, name="my-worker")
    hostname = f"www.{_zone(stack)}"
    try:
        for route in ("workers-domain-put", "workers-domains-list"):
            stack.cloudflare.faults.add(route, status=429, retry_after=30, times=None)
        started = time.monotonic()
        with pytest.raises(PlatformError):
            platform.attach_domain(address, hostname, credentials)
        with pytest.raises(PlatformError):
            platform.domain_state(address, hostname, None, credentials)
        assert time.monotonic() - started < 12
        assert len(stack.cloudflare.requests_for("workers-domain-put")) == 2  # one retry, after 2 s at most
    finally:
        stack.cloudflare.faults.clear()
