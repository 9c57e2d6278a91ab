"""Benchmark: the front end's own path — the web client in real Chromium — beside the CLI.

Both deploy the same folder (1,000 files / 50 MB by default, ``bench.synthetic``) through
``/uploads`` to the same local stack, in one run, to ``ready``: a first deploy, then a redeploy
with one file changed. The browser picks the folder as a person does (the console's folder input,
given the folder by Playwright) and runs ``SitedeployClient.deploy`` from ``sitedeploy.js``: WebCrypto
hashing, ``/uploads``, presigned PUTs (packs of small files), the deploy call and the status polls.
It is timed from the call to ``ready`` inside the page (the folder's reading into ``File``
objects is the browser's, before the click); the CLI is timed as a user runs it (its own
process, start-up included). Rounds alternate which goes first, each round on fresh projects and a
fresh owner so nothing is already staged. Prints medians, the ratio (browser / CLI) against the
goal and the browser's phases; asserts nothing. Chromium: Debian's (``scripts/install-chromium``).

    .venv/bin/python -m bench.browser_deploy [--files 1000] [--mb 50] [--rounds 3] [--platform cloudflare|all]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from bench.cli_deploy import write_site
from bench.synthetic import synthetic_site
from sitedeploy_local.stack import LocalStack, StackOptions

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
PLATFORMS = ("cloudflare", "amplify", "netlify", "vercel")
GOAL = 1.2
CHANGED_FILE = "assets/d1/file1.js"
CLI = (sys.executable, "-m", "sitedeploy_cli")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]

# In the page: deploy the folder input's files and report the phases' start times (ms since the call).
DEPLOY = """
async ({apiUrl, token, platform, project}) => {
  const { SitedeployClient, filesFromFileList } = await import("/sitedeploy.js");
  const client = new SitedeployClient({ apiUrl, token });
  const files = filesFromFileList(document.querySelector("#folder").files);
  const marks = {};
  const started = performance.now();
  const result = await client.deploy(platform, files, {
    projectName: project,
    onProgress: (p) => { if (!(p.phase in marks)) marks[p.phase] = performance.now() - started; },
  });
  return { seconds: (performance.now() - started) / 1000, status: result.status, marks,
           uploadedFiles: result.uploadedFiles, uploadedBytes: result.uploadedBytes };
}
"""


def tagged(data: bytes, tag: str) -> bytes:
    """The same length, other bytes: the tag over the file's first bytes."""
    mark = f"<{tag}>".encode()
    return (mark + data[len(mark) :]) if len(data) > len(mark) else data + mark


def chromium() -> str:
    found = os.environ.get("SITEDEPLOY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        subprocess.run([str(REPO / "scripts" / "install-chromium")], check=True, timeout=900)
        found = shutil.which("chromium")
    if not found:
        raise SystemExit("Chromium is needed: scripts/install-chromium installs Debian's")
    return found


def run_cli(stack: LocalStack, folder: Path, project: str, platform: str, token: str) -> tuple[float, str]:
    """The CLI's wall time (its start-up included) and its own steps' times, as ``--json`` gives them."""
    env = {**os.environ, "SITEDEPLOY_API_URL": stack.api_url, "SITEDEPLOY_TOKEN": token}
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, "deploy", str(folder), "--project", project, "--platform", platform, "--json", "-q", "--timeout", "900"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
        check=False,
    )
    seconds = time.monotonic() - started
    result = json.loads(done.stdout or "{}")
    if result.get("status") != "ready":
        raise RuntimeError(f"CLI deploy ended {result.get('status')}: {done.stderr[-2000:]}")
    steps = result.get("timings") or {}
    known = sum(float(v) for v in steps.values())
    shown = [f"{step} {float(value):.2f}" for step, value in steps.items()]
    return seconds, ", ".join([*shown, f"start-up and the rest {max(0.0, seconds - known):.2f}"])


