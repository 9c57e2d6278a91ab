"""The Cloudflare emulator over real HTTP: the assets upload protocol by hand, its validation and
auth, every fault kind, the served sites' semantics, and the real ``wrangler`` CLI deploying,
redeploying and deleting against it (the check that the emulator speaks the platform's protocol and
not just our own idea of it)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3

from sitedeploy_local.emulators import CloudflareEmulator, FaultInjector
from sitedeploy_local.emulators.cloudflare import MAX_ASSET_SIZE, NO_ROUTE, ROUTE_NAMES, ROUTES
from tests.local.emulator_http import Answer, ApiClient, fetch_site, install_client, unique

ACCOUNT = "5d41402abc4b2a76b9719d911017c592"
OTHER_ACCOUNT = "7d793037a0760186574b0282f2f435e7"
SUBDOMAIN = "emu-tests"
TOKEN = "token-for-account-a"
OTHER_TOKEN = "token-for-account-b"
DISABLED_TOKEN = "disabled-token"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + b"\x00\xff\x00"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
}


# -- a hand-driven client ---------------------------------------------------------------------------


def asset_hash(path: str, data: bytes) -> str:
    """Opaque to Cloudflare; like wrangler's, it depends on the bytes and the extension."""
    extension = path.rsplit(".", 1)[1] if "." in path.rsplit("/", 1)[-1] else ""
    return hashlib.sha256(base64.b64encode(data) + extension.encode()).hexdigest()[:32]


def content_type(path: str) -> str:
    return next((t for ext, t in TYPES.items() if path.endswith(ext)), "application/null")


@dataclass
class CloudflareAnswer(Answer):
    @property
    def result(self) -> Any:
        return self.body["result"]

    @property
    def codes(self) -> list[int]:
        return [error["code"] for error in self.body["errors"] or []]

    @property
    def message(self) -> str:
        return " ".join(error["message"] for error in self.body["errors"] or [])


class Client(ApiClient[CloudflareAnswer]):
    def __init__(self, emulator: CloudflareEmulator, token: str | None = TOKEN, account: str = ACCOUNT) -> None:
        super().__init__(CloudflareAnswer, token)
        self.emulator = emulator
        self.account = account

    def url(self, path: str, query: str) -> str:
        return self.emulator.api_base + path.replace("{acct}", self.account) + (f"?{query}" if query else "")

    # the protocol, step by step

    def session(self, name: str, files: dict[str, bytes], **overrides: Any) -> CloudflareAnswer:
        manifest = {path: {"hash": asset_hash(path, data), "size": len(data)} for path, data in files.items()}
        manifest.update(overrides)
        return self.call(
            "POST", f"/accounts/{{acct}}/workers/scripts/{name}/assets-upload-session", json_body={"manifest": manifest}
        )

    def upload(self, jwt: str, parts: list[tuple[str, bytes, str]], *, query: str = "?base64=true") -> CloudflareAnswer:
        fields = [(h, (h, base64.b64encode(data), ctype)) for h, data, ctype in parts]
        body, multipart_type = urllib3.encode_multipart_formdata(fields)
        return self.call(
            "POST",
            f"/accounts/{{acct}}/workers/assets/upload{query}",
            body=body,
            headers={"Content-Type": multipart_type},
            token=jwt,
        )

    def upload_raw(self, jwt: str, fields: list[tuple[str, Any]]) -> CloudflareAnswer:
        body, multipart_type = urllib3.encode_multipart_formdata(fields)
        return self.call(
            "POST",
            "/accounts/{acct}/workers/assets/upload?base64=true",
            body=body,
            headers={"Content-Type": multipart_type},
            token=jwt,
        )

    def upload_buckets(self, session: CloudflareAnswer, files: dict[str, bytes]) -> list[CloudflareAnswer]:
        by_hash = {asset_hash(path, data): (path, data) for path, data in files.items()}
        answers = []
        for bucket in session.result["buckets"]:
            parts = [(h, by_hash[h][1], content_type(by_hash[h][0])) for h in bucket]
            answers.append(self.upload(session.result["jwt"], parts))
        return answers

    def put_script(self, name: str, metadata: dict[str, Any], *, path_suffix: str = "") -> CloudflareAnswer:
        body, multipart_type = urllib3.encode_multipart_formdata([("metadata", json.dumps(metadata))])
        return self.call(
            "PUT",
            f"/accounts/{{acct}}/workers/scripts/{name}{path_suffix}",
            body=body,
            headers={"Content-Type": multipart_type},
        )

    def deploy(
        self, name: str, files: dict[str, bytes], config: dict[str, Any] | None = None, *, enable: bool = True
    ) -> str:
        """The whole first-deploy protocol; returns the completion JWT."""
        session = self.session(name, files)
        assert session.status == 200, session.body
        completion = session.result["jwt"]
        for answer in self.upload_buckets(session, files):
            assert answer.status in (201, 202), answer.body
            completion = answer.result.get("jwt") or completion
        put = self.put_script(name, metadata(completion, config))
        assert put.status == 200, put.body
        if enable:
            enabled = self.call(
                "POST", f"/accounts/{{acct}}/workers/scripts/{name}/subdomain", json_body={"enabled": True}
            )
            assert enabled.status == 200, enabled.body
        return str(completion)


def metadata(completion: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "assets": {"jwt": completion, "config": config or {"html_handling": "auto-trailing-slash"}},
        "compatibility_date": "2025-06-01",
        "compatibility_flags": [],
    }


