"""Custom domains on the local stack, through the API, against each platform's emulator and the
stack's DNS (``stack.dns``: what the user creates at their DNS provider): attach a hostname and see
``pending_verification`` with the records; create them; the status reaches ``active``; the site's
bytes answer for that Host; remove it and the hostname no longer routes. Records never created end
``failed`` at the platform's deadline, with its reason."""

from __future__ import annotations

import uuid

import pytest
import urllib3

from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import create_records, deploy, until_domain, wait_terminal

pytestmark = pytest.mark.e2e


def _by_host(port: int, host: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=10, redirect=False)


@pytest.mark.parametrize("mode", ["platform-managed"])
def test_vercel_attach_verify_serve_remove(api: Api, stack: LocalStack, mode: str) -> None:
    site = wait_terminal(
        api,
        deploy(
            api,
            "vercel",
            {"files": {"index.html": "<h1>mine</h1>"}, "projectName": f"dom-{uuid.uuid4().hex[:6]}", "authMode": mode},
        )["deploymentId"],
    )
    assert site["status"] == "ready", site
    hostname = f"www.{uuid.uuid4().hex[:8]}.example"
    status, attached, _ = api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": hostname})
    assert status == 202, attached
    assert attached["status"] == "pending_verification"
    assert [r["purpose"] for r in attached["records"]] == ["routing"]
    assert _by_host(stack.vercel.domains_port, hostname).status == 404
    create_records(stack, attached["records"])
    until_domain(api, site["siteId"], hostname, "active")
    assert _by_host(stack.vercel.domains_port, hostname).data == b"<h1>mine</h1>"
    assert api.request("DELETE", f"/sites/{site['siteId']}/domains/{hostname}")[0] == 204
    assert _by_host(stack.vercel.domains_port, hostname).status == 404
    assert api.get(f"/sites/{site['siteId']}/domains")[1]["domains"] == []
