"""The web client stages a folder as it hashes it: each chunk of hashed files is asked about while
the next is hashed, and its uploads start as soon as the answer comes. What must hold whatever the
overlap: every /uploads call stays within one call's limit, each content is asked about and
uploaded once, the deploy carries every answer's receipt, and a refusal anywhere fails the deploy
before any deployment is created."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
import urllib3
from playwright.sync_api import Page, Route

from sitedeploy_local.stack import LocalStack
from tests.browser.conftest import open_console
from tests.helpers import write_folder

pytestmark = pytest.mark.e2e

KIB = 1024

# Records when the page digests and when it sends a PUT. Digests after the first `hold` wait for
# the first PUT (at most `patience` ms): a client that stages while it hashes sends one meanwhile;
# one that hashes everything first never does, and its held digests run out of patience.
WATCH = """
({hold, patience}) => {
  window.__digestsAt = [];
  window.__putsAt = [];
  window.__outOfPatience = 0;
  let firstPut;
  const put = new Promise((resolve) => { firstPut = resolve; });
  const digest = crypto.subtle.digest.bind(crypto.subtle);
  crypto.subtle.digest = async (algorithm, data) => {
    if (window.__digestsAt.length >= hold) {
      const late = await Promise.race([put.then(() => false),
                                       new Promise((r) => setTimeout(() => r(true), patience))]);
      if (late) window.__outOfPatience += 1;
    }
    window.__digestsAt.push(performance.now());
    return digest(algorithm, data);
  };
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.__method = method;
    return open.call(this, method, url, ...rest);
  };
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    if (this.__method === "PUT") { window.__putsAt.push(performance.now()); firstPut(); }
    return send.call(this, body);
  };
}
"""

DEPLOY = """
async ({apiUrl, token, project}) => {
  const { SitedeployClient, filesFromFileList } = await import("/sitedeploy.js");
  const client = new SitedeployClient({ apiUrl, token });
  const files = filesFromFileList(document.querySelector("#folder").files);
  const phases = [];
  try {
    const result = await client.deploy("cloudflare", files, {
      projectName: project,
      inline: false,
      onProgress: (p) => { if (phases[phases.length - 1] !== p.phase) phases.push(p.phase); },
    });
    return { status: result.status, localUrl: result.localUrl, uploadedFiles: result.uploadedFiles,
             uploadedBytes: result.uploadedBytes, alreadyStaged: result.alreadyStaged, phases };
  } catch (error) {
    return { error: error.code, message: error.message, phases };
  }
}
"""


def pick(page: Page, folder: Path) -> None:
    page.set_input_files("#folder", str(folder))
    count = sum(1 for path in folder.rglob("*") if path.is_file())
    page.wait_for_function(f"document.querySelector('#folder').files.length === {count}")


def record_api(page: Page, stack: LocalStack) -> dict[str, list[Any]]:
    """The bodies of the page's /uploads and deploy calls, as sent (they go on to the API)."""
    seen: dict[str, list[Any]] = {"uploads": [], "deploys": []}

    def note(route: Route) -> None:
        request = route.request
        if request.method == "POST":
            kind = "uploads" if request.url.endswith("/uploads") else "deploys"
            seen[kind].append(json.loads(request.post_data or "null"))
        route.continue_()

    page.route(stack.api_url + "/uploads", note)
    page.route(stack.api_url + "/deployments/*", note)
    return seen


def served(local_url: str, path: str) -> bytes:
    answer = urllib3.request("GET", local_url.rstrip("/") + "/" + path)
    assert answer.status == 200, path
    return answer.data


def test_uploads_start_while_the_folder_is_still_being_hashed(page: Page, stack: LocalStack, tmp_path: Path) -> None:
    """40 MB in 400 files: the first chunk's PUTs go out before the last file is hashed, the
    progress phases never go back, and every byte arrives."""
    folder = tmp_path / "site"
    rng = random.Random(f"overlap-{os.getpid()}-{tmp_path.name}")
    files = {f"assets/part{number:03}.bin": rng.randbytes(100 * KIB) for number in range(400)}
    files["index.html"] = b"<h1>overlap</h1>"
    write_folder(folder, files)
    open_console(page, stack.console.url)
    pick(page, folder)
    page.evaluate(WATCH, {"hold": 250, "patience": 5000})
    token = stack.mint_token(f"overlap-{tmp_path.name}")

    result: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token, "project": "overlap"})
    assert result.get("status") == "ready", result
    timing: dict[str, Any] = page.evaluate(
        "() => ({digests: window.__digestsAt, puts: window.__putsAt, outOfPatience: window.__outOfPatience})"
    )
    assert len(timing["digests"]) == len(files)
    assert timing["outOfPatience"] == 0  # no digest waited in vain for a PUT
    assert min(timing["puts"]) < max(timing["digests"])
    assert result["phases"] == ["hashing", "planning", "uploading", "deploying", "done"]
    assert result["uploadedBytes"] == sum(map(len, files.values()))
    for path in ("index.html", "assets/part000.bin", "assets/part399.bin", "assets/part200.bin"):
        assert served(result["localUrl"], path) == files[path], path