def fetch(emulator: CloudflareEmulator, name: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
    return fetch_site(emulator.site_url(ACCOUNT, name), name, path, method, **kwargs)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_instance() -> Iterator[CloudflareEmulator]:
    emulator = CloudflareEmulator(bucket_max_files=3, bucket_max_bytes=64 * 1024)
    emulator.add_account(ACCOUNT, name="Account A", subdomain=SUBDOMAIN)
    emulator.add_account(OTHER_ACCOUNT, name="Account B", subdomain="other")
    emulator.add_token(TOKEN, [ACCOUNT])
    emulator.add_token(OTHER_TOKEN, [OTHER_ACCOUNT])
    emulator.add_token(DISABLED_TOKEN, [ACCOUNT], status="disabled")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(emulator_instance: CloudflareEmulator) -> Iterator[CloudflareEmulator]:
    emulator_instance.reset()
    yield emulator_instance
    emulator_instance.faults.clear()


@pytest.fixture
def client(emulator: CloudflareEmulator) -> Client:
    return Client(emulator)


SITE = {
    "/index.html": b"<!doctype html><title>home</title><h1>home</h1>",
    "/style.css": b"body { color: #333 }",
    "/app.js": b"console.log('hi')",
    "/img/logo.png": PNG,
    "/data.bin": os.urandom(2048),
}


# -- the protocol -----------------------------------------------------------------------------------


def test_first_deploy_by_hand_serves_every_byte(client: Client, emulator: CloudflareEmulator) -> None:
    name = unique()
    services = client.call("GET", f"/accounts/{{acct}}/workers/services/{name}")
    assert services.status == 404
    assert services.codes == [10090]
    session = client.session(name, SITE)
    assert session.status == 200
    assert session.body["success"] is True
    buckets = session.result["buckets"]
    assert sorted(h for bucket in buckets for h in bucket) == sorted(asset_hash(p, d) for p, d in SITE.items())
    assert all(len(bucket) <= 3 for bucket in buckets)
    assert len(buckets) == 2
    answers = client.upload_buckets(session, SITE)
    assert [a.status for a in answers] == [202, 201]
    assert answers[0].result == {}
    completion = answers[1].result["jwt"]
    assert completion
    assert completion != session.result["jwt"]

    put = client.put_script(name, metadata(completion), path_suffix="?excludeScript=true&bindings_inherit=strict")
    assert put.status == 200
    assert put.result["id"] == name
    assert put.result["has_assets"] is True
    assert put.result["handlers"] == ["fetch"]
    assert uuid.UUID(put.result["deployment_id"])
    state = emulator.script(ACCOUNT, name)
    assert state is not None
    assert state.manifest == {p: asset_hash(p, d) for p, d in SITE.items()}
    assert state.put_count == 1
    assert state.subdomain_enabled is False

    subdomain = client.call("GET", "/accounts/{acct}/workers/subdomain")
    assert subdomain.result == {"subdomain": SUBDOMAIN}
    status = client.call("GET", f"/accounts/{{acct}}/workers/scripts/{name}/subdomain")
    assert status.result == {"enabled": False, "previews_enabled": False}
    assert fetch(emulator, name, "/").status == 404  # workers.dev not enabled yet
    enabled = client.call("POST", f"/accounts/{{acct}}/workers/scripts/{name}/subdomain", json_body={"enabled": True})
    assert enabled.result == {"enabled": True, "previews_enabled": True}
    assert emulator.public_url(ACCOUNT, name) == f"https://{name}.{SUBDOMAIN}.workers.dev"

    for path, data in SITE.items():
        served = fetch(emulator, name, "/" if path == "/index.html" else path)
        assert served.status == 200, path
        assert served.data == data, path
        if content_type(path) == "application/null":
            assert "Content-Type" not in served.headers
        else:
            assert served.headers["Content-Type"] == content_type(path)
        assert served.headers["ETag"] == f'"{asset_hash(path, data)}"'
    assert emulator.asset(ACCOUNT, asset_hash("/img/logo.png", PNG)) == (PNG, "image/png")


def test_head_etag_and_methods_on_a_served_asset(client: Client, emulator: CloudflareEmulator) -> None:
    name = unique()
    client.deploy(name, SITE)
    head = fetch(emulator, name, "/img/logo.png", method="HEAD")
    assert head.status == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(PNG))
    etag = head.headers["ETag"]
    assert fetch(emulator, name, "/img/logo.png", headers={"If-None-Match": etag}).status == 304
    assert fetch(emulator, name, "/img/logo.png", headers={"If-None-Match": f"W/{etag}"}).status == 304
    assert fetch(emulator, name, "/img/logo.png", headers={"If-None-Match": '"other"'}).status == 200
    assert fetch(emulator, name, "/img/logo.png", method="POST").status == 405


def test_buckets_respect_the_file_and_byte_limits(client: Client) -> None:
    files = {f"/f{i}.txt": f"file {i}".encode() for i in range(7)}
    files["/big.bin"] = os.urandom(100 * 1024)  # over bucket_max_bytes: a bucket of its own
    session = client.session(unique(), files)
    buckets = session.result["buckets"]
    assert all(len(bucket) <= 3 for bucket in buckets)
    assert [asset_hash("/big.bin", files["/big.bin"])] in buckets
    assert sum(len(bucket) for bucket in buckets) == 8


def test_redeploy_asks_only_for_changed_hashes(client: Client, emulator: CloudflareEmulator) -> None:
    name = unique()
    client.deploy(name, SITE)
    first = emulator.script(ACCOUNT, name)
    assert first is not None
    changed = {**SITE, "/style.css": b"body { color: red }"}
    session = client.session(name, changed)
    assert session.result["buckets"] == [[asset_hash("/style.css", changed["/style.css"])]]
    completion = client.upload_buckets(session, changed)[0].result["jwt"]
    assert client.put_script(name, metadata(completion)).status == 200
    assert fetch(emulator, name, "/style.css").data == b"body { color: red }"
    second = emulator.script(ACCOUNT, name)
    assert second is not None
    assert second.put_count == 2
    assert second.created_on == first.created_on
    assert second.modified_on > first.modified_on

    unchanged = client.session(name, changed)
    assert unchanged.result["buckets"] == []
    assert client.put_script(name, metadata(unchanged.result["jwt"])).status == 200  # it IS the completion


def test_content_is_deduplicated_per_account_across_scripts(client: Client) -> None:
    client.deploy(unique(), SITE)
    assert client.session(unique(), SITE).result["buckets"] == []
    other = Client(client.emulator, OTHER_TOKEN, OTHER_ACCOUNT)
    other_buckets = other.session(unique(), SITE).result["buckets"]
    assert sum(len(bucket) for bucket in other_buckets) == len(SITE)


def test_same_bytes_under_two_extensions_keep_their_types(client: Client, emulator: CloudflareEmulator) -> None:
    same = b"hello"
    files = {"/index.html": b"<p>x</p>", "/a.css": same, "/a.txt": same, "/sub/a.css": same}
    name = unique()
    session = client.session(name, files)
    assert sum(len(b) for b in session.result["buckets"]) == 3  # /a.css and /sub/a.css share a hash
    client.deploy(name, files)
    assert fetch(emulator, name, "/a.css").headers["Content-Type"] == "text/css; charset=utf-8"
    assert fetch(emulator, name, "/a.txt").headers["Content-Type"] == "text/plain; charset=utf-8"


# -- validation and auth ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"hash": "abc", "size": 3}, "32 lowercase hex"),
        ({"hash": "A" * 32, "size": 3}, "32 lowercase hex"),
        ({"hash": "g" * 32, "size": 3}, "32 lowercase hex"),
        ({"hash": "a" * 32, "size": -1}, "non-negative"),
        ({"hash": "a" * 32, "size": "3"}, "non-negative"),
        ({"hash": "a" * 32, "size": MAX_ASSET_SIZE + 1}, "25 MiB"),
    ],
    ids=["short-hash", "uppercase-hash", "non-hex-hash", "negative-size", "string-size", "over-25-mib"],
)
def test_manifest_validation(client: Client, entry: dict[str, Any], fragment: str) -> None:
    answer = client.session(unique(), {"/index.html": b"x"}, **{"/big/file.bin": entry})
    assert answer.status == 400
    assert answer.body["success"] is False
    assert answer.codes == [10304]
    assert fragment in answer.message
    assert "/big/file.bin" in answer.message


def test_a_file_of_exactly_25_mib_is_accepted(client: Client) -> None:
    answer = client.session(unique(), {}, **{"/max.bin": {"hash": "b" * 32, "size": MAX_ASSET_SIZE}})
    assert answer.status == 200
    assert answer.result["buckets"] == [["b" * 32]]


def test_manifest_keys_must_start_with_a_slash_and_fit_the_file_limit(
    client: Client, emulator: CloudflareEmulator
) -> None:
    no_slash = client.session(unique(), {"index.html": b"x"})
    assert no_slash.status == 400
    assert no_slash.codes == [10304]
    emulator.max_files = 3
    try:
        too_many = client.session(unique(), {f"/{i}.txt": b"%d" % i for i in range(4)})
    finally:
        emulator.max_files = 20_000
    assert too_many.status == 400
    assert "limit is 3 files" in too_many.message


@pytest.mark.parametrize("name", ["Upper", "under_score", "-lead", "trail-", "a" * 64, "dot.ted"])
def test_script_names_are_checked_on_every_route(client: Client, name: str) -> None:
    session = client.session(name, {"/index.html": b"x"})
    assert session.status == 400
    assert session.codes == [10016]
    assert client.call("GET", f"/accounts/{{acct}}/workers/scripts/{name}/subdomain").codes == [10016]
    assert client.call("DELETE", f"/accounts/{{acct}}/workers/scripts/{name}").codes == [10016]


def test_a_63_character_name_is_valid(client: Client) -> None:
    assert client.session("a" * 63, {"/index.html": b"x"}).status == 200


