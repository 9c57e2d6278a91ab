"""Content-addressed uploads through the gateway, presigned S3 PUTs, and deploy by manifest."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

import urllib3

from sitedeploy.flows.uploads import signed_headers
from sitedeploy.stores.staging import Staging, UploadReceipt, blob_key
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LocalStack
from tests.conftest import Api
from tests.helpers import deploy, wait_terminal


def _entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _put_all(answer: dict[str, Any], blobs: dict[str, bytes]) -> None:
    for upload in answer["uploads"]:
        data = blobs[upload["sha256"]]
        response = urllib3.request("PUT", upload["url"], body=data, headers=upload["headers"])
        assert response.status == 200, response.data


def test_only_missing_blobs_are_asked_for_and_dedup_works(api: Api) -> None:
    a, b = os.urandom(1000), b"<h1>hi</h1>"
    files = [_entry("index.html", b), _entry("img/a.png", a), _entry("img/copy.png", a)]
    status, answer, _ = api.request("POST", "/uploads", body={"files": files})
    assert status == 200, answer
    assert sorted(u["sha256"] for u in answer["uploads"]) == sorted({f["sha256"] for f in files})
    assert answer["alreadyStaged"] == 0
    assert answer["expiresAt"].endswith("Z")
    _put_all(answer, {hashlib.sha256(x).hexdigest(): x for x in (a, b)})
    again = api.request("POST", "/uploads", body={"files": files})[1]
    assert again["uploads"] == []
    assert again["alreadyStaged"] == 2


def test_the_namespace_is_per_owner(api: Api, api_for: Any) -> None:
    data = os.urandom(500)
    files = [_entry("x.bin", data)]
    first = api.request("POST", "/uploads", body={"files": files})[1]
    _put_all(first, {files[0]["sha256"]: data})
    other = api_for("someone-else").request("POST", "/uploads", body={"files": files})[1]
    assert [u["sha256"] for u in other["uploads"]] == [files[0]["sha256"]]  # learns nothing
    assert other["alreadyStaged"] == 0
    assert other["uploads"][0]["url"] != first["uploads"][0]["url"]


def test_presigned_urls_bind_length_and_checksum(api: Api) -> None:
    data = b"exact bytes"
    answer = api.request("POST", "/uploads", body={"files": [_entry("a.txt", data)]})[1]
    upload = answer["uploads"][0]
    assert {"content-length", "x-amz-checksum-sha256", "host"} <= set(signed_headers(upload["url"]))
    assert upload["headers"]["Content-Length"] == str(len(data))
    checksum = upload["headers"]["x-amz-checksum-sha256"]
    assert checksum == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert "X-Amz-Expires=" in upload["url"]


def test_bad_manifests_are_400(api: Api) -> None:
    good = "a" * 64
    cases = [
        ({"files": [{"path": "../x", "sha256": good, "size": 1}]}, "'..'"),
        (
            {"files": [{"path": "a", "sha256": good, "size": 1}, {"path": "/a", "sha256": "b" * 64, "size": 1}]},
            "different sha256",
        ),
        ({"files": [{"path": "a", "sha256": "XYZ", "size": 1}]}, "sha256"),
        ({"files": [{"path": "a", "sha256": good, "size": -1}]}, "size"),
        ({"files": [{"path": "a", "sha256": good, "size": 1, "mode": 7}]}, "mode"),
        ({"files": []}, "files"),
    ]
    for body, mentions in cases:
        status, answer, _ = api.request("POST", "/uploads", body=body)
        assert status == 400, (body, answer)
        assert mentions in answer["error"]


def test_deploy_by_manifest_with_missing_blobs_is_409_and_writes_nothing(api: Api, owner: str) -> None:
    staged = b"<p>staged</p>"
    answer = api.request("POST", "/uploads", body={"files": [_entry("index.html", staged)]})[1]
    _put_all(answer, {hashlib.sha256(staged).hexdigest(): staged})
    absent = "f" * 64
    body = {"manifest": {"index.html": hashlib.sha256(staged).hexdigest(), "app.js": absent}}
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 409
    assert refused["code"] == "blobs_missing"
    assert refused["missing"] == [absent]
    assert api.get("/deployments")[1]["deployments"] == []


def test_deploy_by_manifest_publishes_the_staged_bytes(api: Api) -> None:
    files = {"index.html": b"<h1>by manifest</h1>", "img/logo.png": os.urandom(40_000)}
    answer = api.request("POST", "/uploads", body={"files": [_entry(p, d) for p, d in files.items()]})[1]
    _put_all(answer, {hashlib.sha256(d).hexdigest(): d for d in files.values()})
    manifest = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    accepted = deploy(api, "cloudflare", {"manifest": manifest, "projectName": "by-manifest"})
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "ready"
    assert final["fileCount"] == 2
    assert final["totalSizeBytes"] == sum(len(d) for d in files.values())
    assert urllib3.request("GET", final["localUrl"] + "img/logo.png").data == files["img/logo.png"]


def test_files_and_manifest_together_are_refused(api: Api) -> None:
    status, answer, _ = api.request(
        "POST", "/deployments/cloudflare", body={"files": {"a.html": "x"}, "manifest": {"a.html": "a" * 64}}
    )
    assert status == 400
    assert "either files" in answer["error"]


def test_a_corrupted_blob_fails_the_deployment_not_the_site(api: Api, owner: str, stack: LocalStack) -> None:
    good = b"<h1>the real bytes</h1>"
    sha = hashlib.sha256(good).hexdigest()
    # Something wrote other bytes under the blob's name (S3 would refuse this PUT; moto does not).
    stack.moto.client("s3").put_object(
        Bucket=stack.resource("StagingBucket"), Key=blob_key(owner, sha), Body=b"<h1>tampered</h1>"
    )
    accepted = deploy(api, "cloudflare", {"manifest": {"index.html": sha}, "projectName": "tampered"})
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "error"
    assert "does not match its sha256" in final["error"]
    name = accepted["url"].removeprefix("https://").split(".")[0]
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, name) is None  # nothing was published


def _stage(api: Api, files: dict[str, bytes]) -> dict[str, Any]:
    """/uploads, then the PUTs it asks for; the answer (with its receipt)."""
    answer = api.request("POST", "/uploads", body={"files": [_entry(p, d) for p, d in files.items()]})[1]
    _put_all(answer, {hashlib.sha256(d).hexdigest(): d for d in files.values()})
    return dict(answer)


def _delete_blob(stack: LocalStack, owner: str, data: bytes) -> None:
    key = blob_key(owner, hashlib.sha256(data).hexdigest())
    stack.moto.client("s3").delete_object(Bucket=stack.resource("StagingBucket"), Key=key)


def test_a_receipt_is_trusted_for_what_uploads_found_staged(api: Api, owner: str, stack: LocalStack) -> None:
    """The deploy takes the receipt's word for the blobs /uploads listed; the publisher, which reads
    every byte, is what notices one that vanished since (the deployment ends in error, named)."""
    files = {"index.html": b"<h1>receipt</h1>", "a.bin": os.urandom(3000)}
    _stage(api, files)
    again = _stage(api, files)
    assert again["uploads"] == []
    assert len(again["receipt"]) == 32
    _delete_blob(stack, owner, files["a.bin"])
    manifest = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body={"manifest": manifest})
    assert status == 409
    assert refused["missing"] == [manifest["a.bin"]]
    body = {"manifest": manifest, "projectName": "trusts-receipt", "uploadReceipts": [again["receipt"]]}
    accepted = deploy(api, "cloudflare", body)
    final = wait_terminal(api, accepted["deploymentId"])
    assert final["status"] == "error"
    assert manifest["a.bin"] in final["error"]
    assert "missing" in final["error"]


def test_blobs_uploaded_after_the_receipt_are_still_checked(api: Api) -> None:
    old = {"index.html": b"<h1>v1</h1>"}
    _stage(api, old)
    new = {"index.html": b"<h1>v2</h1>", "app.js": b"console.log(2)", "never.css": b"body{}"}
    answer = api.request("POST", "/uploads", body={"files": [_entry(p, d) for p, d in new.items()]})[1]
    assert len(answer["uploads"]) == 3
    manifest = {p: hashlib.sha256(d).hexdigest() for p, d in new.items()}
    _put_all(
        {"uploads": [u for u in answer["uploads"] if u["sha256"] != manifest["never.css"]]},
        {hashlib.sha256(d).hexdigest(): d for d in new.values()},
    )
    body = {"manifest": manifest, "projectName": "after-receipt", "uploadReceipts": [answer["receipt"]]}
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 409
    assert refused["missing"] == [manifest["never.css"]]
    _put_all(
        {"uploads": [u for u in answer["uploads"] if u["sha256"] == manifest["never.css"]]},
        {manifest["never.css"]: new["never.css"]},
    )
    final = wait_terminal(api, deploy(api, "cloudflare", body)["deploymentId"])
    assert final["status"] == "ready"
    assert urllib3.request("GET", final["localUrl"] + "never.css").data == b"body{}"


def test_another_owners_or_a_stale_receipt_counts_for_nothing(
    api: Api, api_for: Any, owner: str, stack: LocalStack
) -> None:
    data = os.urandom(2000)
    sha = hashlib.sha256(data).hexdigest()
    theirs = _stage(api_for("receipt-owner"), {"x.bin": data})
    theirs = _stage(api_for("receipt-owner"), {"x.bin": data})
    assert theirs["uploads"] == []
    body = {"manifest": {"x.bin": sha}, "projectName": "foreign", "uploadReceipts": [theirs["receipt"]]}
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 409
    assert refused["missing"] == [sha]

    _stage(api, {"x.bin": data})
    mine = _stage(api, {"x.bin": data})
    _delete_blob(stack, owner, data)
    store = Staging(stack.resource("StagingBucket"), stack.moto.client("s3"))
    receipt = store.get_receipt(owner, mine["receipt"])
    assert receipt is not None
    assert receipt.staged == {sha: len(data)}
    store.put_receipt(owner, mine["receipt"], UploadReceipt(created_at=time.time() - 3601, staged=receipt.staged))
    body["uploadReceipts"] = [mine["receipt"]]
    status, refused, _ = api.request("POST", "/deployments/cloudflare", body=body)
    assert status == 409
    assert refused["missing"] == [sha]
    assert api.get("/deployments")[1]["deployments"] == []


def test_bad_upload_receipts_are_400(api: Api) -> None:
    manifest = {"index.html": "a" * 64}
    cases = [
        ({"manifest": manifest, "uploadReceipts": ["../../receipts/x"]}, "uploadReceipts"),
        ({"manifest": manifest, "uploadReceipts": "0" * 32}, "uploadReceipts"),
        ({"manifest": manifest, "uploadReceipts": ["0" * 32] * 101}, "uploadReceipts"),
        ({"files": {"a.html": "x"}, "uploadReceipts": ["0" * 32]}, "uploadReceipts go with a manifest"),
    ]
    for body, mentions in cases:
        status, answer, _ = api.request("POST", "/deployments/cloudflare", body=body)
        assert status == 400, (body, answer)
        assert mentions in answer["error"], answer
    assert api.get("/deployments")[1]["deployments"] == []


def test_an_oversize_receipt_counts_for_nothing(api: Api, owner: str, stack: LocalStack) -> None:
    """A deploy reads up to 100 receipts: one far larger than any /uploads call writes is not read
    (the blobs are looked up instead), so receipts cannot make a deploy read hundreds of MB."""
    store = Staging(stack.resource("StagingBucket"), stack.moto.client("s3"))
    huge = UploadReceipt(created_at=time.time(), staged={f"{n:064x}": 1 for n in range(80_000)})
    store.put_receipt(owner, "f" * 32, huge)
    assert store.get_receipt(owner, "f" * 32) is None
    data = b"<h1>looked up</h1>"
    _stage(api, {"index.html": data})
    body = {"manifest": {"index.html": hashlib.sha256(data).hexdigest()}, "uploadReceipts": ["f" * 32]}
    assert wait_terminal(api, deploy(api, "cloudflare", body)["deploymentId"])["status"] == "ready"
