"""The deploy command without the stack: uploads against a scripted S3 stand-in on loopback, the
steps against a fake API, the JSON shape, and the command line."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import webbrowser
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sitedeploy_cli import main as main_module
from sitedeploy_cli.client import ApiClient, ApiError
from sitedeploy_cli.config import ClientConfig
from sitedeploy_cli.deploy import DeployError, Deployment, DeployOptions, default_project
from sitedeploy_cli.files import HashedFile, hash_files, walk
from sitedeploy_cli.progress import Progress
from sitedeploy_cli.uploads import (
    BlobUploader,
    PackMember,
    PresignedPack,
    PresignedUpload,
    UploadError,
    UploadPlan,
    plan_uploads,
)

# -- a scripted S3 stand-in -------------------------------------------------------------------------


class Blobs(ThreadingHTTPServer):
    """Takes PUT /<sha256>; ``script`` lists statuses to answer before accepting (or "reset")."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _BlobHandler)
        self.stored: dict[str, bytes] = {}
        self.headers_seen: list[dict[str, str]] = []
        self.script: list[int | str] = []
        self.attempts = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _BlobHandler(BaseHTTPRequestHandler):
    server: Blobs

    def log_message(self, *_: Any) -> None:
        pass

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if len(body) != int(self.headers["Content-Length"]):  # the client gave up mid-body
            self.close_connection = True
            return
        with self.server.lock:
            self.server.attempts += 1
            self.server.headers_seen.append(dict(self.headers))
            action = self.server.script.pop(0) if self.server.script else 200
        if action == "reset":
            self.connection.close()
            return
        if action != 200:
            self._answer(int(action), b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>")
            return
        if self.path.startswith("/packs/"):  # a pack's bytes are not checksum-bound
            self.server.stored[self.path] = body
            self._answer(200, b"")
            return
        sha = self.path.strip("/")
        if hashlib.sha256(body).hexdigest() != sha:
            self._answer(400, b"<Error><Code>BadDigest</Code><Message>checksum</Message></Error>")
            return
        self.server.stored[sha] = body
        self._answer(200, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def s3() -> Iterator[Blobs]:
    server = Blobs()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _site(root: Path, files: dict[str, bytes]) -> list[HashedFile]:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return hash_files(walk(root))


def _presigned(s3: Blobs, f: HashedFile) -> PresignedUpload:
    return PresignedUpload(f.sha256, f.size, f"{s3.url}/{f.sha256}", {"Content-Length": str(f.size), "x-amz-x": "1"})


def _uploader(**kwargs: Any) -> BlobUploader:
    return BlobUploader(backoff=0.01, **kwargs)


# -- uploads ----------------------------------------------------------------------------------------


def test_uploads_send_the_exact_bytes_with_the_signed_headers(s3: Blobs, tmp_path: Path) -> None:
    hashed = _site(tmp_path, {"a.bin": os.urandom(600_000), "b.txt": b"hello", "empty": b"", "same.bin": b"hello"})
    distinct = {f.sha256: f for f in hashed}
    plan = UploadPlan([_presigned(s3, f) for f in distinct.values()], already_staged=0)
    sent: list[int] = []
    lock = threading.Lock()

    def count(n: int) -> None:
        with lock:
            sent.append(n)

    assert _uploader().upload_all(plan, hashed, count) == (3, 600_005)
    assert s3.stored == {f.sha256: (tmp_path / f.path).read_bytes() for f in distinct.values()}
    assert sum(sent) == 600_005
    assert all(h["x-amz-x"] == "1" for h in s3.headers_seen)
    assert all("Transfer-Encoding" not in h for h in s3.headers_seen)


@pytest.mark.parametrize("failure", [503, 429, 500, "reset"])
def test_uploads_retry_and_read_the_file_again(s3: Blobs, tmp_path: Path, failure: int | str) -> None:
    [f] = _site(tmp_path, {"a.bin": os.urandom(300_000)})
    s3.script = [failure, failure]
    sent: list[int] = []
    retries: list[str] = []
    _uploader(on_retry=retries.append).upload(_presigned(s3, f), f, sent.append)
    assert s3.stored[f.sha256] == (tmp_path / "a.bin").read_bytes()
    assert s3.attempts == 3
    assert sum(sent) == 300_000  # failed attempts are taken back from the progress
    assert len(retries) == 2
    assert "a.bin" in retries[0]


def test_uploads_give_up_after_the_last_attempt_naming_the_file(s3: Blobs, tmp_path: Path) -> None:
    [f] = _site(tmp_path, {"assets/app.js": b"x" * 100})
    s3.script = [503] * 10
    with pytest.raises(UploadError, match=r"assets/app\.js.*HTTP 503.*SlowDown"):
        _uploader(attempts=3).upload(_presigned(s3, f), f, lambda _: None)
    assert s3.attempts == 3


def test_a_refused_upload_is_not_retried(s3: Blobs, tmp_path: Path) -> None:
    [f] = _site(tmp_path, {"a.txt": b"abc"})
    s3.script = [403]
    with pytest.raises(UploadError, match="HTTP 403"):
        _uploader().upload(_presigned(s3, f), f, lambda _: None)
    assert s3.attempts == 1


def test_a_file_changed_since_hashing_is_reported(s3: Blobs, tmp_path: Path) -> None:
    [f] = _site(tmp_path, {"a.txt": b"abc"})
    (tmp_path / "a.txt").write_bytes(b"abd")  # same size, other bytes: S3's checksum refuses them
    with pytest.raises(UploadError, match="changed while it was being deployed"):
        _uploader().upload(_presigned(s3, f), f, lambda _: None)
    (tmp_path / "a.txt").write_bytes(b"a")  # shorter: caught before sending a short body
    with pytest.raises(UploadError, match="changed while it was being deployed"):
        _uploader().upload(_presigned(s3, f), f, lambda _: None)
    (tmp_path / "a.txt").write_bytes(b"abc and more")  # longer: only the signed length is sent
    s3.stored.clear()
    _uploader().upload(_presigned(s3, f), f, lambda _: None)
    assert s3.stored[f.sha256] == b"abc"


def _pack(s3: Blobs, files: list[HashedFile]) -> PresignedPack:
    members, offset = [], 0
    for f in files:
        members.append(PackMember(f.sha256, f.size, offset))
        offset += f.size
    return PresignedPack("p" * 32, offset, f"{s3.url}/packs/p", {"Content-Length": str(offset)}, tuple(members))


def test_a_pack_sends_its_members_back_to_back_and_a_retry_reads_them_again(s3: Blobs, tmp_path: Path) -> None:
    files = {"a.css": b"a" * 70_000, "b.js": os.urandom(300_000), "empty.txt": b"", "c.html": b"<p>c</p>"}
    hashed = _site(tmp_path, files)
    pack = _pack(s3, hashed)
    s3.script = ["reset", 503]
    sent: list[int] = []
    retries: list[str] = []
    plan = UploadPlan([], already_staged=0, packs=[pack])
    assert _uploader(on_retry=retries.append).upload_all(plan, hashed, sent.append) == (4, pack.size)
    assert s3.stored["/packs/p"] == b"".join((tmp_path / f.path).read_bytes() for f in hashed)
    assert s3.attempts == 3
    assert sum(sent) == pack.size  # failed attempts are taken back from the progress
    assert len(retries) == 2
    assert "one upload" in retries[0]


def test_a_pack_member_that_changed_or_vanished_is_named(s3: Blobs, tmp_path: Path) -> None:
    hashed = _site(tmp_path, {"a.txt": b"a" * 10, "b.txt": b"b" * 10, "c.txt": b"c" * 10})
    pack = _pack(s3, hashed)
    (tmp_path / "b.txt").write_bytes(b"b")  # shorter than hashed
    with pytest.raises(UploadError, match=r"b\.txt: the file changed while it was being deployed"):
        _uploader().upload_pack(pack, {f.sha256: f for f in hashed}, lambda _: None)
    (tmp_path / "c.txt").unlink()
    (tmp_path / "b.txt").write_bytes(b"b" * 10)
    before = s3.attempts
    with pytest.raises(UploadError, match=r"c\.txt: cannot read the file"):
        _uploader().upload_pack(pack, {f.sha256: f for f in hashed}, lambda _: None)
    assert s3.attempts - before <= 1  # a read error is not a network error: not retried


def test_a_malformed_pack_in_the_answer_is_refused_clearly(tmp_path: Path) -> None:
    hashed = _site(tmp_path, {"a.txt": b"abc", "b.txt": b"de"})
    bad = {
        "id": "p" * 32,
        "size": 5,
        "url": "http://127.0.0.1:9/x",
        "headers": {},
        "members": [
            {"sha256": hashed[0].sha256, "size": 3, "offset": 0},
            {"sha256": hashed[1].sha256, "size": 2, "offset": 4},
        ],
    }

    class Answers:
        def request(self, *_: Any, **__: Any) -> dict[str, Any]:
            return {"uploads": [], "packs": [bad], "receipt": "0" * 32}

    with pytest.raises(UploadError, match="pack this client cannot use"):
        plan_uploads(Answers(), hashed)  # type: ignore[arg-type]


def test_unreachable_storage_names_the_file(tmp_path: Path) -> None:
    [f] = _site(tmp_path, {"a.txt": b"abc"})
    upload = PresignedUpload(f.sha256, f.size, "http://127.0.0.1:9/x", {"Content-Length": "3"})
    with pytest.raises(UploadError, match=r"a\.txt: the upload failed \(2 attempts"):
        _uploader(attempts=2).upload(upload, f, lambda _: None)


# -- the steps against a fake API -------------------------------------------------------------------


class FakeApi(ApiClient):
    """Answers like the server: /uploads lists what is not in ``s3``, deploys go to ``statuses``."""

    def __init__(self, s3: Blobs, statuses: list[dict[str, Any]] | None = None) -> None:
        super().__init__(ClientConfig("http://api.invalid", "t", local=False))
        self.s3 = s3
        self.calls: list[tuple[str, str, Any]] = []
        self.statuses = statuses or [{"status": "uploading", "progress": 40}, {"status": "ready", "progress": 100}]
        self.lose_once = False
        self.in_progress = 0
        self.headers: list[dict[str, str]] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        fields: Any = None,
        body: Any = None,
        headers: Any = None,
        idempotent: Any = None,
    ) -> Any:
        self.calls.append((method, path, body))
        self.headers.append(dict(headers or {}))
        if self.in_progress:
            self.in_progress -= 1
            raise ApiError(409, "still processing", "idempotency_in_progress")
        if path == "/uploads":
            sizes = {f["sha256"]: f["size"] for f in body["files"]}
            missing = [s for s in sorted(sizes) if s not in self.s3.stored]
            uploads = [
                {
                    "sha256": s,
                    "size": sizes[s],
                    "url": f"{self.s3.url}/{s}",
                    "headers": {"Content-Length": str(sizes[s])},
                }
                for s in missing
            ]
            return {"uploads": uploads, "expiresAt": "2030-01-01T00:00:00Z", "alreadyStaged": len(sizes) - len(missing)}
        if method == "POST" and path.startswith("/deployments/"):
            if self.lose_once:
                self.lose_once = False
                lost = sorted(set(body["manifest"].values()))[:1]
                self.s3.stored.pop(lost[0], None)
            missing = sorted({s for s in body["manifest"].values() if s not in self.s3.stored})
            if missing:
                raise ApiError(409, "not staged", "blobs_missing", {"missing": missing, "code": "blobs_missing"})
            return {"success": True, "deploymentId": "dpl_1", "status": "pending", "url": "https://x", "siteId": "s"}
        if method == "GET" and path == "/deployments/dpl_1":
            answer = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return {"deploymentId": "dpl_1", "url": "https://x", "localUrl": "http://127.0.0.1:1/", **answer}
        raise AssertionError(f"unexpected {method} {path}")


def _deployment(api: FakeApi, root: Path, **options: Any) -> Deployment:
    uploader = BlobUploader(backoff=0.01)
    chosen = DeployOptions(root, poll_interval=0, **options)
    return Deployment(api, chosen, Progress(None), uploader=uploader, sleep=lambda _: None)


def test_deploy_hashes_stages_creates_and_follows(s3: Blobs, tmp_path: Path) -> None:
    root = tmp_path / "my-app" / "dist"
    _site(root, {"index.html": b"<h1>", "a.js": b"1", "copy.js": b"1", "_redirects": b"/a /b 301"})
    api = FakeApi(s3)
    result = _deployment(api, root, spa=True, chat_id="c1").run()
    assert result.status == "ready"
    assert (result.files, result.total_bytes, result.uploaded_files, result.uploaded_bytes) == (4, 15, 3, 14)
    created = next(body for method, path, body in api.calls if path == "/deployments/cloudflare")
    sent = {"_redirects": b"/a /b 301", "a.js": b"1", "copy.js": b"1", "index.html": b"<h1>"}
    assert created == {
        "manifest": {p: hashlib.sha256(d).hexdigest() for p, d in sent.items()},
        "projectName": "my-app",
        "authMode": "platform-managed",
        "spa": True,
        "chatId": "c1",
    }
    again = _deployment(FakeApi(s3), root).run()
    assert (again.uploaded_files, again.uploaded_bytes, again.already_staged) == (0, 0, 3)


def test_polls_start_quick_stay_quick_at_first_and_quicken_when_the_status_moves(s3: Blobs, tmp_path: Path) -> None:
    _site(tmp_path / "site", {"index.html": b"x"})
    statuses = [{"status": "pending", "progress": 0}] * 6 + [{"status": "uploading", "progress": 40}] * 3
    api = FakeApi(s3, [*statuses, {"status": "ready", "progress": 100}])
    slept: list[float] = []
    options = DeployOptions(tmp_path / "site", poll_interval=2.0)
    Deployment(api, options, Progress(None), uploader=BlobUploader(backoff=0.01), sleep=slept.append).run()
    assert slept == pytest.approx([0.1, 0.15, 0.225, 0.25, 0.25, 0.25, 0.1, 0.15, 0.225])


def test_optional_fields_are_not_sent(s3: Blobs, tmp_path: Path) -> None:
    _site(tmp_path / "site", {"index.html": b"x"})
    api = FakeApi(s3)
    _deployment(api, tmp_path / "site", wait=False, platform="amplify", project="named").run()
    body = next(body for method, path, body in api.calls if path == "/deployments/amplify")
    assert set(body) == {"manifest", "projectName", "authMode"}
    assert body["projectName"] == "named"
    assert not [c for c in api.calls if c[0] == "GET"]  # --no-wait


def test_missing_blobs_are_uploaded_again_once(s3: Blobs, tmp_path: Path) -> None:
    _site(tmp_path / "site", {"index.html": b"x", "b.txt": b"yy"})
    api = FakeApi(s3)
    api.lose_once = True
    result = _deployment(api, tmp_path / "site").run()
    assert result.status == "ready"
    assert result.uploaded_files == 3  # two, then the lost one again
    posts = [i for i, (_, p, _) in enumerate(api.calls) if p == "/deployments/cloudflare"]
    assert len(posts) == 2
    keys = {api.headers[i]["Idempotency-Key"] for i in posts}
    assert len(keys) == 1  # the first attempt failed, so the same key asks again


def test_a_deploy_the_server_is_still_creating_is_waited_for(s3: Blobs, tmp_path: Path) -> None:
    _site(tmp_path / "site", {"index.html": b"x"})
    api = FakeApi(s3)
    run = _deployment(api, tmp_path / "site", wait=False)
    hashed = run.hash_folder()
    run.stage(hashed)
    api.in_progress = 2
    run.create(hashed)
    assert run.result.deployment_id == "dpl_1"
    api.in_progress = 10
    with pytest.raises(ApiError, match="still processing"):
        run.create(hashed)


def test_missing_blobs_twice_gives_up_clearly(s3: Blobs, tmp_path: Path) -> None:
    _site(tmp_path / "site", {"index.html": b"x"})
    api = FakeApi(s3)
    real = api.request

    def forgetful(method: str, path: str, **kwargs: Any) -> Any:
        if path == "/deployments/cloudflare":
            s3.stored.clear()
        return real(method, path, **kwargs)

    api.request = forgetful  # type: ignore[method-assign]
    with pytest.raises(
        DeployError, match=r"still misses 1 uploaded file\(s\) \(e\.g\. index\.html\) after they were staged again"
    ) as caught:
        _deployment(api, tmp_path / "site").run()
    assert caught.value.code == "blobs_missing"


def test_a_deployment_that_ends_in_error_raises_with_its_reason(s3: Blobs, tmp_path: Path) -> None:
    _site(tmp_path / "site", {"index.html": b"x"})
    api = FakeApi(s3, statuses=[{"status": "error", "error": "Cloudflare said no", "progress": 40}])
    run = _deployment(api, tmp_path / "site")
    with pytest.raises(DeployError, match="dpl_1 failed: Cloudflare said no"):
        run.run()
    assert run.result.status == "error"


def test_waiting_gives_up_after_the_timeout(s3: Blobs, tmp_path: Path) -> None:
    _site(tmp_path / "site", {"index.html": b"x"})
    api = FakeApi(s3, statuses=[{"status": "building", "progress": 50}])
    with pytest.raises(DeployError, match="still building after 0s; follow it with `sitedeploy status dpl_1`"):
        _deployment(api, tmp_path / "site", timeout=0).run()


def test_uploads_are_asked_in_batches(s3: Blobs, tmp_path: Path) -> None:
    hashed = _site(tmp_path, {f"f{i}.txt": str(i % 4).encode() for i in range(10)})
    api = FakeApi(s3)
    plan = plan_uploads(api, hashed, batch_files=3)
    assert [p for _, p, _ in api.calls] == ["/uploads"] * 4
    assert len(plan.uploads) == 4  # one per distinct content, however many batches named it
    assert plan.already_staged == 0


def test_json_shape(s3: Blobs, tmp_path: Path) -> None:
    _site(tmp_path / "site", {"index.html": b"x"})
    result = _deployment(FakeApi(s3), tmp_path / "site").run()
    shown = result.as_json()
    assert {
        "deploymentId",
        "status",
        "url",
        "localUrl",
        "files",
        "totalBytes",
        "uploadedFiles",
        "uploadedBytes",
    } <= set(shown)
    assert shown["deploymentId"] == "dpl_1"
    assert shown["localUrl"] == "http://127.0.0.1:1/"
    assert json.loads(json.dumps(shown)) == shown


@pytest.mark.parametrize(
    ("folder", "project"), [("my-app/dist", "my-app"), ("my-app/Build", "my-app"), ("landing", "landing")]
)
def test_default_project(tmp_path: Path, folder: str, project: str) -> None:
    assert default_project(tmp_path / folder) == project


# -- the command line -------------------------------------------------------------------------------


def test_json_flag_before_or_after_the_command() -> None:
    parser = main_module.build_parser()
    assert parser.parse_args(["--json", "deploy", "d"]).json is True
    assert parser.parse_args(["deploy", "d", "--json"]).json is True
    assert parser.parse_args(["deploy", "d"]).json is False
    after = parser.parse_args(["deploy", "d", "--api", "http://a", "--token", "t"])
    assert (after.api, after.token) == ("http://a", "t")
    defaults = parser.parse_args(["deploy", "d"])
    assert (defaults.platform, defaults.mode, defaults.spa, defaults.wait) == (
        "cloudflare",
        "platform-managed",
        None,
        True,
    )
    flags = parser.parse_args(["deploy", "d", "--no-spa", "--no-wait", "--platform", "amplify"])
    assert (flags.spa, flags.wait, flags.platform) == (False, False, "amplify")


def test_missing_folder_is_one_line_and_one_json_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITEDEPLOY_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SITEDEPLOY_TOKEN", "t")
    assert main_module.main(["deploy", str(tmp_path / "nope"), "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": f"{tmp_path / 'nope'}: no such folder", "code": "bad_folder"}
    assert err.strip() == f"sitedeploy: {tmp_path / 'nope'}: no such folder"


def test_open_prints_the_local_url_and_does_not_start_a_browser_off_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[str] = []

    def fake_open(url: str) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    monkeypatch.setattr(
        ApiClient,
        "request",
        lambda self, method, path, **_: {
            "deploymentId": "dpl_1",
            "status": "ready",
            "url": "https://x",
            "localUrl": "http://l/",
        },
    )
    monkeypatch.setenv("SITEDEPLOY_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SITEDEPLOY_TOKEN", "t")
    monkeypatch.setattr("sys.stdout", io.StringIO())  # not a terminal
    assert main_module.main(["open", "dpl_1"]) == 0
    assert opened == []
    assert main_module.main(["open", "dpl_1", "--browser"]) == 0
    assert opened == ["http://l/"]
    capsys.readouterr()


def _as_from_a_terminal() -> None:
    """Ctrl-C as a shell's child gets it: SIGINT neither ignored nor blocked, whatever the test
    runner's process does with it (a child inherits both, and Python then never raises
    KeyboardInterrupt: once in CI the CLI sat out the 20 s without a word)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child is POSIX")
def test_ctrl_c_exits_130_at_once_without_a_traceback(tmp_path: Path) -> None:
    """The API never answers: a worker thread sits in a socket read when Ctrl-C arrives."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    _site(tmp_path / "site", {"index.html": b"x"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITEDEPLOY_")}
    env |= {"SITEDEPLOY_API_URL": f"http://127.0.0.1:{listener.getsockname()[1]}", "SITEDEPLOY_TOKEN": "t"}
    env["PYTHONFAULTHANDLER"] = "1"
    child = subprocess.Popen(
        [sys.executable, "-m", "sitedeploy_cli", "deploy", str(tmp_path / "site")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_as_from_a_terminal,  # noqa: PLW1509  # no threads of the child's to deadlock
    )
    try:
        listener.settimeout(20)
        connection, _ = listener.accept()  # the /uploads request is on its way
        time.sleep(0.3)
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        try:
            out, err = child.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack to stderr
            _, stacks = child.communicate(timeout=10)
            pytest.fail(f"the CLI did not exit within 20 s of SIGINT; its threads:\n{stacks}")
        assert time.monotonic() - started < 5
    finally:
        child.kill()
        listener.close()
    connection.close()
    assert child.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err
    assert out == ""