def test_each_call_stays_within_the_limit_and_each_content_goes_up_once(
    page: Page, stack: LocalStack, tmp_path: Path
) -> None:
    """1,500 small files (more than one /uploads call takes from this client), 300 of them copies
    of others' contents across the calls: every content is asked about in one call and uploaded
    once, and the deploy carries every call's receipt."""
    folder = tmp_path / "many"
    tag = f"{os.getpid()}-{tmp_path.name}"
    files = {f"pages/p{number:04}.html": f"<p>{tag} page {number}</p>".encode() for number in range(1200)}
    for number in range(300):  # the same bytes as p0000..p0299, at paths hashed (and asked about) later
        files[f"zcopies/c{number:04}.html"] = files[f"pages/p{number:04}.html"]
    write_folder(folder, files)
    open_console(page, stack.console.url)
    pick(page, folder)
    seen = record_api(page, stack)
    token = stack.mint_token(f"many-{tag}")

    result: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token, "project": "many"})
    assert result.get("status") == "ready", result
    calls = seen["uploads"]
    assert len(calls) >= 2
    assert all(len(call["files"]) <= 1000 for call in calls)
    asked = [entry["sha256"] for call in calls for entry in call["files"]]
    distinct = {hashlib.sha256(data).hexdigest() for data in files.values()}
    assert sorted(asked) == sorted(distinct)  # each content once, none left out
    assert result["uploadedFiles"] == len(distinct) == 1200
    (deploy,) = seen["deploys"]
    assert len(deploy["uploadReceipts"]) == len(calls)
    assert len(deploy["manifest"]) == len(files)
    assert served(result["localUrl"], "zcopies/c0123.html") == files["pages/p0123.html"]
    assert served(result["localUrl"], "pages/p1199.html") == files["pages/p1199.html"]


# Deploys, then counts what the page still sends and reports once the deploy has been refused.
DEPLOY_AND_WATCH_AFTER = """
async ({apiUrl, token}) => {
  const { SitedeployClient, filesFromFileList } = await import("/sitedeploy.js");
  const client = new SitedeployClient({ apiUrl, token });
  const files = filesFromFileList(document.querySelector("#folder").files);
  const after = { sends: 0, events: 0 };
  let ended = false;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    if (ended) after.sends += 1;
    return send.call(this, body);
  };
  let error = null;
  try {
    await client.deploy("cloudflare", files, {
      projectName: "refused",
      inline: false,
      onProgress: () => { if (ended) after.events += 1; },
    });
  } catch (caught) {
    error = caught.code || caught.name;
  }
  ended = true;
  await new Promise((r) => setTimeout(r, 1500));  // past the backoff of a PUT's next retries
  return { error, after };
}
"""


