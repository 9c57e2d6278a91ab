"""Custom domains on Amplify, on the local stack: through the API against the Amplify emulator and
the stack's DNS (``stack.dns``: what the user creates at their DNS provider), and the adapter's
domain associations against the same emulator for what the API path rarely meets (Amplify's first
answer without records, a subdomain lost to a concurrent update, the per-app quota, FAILED).

A site in the user's own app takes its hostnames as subdomains of a domain association for the
apex: attach → ``pending_verification`` with the certificate's validation CNAME and the routing
record; create them → ``active``; the site answers for that Host; a second hostname of the same apex
joins the same association; removing the last one deletes the association. Quick Deploy apps are
shared by many sites (the session stack's AmplifyBranchesPerApp is AWS's 50): refused with 409."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from pydantic import SecretStr

from sitedeploy.domain.domains import DomainStatus
from sitedeploy.platforms.amplify.client import AmplifyError, amplify_client
from sitedeploy.platforms.amplify.credentials import AmplifyAccess
from sitedeploy.platforms.amplify.domains import DomainAssociations, parse_record
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import amplify_app, create_records, deploy, inline_files, until_domain, wait_terminal

pytestmark = pytest.mark.e2e

USER_KEYS = {
    "authMode": "user-token",
    "accessKeyId": "AKIAUSERDOMAINS00001",
    "secretAccessKey": "user-secret-access-key-domains",
    "region": "us-east-1",
}


def _by_host(port: int, host: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=10, redirect=False)


def _records(view: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {r["purpose"]: r for r in view["records"]}


def test_user_app_attach_verify_serve_remove(api: Api, stack: LocalStack) -> None:
    # A site at rest acts with the owner's stored connection (the deploy's keys go with the deploy).
    keys = {k: v for k, v in USER_KEYS.items() if k != "authMode"}
    connected = api.request("PUT", "/platform-tokens/amplify", body=keys)
    assert connected[0] == 200, connected[1]
    site = wait_terminal(
        api,
        deploy(
            api,
            "amplify",
            {"files": inline_files({"/index.html": b"<h1>on my domain</h1>"}), "projectName": "dom", **USER_KEYS},
        )["deploymentId"],
    )
    assert site["status"] == "ready", site
    app_id = amplify_app(site["url"])
    apex = f"{uuid.uuid4().hex[:10]}.example"
    www = f"www.{apex}"

    status, attached, _ = api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": www})
    assert status == 202, attached
    assert attached["status"] == "pending_verification"
    records = _records(attached)
    assert set(records) == {"certificate", "routing"}
    assert records["certificate"]["type"] == "CNAME"
    assert records["certificate"]["name"].endswith(f".{apex}")
    assert records["certificate"]["value"].endswith(".acm-validations.aws")
    assert records["routing"]["type"] == "CNAME"
    assert records["routing"]["name"] == www
    assert records["routing"]["value"].endswith(".cloudfront.net")
    association = stack.amplify.domain_association(app_id, apex)
    assert association is not None  # one association for the apex, the hostname a subdomain of it
    assert [s["subDomainSetting"]["prefix"] for s in association["subDomains"]] == ["www"]
    assert _by_host(stack.amplify.domains_port, www).status == 404

    create_records(stack, attached["records"])
    until_domain(api, site["siteId"], www, "active")
    assert _by_host(stack.amplify.domains_port, www).data == b"<h1>on my domain</h1>"

    # The apex joins the same association (its certificate is validated already): an ALIAS to route.
    status, second, _ = api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": apex})
    assert status == 202, second
    assert second["status"] in ("pending_verification", "pending_certificate")
    routing = _records(second)["routing"]
    assert (routing["type"], routing["name"], routing["value"]) == ("ALIAS", apex, records["routing"]["value"])
    assert _records(second)["certificate"] == records["certificate"]
    association = stack.amplify.domain_association(app_id, apex)
    assert association is not None
    assert [s["subDomainSetting"]["prefix"] for s in association["subDomains"]] == ["www", ""]
    create_records(stack, [routing])
    until_domain(api, site["siteId"], apex, "active")
    assert _by_host(stack.amplify.domains_port, apex).data == b"<h1>on my domain</h1>"

    assert api.request("DELETE", f"/sites/{site['siteId']}/domains/{www}")[0] == 204
    assert _by_host(stack.amplify.domains_port, www).status == 404
    assert _by_host(stack.amplify.domains_port, apex).status == 200  # the other hostname stays
    association = stack.amplify.domain_association(app_id, apex)
    assert association is not None
    assert [s["subDomainSetting"]["prefix"] for s in association["subDomains"]] == [""]
    assert api.request("DELETE", f"/sites/{site['siteId']}/domains/{apex}")[0] == 204
    assert _by_host(stack.amplify.domains_port, apex).status == 404
    assert stack.amplify.domain_association(app_id, apex) is None  # the last one took the association
    assert api.get(f"/sites/{site['siteId']}/domains")[1]["domains"] == []


def test_quick_deploy_apps_are_shared_so_domains_are_refused(api: Api, stack: LocalStack) -> None:
    site = wait_terminal(
        api,
        deploy(api, "amplify", {"files": inline_files({"/index.html": b"x"}), "projectName": "shared"})["deploymentId"],
    )
    assert site["status"] == "ready", site
    hostname = f"www.{uuid.uuid4().hex[:10]}.example"
    status, body, _ = api.request("POST", f"/sites/{site['siteId']}/domains", body={"hostname": hostname})
    assert status == 409, body
    assert body["code"] == "domains_unsupported"
    assert "AmplifyBranchesPerApp=1" in body["error"]
    assert "shared by up to 50 sites" in body["error"]
    assert stack.amplify.domain_association(amplify_app(site["url"]), hostname.split(".", 1)[1]) is None


# -- the adapter's domain associations against the emulator -------------------------------------------


@pytest.fixture
def user_app(stack: LocalStack) -> Iterator[tuple[str, str]]:
    """An app of the user's with one branch (not through the API: no DNS records of other tests)."""
    app_id = stack.amplify.create_app_directly(f"domains-{uuid.uuid4().hex[:6]}")
    client = amplify_client(AmplifyAccess("us-east-1", "AKIAUSERDOMAINS00001", SecretStr("x")))
    client.create_branch(appId=app_id, branchName="main")
    yield app_id, "main"
    client.delete_app(appId=app_id)