def _started_upload(client: Client, files: dict[str, bytes]) -> tuple[str, dict[str, str]]:
    session = client.session(unique(), files)
    return session.result["jwt"], {path: asset_hash(path, data) for path, data in files.items()}


def test_line_wrapped_base64_is_accepted(client: Client) -> None:
    """MIME-style base64 (76 characters a line) decodes as the plain form does: whitespace is
    dropped, as a base64 decoder on the platform drops it."""
    data = bytes(range(256)) * 3
    jwt, hashes = _started_upload(client, {"/wrapped.bin": data})
    wrapped = base64.encodebytes(data).replace(b"\n", b"\r\n")
    assert b"\r\n" in wrapped[:-2]
    answer = client.upload_raw(
        jwt, [(hashes["/wrapped.bin"], (hashes["/wrapped.bin"], wrapped, "application/octet-stream"))]
    )
    assert answer.status == 201, answer.message
    assert answer.result["jwt"]  # the set is complete: the bytes decoded to the manifest's size


def test_upload_validation(client: Client) -> None:
    files = {"/a.txt": b"alpha", "/b.txt": b"bravo"}
    jwt, hashes = _started_upload(client, files)
    bad_base64 = client.upload_raw(jwt, [(hashes["/a.txt"], (hashes["/a.txt"], b"!!not base64!!", "text/plain"))])
    assert bad_base64.status == 400
    assert "base64" in bad_base64.message
    mismatch = client.upload(jwt, [(hashes["/a.txt"], b"alpha and more", "text/plain")])
    assert mismatch.status == 400
    assert "decodes to 14 bytes; the manifest says 5" in mismatch.message
    stranger = client.upload(jwt, [("f" * 32, b"alpha", "text/plain")])
    assert stranger.status == 400
    assert "not in this upload session" in stranger.message
    no_flag = client.upload(jwt, [(hashes["/a.txt"], b"alpha", "text/plain")], query="")
    assert no_flag.status == 400
    assert "base64=true" in no_flag.message
    api_token = client.upload(TOKEN, [(hashes["/a.txt"], b"alpha", "text/plain")])
    assert api_token.status == 401
    # a rejected request stores nothing: both files are still missing
    assert client.session(unique(), files).result["buckets"] != []


def test_only_requested_hashes_may_be_uploaded(client: Client) -> None:
    client.deploy(unique(), {"/a.txt": b"alpha"})
    jwt, hashes = _started_upload(client, {"/a.txt": b"alpha", "/b.txt": b"bravo"})
    answer = client.upload(jwt, [(hashes["/a.txt"], b"alpha", "text/plain")])
    assert answer.status == 400
    assert "was not requested" in answer.message


def test_an_upload_jwt_is_bound_to_its_account(client: Client) -> None:
    jwt, hashes = _started_upload(client, {"/a.txt": b"alpha"})
    other = Client(client.emulator, OTHER_TOKEN, OTHER_ACCOUNT)
    answer = other.upload(jwt, [(hashes["/a.txt"], b"alpha", "text/plain")])
    assert answer.status == 403


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("nobody-knows-me", 401), (DISABLED_TOKEN, 401), (OTHER_TOKEN, 403)],
    ids=["missing", "unknown", "disabled", "other-account"],
)
def test_api_token_is_checked_for_the_account(emulator: CloudflareEmulator, token: str | None, status: int) -> None:
    client = Client(emulator, token)
    for answer in (
        client.session(unique(), {"/index.html": b"x"}),
        client.call("GET", "/accounts/{acct}"),
        client.call("GET", "/accounts/{acct}/workers/scripts"),
    ):
        assert answer.status == status
        assert answer.codes == [10000]


def test_token_verify_and_account_routes(client: Client) -> None:
    verify = client.call("GET", "/user/tokens/verify")
    assert verify.status == 200
    assert verify.result["status"] == "active"
    assert len(verify.result["id"]) == 32
    unknown = Client(client.emulator, "nope").call("GET", "/user/tokens/verify")
    assert unknown.status == 401
    assert unknown.codes == [1000]
    disabled = Client(client.emulator, DISABLED_TOKEN).call("GET", "/user/tokens/verify")
    assert disabled.result["status"] == "disabled"
    account = client.call("GET", "/accounts/{acct}")
    assert account.result["id"] == ACCOUNT
    assert account.result["name"] == "Account A"
    assert [a["id"] for a in client.call("GET", "/accounts").result] == [ACCOUNT]


def test_chunked_request_bodies_are_read(client: Client) -> None:
    manifest = {"/a.txt": {"hash": asset_hash("/a.txt", b"alpha"), "size": 5}}
    body = json.dumps({"manifest": manifest}).encode()
    response = client.http.request(
        "POST",
        client.emulator.api_base + f"/accounts/{ACCOUNT}/workers/scripts/{unique()}/assets-upload-session",
        body=iter([body[:10], body[10:]]),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        chunked=True,
    )
    assert response.status == 200
    assert json.loads(response.data)["result"]["buckets"] == [[manifest["/a.txt"]["hash"]]]
    assert client.emulator.requests[-1].bytes_in == len(body)


def test_unknown_routes_answer_7003(client: Client) -> None:
    for method, path in [("GET", "/nothing/here"), ("POST", "/accounts/{acct}/workers/subdomain")]:
        answer = client.call(method, path)
        assert answer.status == 404
        assert answer.codes == [7003]
        assert answer.body["result"] is None


def test_expired_upload_jwt_is_refused_and_a_new_session_recovers() -> None:
    with CloudflareEmulator(upload_jwt_ttl=0.3) as emulator:
        emulator.add_account(ACCOUNT, name="A", subdomain=SUBDOMAIN)
        emulator.add_token(TOKEN, [ACCOUNT])
        client = Client(emulator)
        files = {"/a.txt": b"alpha"}
        name = unique()
        session = client.session(name, files)
        time.sleep(0.5)
        expired = client.upload_buckets(session, files)[0]
        assert expired.status == 401
        assert "expired" in expired.message.lower()
        emulator.upload_jwt_ttl = 60.0  # the recovery must not race a 0.3 s token on a slow machine
        again = client.session(name, files)
        assert again.result["buckets"] == session.result["buckets"]  # nothing was stored
        completion = client.upload_buckets(again, files)[0].result["jwt"]
        assert client.put_script(name, metadata(completion)).status == 200


def test_completion_jwt_rules(client: Client, emulator: CloudflareEmulator) -> None:
    name = unique()
    files = {"/index.html": b"<p>hi</p>"}
    session = client.session(name, files)
    completion = client.upload_buckets(session, files)[0].result["jwt"]
    assert client.put_script(name, metadata(completion)).status == 200
    again = client.put_script(name, metadata(completion))  # a retried PUT sends the same token
    assert again.status == 200
    state = emulator.script(ACCOUNT, name)
    assert state is not None
    assert state.put_count == 2
    elsewhere = client.put_script(unique(), metadata(completion))
    assert elsewhere.status == 400
    assert "issued for Worker" in elsewhere.message
    upload_jwt = client.put_script(name, metadata(session.result["jwt"]))
    assert upload_jwt.status == 400
    assert client.put_script(name, metadata("not.a.jwt")).status == 400
    no_assets = client.put_script(name, {"compatibility_date": "2025-06-01"})
    assert no_assets.status == 400
    bad_config = client.put_script(name, metadata(completion, {"htmlHandling": "auto-trailing-slash"}))
    assert bad_config.status == 400
    assert "htmlHandling" in bad_config.message
    bad_value = client.put_script(name, metadata(completion, {"not_found_handling": "spa"}))
    assert bad_value.status == 400


