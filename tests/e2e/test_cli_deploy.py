"""``sitedeploy deploy`` as a person runs it — a real subprocess — against the local stack: hashing,
/uploads, presigned PUTs to S3, deploy by manifest, the publisher, and the served bytes read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import urllib3

from sitedeploy_local.ports import free_port
from sitedeploy_local.stack import LocalStack
from tests.helpers import write_folder

pytestmark = pytest.mark.e2e

JSON_KEYS = {"deploymentId", "status", "url", "localUrl", "files", "totalBytes", "uploadedFiles", "uploadedBytes"}


def _cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("SITEDEPLOY_")}
    return subprocess.run(
        [sys.executable, "-m", "sitedeploy_cli", *args],
        capture_output=True,
        text=True,
        env={**clean_env, **env},
        cwd=cwd,
        timeout=timeout,
    )


def _env(stack: LocalStack, owner: str) -> dict[str, str]:
    return {"SITEDEPLOY_API_URL": stack.api_url, "SITEDEPLOY_TOKEN": stack.mint_token(owner)}


def _deploy_json(folder: Path, env: dict[str, str], *extra: str, timeout: float = 60) -> dict[str, Any]:
    done = _cli("deploy", str(folder), "--json", *extra, env=env, cwd=folder.parent, timeout=timeout)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    answer = json.loads(done.stdout)  # exactly one JSON object: json.loads refuses anything more
    assert isinstance(answer, dict)
    return answer


def _get(url: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, redirect=True, timeout=10)


def _site() -> dict[str, bytes]:
    return {
        "index.html": "<!doctype html><h1>Ünïcode ✓</h1>".encode(),
        "x/index.html": b"<h1>x</h1>",
        "y.html": b"<h1>y</h1>",
        "assets/logo.png": b"\x89PNG\r\n\x1a\n" + os.urandom(40_000),
        "assets/font.woff2": b"wOF2" + os.urandom(9_000),
        "blob.bin": bytes(range(256)) * 64,
        "crlf.txt": b"line\r\nline\r\n\x00\xff",
        "_headers": b"/assets/*\n  Cache-Control: max-age=60\n",
        "app.js.map": b'{"sources": []}',
        ".assetsignore": b"*.map\n",
        ".DS_Store": b"junk",
    }


def _served_path(path: str) -> str:
    """Cloudflare's auto-trailing-slash: ``x/index.html`` at ``x/``, ``y.html`` at ``y``."""
    if path.endswith("index.html"):
        return path.removesuffix("index.html")
    return path.removesuffix(".html")


def test_deploy_serves_identical_bytes_and_prints_one_json_object(
    clean: LocalStack, owner: str, tmp_path: Path
) -> None:
    files = _site()
    folder = write_folder(tmp_path / "binary-site", files)
    answer = _deploy_json(folder, _env(clean, owner))
    assert set(answer) >= JSON_KEYS
    assert answer["status"] == "ready"
    sent = {p: d for p, d in files.items() if p not in {"app.js.map", ".assetsignore", ".DS_Store"}}
    assert answer["files"] == len(sent)
    assert answer["totalBytes"] == sum(len(d) for d in sent.values())
    assert answer["uploadedFiles"] == len(sent)
    assert answer["uploadedBytes"] == answer["totalBytes"]
    assert answer["projectName"] == "binary-site"
    assert answer["url"].startswith("https://")
    local = answer["localUrl"]
    assert local.startswith("http://127.0.0.1:")
    for path, data in sent.items():
        if path == "_headers":
            continue
        served = _get(local.rstrip("/") + "/" + _served_path(path))
        assert served.status == 200, path
        assert served.data == data, path
    assert _get(local + "assets/logo.png").headers.get("Cache-Control") == "max-age=60"  # _headers was lifted
    assert _get(local + "app.js.map").data != files["app.js.map"]  # ignored: never uploaded
    assert _get(local + ".DS_Store").data != files[".DS_Store"]


