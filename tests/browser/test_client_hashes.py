"""The web client hashes only what changed on a redeploy, as the CLI does: a folder picked again is
a new FileList of new File objects, known by path, size and modification time; an edited file is
hashed again and its new bytes are what the site serves."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
import urllib3
from playwright.sync_api import Page

from sitedeploy_local.stack import LocalStack
from tests.browser.conftest import open_console

pytestmark = pytest.mark.e2e

# Counts the page's SHA-256 digests (WebCrypto), then deploys the folder input's files.
COUNT_DIGESTS = """
() => {
  if (window.__digests !== undefined) return;
  window.__digests = 0;
  const digest = crypto.subtle.digest.bind(crypto.subtle);
  crypto.subtle.digest = (algorithm, data) => { window.__digests += 1; return digest(algorithm, data); };
}
"""
DEPLOY = """
async ({apiUrl, token}) => {
  const { SitedeployClient, filesFromFileList } = await import("/sitedeploy.js");
  const client = new SitedeployClient({ apiUrl, token });  // a new client each time, as a page may
  const before = window.__digests;
  const files = filesFromFileList(document.querySelector("#folder").files);
  const result = await client.deploy("cloudflare", files, { projectName: "hashed-once", inline: false });
  return { status: result.status, localUrl: result.localUrl, digests: window.__digests - before,
           uploadedFiles: result.uploadedFiles };
}
"""


def _pick(page: Page, folder: Path) -> None:
    page.set_input_files("#folder", str(folder))
    count = sum(1 for path in folder.rglob("*") if path.is_file())
    page.wait_for_function(f"document.querySelector('#folder').files.length === {count}")


def test_a_redeploy_from_the_browser_hashes_only_the_changed_file(
    page: Page, stack: LocalStack, tmp_path: Path
) -> None:
    folder = tmp_path / "site"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>first</h1>")
    for number in range(12):
        (folder / "assets" / f"part{number}.js").write_bytes(os.urandom(2048))
    open_console(page, stack.console.url)
    page.evaluate(COUNT_DIGESTS)
    token = stack.mint_token("browser-hashes")

    _pick(page, folder)
    first: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token})
    assert first["status"] == "ready", first
    assert first["digests"] == 13  # every file, once

    time.sleep(0.01)  # a later modification time than the picked copy's
    (folder / "index.html").write_text("<h1>second</h1>")
    _pick(page, folder)
    second: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token})
    assert second["status"] == "ready", second
    assert second["digests"] == 1  # the edited file only
    assert second["uploadedFiles"] == 1
    served = urllib3.request("GET", second["localUrl"])
    assert served.data == b"<h1>second</h1>"


def test_files_stamped_with_one_fixed_time_are_hashed_again(page: Page, stack: LocalStack, tmp_path: Path) -> None:
    """Reproducible builds and archives stamp every file with one fixed time (Nix: one second after
    the epoch; ZIP: 1980-01-01), so path, size and time say nothing about the bytes: a page that
    changed within the same size must be hashed again, or the old bytes would be deployed."""
    folder = tmp_path / "stamped"
    folder.mkdir()
    page_file = folder / "index.html"
    open_console(page, stack.console.url)
    page.evaluate(COUNT_DIGESTS)
    token = stack.mint_token("browser-stamped")
    results = []
    for text in ("<h1>build-aaa</h1>", "<h1>build-bbb</h1>"):  # the same size
        page_file.write_text(text)
        os.utime(page_file, (1, 1))  # as Nix stamps its outputs
        _pick(page, folder)
        result: dict[str, Any] = page.evaluate(DEPLOY, {"apiUrl": stack.api_url, "token": token})
        assert result["status"] == "ready", result
        assert urllib3.request("GET", result["localUrl"]).data == text.encode()
        results.append(result)
    assert [r["digests"] for r in results] == [1, 1]


HASH_ALL = """
async () => {
  const { SitedeployClient, filesFromFileList } = await import("/sitedeploy.js");
  const client = new SitedeployClient({ apiUrl: "http://127.0.0.1:9", token: "t" });
  const picked = filesFromFileList(document.querySelector("#folder").files);
  const entries = picked.map((f) => ({ path: f.path, blob: f.data }));
  const seen = [];
  await client._hash(entries, undefined, (done, bytes) => seen.push([done, bytes]));
  return { hashes: Object.fromEntries(entries.map((e) => [e.path, e.sha256])), last: seen[seen.length - 1],
           calls: seen.length };
}
"""


def test_files_read_in_batches_hash_to_their_own_bytes(page: Page, stack: LocalStack, tmp_path: Path) -> None:
    """Small files are read many at a time as one Blob and cut apart again: every cut must land on
    its own file's bytes, whatever the mix of sizes (empty, tiny, over a batch's 4 MiB)."""
    folder = tmp_path / "mixed"
    (folder / "a").mkdir(parents=True)
    contents = {f"a/small{i:02}.txt": os.urandom(i * 97) for i in range(70)}  # small0 is empty
    contents["big.bin"] = os.urandom(5 * 1024 * 1024)
    contents["a/medium.bin"] = os.urandom(3 * 1024 * 1024)
    contents["index.html"] = b"<h1>mixed</h1>"
    for path, data in contents.items():
        (folder / path).write_bytes(data)
    open_console(page, stack.console.url)
    _pick(page, folder)
    result: dict[str, Any] = page.evaluate(HASH_ALL)
    assert result["hashes"] == {path: hashlib.sha256(data).hexdigest() for path, data in contents.items()}
    assert result["calls"] == len(contents)  # progress per file
    assert result["last"] == [len(contents), sum(len(d) for d in contents.values())]