def test_completion_jwt_expires() -> None:
    with CloudflareEmulator(completion_jwt_ttl=0.3) as emulator:
        emulator.add_account(ACCOUNT, name="A", subdomain=SUBDOMAIN)
        emulator.add_token(TOKEN, [ACCOUNT])
        client = Client(emulator)
        name = unique()
        files = {"/a.txt": b"alpha"}
        session = client.session(name, files)
        completion = client.upload_buckets(session, files)[0].result["jwt"]
        time.sleep(0.5)
        late = client.put_script(name, metadata(completion))
        assert late.status == 400
        assert "expired" in late.message.lower()


# -- faults -----------------------------------------------------------------------------------------


def test_429_with_retry_after_then_success(client: Client, emulator: CloudflareEmulator) -> None:
    fault = emulator.faults.add("assets-upload-session", status=429, retry_after=7)
    limited = client.session(unique(), SITE)
    assert limited.status == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.codes == [971]
    assert client.session(unique(), SITE).status == 200
    assert fault.hits == 1


def test_500_has_no_effect_and_uses_the_envelope(client: Client, emulator: CloudflareEmulator) -> None:
    emulator.faults.add("script-put", status=500, times=2)
    session = client.session(name := unique(), {"/a.txt": b"alpha"})
    completion = client.upload_buckets(session, {"/a.txt": b"alpha"})[0].result["jwt"]
    for _ in range(2):
        failed = client.put_script(name, metadata(completion))
        assert failed.status == 500
        assert failed.codes == [10013]
        assert emulator.script(ACCOUNT, name) is None
    assert client.put_script(name, metadata(completion)).status == 200


def test_524_looks_like_cloudflares_timeout_page(client: Client, emulator: CloudflareEmulator) -> None:
    emulator.faults.add("assets-upload", status=524)
    jwt, hashes = _started_upload(client, {"/a.txt": b"alpha"})
    answer = client.upload(jwt, [(hashes["/a.txt"], b"alpha", "text/plain")])
    assert answer.status == 524
    assert answer.body is None  # not JSON
    assert answer.headers["Content-Type"].startswith("text/html")
    assert b"524" in answer.raw
    assert client.upload(jwt, [(hashes["/a.txt"], b"alpha", "text/plain")]).status == 201


def test_reset_closes_the_connection_without_an_answer(client: Client, emulator: CloudflareEmulator) -> None:
    emulator.faults.add("account-get", reset=True)
    with pytest.raises(urllib3.exceptions.ProtocolError) as aborted:
        client.call("GET", "/accounts/{acct}")
    assert isinstance(aborted.value.args[1], ConnectionResetError)  # a TCP RST, not a clean close
    assert client.call("GET", "/accounts/{acct}").status == 200
    logged = emulator.requests_for("account-get")
    assert [entry.status for entry in logged] == [0, 200]
    assert logged[0].fault == "reset on account-get"


def test_delay_slows_the_answer_down(client: Client, emulator: CloudflareEmulator) -> None:
    emulator.faults.add("account-subdomain-get", delay=1.0)  # well above a busy machine's call
    started = time.monotonic()
    answer = client.call("GET", "/accounts/{acct}/workers/subdomain")
    assert time.monotonic() - started >= 1.0
    assert answer.status == 200
    started = time.monotonic()
    client.call("GET", "/accounts/{acct}/workers/subdomain")
    assert time.monotonic() - started < 1.0


def test_lost_completion_is_recovered_with_a_new_session(client: Client, emulator: CloudflareEmulator) -> None:
    emulator.faults.add("assets-upload", lose_completion=True)
    name = unique()
    session = client.session(name, SITE)
    answers = client.upload_buckets(session, SITE)
    assert [a.status for a in answers] == [202, 202]  # the completing bucket lost its token
    assert all("jwt" not in a.result for a in answers)
    again = client.session(name, SITE)
    assert again.result["buckets"] == []
    assert client.put_script(name, metadata(again.result["jwt"])).status == 200
    uploaded = [h for entry in emulator.requests_for("assets-upload") for h in entry.hashes]
    assert len(uploaded) == len(SITE)  # nothing was uploaded twice


def test_fault_after_processing_loses_only_the_answer(client: Client, emulator: CloudflareEmulator) -> None:
    emulator.faults.add("script-put", status=502, after=True)
    name = unique()
    session = client.session(name, {"/a.txt": b"alpha"})
    token = client.upload_buckets(session, {"/a.txt": b"alpha"})[0].result["jwt"]
    assert client.put_script(name, metadata(token)).status == 502
    assert emulator.script(ACCOUNT, name) is not None  # it happened all the same
    assert client.put_script(name, metadata(token)).status == 200