def _associations() -> DomainAssociations:
    return DomainAssociations(
        amplify_client(AmplifyAccess("us-east-1", "AKIAUSERDOMAINS00001", SecretStr("x")), quick=True)
    )


def test_records_appear_once_amplify_has_them(
    stack: LocalStack, user_app: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.amplify, "creating_seconds", 0.5)
    app_id, branch = user_app
    hostname = f"shop.{uuid.uuid4().hex[:10]}.example"
    associations = _associations()
    first = associations.attach(app_id, branch, hostname)
    # CREATING: no certificate record yet and a "<pending>" target, which are no records to create.
    assert first.status is DomainStatus.PENDING_VERIFICATION
    assert first.records == []
    assert first.ref == hostname.split(".", 1)[1]
    assert "CREATING" in (first.reason or "")
    time.sleep(0.6)
    later = associations.state(app_id, branch, hostname, first.ref)
    assert [r.purpose for r in later.records] == ["certificate", "routing"]
    assert later.records[1].name == hostname
    assert later.records[1].type == "CNAME"
    assert associations.attach(app_id, branch, hostname) == later  # attaching again changes nothing


def test_a_lost_subdomain_is_put_back_and_others_are_left_alone(stack: LocalStack, user_app: tuple[str, str]) -> None:
    app_id, branch = user_app
    apex = f"{uuid.uuid4().hex[:10]}.example"
    associations = _associations()
    state = associations.attach(app_id, branch, f"www.{apex}")
    associations.attach(app_id, branch, f"docs.{apex}")
    # Another writer's read-modify-write dropped "www" (UpdateDomainAssociation replaces the list).
    associations.client.update_domain_association(
        appId=app_id, domainName=apex, subDomainSettings=[{"prefix": "docs", "branchName": branch}]
    )
    again = associations.state(app_id, branch, f"www.{apex}", state.ref)
    assert again.status is DomainStatus.PENDING_VERIFICATION
    association = stack.amplify.domain_association(app_id, apex)
    assert association is not None
    assert sorted(s["subDomainSetting"]["prefix"] for s in association["subDomains"]) == ["docs", "www"]

    associations.detach(app_id, "another-branch", f"docs.{apex}", apex)  # not this branch's: untouched
    association = stack.amplify.domain_association(app_id, apex)
    assert association is not None
    assert len(association["subDomains"]) == 2
    associations.detach(app_id, branch, f"docs.{apex}", apex)
    associations.detach(app_id, branch, f"docs.{apex}", apex)  # gone already: no error
    associations.detach(app_id, branch, f"www.{apex}", None)
    assert stack.amplify.domain_association(app_id, apex) is None
    associations.detach(app_id, branch, f"www.{apex}", apex)


def test_quota_failure_and_status_mapping(stack: LocalStack, user_app: tuple[str, str]) -> None:
    app_id, branch = user_app
    associations = _associations()
    hostnames = [f"www.{uuid.uuid4().hex[:10]}.example" for _ in range(6)]
    for hostname in hostnames[:5]:
        associations.attach(app_id, branch, hostname)
    with pytest.raises(AmplifyError) as quota:
        associations.attach(app_id, branch, hostnames[5])
    assert quota.value.status == 409  # a quota, not a rate limit: a refusal, not worth retrying
    assert "5 custom domains" in quota.value.message

    apex = hostnames[0].split(".", 1)[1]
    stack.amplify.fail_domain(app_id, apex, "One or more of the CNAMEs you provided are already associated.")
    failed = associations.state(app_id, branch, hostnames[0], apex)
    assert failed.status is DomainStatus.FAILED
    assert (failed.reason or "").startswith("One or more of the CNAMEs")

    other = stack.amplify.create_app_directly(f"domains-{uuid.uuid4().hex[:6]}")
    try:
        associations.client.create_branch(appId=other, branchName="main")
        with pytest.raises(AmplifyError, match="already associated with another Amplify app") as taken:
            associations.attach(other, "main", hostnames[1])
        assert taken.value.status == 400
    finally:
        associations.client.delete_app(appId=other)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("www CNAME d1abc.cloudfront.net", ("www", "CNAME", "d1abc.cloudfront.net")),
        (" CNAME D1ABC.cloudfront.net.", ("", "CNAME", "d1abc.cloudfront.net")),
        (
            "_a1.example.com. CNAME _b2.xyz.acm-validations.aws.",
            ("_a1.example.com", "CNAME", "_b2.xyz.acm-validations.aws"),
        ),
        ("www CNAME <pending>", None),
        ("www CNAME null", None),
        ("", None),
        (None, None),
    ],
)
def test_amplify_record_strings(text: object, parsed: tuple[str, str, str] | None) -> None:
    assert parse_record(text) == parsed