def test_redeploy_with_one_changed_file_uploads_one_blob(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    env = _env(clean, owner)
    folder = write_folder(tmp_path / "again", _site())
    first = _deploy_json(folder, env)
    changed = b"\x00changed\xff" * 100
    (folder / "assets" / "font.woff2").write_bytes(changed)
    second = _deploy_json(folder, env)
    assert second["status"] == "ready"
    assert second["uploadedFiles"] == 1
    assert second["uploadedBytes"] == len(changed)
    assert second["alreadyStaged"] == first["files"] - 1
    assert second["url"] == first["url"]
    assert second["deploymentId"] != first["deploymentId"]
    assert _get(second["localUrl"] + "assets/font.woff2").data == changed


def test_human_output_progress_and_the_other_commands(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    env = _env(clean, owner)
    folder = write_folder(tmp_path / "my-app" / "dist", {"index.html": b"<p>hi</p>", "a.txt": b"a"})
    done = _cli("deploy", str(folder), "--chat-id", "chat-9", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ready: https://")
    assert lines[1].startswith("local: http://127.0.0.1:")
    assert "my-app on cloudflare, 2 files" in lines[2]
    assert "hashing: 2/2 files (100%)" in done.stderr  # not a terminal: plain lines, no \r
    assert "publishing: ready (100%)" in done.stderr
    assert "\r" not in done.stderr
    deployment_id = lines[2].split()[1].rstrip(":")
    shown = _cli("--json", "status", deployment_id, env=env, cwd=tmp_path)
    assert json.loads(shown.stdout)["status"] == "ready"
    listed = _cli("list", "--chat-id", "chat-9", env=env, cwd=tmp_path)
    assert deployment_id in listed.stdout
    opened = _cli("open", deployment_id, env=env, cwd=tmp_path, timeout=20)  # stdout is a pipe: print only
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == lines[1].removeprefix("local: ")
    assert _get(opened.stdout.strip()).data == b"<p>hi</p>"


def test_no_wait_answers_at_once(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "quick", {"index.html": b"q"})
    answer = _deploy_json(folder, _env(clean, owner), "--no-wait", "--no-spa")
    assert answer["status"] == "pending"
    assert answer["statusUrl"] == f"/deployments/{answer['deploymentId']}"


def test_clear_errors_without_tracebacks(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "site", {"index.html": b"<p>x</p>"})
    good = _env(clean, owner)
    cases: dict[str, tuple[subprocess.CompletedProcess[str], str]] = {}
    unreachable = {"SITEDEPLOY_API_URL": f"http://127.0.0.1:{free_port()}", "SITEDEPLOY_TOKEN": "x"}
    cases["unreachable"] = (_cli("deploy", str(folder), env=unreachable, cwd=tmp_path), "cannot reach the API")
    expired = {**good, "SITEDEPLOY_TOKEN": clean.mint_token(owner, ttl=-5)}
    cases["expired"] = (_cli("deploy", str(folder), env=expired, cwd=tmp_path), "unauthorized")
    garbage = {**good, "SITEDEPLOY_TOKEN": "not-a-jwt"}
    cases["garbage"] = (_cli("deploy", str(folder), env=garbage, cwd=tmp_path), "unauthorized")
    cases["missing"] = (_cli("deploy", str(tmp_path / "nope"), env=good, cwd=tmp_path), "no such folder")
    (tmp_path / "empty").mkdir()
    cases["empty"] = (_cli("deploy", str(tmp_path / "empty"), env=good, cwd=tmp_path), "no files to deploy")
    cases["file"] = (_cli("deploy", str(folder / "index.html"), env=good, cwd=tmp_path), "not a folder")
    backslash = write_folder(tmp_path / "backslash", {"index.html": b"i", "a\\b.txt": b"x"})
    cases["backslash"] = (_cli("deploy", str(backslash), env=good, cwd=tmp_path), "a\\\\b.txt")
    control = write_folder(tmp_path / "control", {"index.html": b"i", "tab\there.txt": b"x"})
    cases["control"] = (_cli("deploy", str(control), env=good, cwd=tmp_path), "control character")
    for name, (done, expected) in cases.items():
        assert done.returncode == 1, (name, done.stderr)
        assert "Traceback" not in done.stderr, name
        assert expected in done.stderr, (name, done.stderr)
        assert done.stderr.strip().splitlines()[-1].startswith("sitedeploy: "), (name, done.stderr)
        assert done.stdout == "", name
    as_json = _cli("deploy", str(backslash), "--json", env=good, cwd=tmp_path)
    assert as_json.returncode == 1
    refused = json.loads(as_json.stdout)
    assert "backslash" in refused["error"]
    assert refused["code"]


def test_a_deployment_that_fails_exits_non_zero_with_its_error(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "doomed", {"index.html": b"<p>doomed</p>"})
    clean.cloudflare.faults.add("script-put", status=400, times=None)
    try:
        done = _cli("deploy", str(folder), "--json", env=_env(clean, owner), cwd=tmp_path)
    finally:
        clean.cloudflare.faults.clear()
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "error"
    assert answer["error"]
    assert set(answer) >= JSON_KEYS
    assert f"deployment {answer['deploymentId']} failed: " in done.stderr


def test_two_thousand_small_files(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    write_folder(folder, {f"pages/{i // 100:02}/p{i:04}.html": f"<p>{i}</p>".encode() for i in range(2000)})
    (folder / "index.html").write_bytes(b"<p>home</p>")
    # ~30 s on an idle two-core machine, nearly all of it moto answering 2,001 HEADs and PUTs twice
    # over; the generous timeout is for a loaded one.
    answer = _deploy_json(folder, _env(clean, owner), timeout=180)
    assert answer["status"] == "ready"
    assert answer["files"] == 2001
    assert answer["uploadedFiles"] == 2001
    for i in (0, 1234, 1999):
        assert _get(f"{answer['localUrl']}pages/{i // 100:02}/p{i:04}").data == f"<p>{i}</p>".encode()


def test_amplify(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    files = {
        "index.html": b"<h1>amplify</h1>",
        "about/index.html": b"<h1>about</h1>",
        "assets/logo.png": b"\x89PNG\r\n\x1a\n" + os.urandom(20_000),
        "blob.bin": bytes(range(256)) * 8,
    }
    folder = write_folder(tmp_path / "amp", files)
    answer = _deploy_json(folder, _env(clean, owner), "--platform", "amplify")
    assert answer["status"] == "ready", answer
    assert answer["platform"] == "amplify"
    assert ".amplifyapp.com" in answer["url"]
    for path, data in files.items():
        served = _get(answer["localUrl"].rstrip("/") + "/" + path.removesuffix("index.html"))
        assert served.status == 200, path
        assert served.data == data, path