@pytest.mark.parametrize("refused", ["put", "uploads"])
def test_a_refusal_while_staging_fails_the_deploy_and_then_nothing_goes_on(
    page: Page, page_errors: list[str], stack: LocalStack, tmp_path: Path, refused: str
) -> None:
    """Staging refuses the first PUT (403) while the others are answered 503 (each would be tried
    again), or /uploads refuses the plan (403): the deploy fails with the refusal's code, no
    deployment is asked for, and once it has failed nothing more is sent or reported (the PUTs
    in flight are aborted, not retried), nor left rejecting unheard."""
    folder = tmp_path / "refused"
    rng = random.Random(f"refused-{refused}-{tmp_path.name}")
    write_folder(folder, {f"f{number:03}.bin": rng.randbytes(100 * KIB) for number in range(300)})
    open_console(page, stack.console.url)
    pick(page, folder)
    seen = record_api(page, stack)
    puts: list[str] = []

    def refuse_put(route: Route) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        puts.append(route.request.url)
        if len(puts) == 1:
            route.fulfill(status=403, headers={"Access-Control-Allow-Origin": "*"}, body="<Error>AccessDenied</Error>")
        else:
            route.fulfill(status=503, headers={"Access-Control-Allow-Origin": "*"}, body="<Error>SlowDown</Error>")

    def refuse_plan(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        seen["uploads"].append(json.loads(route.request.post_data or "null"))
        route.fulfill(
            status=403,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps({"error": "not yours", "code": "forbidden"}),
        )

    if refused == "put":
        page.route(stack.moto.endpoint + "/**", refuse_put)
    else:
        page.unroute(stack.api_url + "/uploads")
        page.route(stack.api_url + "/uploads", refuse_plan)
    token = stack.mint_token(f"refused-{refused}-{tmp_path.name}")

    result: dict[str, Any] = page.evaluate(DEPLOY_AND_WATCH_AFTER, {"apiUrl": stack.api_url, "token": token})
    assert result["error"] == ("upload_failed" if refused == "put" else "forbidden"), result
    assert result["after"] == {"sends": 0, "events": 0}
    assert seen["deploys"] == []
    assert seen["uploads"]
    if refused == "put":
        assert puts
    assert page_errors == []


# Cancels the deploy as its first PUT goes out, then reports what the page sent before and after.
CANCEL_AT_FIRST_PUT = """
async ({apiUrl, token}) => {
  const { SitedeployClient, filesFromFileList } = await import("/sitedeploy.js");
  const files = filesFromFileList(document.querySelector("#folder").files);
  const controller = new AbortController();
  const sent = { puts: 0, plans: 0, atCancel: null };
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    sent.puts += 1;
    const result = send.call(this, body);
    if (!sent.atCancel) {
      sent.atCancel = { puts: sent.puts, plans: sent.plans };
      controller.abort();
    }
    return result;
  };
  const fetchFirst = window.fetch.bind(window);
  window.fetch = (url, init) => {
    if (String(url).endsWith("/uploads")) sent.plans += 1;
    return fetchFirst(url, init);
  };
  const client = new SitedeployClient({ apiUrl, token });  // made after the count is in place
  let outcome;
  try {
    await client.deploy("cloudflare", files, { projectName: "cancelled", inline: false, signal: controller.signal });
    outcome = "finished";
  } catch (error) {
    outcome = error.name;
  }
  await new Promise((r) => setTimeout(r, 500));  // anything still going would have sent more by now
  return { outcome, sent };
}
"""


def test_cancelling_while_staging_stops_hashing_asking_and_uploading(
    page: Page, page_errors: list[str], stack: LocalStack, tmp_path: Path
) -> None:
    """The user cancels as the first PUT goes out, with most of the folder not yet hashed: the
    deploy ends as cancelled, no deployment is asked for, and nothing more is asked about or sent."""
    folder = tmp_path / "cancelled"
    rng = random.Random(f"cancel-{tmp_path.name}")
    write_folder(folder, {f"f{number:03}.bin": rng.randbytes(100 * KIB) for number in range(400)})
    open_console(page, stack.console.url)
    pick(page, folder)
    page.evaluate(WATCH, {"hold": 200, "patience": 5000})  # the rest of the hashing waits for a PUT
    seen = record_api(page, stack)
    token = stack.mint_token(f"cancel-{tmp_path.name}")

    result: dict[str, Any] = page.evaluate(CANCEL_AT_FIRST_PUT, {"apiUrl": stack.api_url, "token": token})
    assert result["outcome"] == "AbortError", result
    assert seen["deploys"] == []
    sent = result["sent"]
    assert sent["puts"] == sent["atCancel"]["puts"]
    assert sent["plans"] >= 1
    assert sent["plans"] == sent["atCancel"]["plans"]
    digested = page.evaluate("() => window.__digestsAt.length")
    assert digested < 400
    assert page_errors == []


def test_a_put_refused_once_is_sent_again_whole_from_memory_and_every_byte_arrives(
    page: Page, page_errors: list[str], stack: LocalStack, tmp_path: Path
) -> None:
    """Staging answers every PUT's first attempt with a 503: each is sent again, whole (packs and
    single files alike, their bytes held from hashing), and the site serves every file's bytes."""
    folder = tmp_path / "retried"
    rng = random.Random(f"retried-{tmp_path.name}")
    files = {f"small/s{number:03}.bin": rng.randbytes(100 * KIB) for number in range(100)}
    files.update({f"large/l{number}.bin": rng.randbytes(2 * 1024 * KIB) for number in range(2)})
    files["index.html"] = b"<h1>retried</h1>"
    write_folder(folder, files)
    open_console(page, stack.console.url)
    pick(page, folder)
    attempts: dict[str, list[int]] = {}

    def refuse_first(route: Route) -> None:
        request = route.request
        if request.method != "PUT":
            route.continue_()
            return
        key = request.url.split("?")[0]
        sizes = attempts.setdefault(key, [])
        sizes.append(len(request.post_data_buffer or b""))
        if len(sizes) == 1:
            route.fulfill(
                status=503, headers={"Access-Control-Allow-Origin": "*"}, body="<Error><Code>SlowDown</Code></Error>"
            )
        else:
            route.continue_()

    page.route(stack.moto.endpoint + "/**", refuse_first)
    token = stack.mint_token(f"retried-{tmp_path.name}")

    result: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token, "project": "retried"})
    assert result.get("status") == "ready", result
    assert attempts
    assert all(len(sizes) == 2 and sizes[0] == sizes[1] > 0 for sizes in attempts.values()), attempts
    assert sum(sizes[1] for sizes in attempts.values()) == sum(map(len, files.values())) == result["uploadedBytes"]
    for path, data in files.items():
        assert served(result["localUrl"], path) == data, path
    assert page_errors == []


