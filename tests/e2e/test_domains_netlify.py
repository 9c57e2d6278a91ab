"""Custom domains on Netlify through the API, against the emulator and the stack's DNS, in both
modes: attach a hostname (a site alias) and see ``pending_verification`` with the record to create;
create it; Netlify's certificate makes it ``active`` and the site answers for that Host; remove it
and it no longer routes. A hostname another site holds is refused: by the service when the site is
one of its own (``domain_taken``), by Netlify when it is not (``domain_refused``, in its words); a
hostname under an apex another Netlify account uses needs the TXT proof, which is listed too."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import urllib3

from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import create_records, deploy, until_domain, wait_terminal

pytestmark = pytest.mark.e2e

MODES = ["platform-managed", "user-token"]
USER_TOKEN = "netlify-domains-user-token"
USER_ACCOUNT = "domains-user-team"
OUTSIDER_TOKEN = "netlify-domains-outsider-token"
OUTSIDER_ACCOUNT = "domains-outsider-team"


def _site(api: Api, stack: LocalStack, mode: str, html: bytes = b"<h1>mine</h1>") -> dict[str, Any]:
    body: dict[str, Any] = {
        "files": {"index.html": html.decode()},
        "projectName": f"dom-{uuid.uuid4().hex[:6]}",
        "authMode": mode,
    }
    if mode == "user-token":
        # Domains act on the user's own site with their stored connection (what a later call has).
        stack.netlify.add_account(USER_ACCOUNT, name="Domains User Team")
        stack.netlify.add_token(USER_TOKEN, [USER_ACCOUNT])
        credentials = {"token": USER_TOKEN, "accountSlug": USER_ACCOUNT}
        status, stored, _ = api.request("PUT", "/platform-tokens/netlify", body=credentials)
        assert status == 200, stored
    site = wait_terminal(api, deploy(api, "netlify", body)["deploymentId"])
    assert site["status"] == "ready", site
    return site


def _hostname(label: str = "www") -> str:
    return f"{label}.{uuid.uuid4().hex[:8]}.example"


def _by_host(stack: LocalStack, host: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request(
        "GET", f"http://127.0.0.1:{stack.netlify.domains_port}/", headers={"Host": host}, timeout=10, redirect=False
    )


def _attach(api: Api, site_id: str, hostname: str) -> tuple[int, Any]:
    status, body, _ = api.request("POST", f"/sites/{site_id}/domains", body={"hostname": hostname})
    return status, body


def _outsider_site(stack: LocalStack, hostname: str) -> None:
    """A Netlify site outside the service (another account) holding ``hostname``."""
    stack.netlify.add_account(OUTSIDER_ACCOUNT, name="Someone Else")
    stack.netlify.add_token(OUTSIDER_TOKEN, [OUTSIDER_ACCOUNT])
    headers = {"Authorization": f"Bearer {OUTSIDER_TOKEN}"}
    base = stack.netlify.api_base
    created = urllib3.request(
        "POST", f"{base}/{OUTSIDER_ACCOUNT}/sites", json={"name": f"out-{uuid.uuid4().hex[:8]}"}, headers=headers
    )
    assert created.status == 201, created.data
    site_id = created.json()["id"]
    patched = urllib3.request("PATCH", f"{base}/sites/{site_id}", json={"domain_aliases": [hostname]}, headers=headers)
    assert patched.status == 200, patched.data


@pytest.mark.parametrize("mode", MODES)
def test_netlify_attach_verify_serve_remove(api: Api, stack: LocalStack, mode: str) -> None:
    site = _site(api, stack, mode)
    site_name = site["url"].removeprefix("https://").split(".")[0]
    hostname = _hostname()
    status, attached = _attach(api, site["siteId"], hostname)
    assert status == 202, attached
    assert attached["status"] == "pending_verification"
    assert "does not point at Netlify" in attached["reason"]
    assert attached["records"] == [
        {"type": "CNAME", "name": hostname, "value": f"{site_name}.netlify.app", "purpose": "routing"}
    ]
    on_netlify = stack.netlify.site(site_name) or {}
    assert hostname in on_netlify["domain_aliases"]
    if mode == "user-token":
        assert on_netlify["account_slug"] == USER_ACCOUNT  # the user's own team, with their token
    assert _by_host(stack, hostname).status == 404
    create_records(stack, attached["records"])
    until_domain(api, site["siteId"], hostname, "active")
    assert _by_host(stack, hostname).data == b"<h1>mine</h1>"
    assert api.request("DELETE", f"/sites/{site['siteId']}/domains/{hostname}")[0] == 204
    assert _by_host(stack, hostname).status == 404
    assert api.get(f"/sites/{site['siteId']}/domains")[1]["domains"] == []
    assert (stack.netlify.site(site_name) or {})["domain_aliases"] == []


def test_netlify_apex_takes_the_load_balancer_address(api: Api, stack: LocalStack) -> None:
    site = _site(api, stack, "platform-managed", b"<h1>apex</h1>")
    apex = f"{uuid.uuid4().hex[:8]}.example"
    status, attached = _attach(api, site["siteId"], apex)
    assert status == 202, attached
    assert attached["records"] == [{"type": "A", "name": apex, "value": "75.2.60.5", "purpose": "routing"}]
    create_records(stack, attached["records"])
    until_domain(api, site["siteId"], apex, "active")
    assert _by_host(stack, apex).data == b"<h1>apex</h1>"


def test_netlify_a_hostname_held_elsewhere_is_refused(api: Api, stack: LocalStack) -> None:
    first = _site(api, stack, "platform-managed")
    second = _site(api, stack, "platform-managed")
    hostname = _hostname()
    assert _attach(api, first["siteId"], hostname)[0] == 202
    status, taken = _attach(api, second["siteId"], hostname)
    assert (status, taken["code"]) == (409, "domain_taken"), taken
    # A Netlify site outside the service holds it: Netlify refuses, in its words.
    outside = _hostname()
    _outsider_site(stack, outside)
    status, refused = _attach(api, second["siteId"], outside)
    assert (status, refused["code"]) == (409, "domain_refused"), refused
    assert "must be unique" in refused["error"]
    assert [d["hostname"] for d in api.get(f"/sites/{second['siteId']}/domains")[1]["domains"]] == []


def test_netlify_another_accounts_apex_needs_the_txt_record(api: Api, stack: LocalStack) -> None:
    site = _site(api, stack, "platform-managed", b"<h1>proved</h1>")
    held = _hostname("www")
    _outsider_site(stack, held)
    hostname = "blog." + held.split(".", 1)[1]
    status, attached = _attach(api, site["siteId"], hostname)
    assert status == 202, attached
    assert attached["status"] == "pending_verification"
    assert [(r["type"], r["name"], r["purpose"]) for r in attached["records"]] == [
        ("TXT", f"netlify-challenge.{hostname}", "ownership"),
        ("CNAME", hostname, "routing"),
    ]
    create_records(stack, attached["records"])
    until_domain(api, site["siteId"], hostname, "active")
    assert _by_host(stack, hostname).data == b"<h1>proved</h1>"


def test_netlify_deleting_the_site_frees_its_domain(api: Api, stack: LocalStack) -> None:
    site = _site(api, stack, "platform-managed", b"<h1>short-lived</h1>")
    hostname = _hostname()
    status, attached = _attach(api, site["siteId"], hostname)
    assert status == 202, attached
    create_records(stack, attached["records"])
    until_domain(api, site["siteId"], hostname, "active")
    status, _, _ = api.request("DELETE", f"/sites/{site['siteId']}")
    assert status in (200, 204)
    assert _by_host(stack, hostname).status == 404
    successor = _site(api, stack, "platform-managed", b"<h1>successor</h1>")
    status, again = _attach(api, successor["siteId"], hostname)
    assert status == 202, again  # given back by the service and by Netlify