def test_rate_based_faults_are_reproducible(emulator: CloudflareEmulator) -> None:
    client = Client(emulator)

    def run() -> list[int]:
        emulator.faults.clear()
        emulator.faults.seed(42)
        emulator.faults.add("any", status=503, rate=0.3, times=None)
        return [client.call("GET", "/accounts/{acct}").status for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 4 <= first.count(503) <= 20
    assert set(first) == {200, 503}


def test_fault_rules_are_validated() -> None:
    faults = FaultInjector()
    with pytest.raises(ValueError, match="needs status"):
        faults.add("any")
    with pytest.raises(ValueError, match="not both"):
        faults.add("any", status=500, reset=True)
    with pytest.raises(ValueError, match="rate"):
        faults.add("any", status=500, rate=1.5)
    with pytest.raises(ValueError, match="lose_completion"):
        faults.add("any", lose_completion=True, status=500)
    assert faults.on_request("script-put") is None
    faults.add("script-put", status=500, times=2)
    assert [faults.on_request("script-put") is not None for _ in range(3)] == [True, True, False]


def test_fault_routes_are_the_emulators_route_names(emulator: CloudflareEmulator) -> None:
    registered = frozenset(route.name for route in ROUTES) | {NO_ROUTE}
    assert registered == frozenset(ROUTE_NAMES)
    assert emulator.faults.routes == registered
    with pytest.raises(ValueError, match="unknown route 'upload'"):
        emulator.faults.add("upload", status=500)
    assert emulator.faults.add("any", status=500).route == "any"


def test_rate_limit_per_token() -> None:
    with CloudflareEmulator(rate_limit=3, rate_window=60) as emulator:
        emulator.add_account(ACCOUNT, name="A", subdomain=SUBDOMAIN)
        emulator.add_token(TOKEN, [ACCOUNT])
        client = Client(emulator)
        statuses = [client.call("GET", "/accounts/{acct}").status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.call("GET", "/accounts/{acct}")
        assert limited.codes == [971]
        assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_parallel_uploads_are_served_concurrently(client: Client, emulator: CloudflareEmulator) -> None:
    files = {f"/f{i}.txt": f"file number {i}".encode() for i in range(9)}
    session = client.session(unique(), files)
    assert len(session.result["buckets"]) == 3
    emulator.faults.add("assets-upload", delay=1.5, times=3)
    by_hash = {asset_hash(p, d): (p, d) for p, d in files.items()}

    def send(bucket: list[str]) -> CloudflareAnswer:
        parts = [(h, by_hash[h][1], "text/plain; charset=utf-8") for h in bucket]
        return Client(emulator).upload(session.result["jwt"], parts)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(send, session.result["buckets"]))
    assert time.monotonic() - started < 3.0  # three 1.5 s requests overlapped (in turn: 4.5 s)
    assert sorted(a.status for a in answers) == [201, 202, 202]  # storing and checking is atomic
    assert [a.result["jwt"] for a in answers if a.status == 201]


# -- site serving -----------------------------------------------------------------------------------

PAGES = {
    "/index.html": b"<p>home</p>",
    "/about.html": b"<p>about</p>",
    "/docs/index.html": b"<p>docs</p>",
    "/docs/guide.html": b"<p>guide</p>",
    "/blog/404.html": b"<p>blog 404</p>",
    "/404.html": b"<p>root 404</p>",
    "/a b.txt": b"spaced",
}


def _site(client: Client, config: dict[str, Any], files: dict[str, bytes] = PAGES) -> str:
    name = unique()
    client.deploy(name, files, config)
    return name


def _get(emulator: CloudflareEmulator, name: str, path: str) -> tuple[int, str | None, bytes]:
    answer = fetch(emulator, name, path)
    return answer.status, answer.headers.get("Location"), answer.data


def test_auto_trailing_slash(client: Client, emulator: CloudflareEmulator) -> None:
    name = _site(client, {"html_handling": "auto-trailing-slash"})
    assert _get(emulator, name, "/") == (200, None, b"<p>home</p>")
    assert _get(emulator, name, "/about") == (200, None, b"<p>about</p>")
    assert _get(emulator, name, "/about.html")[:2] == (307, "/about")
    assert _get(emulator, name, "/about.html?x=1")[:2] == (307, "/about?x=1")
    assert _get(emulator, name, "/about/")[:2] == (307, "/about")
    assert _get(emulator, name, "/docs")[:2] == (307, "/docs/")
    assert _get(emulator, name, "/docs/") == (200, None, b"<p>docs</p>")
    assert _get(emulator, name, "/docs/index.html")[:2] == (307, "/docs/")
    assert _get(emulator, name, "/index.html")[:2] == (307, "/")
    assert _get(emulator, name, "/docs/guide") == (200, None, b"<p>guide</p>")
    assert _get(emulator, name, "/a%20b.txt") == (200, None, b"spaced")
    assert _get(emulator, name, "/docs//guide")[:2] == (307, "/docs/guide")
    assert _get(emulator, name, "/nothing")[0] == 404


def test_force_and_drop_trailing_slash_and_none(client: Client, emulator: CloudflareEmulator) -> None:
    force = _site(client, {"html_handling": "force-trailing-slash"})
    assert _get(emulator, force, "/about")[:2] == (307, "/about/")
    assert _get(emulator, force, "/about/") == (200, None, b"<p>about</p>")
    assert _get(emulator, force, "/docs")[:2] == (307, "/docs/")
    drop = _site(client, {"html_handling": "drop-trailing-slash"})
    assert _get(emulator, drop, "/docs/")[:2] == (307, "/docs")
    assert _get(emulator, drop, "/docs") == (200, None, b"<p>docs</p>")
    assert _get(emulator, drop, "/") == (200, None, b"<p>home</p>")
    none = _site(client, {"html_handling": "none"})
    assert _get(emulator, none, "/about")[0] == 404
    assert _get(emulator, none, "/about.html") == (200, None, b"<p>about</p>")
    assert _get(emulator, none, "/")[0] == 404


def test_single_page_application_fallback(client: Client, emulator: CloudflareEmulator) -> None:
    name = _site(client, {"not_found_handling": "single-page-application"})
    assert _get(emulator, name, "/app/deep/route") == (200, None, b"<p>home</p>")
    assert _get(emulator, name, "/about") == (200, None, b"<p>about</p>")


def test_404_page_walks_up_the_directories(client: Client, emulator: CloudflareEmulator) -> None:
    name = _site(client, {"not_found_handling": "404-page"})
    assert _get(emulator, name, "/blog/2024/missing") == (404, None, b"<p>blog 404</p>")
    assert _get(emulator, name, "/missing") == (404, None, b"<p>root 404</p>")
    plain = _site(client, {"not_found_handling": "none"})
    assert _get(emulator, plain, "/missing") == (404, None, b"")


HEADERS = """# comment
/*
  X-Frame-Options: DENY
  X-Shared: one
/img/*
  ! X-Frame-Options
  Cache-Control: public, max-age=3600
/docs/:page
  X-Page: :page
  X-Shared: two
"""

REDIRECTS = """/old /about 301
/tmp /about
/blog/* /posts/:splat 308
/users/:id /profile?user=:id 307
/r/* /about 200
/* /index.html 200
https://elsewhere.example/x /y
/go https://example.com/landing
"""


def test_headers_and_redirects_rules(client: Client, emulator: CloudflareEmulator) -> None:
    files = {**PAGES, "/img/x.png": PNG}
    name = _site(client, {"_headers": HEADERS, "_redirects": REDIRECTS}, files)
    home = fetch(emulator, name, "/")
    assert home.headers["X-Frame-Options"] == "DENY"
    image = fetch(emulator, name, "/img/x.png")
    assert "X-Frame-Options" not in image.headers
    assert image.headers["Cache-Control"] == "public, max-age=3600"
    assert image.data == PNG
    guide = fetch(emulator, name, "/docs/guide")
    assert guide.headers["X-Page"] == "guide"
    assert guide.headers["X-Shared"] == "one, two"

    assert _get(emulator, name, "/old")[:2] == (301, "/about")
    assert _get(emulator, name, "/tmp")[:2] == (302, "/about")
    assert _get(emulator, name, "/blog/2024/post?q=1")[:2] == (308, "/posts/2024/post?q=1")
    assert _get(emulator, name, "/users/42")[:2] == (307, "/profile?user=42")
    assert _get(emulator, name, "/r/anything") == (200, None, b"<p>about</p>")
    assert _get(emulator, name, "/go")[:2] == (302, "https://example.com/landing")
    # the SPA-style rewrite loops through html_handling, so Cloudflare ignores it (and says why)
    assert _get(emulator, name, "/nowhere")[0] == 404
    state = emulator.script(ACCOUNT, name)
    assert state is not None
    assert any("infinite loop" in w for w in state.rule_warnings)
    assert any("only relative sources" in w for w in state.rule_warnings)


def test_redeploy_and_delete_change_what_is_served(client: Client, emulator: CloudflareEmulator) -> None:
    name = unique()
    client.deploy(name, {"/index.html": b"v1"})
    url = emulator.site_url(ACCOUNT, name)
    assert url is not None
    browser = urllib3.PoolManager(retries=False, timeout=10)  # keeps its connection open, as browsers do
    assert browser.request("GET", url).data == b"v1"
    client.deploy(name, {"/index.html": b"v2"})
    assert emulator.site_url(ACCOUNT, name) == url  # the port is stable across redeploys
    assert browser.request("GET", url).data == b"v2"
    deleted = client.call("DELETE", f"/accounts/{{acct}}/workers/scripts/{name}")
    assert deleted.status == 200
    assert emulator.site_url(ACCOUNT, name) is None
    assert emulator.script(ACCOUNT, name) is None
    with pytest.raises(urllib3.exceptions.HTTPError):
        browser.request("GET", url)
    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.PoolManager(retries=False, timeout=2).request("GET", url)
    again = client.call("DELETE", f"/accounts/{{acct}}/workers/scripts/{name}")
    assert again.status == 404
    assert again.codes == [10007]


def test_versions_and_deployments_activate_a_new_version(client: Client, emulator: CloudflareEmulator) -> None:
    name = unique()
    client.deploy(name, {"/index.html": b"v1"})
    session = client.session(name, {"/index.html": b"v2"})
    completion = client.upload_buckets(session, {"/index.html": b"v2"})[0].result["jwt"]
    body, multipart_type = urllib3.encode_multipart_formdata([("metadata", json.dumps(metadata(completion)))])
    version = client.call(
        "POST",
        f"/accounts/{{acct}}/workers/scripts/{name}/versions?bindings_inherit=strict",
        body=body,
        headers={"Content-Type": multipart_type},
    )
    assert version.status == 200
    assert _get(emulator, name, "/")[2] == b"v1"  # uploaded, not deployed yet
    deployment = client.call(
        "POST",
        f"/accounts/{{acct}}/workers/scripts/{name}/deployments",
        json_body={
            "strategy": "percentage",
            "versions": [{"version_id": version.result["id"], "percentage": 100}],
            "annotations": {},
        },
    )
    assert deployment.status == 200
    assert _get(emulator, name, "/")[2] == b"v2"
    listed = client.call("GET", f"/accounts/{{acct}}/workers/scripts/{name}/deployments").result["deployments"]
    assert listed[0]["versions"][0]["version_id"] == version.result["id"]
    assert len(listed) == 2
    unknown = client.call(
        "POST",
        f"/accounts/{{acct}}/workers/scripts/{name}/deployments",
        json_body={"versions": [{"version_id": str(uuid.uuid4()), "percentage": 100}]},
    )
    assert unknown.status == 400


def test_the_other_calls_wrangler_makes(client: Client) -> None:
    name = unique()
    assert client.call("GET", f"/accounts/{{acct}}/workers/scripts/{name}/deployments").codes == [10007]
    assert client.call("GET", f"/accounts/{{acct}}/workers/scripts/{name}/settings").codes == [10007]
    assert client.call("DELETE", f"/accounts/{{acct}}/workers/services/{name}?force=true").codes == [10090]
    client.deploy(name, {"/index.html": b"x"})
    service = client.call("GET", f"/accounts/{{acct}}/workers/services/{name}")
    assert service.result["id"] == name
    assert service.result["default_environment"]["environment"] == "production"
    assert service.result["default_environment"]["script"]["id"] == name
    patched = client.call(
        "PATCH",
        f"/accounts/{{acct}}/workers/scripts/{name}/script-settings",
        json_body={"observability": {"enabled": False}, "tags": []},
    )
    assert patched.result["observability"] == {"enabled": False}
    assert client.call("GET", f"/accounts/{{acct}}/workers/scripts/{name}/settings").status == 200
    assert client.call("GET", "/accounts/{acct}/storage/kv/namespaces?per_page=100").result == []
    references = client.call("GET", f"/accounts/{{acct}}/workers/scripts/{name}/references").result
    assert references["services"]["incoming"] == []
    assert client.call("GET", f"/accounts/{{acct}}/workers/tails/by-consumer/{name}").result == []
    listed = client.call("GET", "/accounts/{acct}/workers/scripts").result
    assert [s["id"] for s in listed] == [name]
    assert listed[0]["has_assets"] is True
    assert client.call("DELETE", f"/accounts/{{acct}}/workers/services/{name}?force=true").status == 200
    assert client.call("GET", f"/accounts/{{acct}}/workers/services/{name}").codes == [10090]


def test_request_log_counts_requests_and_bytes(client: Client, emulator: CloudflareEmulator) -> None:
    client.deploy(unique(), SITE)
    routes = [entry.route for entry in emulator.requests]
    assert routes == ["assets-upload-session", "assets-upload", "assets-upload", "script-put", "subdomain-post"]
    uploads = emulator.requests_for("assets-upload")
    assert sorted(h for entry in uploads for h in entry.hashes) == sorted(asset_hash(p, d) for p, d in SITE.items())
    assert sum(entry.bytes_in for entry in uploads) > sum(len(d) for d in SITE.values())  # base64 + multipart
    assert all(entry.path == f"/client/v4/accounts/{ACCOUNT}/workers/assets/upload" for entry in uploads)
    assert all(entry.account_id == ACCOUNT and entry.duration >= 0 for entry in emulator.requests)


def test_stop_frees_every_port() -> None:
    emulator = CloudflareEmulator()
    emulator.add_account(ACCOUNT, name="A", subdomain=SUBDOMAIN)
    emulator.add_token(TOKEN, [ACCOUNT])
    emulator.start()
    Client(emulator).deploy(name := unique(), {"/index.html": b"x"})
    site = emulator.site_url(ACCOUNT, name)
    api = emulator.api_base
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 2
    for url in (site, api + "/user/tokens/verify"):
        assert url is not None
        with pytest.raises(urllib3.exceptions.HTTPError):
            urllib3.request("GET", url, retries=False, timeout=2)


# -- the real client --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wrangler() -> str:
    """Cloudflare's own CLI."""
    return install_client("install-wrangler", "wrangler")


def test_real_wrangler_deploys_redeploys_and_deletes(
    wrangler: str, emulator: CloudflareEmulator, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "img").mkdir(parents=True)
    (site / "index.html").write_bytes(b"<!doctype html><h1>wrangler</h1>")
    (site / "about.html").write_bytes(b"<p>about</p>")
    (site / "style.css").write_bytes(b"h1 { color: teal }")
    (site / "img" / "logo.png").write_bytes(PNG)
    (site / "_headers").write_text("/*\n  X-From-Headers: yes\n")
    (site / "_redirects").write_text("/old /about 301\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CLOUDFLARE_API_BASE_URL": emulator.api_base,
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "WRANGLER_SEND_METRICS": "false",
        "WRANGLER_SEND_ERROR_REPORTS": "false",
        "WRANGLER_HIDE_BANNER": "true",
        "CI": "true",
        "NO_COLOR": "1",
    }
    name = unique("wrangler")

    def run(*args: str) -> str:
        done = subprocess.run(
            [wrangler, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    deploy = ["deploy", "--assets", "site", "--name", name, "--compatibility-date", "2025-06-01"]
    printed = run(*deploy)
    assert f"https://{name}.{SUBDOMAIN}.workers.dev" in printed
    state = emulator.script(ACCOUNT, name)
    assert state is not None
    assert set(state.manifest) == {"/index.html", "/about.html", "/style.css", "/img/logo.png"}
    assert state.config["_redirects"] == "/old /about 301\n"
    assert state.subdomain_enabled
    logo = fetch(emulator, name, "/img/logo.png")
    assert logo.data == PNG
    assert logo.headers["Content-Type"] == "image/png"
    assert logo.headers["X-From-Headers"] == "yes"
    assert fetch(emulator, name, "/style.css").headers["Content-Type"] == "text/css; charset=utf-8"
    assert _get(emulator, name, "/about") == (200, None, b"<p>about</p>")
    assert _get(emulator, name, "/old")[:2] == (301, "/about")
    first_upload = [h for entry in emulator.requests_for("assets-upload") for h in entry.hashes]
    assert len(first_upload) == 4

    emulator.requests.clear()
    (site / "style.css").write_bytes(b"h1 { color: crimson }")
    run(*deploy)
    uploaded = [h for entry in emulator.requests_for("assets-upload") for h in entry.hashes]
    assert len(uploaded) == 1
    assert uploaded[0] not in first_upload
    assert [e.route for e in emulator.requests if e.route in {"versions-create", "deployments-create"}] == [
        "versions-create",
        "deployments-create",
    ]
    assert fetch(emulator, name, "/style.css").data == b"h1 { color: crimson }"

    run("delete", "--name", name, "--force")
    assert emulator.script(ACCOUNT, name) is None
    assert emulator.site_url(ACCOUNT, name) is None
    assert emulator.requests_for("service-delete")[-1].status == 200


def test_real_wrangler_uploads_a_preview_version_deploys_it_and_rolls_back(
    wrangler: str, emulator: CloudflareEmulator, tmp_path: Path
) -> None:
    """``wrangler versions upload --preview-alias``, ``versions deploy`` and ``rollback`` against the
    emulator: the preview URLs wrangler prints serve the version while production does not change,
    and each deployment makes its version what production serves."""
    site = tmp_path / "site"
    site.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CLOUDFLARE_API_BASE_URL": emulator.api_base,
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "WRANGLER_SEND_METRICS": "false",
        "WRANGLER_SEND_ERROR_REPORTS": "false",
        "WRANGLER_HIDE_BANNER": "true",
        "CI": "true",
        "NO_COLOR": "1",
    }
    name = unique("wv")

    def run(*args: str) -> str:
        done = subprocess.run(
            [wrangler, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    common = ["--assets", "site", "--name", name, "--compatibility-date", "2025-06-01"]
    (site / "index.html").write_bytes(b"<h1>one</h1>")
    run("deploy", *common)
    first = emulator.script(ACCOUNT, name)
    assert first is not None
    one = first.active_version_id
    (site / "index.html").write_bytes(b"<h1>two</h1>")
    printed = run("versions", "upload", *common, "--preview-alias", "chat1", "--message", "a preview")
    script = emulator.script(ACCOUNT, name)
    assert script is not None
    two = script.versions[-1].id
    assert script.active_version_id == one  # uploading a version deploys nothing
    assert f"Version Preview URL: https://{two[:8]}-{name}.{SUBDOMAIN}.workers.dev" in printed
    alias_url = f"https://chat1-{name}.{SUBDOMAIN}.workers.dev"
    assert f"Version Preview Alias URL: {alias_url}" in printed
    preview = emulator.preview_url(alias_url)
    assert preview is not None
    assert urllib3.request("GET", preview, timeout=5).data == b"<h1>two</h1>"
    assert fetch(emulator, name, "/").data == b"<h1>one</h1>"

    run("versions", "deploy", f"{two}@100%", "--name", name, "--yes", "--message", "ship it")
    assert fetch(emulator, name, "/").data == b"<h1>two</h1>"
    run("rollback", one, "--name", name, "--yes", "--message", "back")
    assert fetch(emulator, name, "/").data == b"<h1>one</h1>"
    deployments = emulator.script(ACCOUNT, name)
    assert deployments is not None
    assert deployments.deployments[0]["annotations"].get("workers/message") == "back"


# -- custom domains: zones, Workers Custom Domains, Cloudflare for SaaS, KV ---------------------------


def _by_host(port: int | None, host: str) -> urllib3.BaseHTTPResponse:
    assert port is not None
    return urllib3.request("GET", f"http://127.0.0.1:{port}/", headers={"Host": host}, redirect=False, retries=False)


def _zone_name() -> str:
    return f"{unique('z')}.example"


def test_zones_are_found_by_name_for_the_tokens_accounts_only(client: Client, emulator: CloudflareEmulator) -> None:
    name = _zone_name()
    zone_id = emulator.add_zone(ACCOUNT, name, status="pending")
    assert emulator.add_zone(ACCOUNT, name) == zone_id  # restated, same id
    found = client.call("GET", "/zones", query=f"name={name}&account.id={ACCOUNT}")
    assert [(z["id"], z["name"], z["status"]) for z in found.result] == [(zone_id, name, "active")]
    assert found.result[0]["name_servers"]
    assert found.body["result_info"]["count"] == 1
    assert client.call("GET", "/zones", query=f"name=www.{name}&account.id={ACCOUNT}").result == []
    other = Client(emulator, OTHER_TOKEN, OTHER_ACCOUNT)
    assert other.call("GET", "/zones", query=f"name={name}").result == []
    assert other.call("GET", f"/zones/{zone_id}").status == 403
    assert client.call("GET", f"/zones/{zone_id}").result["name"] == name
    assert client.call("GET", "/zones/0000000000000000000000000000dead").status == 404


def test_a_workers_custom_domain_gets_its_record_and_certificate_then_serves(
    client: Client, emulator: CloudflareEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "certificate_seconds", 0.5)
    name = unique()
    client.deploy(name, {"/index.html": b"<h1>custom</h1>"})
    zone = _zone_name()
    zone_id = emulator.add_zone(ACCOUNT, zone)
    hostname = f"www.{zone}"
    body = {"hostname": hostname, "service": name, "zone_id": zone_id, "environment": "production"}
    assert client.call("POST", "/accounts/{acct}/workers/domains", json_body=body).status == 405
    attached = client.call("PUT", "/accounts/{acct}/workers/domains", json_body=body)
    assert attached.status == 200, attached.body
    domain = attached.result
    assert {k: domain[k] for k in ("hostname", "service", "zone_id", "zone_name")} == {
        "hostname": hostname, "service": name, "zone_id": zone_id, "zone_name": zone}  # fmt: skip
    assert uuid.UUID(domain["cert_id"])
    again = client.call("PUT", "/accounts/{acct}/workers/domains", json_body={"hostname": hostname, "service": name})
    assert again.result["id"] == domain["id"]  # the zone found from the hostname; the same attachment

    records = client.call("GET", f"/zones/{zone_id}/dns_records", query=f"name={hostname}").result
    assert [(r["type"], r["content"], r["proxied"], r["locked"]) for r in records] == [("AAAA", "100::", True, True)]
    assert client.call("GET", f"/zones/{zone_id}/ssl/certificate_packs").result == []  # active ones only
    packs = client.call("GET", f"/zones/{zone_id}/ssl/certificate_packs", query="status=all").result
    assert [(p["id"], p["hosts"], p["status"]) for p in packs] == [
        (domain["cert_id"], [hostname], "pending_validation")
    ]
    assert _by_host(emulator.domains_port, hostname).status == 404  # no certificate yet
    time.sleep(0.6)
    assert client.call("GET", f"/zones/{zone_id}/ssl/certificate_packs").result[0]["status"] == "active"
    served = _by_host(emulator.domains_port, hostname)
    assert (served.status, served.data) == (200, b"<h1>custom</h1>")

    listed = client.call("GET", "/accounts/{acct}/workers/domains", query=f"hostname={hostname}").result
    assert [d["id"] for d in listed] == [domain["id"]]
    assert client.call("GET", "/accounts/{acct}/workers/domains", query="service=nobody").result == []
    assert client.call("GET", f"/accounts/{{acct}}/workers/domains/{domain['id']}").result == domain
    assert client.call("DELETE", f"/accounts/{{acct}}/workers/domains/{domain['id']}").status == 200
    assert client.call("DELETE", f"/accounts/{{acct}}/workers/domains/{domain['id']}").status == 404
    assert _by_host(emulator.domains_port, hostname).status == 404
    assert client.call("GET", f"/zones/{zone_id}/dns_records", query=f"name={hostname}").result == []
    assert client.call("GET", f"/zones/{zone_id}/ssl/certificate_packs", query="status=all").result == []


def test_a_workers_custom_domain_is_refused_as_cloudflare_refuses_it(
    client: Client, emulator: CloudflareEmulator
) -> None:
    first, second = unique(), unique()
    client.deploy(first, {"/index.html": b"1"})
    client.deploy(second, {"/index.html": b"2"})
    zone = _zone_name()
    zone_id = emulator.add_zone(ACCOUNT, zone)

    def put(hostname: str, service: str, **extra: Any) -> CloudflareAnswer:
        body = {"hostname": hostname, "service": service, **extra}
        return client.call("PUT", "/accounts/{acct}/workers/domains", json_body=body)

    assert put(f"www.{_zone_name()}", first).codes == [10083]  # no zone of the account holds it
    assert put(f"www.{zone}", "no-such-worker").codes == [10090]
    assert put(f"*.{zone}", first).status == 400
    pending = _zone_name()
    emulator.add_zone(ACCOUNT, pending, status="pending")
    refused = put(f"www.{pending}", first)
    assert (refused.status, "pending" in refused.message) == (400, True)
    assert put(f"www.{zone}", first).status == 200
    taken = put(f"www.{zone}", second)
    assert (taken.status, taken.codes) == (409, [100116])
    assert put(f"www.{zone}", second, override_existing_origin=True).result["service"] == second
    external = client.call(
        "POST", f"/zones/{zone_id}/dns_records", json_body={"type": "CNAME", "name": "shop", "content": "x.example"}
    )
    assert external.result["name"] == f"shop.{zone}"
    blocked = put(f"shop.{zone}", first)
    assert (blocked.status, blocked.codes) == (409, [100117])
    other_zone = Client(emulator, OTHER_TOKEN, OTHER_ACCOUNT)
    assert other_zone.call("GET", f"/zones/{zone_id}/ssl/certificate_packs").status == 403
    client.call("DELETE", f"/accounts/{{acct}}/workers/scripts/{second}")
    assert emulator.workers_domains(ACCOUNT) == {}  # a deleted Worker's domains go with it


def _saas_zone(client: Client, emulator: CloudflareEmulator) -> tuple[str, str]:
    zone = _zone_name()
    zone_id = emulator.add_zone(ACCOUNT, zone)
    record = {"type": "AAAA", "name": f"fallback.{zone}", "content": "100::", "proxied": True}
    assert client.call("POST", f"/zones/{zone_id}/dns_records", json_body=record).status == 200
    return zone, zone_id


def test_a_custom_hostname_validates_with_its_records_and_its_certificate_is_issued(
    client: Client, emulator: CloudflareEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "certificate_seconds", 0.3)
    monkeypatch.setattr(emulator, "fallback_seconds", 0.0)
    zone, zone_id = _saas_zone(client, emulator)
    hostnames = f"/zones/{zone_id}/custom_hostnames"
    assert client.call("GET", f"{hostnames}/fallback_origin").status == 404
    unproxied = client.call("PUT", f"{hostnames}/fallback_origin", json_body={"origin": f"nothing.{zone}"})
    assert unproxied.status == 400
    hostname = f"app.{unique('c')}.example"
    created = client.call("POST", hostnames, json_body={"hostname": hostname, "ssl": {"method": "txt", "type": "dv"}})
    assert created.status == 201, created.body
    view = created.result
    assert view["status"] == "pending"
    assert view["verification_errors"] == ["Zone does not have a fallback origin set."]
    assert view["ssl"]["status"] == "initializing"
    assert "validation_records" not in view["ssl"]  # they come with a later read
    assert view["ownership_verification"]["name"] == f"_cf-custom-hostname.{hostname}"
    fallback = client.call("PUT", f"{hostnames}/fallback_origin", json_body={"origin": f"fallback.{zone}"})
    assert fallback.result["origin"] == f"fallback.{zone}"
    read = client.call("GET", f"{hostnames}/{view['id']}").result
    assert read["verification_errors"] == ["custom hostname does not CNAME to this zone."]
    assert read["ssl"]["status"] == "pending_validation"
    [acme] = read["ssl"]["validation_records"]
    assert acme["txt_name"] == f"_acme-challenge.{hostname}"

    emulator.dns.add(view["ownership_verification"]["name"], "TXT", view["ownership_verification"]["value"])
    emulator.dns.add(acme["txt_name"], "TXT", acme["txt_value"])
    read = client.call("GET", hostnames, query=f"hostname={hostname}").result[0]
    assert (read["status"], read["ssl"]["status"]) == ("active", "pending_issuance")
    assert "verification_errors" not in read
    time.sleep(0.4)
    assert client.call("GET", f"{hostnames}/{view['id']}").result["ssl"]["status"] == "active"
    assert emulator.custom_hostname(hostname) is not None

    duplicate = client.call("POST", hostnames, json_body={"hostname": hostname, "ssl": {"method": "txt", "type": "dv"}})
    assert (duplicate.status, duplicate.codes) == (409, [1406])
    assert client.call("POST", hostnames, json_body={"hostname": "x.example.org"}).codes == [1440]
    metadata = {"hostname": "y.example.org", "ssl": {"method": "txt", "type": "dv"}, "custom_metadata": {"a": "b"}}
    assert client.call("POST", hostnames, json_body=metadata).codes == [1413]
    apex = {"hostname": zone, "ssl": {"method": "txt", "type": "dv"}}
    assert client.call("POST", hostnames, json_body=apex).codes == [1407]  # the zone's own name
    assert client.call("GET", hostnames, query=f"hostname={hostname}&id={view['id']}").codes == [1438]
    assert client.call("DELETE", f"{hostnames}/{view['id']}").result == {"id": view["id"]}
    assert client.call("GET", f"{hostnames}/{view['id']}").codes == [1436]
    assert emulator.custom_hostname(hostname) is None


def test_a_custom_hostname_never_validated_is_moved(
    client: Client, emulator: CloudflareEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "hostname_validation_seconds", 0.2)
    _, zone_id = _saas_zone(client, emulator)
    body = {"hostname": f"late.{unique('c')}.example", "ssl": {"method": "txt", "type": "dv"}}
    made = client.call("POST", f"/zones/{zone_id}/custom_hostnames", json_body=body).result
    time.sleep(0.3)
    read = client.call("GET", f"/zones/{zone_id}/custom_hostnames/{made['id']}").result
    assert read["status"] == "moved"
    assert read["verification_errors"]


def test_kv_values_and_a_dispatchers_kv_binding(client: Client, emulator: CloudflareEmulator) -> None:
    title = unique("hosts")
    made = client.call("POST", "/accounts/{acct}/storage/kv/namespaces", json_body={"title": title})
    assert made.status == 200
    assert client.call("POST", "/accounts/{acct}/storage/kv/namespaces", json_body={"title": title}).status == 400
    kv = made.result["id"]
    assert [n["title"] for n in client.call("GET", "/accounts/{acct}/storage/kv/namespaces").result] == [title]
    put = client.call("PUT", f"/accounts/{{acct}}/storage/kv/namespaces/{kv}/values/www.a.example", body=b"sd-site")
    assert put.status == 200
    assert emulator.kv_value(kv, "www.a.example") == b"sd-site"
    assert client.call("DELETE", f"/accounts/{{acct}}/storage/kv/namespaces/{kv}/values/www.a.example").status == 200
    assert emulator.kv_value(kv, "www.a.example") is None
    assert (
        Client(emulator, OTHER_TOKEN, OTHER_ACCOUNT)
        .call("PUT", f"/accounts/{{acct}}/storage/kv/namespaces/{kv}/values/k", body=b"v")
        .status
        == 404
    )  # another account's namespace

    namespace = unique("ns")
    client.call("POST", "/accounts/{acct}/workers/dispatch/namespaces", json_body={"name": namespace})
    bindings = [
        {"type": "dispatch_namespace", "name": "DISPATCHER", "namespace": namespace},
        {"type": "plain_text", "name": "DOMAIN", "text": "sites.example"},
        {"type": "kv_namespace", "name": "HOSTS", "namespace_id": "0" * 32},
    ]

    def dispatcher(bound: list[dict[str, str]]) -> CloudflareAnswer:
        meta = {"main_module": "d.mjs", "compatibility_date": "2025-06-01", "bindings": bound}
        body, multipart_type = urllib3.encode_multipart_formdata(
            {"metadata": json.dumps(meta), "d.mjs": ("d.mjs", "export default {}", "application/javascript+module")}
        )
        return client.call(
            "PUT", "/accounts/{acct}/workers/scripts/disp", body=body, headers={"Content-Type": multipart_type}
        )

    assert dispatcher(bindings).codes == [10041]  # no such KV namespace
    assert emulator.script(ACCOUNT, "disp") is None
    bindings[2]["namespace_id"] = kv
    assert dispatcher(bindings).status == 200
    settings = client.call("GET", "/accounts/{acct}/workers/scripts/disp/settings").result
    assert settings["bindings"] == bindings