def run_browser(
    page: Page, stack: LocalStack, folder: Path, *, project: str, platform: str, token: str
) -> dict[str, Any]:
    page.set_input_files("#folder", str(folder))
    count = sum(1 for path in folder.rglob("*") if path.is_file())
    page.wait_for_function(f"document.querySelector('#folder').files.length === {count}")
    answer: dict[str, Any] = page.evaluate(
        DEPLOY, {"apiUrl": stack.api_url, "token": token, "platform": platform, "project": project}
    )
    if answer.get("status") != "ready":
        raise RuntimeError(f"browser deploy ended {answer.get('status')}")
    return answer


def phases(marks: dict[str, float], seconds: float) -> str:
    order = [name for name in ("hashing", "planning", "uploading", "deploying", "done") if name in marks]
    spans = []
    for here, after in zip(order, [*order[1:], None], strict=True):
        end = marks[after] if after else seconds * 1000
        spans.append(f"{here} {max(0.0, end - marks[here]) / 1000:.2f}")
    return ", ".join(spans[:-1] if order and order[-1] == "done" else spans)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--platform", choices=(*PLATFORMS, "all"), default="all")
    args = parser.parse_args()
    platforms = PLATFORMS if args.platform == "all" else (args.platform,)
    times: dict[tuple[str, str, str], list[float]] = {}
    browser_phases: dict[tuple[str, str], str] = {}
    cli_phases: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as sites:
        stack = LocalStack(StackOptions(state_dir=Path(state), write_local_json=False)).start()
        driver = sync_playwright().start()
        browser = driver.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(900_000)
            page.goto(stack.console.url + "/index.html")
            page.wait_for_selector("body[data-ready=true]")
            for platform in platforms:
                for number in range(args.rounds):
                    order = ("browser", "cli") if number % 2 == 0 else ("cli", "browser")
                    # Each its own owner and its own bytes (same sizes): neither finds the other's
                    # files already staged or already on the platform.
                    tokens = {who: stack.mint_token(f"bench-{who}-{platform}-{number}-{os.getpid()}") for who in order}
                    site = synthetic_site(args.files, int(args.mb * MIB), seed=number)
                    folders = {}
                    for who in order:
                        folder = Path(sites) / f"{platform}-{number}-{who}"
                        write_site(folder, {path: tagged(data, who) for path, data in site.items()})
                        folders[who] = folder
                    for run in ("first deploy", "1 file changed"):
                        for who in order:
                            folder = folders[who]
                            if run == "1 file changed":
                                (folder / CHANGED_FILE).write_bytes(b"changed " + os.urandom(4096))
                            project = f"bench-{who}-{number}"
                            if who == "cli":
                                seconds, cli_phases[(platform, run)] = run_cli(
                                    stack, folder, project, platform, tokens[who]
                                )
                            else:
                                answer = run_browser(
                                    page, stack, folder, project=project, platform=platform, token=tokens[who]
                                )
                                seconds = answer["seconds"]
                                browser_phases[(platform, run)] = phases(answer["marks"], seconds)
                            times.setdefault((platform, run, who), []).append(seconds)
        finally:
            browser.close()
            driver.stop()
            stack.stop()
    print(
        f"\nbrowser (Chromium, sitedeploy.js) vs CLI, {args.files} files / {args.mb:.0f} MB, median of {args.rounds} "
        f"rounds; {os.cpu_count()} CPUs"
    )
    print(f"{'platform':<10} {'run':<15} {'browser s':>9} {'CLI s':>7} {'ratio':>6} {'goal':>5}  browser phases (s)")
    for platform in platforms:
        for run in ("first deploy", "1 file changed"):
            browser_s = statistics.median(times[(platform, run, "browser")])
            cli_s = statistics.median(times[(platform, run, "cli")])
            print(
                f"{platform:<10} {run:<15} {browser_s:>9.2f} {cli_s:>7.2f} {browser_s / cli_s:>5.2f}x "
                f"{GOAL:>4.1f}x  {browser_phases.get((platform, run), '')}"
            )
    print("the last round's phases, browser (from the call) and CLI (from --json; its process start-up apart):")
    for platform in platforms:
        for run in ("first deploy", "1 file changed"):
            print(f"  {platform:<10} {run:<15} browser: {browser_phases.get((platform, run), '')}")
            print(f"  {'':<10} {'':<15} CLI:     {cli_phases.get((platform, run), '')}")


if __name__ == "__main__":
    main()