def test_blobs_the_deploy_finds_missing_are_staged_again_and_sent_with_every_receipt(
    page: Page, page_errors: list[str], stack: LocalStack, tmp_path: Path
) -> None:
    """The first deploy call answers 409 blobs_missing for one file (its pack never arrived, say):
    that file alone is asked about again, and the deploy is sent again with the first receipts and
    the new one (the other files went up in packs, known to the server only from those receipts);
    the progress never goes back to hashing."""
    folder = tmp_path / "expired"
    rng = random.Random(f"expired-{tmp_path.name}")
    files = {f"f{number:02}.bin": rng.randbytes(50 * KIB) for number in range(40)}
    write_folder(folder, files)
    expired = hashlib.sha256(files["f07.bin"]).hexdigest()
    open_console(page, stack.console.url)
    pick(page, folder)
    seen = record_api(page, stack)
    refused: list[Any] = []

    def refuse_first_deploy(route: Route) -> None:
        if route.request.method != "POST" or refused:
            route.fallback()
            return
        refused.append(json.loads(route.request.post_data or "null"))
        route.fulfill(
            status=409,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps({"error": "1 file(s) are not staged", "code": "blobs_missing", "missing": [expired]}),
        )

    page.route(stack.api_url + "/deployments/*", refuse_first_deploy)
    token = stack.mint_token(f"expired-{tmp_path.name}")

    result: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token, "project": "expired"})
    assert result.get("status") == "ready", result
    assert len(refused) == 1
    assert refused[0]["uploadReceipts"]
    (again,) = seen["deploys"]  # the second call, which reached the API
    assert again["manifest"] == refused[0]["manifest"]
    assert len(again["uploadReceipts"]) == len(refused[0]["uploadReceipts"]) + 1
    assert set(refused[0]["uploadReceipts"]) < set(again["uploadReceipts"])
    assert [entry["sha256"] for entry in seen["uploads"][-1]["files"]] == [expired]
    assert result["phases"] == ["hashing", "planning", "uploading", "deploying", "done"]
    for path in ("f07.bin", "f39.bin"):
        assert served(result["localUrl"], path) == files[path]
    assert page_errors == []


def test_a_redeploy_whose_hashes_are_known_asks_about_them_in_one_call(
    page: Page, stack: LocalStack, tmp_path: Path
) -> None:
    """30 MiB in 60 files: the first deploy asks in chunks while it hashes (the first at 16 MiB);
    picked again unchanged, every hash is known and there is nothing to overlap, so the redeploy
    asks about all 60 files in one /uploads call and uploads nothing."""
    folder = tmp_path / "known"
    rng = random.Random(f"known-{tmp_path.name}")
    write_folder(folder, {f"f{number:02}.bin": rng.randbytes(512 * KIB) for number in range(60)})
    open_console(page, stack.console.url)
    seen = record_api(page, stack)
    token = stack.mint_token(f"known-{tmp_path.name}")

    pick(page, folder)
    first: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token, "project": "known"})
    assert first.get("status") == "ready", first
    assert len(seen["uploads"]) >= 2
    seen["uploads"].clear()

    pick(page, folder)
    again: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token, "project": "known"})
    assert again.get("status") == "ready", again
    assert [len(call["files"]) for call in seen["uploads"]] == [60]
    assert again["uploadedFiles"] == 0
