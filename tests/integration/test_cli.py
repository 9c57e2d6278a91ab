"""The `sitedeploy` command against the local stack, as a person runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sitedeploy.stores.deployments import DeploymentsRepository
from sitedeploy_local.ports import free_port
from sitedeploy_local.stack import LocalStack
from tests.factories import deployment


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("SITEDEPLOY_")}
    return subprocess.run(
        [sys.executable, "-m", "sitedeploy_cli", *args],
        capture_output=True,
        text=True,
        env={**clean_env, **(env or {})},
        cwd=cwd,
        timeout=60,
    )


def test_list_and_status(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    repo = DeploymentsRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb"))
    record = deployment(owner, project_name="landing")
    repo.create(record)
    env = {"SITEDEPLOY_API_URL": clean.api_url, "SITEDEPLOY_TOKEN": clean.mint_token(owner)}
    listed = _run("--json", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [d["deploymentId"] for d in json.loads(listed.stdout)["deployments"]] == [record.deployment_id]
    shown = _run("status", record.deployment_id, env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert record.deployment_id in shown.stdout
    assert "landing" in shown.stdout


def test_reads_local_json_when_nothing_is_configured(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    (tmp_path / ".sitedeploy").mkdir()
    (tmp_path / ".sitedeploy" / "local.json").write_text(
        json.dumps({"apiUrl": clean.api_url, "token": clean.mint_token(owner)})
    )
    nested = tmp_path / "site" / "dist"
    nested.mkdir(parents=True)
    done = _run("list", cwd=nested)
    assert done.returncode == 0, done.stderr
    assert "no deployments yet" in done.stdout


def test_clear_errors_and_no_traceback(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    unreachable = _run(
        "list",
        env={"SITEDEPLOY_API_URL": f"http://127.0.0.1:{free_port()}", "SITEDEPLOY_TOKEN": "x"},
        cwd=tmp_path,
    )
    assert unreachable.returncode != 0
    assert "cannot reach the API" in unreachable.stderr
    expired = _run(
        "list",
        env={"SITEDEPLOY_API_URL": clean.api_url, "SITEDEPLOY_TOKEN": clean.mint_token(owner, ttl=-5)},
        cwd=tmp_path,
    )
    assert expired.returncode != 0
    assert "unauthorized" in expired.stderr
    missing = _run(
        "status",
        "dpl_" + "d" * 26,
        env={"SITEDEPLOY_API_URL": clean.api_url, "SITEDEPLOY_TOKEN": clean.mint_token(owner)},
        cwd=tmp_path,
    )
    assert missing.returncode != 0
    assert "not found" in missing.stderr
    unconfigured = _run("list", cwd=tmp_path)
    assert unconfigured.returncode != 0
    assert "make dev" in unconfigured.stderr
    for done in (unreachable, expired, missing, unconfigured):
        assert "Traceback" not in done.stderr


def test_global_options_work_after_the_command_too(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    repo = DeploymentsRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb"))
    record = deployment(owner, project_name="after")
    repo.create(record)
    token = clean.mint_token(owner)
    listed = _run("list", "--json", "--api", clean.api_url, "--token", token, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [d["deploymentId"] for d in json.loads(listed.stdout)["deployments"]] == [record.deployment_id]
    shown = _run("--api", clean.api_url, "status", record.deployment_id, "--json", "--token", token, cwd=tmp_path)
    assert json.loads(shown.stdout)["projectName"] == "after"


def test_open_prints_the_url_and_starts_no_browser_in_a_pipe(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    repo = DeploymentsRepository(clean.resource("DeploymentsTable"), clean.moto.client("dynamodb"))
    record = deployment(owner, url="https://sd-x.example.workers.dev")
    repo.create(record)
    env = {"SITEDEPLOY_API_URL": clean.api_url, "SITEDEPLOY_TOKEN": clean.mint_token(owner), "DISPLAY": ":0"}
    opened = _run("open", record.deployment_id, env=env, cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "https://sd-x.example.workers.dev"
    assert "not ready" in opened.stderr  # a bare record: pending, or error once the publisher finds no files
    as_json = _run("open", record.deployment_id, "--json", "--no-browser", env=env, cwd=tmp_path)
    answer = json.loads(as_json.stdout)
    assert answer["url"] == "https://sd-x.example.workers.dev"
    assert answer["deploymentId"] == record.deployment_id
    assert answer["opened"] is False


def test_json_mode_prints_one_error_object(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    env = {"SITEDEPLOY_API_URL": clean.api_url, "SITEDEPLOY_TOKEN": clean.mint_token(owner)}
    missing = _run("--json", "status", "dpl_" + "d" * 26, env=env, cwd=tmp_path)
    assert missing.returncode == 1
    error = json.loads(missing.stdout)
    assert set(error) == {"error", "code"}
    assert "not found" in error["error"]
    unauthorized = _run("--json", "list", env={**env, "SITEDEPLOY_TOKEN": "nope"}, cwd=tmp_path)
    assert json.loads(unauthorized.stdout)["code"] == "unauthorized"
    assert "Traceback" not in missing.stderr + unauthorized.stderr


def test_rollback_preview_promote_and_versions_from_the_terminal(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    env = {"SITEDEPLOY_API_URL": clean.api_url, "SITEDEPLOY_TOKEN": clean.mint_token(owner)}
    site = tmp_path / "shop"
    site.mkdir()

    def deploy(text: str, *extra: str) -> dict[str, object]:
        (site / "index.html").write_text(text)
        done = _run("--json", "deploy", str(site), "-q", "--no-hash-cache", *extra, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    v1 = deploy("<h1>one</h1>")
    deploy("<h1>two</h1>")
    listed = _run("versions", str(v1["siteId"]), env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].startswith("* ")  # the live one
    back = _run("--json", "rollback", str(v1["siteId"]), env=env, cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    rolled = json.loads(back.stdout)
    assert (rolled["status"], rolled["kind"], rolled["sourceDeploymentId"]) == ("ready", "rollback", v1["deploymentId"])
    preview = deploy("<h1>three</h1>", "--preview", "--chat-id", "chat-7")
    assert preview["previewUrl"]
    shown = _run("deploy", str(site), "-q", "--preview", env=env, cwd=tmp_path)
    assert "preview at https://" in shown.stdout
    assert "production (unchanged)" in shown.stdout
    promoted = _run("promote", str(preview["deploymentId"]), env=env, cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stderr
    assert "promote of" in promoted.stdout
    expired = _run("--json", "rollback", str(v1["siteId"]), "--to", "dpl_" + "a" * 26, env=env, cwd=tmp_path)
    assert expired.returncode == 1
    assert json.loads(expired.stdout)["code"] == "not_found"
    unclaimable = _run("claim", str(v1["siteId"]), env=env, cwd=tmp_path)
    assert unclaimable.returncode == 1
    assert "connect your cloudflare account first" in unclaimable.stderr


def test_domains_add_list_and_remove_from_the_terminal(clean: LocalStack, owner: str, tmp_path: Path) -> None:
    env = {"SITEDEPLOY_API_URL": clean.api_url, "SITEDEPLOY_TOKEN": clean.mint_token(owner)}
    site = tmp_path / "brand"
    site.mkdir()
    (site / "index.html").write_text("<h1>brand</h1>")
    deployed = _run("--json", "deploy", str(site), "-q", "--platform", "vercel", env=env, cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    site_id = json.loads(deployed.stdout)["siteId"]
    hostname = "www.brand-cli.example"
    added = _run("--json", "domains", "add", site_id, hostname, env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    domain = json.loads(added.stdout)
    assert domain["status"] == "pending_verification"
    shown = _run("domains", "list", site_id, env=env, cwd=tmp_path)
    assert "routing" in shown.stdout
    assert hostname in shown.stdout
    for record in domain["records"]:
        clean.dns.add(record["name"], record["type"], record["value"])
    waited = _run("--json", "domains", "add", site_id, hostname, "--wait", "--timeout", "60", env=env, cwd=tmp_path)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["status"] == "active"
    removed = _run("domains", "remove", site_id, hostname, env=env, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert f"removed {hostname}" in removed.stdout
    bad = _run("domains", "add", site_id, "*.brand.example", env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert "wildcard" in bad.stderr
