"""Packs through the gateway and the real publisher: small files staged as a few objects, every
member verified when the publisher reads it, and only verified members counted as staged after."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import urllib3

from sitedeploy.flows.uploads import (
    PACK_MAX_BYTES,
    PACK_MAX_MEMBERS,
    PACK_MEMBER_MAX_BYTES,
    group_packs,
    signed_headers,
)
from sitedeploy_cli.client import ApiClient
from sitedeploy_cli.config import ClientConfig
from sitedeploy_cli.deploy import Deployment, DeployOptions
from sitedeploy_cli.progress import Progress
from sitedeploy_local.stack import LocalStack
from tests.conftest import Api
from tests.helpers import deploy, wait_terminal, write_folder

BIG = 1024 * 1024 + 10


def _site() -> dict[str, bytes]:
    site = {f"assets/f{i}.js": f"console.log({i});".encode() * (i + 1) for i in range(25)}
    site["index.html"] = b"<h1>packed</h1>"
    site["img/logo.png"] = b"\x89PNG\r\n\x1a\n" + os.urandom(30_000)
    site["empty.txt"] = b""
    site["video.bin"] = os.urandom(BIG)  # over the member limit: a blob of its own
    return site


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plan(api: Api, site: dict[str, bytes]) -> dict[str, Any]:
    files = [{"path": p, "sha256": _sha(d), "size": len(d)} for p, d in sorted(site.items())]
    status, answer, _ = api.request("POST", "/uploads", body={"files": files, "packs": True})
    assert status == 200, answer
    return dict(answer)


def _put_packs(answer: dict[str, Any], site: dict[str, bytes], tamper: str | None = None) -> None:
    by_sha = {_sha(d): d for d in site.values()}
    for pack in answer["packs"]:
        parts = []
        for member in pack["members"]:
            data = by_sha[member["sha256"]]
            parts.append(b"X" * len(data) if member["sha256"] == tamper else data)
        response = urllib3.request("PUT", pack["url"], body=b"".join(parts), headers=pack["headers"])
        assert response.status == 200, response.data
    for upload in answer["uploads"]:
        response = urllib3.request("PUT", upload["url"], body=by_sha[upload["sha256"]], headers=upload["headers"])
        assert response.status == 200, response.data


def _manifest(site: dict[str, bytes]) -> dict[str, str]:
    return {p: _sha(d) for p, d in site.items()}


@pytest.mark.parametrize("platform", ["cloudflare", "amplify", "netlify", "vercel"])
def test_small_files_travel_in_packs_and_are_served_byte_for_byte(api: Api, platform: str) -> None:
    site = _site()
    answer = _plan(api, site)
    assert [u["sha256"] for u in answer["uploads"]] == [_sha(site["video.bin"])]
    assert len(answer["packs"]) == 1
    pack = answer["packs"][0]
    offsets = [m["offset"] for m in pack["members"]]
    sizes = [m["size"] for m in pack["members"]]
    assert offsets == [sum(sizes[:i]) for i in range(len(sizes))]  # back to back
    assert pack["size"] == sum(sizes) == int(pack["headers"]["Content-Length"])
    assert len(pack["members"]) == len({_sha(d) for p, d in site.items() if p != "video.bin"})
    assert "content-length" in signed_headers(pack["url"])
    _put_packs(answer, site)
    body = {"manifest": _manifest(site), "projectName": f"packed-{platform}", "uploadReceipts": [answer["receipt"]]}
    final = wait_terminal(api, deploy(api, platform, body)["deploymentId"])
    assert final["status"] == "ready", final
    for path, data in site.items():
        served = urllib3.request("GET", final["localUrl"] + path)
        assert served.status == 200, path
        assert served.data == data, path


def test_verified_members_count_as_staged_for_the_next_deploys(api: Api) -> None:
    site = _site()
    answer = _plan(api, site)
    _put_packs(answer, site)
    body = {"manifest": _manifest(site), "projectName": "indexed", "uploadReceipts": [answer["receipt"]]}
    assert wait_terminal(api, deploy(api, "cloudflare", body)["deploymentId"])["status"] == "ready"
    again = _plan(api, site)
    assert again["uploads"] == []
    assert again["packs"] == []
    assert again["alreadyStaged"] == len({_sha(d) for d in site.values()})
    # Without a receipt the deploy finds them too (the index), and Amplify reads every byte again.
    body = {"manifest": _manifest(site), "projectName": "indexed-amplify"}
    final = wait_terminal(api, deploy(api, "amplify", body)["deploymentId"])
    assert final["status"] == "ready", final
    assert urllib3.request("GET", final["localUrl"] + "assets/f3.js").data == site["assets/f3.js"]


def test_a_tampered_member_fails_the_deployment_by_name_and_is_not_counted(api: Api) -> None:
    site = _site()
    answer = _plan(api, site)
    bad = _sha(site["assets/f7.js"])
    _put_packs(answer, site, tamper=bad)
    body = {"manifest": _manifest(site), "projectName": "tampered-pack", "uploadReceipts": [answer["receipt"]]}
    final = wait_terminal(api, deploy(api, "cloudflare", body)["deploymentId"])
    assert final["status"] == "error"
    assert "assets/f7.js" in final["error"]
    assert "does not match its sha256" in final["error"]
    again = _plan(api, site)
    asked = {u["sha256"] for u in again["uploads"]} | {m["sha256"] for p in again["packs"] for m in p["members"]}
    assert bad in asked  # never verified: asked for again


def test_a_pack_that_is_missing_or_the_wrong_size_is_409_and_writes_nothing(api: Api, stack: LocalStack) -> None:
    site = {"a.js": b"a" * 100, "b.js": b"b" * 200, "c.js": b"c" * 300}
    answer = _plan(api, site)
    assert len(answer["packs"]) == 1
    body = {"manifest": _manifest(site), "projectName": "no-pack", "uploadReceipts": [answer["receipt"]]}
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 409
    assert refused["code"] == "blobs_missing"
    assert sorted(refused["missing"]) == sorted(_manifest(site).values())
    pack = answer["packs"][0]
    key = pack["url"].split("?")[0].split("/", 4)[-1]  # path-style URL: /bucket/packs/<owner>/<id>
    stack.moto.client("s3").put_object(Bucket=stack.resource("StagingBucket"), Key=key, Body=b"short")
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 409
    assert len(refused["missing"]) == 3
    assert api.get("/deployments")[1]["deployments"] == []


def test_another_owners_pack_receipt_counts_for_nothing(api: Api, api_for: Any) -> None:
    site = {"a.js": b"a" * 10, "b.js": b"b" * 20}
    theirs = _plan(api_for("pack-owner"), site)
    _put_packs(theirs, site)
    body = {"manifest": _manifest(site), "projectName": "foreign-pack", "uploadReceipts": [theirs["receipt"]]}
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 409
    assert len(refused["missing"]) == 2


def test_packs_are_cut_within_their_bounds() -> None:
    small = [(f"{i:064x}", 10) for i in range(PACK_MAX_MEMBERS + 5)]
    groups = group_packs(small)
    assert [len(g) for g in groups] == [PACK_MAX_MEMBERS, 5]
    per_pack = PACK_MAX_BYTES // PACK_MEMBER_MAX_BYTES
    full = [(f"{i:064x}", PACK_MEMBER_MAX_BYTES) for i in range(per_pack)]
    sized = [*full, ("c" * 64, 1), ("d" * 64, PACK_MEMBER_MAX_BYTES + 1), ("e" * 64, 1)]
    assert group_packs(sized) == [full, [("c" * 64, 1), ("e" * 64, 1)]]
    assert group_packs([("a" * 64, 5)]) == []  # a pack of one is a blob of its own


@pytest.mark.parametrize("order", ["first receipts first", "new receipts first"])
def test_members_of_a_pack_that_never_arrived_staged_again_deploy_with_every_receipt(
    api: Api, stack: LocalStack, order: str
) -> None:
    """Two packs asked for, one never arrives: 409 for its members only. Those are asked about
    again and go up in a new pack; the deploy with the first receipt and the new one (in either
    order) is accepted and serves every byte: the arrived pack's members are known only from the
    first receipt, the others from the new one."""
    site = {f"p{i}.js": f"// {i} {os.urandom(8).hex()}\n".encode() * 12000 for i in range(40)}  # 11 MB: two packs
    answer = _plan(api, site)
    assert len(answer["packs"]) >= 2
    lost, *arrived = answer["packs"]
    _put_packs({"packs": arrived, "uploads": answer["uploads"]}, site)
    first_receipt = answer["receipt"]
    body = {"manifest": _manifest(site), "projectName": f"lost-pack-{order[0]}", "uploadReceipts": [first_receipt]}
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 409
    assert sorted(refused["missing"]) == sorted(m["sha256"] for m in lost["members"])

    by_sha = {_sha(d): (p, d) for p, d in site.items()}
    again = _plan(api, dict(by_sha[sha] for sha in refused["missing"]))
    _put_packs(again, site)
    receipts = [first_receipt, again["receipt"]]
    body["uploadReceipts"] = receipts if order == "first receipts first" else receipts[::-1]
    status, accepted, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 202, accepted
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready", final
    for path, data in list(site.items())[:: len(site) // 8]:
        assert urllib3.request("GET", final["localUrl"].rstrip("/") + "/" + path).data == data, path


def test_the_cli_stages_a_lost_pack_again_and_deploys_with_every_receipt(
    api: Api, stack: LocalStack, tmp_path: Path
) -> None:
    """The CLI against the stack: one of its packs is gone from staging before the deploy call
    (as a pack that never arrived), so the call is refused for that pack's members; the CLI
    stages them again and deploys with its first receipts and the new one, and the site is whole."""
    root = tmp_path / "site"
    site = {f"js/p{i}.js": f"// {i} {os.urandom(8).hex()}\n".encode() * 12000 for i in range(40)}  # two packs
    write_folder(root, site)
    assert api.token is not None
    client = ApiClient(ClientConfig(stack.api_url, api.token, local=True))
    run = Deployment(
        client, DeployOptions(root, project="lost-pack-cli", poll_interval=0.1, hash_cache=False), Progress(None)
    )
    bucket = stack.resource("StagingBucket")
    s3 = stack.moto.client("s3")

    def packs() -> set[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="packs/")
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    before = packs()
    hashed = run.hash_folder()
    run.stage(hashed)
    first_receipts = list(run.receipts)
    ours = sorted(packs() - before)
    assert len(ours) >= 2
    s3.delete_object(Bucket=bucket, Key=ours[0])

    run.create(hashed)
    run.follow()

    assert run.result.status == "ready", run.result.error
    assert set(first_receipts) < set(run.receipts)
    assert run.result.uploaded_files > len(site)  # the lost pack's members went up twice
    served = str(run.result.local_url).rstrip("/")
    for path, data in list(site.items())[::5]:
        assert urllib3.request("GET", f"{served}/{path}").data == data, path
