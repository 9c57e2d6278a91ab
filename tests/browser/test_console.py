"""The console and the browser client in real Chromium: what a person does and sees.

The page is served by the local stack on an allowed origin, moto runs with its global CORS off, so
every preflight (the API's and the staging bucket's) is answered exactly as in AWS."""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path

import pytest
import urllib3
from playwright.sync_api import Page, Route

from sitedeploy_local.console import ConsoleServer
from sitedeploy_local.stack import LOCAL_CLOUDFLARE_ACCOUNT, LOCAL_CLOUDFLARE_TOKEN, LocalStack
from tests.browser.conftest import alerts, open_console, screenshot

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
BINARY_FILES = {
    "fonts/inter.woff2": 2 * MIB,
    "images/hero.png": 4 * MIB,
    "images/photo.jpg": 3 * MIB,
    "images/icon.webp": 512 * 1024,
    "media/intro.mp4": 8 * MIB,
    "app.wasm": 5 * MIB,
    "data/blob.bin": 4 * MIB,
    "downloads/manual.pdf": 3 * MIB + 123,
}


def make_site(folder: Path, seed: str) -> dict[str, bytes]:
    """A ~30 MB built site: a page, a stylesheet and binary files of random bytes (unique per seed,
    so that nothing is already staged from another test)."""
    rng = random.Random(seed)
    files = {
        "index.html": f"<!doctype html><title>{seed}</title><link rel=stylesheet href=/style.css>{seed}".encode(),
        "style.css": f"/* {seed} */ body {{ font-family: sans-serif; }}\n".encode(),
    }
    files.update({path: rng.randbytes(size) for path, size in BINARY_FILES.items()})
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return files


def served(local_url: str, path: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", local_url.rstrip("/") + "/" + path.removesuffix("index.html"), timeout=30)


def choose_folder(page: Page, folder: Path, project: str) -> None:
    page.set_input_files("#folder", str(folder))
    page.wait_for_function("document.querySelector('#selection').textContent.includes('files')")
    page.fill("#project", project)


def deploy_with_console(page: Page, platform: str) -> dict[str, str]:
    page.click(f"#deploy-buttons button[data-platform={platform}]")
    page.wait_for_selector("#progress:not([hidden])")
    page.wait_for_selector("#progress[hidden]", state="attached", timeout=120_000)
    result = page.query_selector("#result")
    assert result is not None
    assert result.get_attribute("data-status") == "ready", (page.inner_text("#result"), alerts(page))
    return {
        "url": page.inner_text("#result-url"),
        "localUrl": page.inner_text("#result-local-url"),
        "uploaded": page.inner_text("#result-uploaded"),
    }


def hold_gets(page: Page, url: str, *, first_only: bool = False) -> list[Route]:
    """The page's GETs of ``url`` (or only the first), held unanswered in the list returned, for
    the test to answer when and how it likes; anything else (the CORS preflight) goes through."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        if route.request.method == "GET" and not (first_only and held):
            held.append(route)
        else:
            route.continue_()

    page.route(url, hold)
    return held


def until_held(page: Page, held: list[Route], count: int, what: str) -> None:
    deadline = time.monotonic() + 10
    while len(held) < count and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(held) >= count, what


# What carries one file's bytes to Netlify and Vercel (their emulators' route names).
FILE_UPLOAD_ROUTES = {"netlify": "uploadDeployFile", "vercel": "files-upload"}


@pytest.mark.parametrize("platform", ["cloudflare", "amplify", "netlify", "vercel"])
def test_a_30_mb_binary_site_goes_up_through_uploads_and_comes_back_byte_for_byte(
    page: Page, page_errors: list[str], stack: LocalStack, tmp_path: Path, platform: str
) -> None:
    folder = tmp_path / "dist"
    seed = f"{platform}-{time.time_ns()}"
    files = make_site(folder, seed)
    assert sum(map(len, files.values())) > 29 * MIB
    open_console(page, stack.console.url)
    choose_folder(page, folder, f"browser-{platform}")
    assert page.inner_text("#selection").startswith(f"dist: {len(files)} files")

    first = deploy_with_console(page, platform)
    assert first["uploaded"].startswith(f"{len(files)} of {len(files)} files")  # all through /uploads
    for path, data in files.items():
        answer = served(first["localUrl"], path)
        assert answer.status == 200, path
        assert answer.data == data, path
    screenshot(page, f"deploy-{platform}-ready")

    # One file changed: only it moves, browser → staging (and, but on Amplify, staging → platform).
    changed = "images/hero.png"
    files[changed] = random.Random(seed + changed).randbytes(64 * 1024)
    (folder / changed).write_bytes(files[changed])
    uploads_before = len(stack.cloudflare.requests_for("assets-upload"))
    route = FILE_UPLOAD_ROUTES.get(platform)
    emulator = stack.netlify if platform == "netlify" else stack.vercel
    files_before = len(emulator.requests_for(route)) if route else 0
    choose_folder(page, folder, f"browser-{platform}")
    second = deploy_with_console(page, platform)
    assert second["uploaded"].startswith(f"1 of {len(files)} files"), second["uploaded"]
    assert second["url"] == first["url"]
    if platform == "cloudflare":
        uploads = stack.cloudflare.requests_for("assets-upload")[uploads_before:]
        assert [len(u.hashes) for u in uploads] == [1]
    if route:
        assert len(emulator.requests_for(route)) - files_before == 1
    assert served(second["localUrl"], changed).data == files[changed]
    assert page_errors == []


def test_deploy_buttons_say_quick_deploy_or_your_account(page: Page, stack: LocalStack) -> None:
    open_console(page, stack.console.url)
    labels = {
        b.get_attribute("data-platform"): b.inner_text() for b in page.query_selector_all("#deploy-buttons button")
    }
    assert labels == {
        "cloudflare": "Quick Deploy to Cloudflare",
        "amplify": "Quick Deploy to AWS Amplify",
        "netlify": "Quick Deploy to Netlify",
        "vercel": "Quick Deploy to Vercel",
    }
    # Nothing chosen yet: nothing to deploy.
    assert all(b.is_disabled() for b in page.query_selector_all("#deploy-buttons button"))

    stack.set_platform_secret({})  # the service's Cloudflare account is gone: no Quick Deploy there
    stack.hosts["PlatformTokensFunction"].kill_all()  # a cold start reads the secret afresh
    try:
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        button = page.query_selector("#deploy-buttons button[data-platform=cloudflare]")
        assert button is not None
        assert button.inner_text() == "Connect Cloudflare to deploy"
        assert button.is_disabled()
    finally:
        stack.set_platform_secret()
        stack.hosts["PlatformTokensFunction"].kill_all()


def test_connect_cloudflare_a_bad_token_is_shown_and_stores_nothing_then_a_good_one_connects(
    page: Page, stack: LocalStack
) -> None:
    tokens = stack.moto.client("dynamodb")
    table = stack.resource("PlatformTokensTable")
    open_console(page, stack.console.url)
    page.click("#tab-settings")
    page.fill("#cloudflare-token", "not-a-real-token")
    page.fill("#cloudflare-account", LOCAL_CLOUDFLARE_ACCOUNT)
    page.click("#cloudflare-form button[type=submit]")
    page.wait_for_selector("#alerts .alert[data-kind=error]")
    shown = alerts(page)
    assert "credentials_rejected" in shown[-1]["text"]
    assert "not-a-real-token" not in shown[-1]["text"]
    assert page.inner_text("#cloudflare-connection") == "Not connected."
    assert tokens.scan(TableName=table)["Items"] == []
    screenshot(page, "settings-bad-token")

    page.fill("#cloudflare-token", LOCAL_CLOUDFLARE_TOKEN)
    page.click("#cloudflare-form button[type=submit]")
    page.wait_for_function("document.querySelector('#cloudflare-connection').textContent.startsWith('Connected')")
    assert LOCAL_CLOUDFLARE_ACCOUNT in page.inner_text("#cloudflare-connection")
    assert page.input_value("#cloudflare-token") == ""  # the secret does not linger in the form
    assert [item["platform"]["S"] for item in tokens.scan(TableName=table)["Items"]] == ["cloudflare"]
    screenshot(page, "settings-connected")

    page.click("#tab-deploy")
    button = page.wait_for_selector("#deploy-buttons button[data-platform=cloudflare]")
    assert button is not None
    assert button.inner_text() == "Deploy to your Cloudflare account"


@pytest.mark.parametrize("platform", ["netlify", "vercel"])
def test_connect_netlify_or_vercel_then_deploy_to_your_own_account(
    page: Page, stack: LocalStack, tmp_path: Path, platform: str
) -> None:
    token = f"browser-{platform}-own-token"
    if platform == "netlify":
        stack.netlify.add_account("browser-team", name="Browser Team")
        stack.netlify.add_token(token, ["browser-team"])
        team_field, team = "#netlify-account", "browser-team"
    else:
        stack.vercel.add_team("team_browser", "browser-team", name="Browser Team")
        stack.vercel.add_token(token, user="browser-user", teams=["team_browser"])
        team_field, team = "#vercel-team", "team_browser"
    open_console(page, stack.console.url)
    page.click("#tab-settings")
    page.fill(f"#{platform}-token", token)
    page.fill(team_field, team)
    page.click(f"#{platform}-form button[type=submit]")
    page.wait_for_function(f"document.querySelector('#{platform}-connection').textContent.startsWith('Connected')")
    assert "Browser Team" in page.inner_text(f"#{platform}-connection")
    assert page.input_value(f"#{platform}-token") == ""
    screenshot(page, f"settings-{platform}-connected")
    page.click("#tab-deploy")
    # The buttons are redrawn once the platforms are read again after connecting: wait for it.
    page.wait_for_function(
        "([p, n]) => document.querySelector(`#deploy-buttons button[data-platform=${p}]`)?.textContent"
        " === `Deploy to your ${n} account`",
        arg=[platform, platform.capitalize()],
    )
    button = page.wait_for_selector(f"#deploy-buttons button[data-platform={platform}]")
    assert button is not None
    assert button.inner_text() == f"Deploy to your {platform.capitalize()} account"
    folder = tmp_path / "own-site"
    folder.mkdir()
    (folder / "index.html").write_text(f"<h1>mine on {platform}</h1>")
    choose_folder(page, folder, f"own-{platform}")
    result = deploy_with_console(page, platform)
    assert served(result["localUrl"], "index.html").data == f"<h1>mine on {platform}</h1>".encode()
    emulator = stack.netlify if platform == "netlify" else stack.vercel
    name = result["url"].removeprefix("https://").split(".")[0]
    assert emulator.site_url(team, name)  # on the user's own team, not the service's
    page.click("#tab-settings")
    page.click(f"#{platform}-form button[data-action=disconnect]")
    page.wait_for_function(f"document.querySelector('#{platform}-connection').textContent == 'Not connected.'")


def test_sites_are_listed_and_deleted(page: Page, stack: LocalStack, tmp_path: Path) -> None:
    folder = tmp_path / "small-site"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>to be deleted</h1>")
    open_console(page, stack.console.url)
    choose_folder(page, folder, "doomed")
    result = deploy_with_console(page, "cloudflare")
    screenshot(page, "deploy")
    page.click("#tab-sites")
    row = page.wait_for_selector("#sites-table tbody tr")
    assert row is not None
    assert "doomed" in row.inner_text()
    assert result["url"] in row.inner_text()
    screenshot(page, "sites")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#sites-table tbody tr button.danger")
    page.wait_for_selector("#sites-empty:not([hidden])")
    worker = result["url"].removeprefix("https://").split(".")[0]
    assert stack.cloudflare.script(LOCAL_CLOUDFLARE_ACCOUNT, worker) is None  # gone from the platform


def test_a_page_on_an_origin_the_stack_does_not_allow_is_refused(
    page: Page, stack: LocalStack, foreign_console: ConsoleServer
) -> None:
    # The same console, served from an origin outside AllowedOrigins: the API's CORS refuses it.
    open_console(page, foreign_console.url)
    page.wait_for_selector("#alerts .alert[data-kind=error]")
    assert "cannot read the platforms" in alerts(page)[-1]["text"]
    assert page.query_selector_all("#deploy-buttons button") == []

    # So does the staging bucket, for a presigned PUT the page somehow holds.
    http = urllib3.PoolManager()
    token = stack.mint_token("dev-user")
    data = b"refused"
    sha = hashlib.sha256(data).hexdigest()
    plan = http.request(
        "POST",
        stack.api_url + "/uploads",
        json={"files": [{"path": "a.txt", "sha256": sha, "size": len(data)}]},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    upload = plan["uploads"][0]
    outcome = page.evaluate(
        """async ({url, checksum}) => {
            const headers = {'x-amz-checksum-sha256': checksum};
            try {
                const r = await fetch(url, {method: 'PUT', body: 'refused', headers});
                return 'answered ' + r.status;
            } catch (e) { return 'refused: ' + e.message; }
        }""",
        {"url": upload["url"], "checksum": upload["headers"]["x-amz-checksum-sha256"]},
    )
    assert outcome.startswith("refused"), outcome
    # The same PUT from the allowed origin goes through.
    open_console(page, stack.console.url)
    allowed = page.evaluate(
        """async ({url, checksum}) => {
            const r = await fetch(url, {method: 'PUT', body: 'refused', headers: {'x-amz-checksum-sha256': checksum}});
            return r.status;
        }""",
        {"url": upload["url"], "checksum": upload["headers"]["x-amz-checksum-sha256"]},
    )
    assert allowed == 200


def test_deploy_deploy_again_roll_back_and_see_the_old_site_then_preview_and_promote(
    page: Page, page_errors: list[str], stack: LocalStack, tmp_path: Path
) -> None:
    folder = tmp_path / "dist"
    folder.mkdir()
    open_console(page, stack.console.url)
    versions = {}
    for text in ("first version", "second version"):
        (folder / "index.html").write_text(f"<h1>{text}</h1>")
        choose_folder(page, folder, "history")
        versions[text] = deploy_with_console(page, "cloudflare")
    assert served(versions["second version"]["localUrl"], "index.html").data == b"<h1>second version</h1>"

    page.click("#tab-sites")
    page.click("#sites-table tbody tr button[aria-label^='Versions of history']")
    panel = page.wait_for_selector("tr.versions .versions-table")
    assert panel is not None
    rows = page.query_selector_all("tr.versions tbody tr")
    assert len(rows) == 2
    assert "live" in rows[0].inner_text()
    screenshot(page, "versions")
    page.click("tr.versions tbody tr:nth-child(2) button[data-action=rollback]")
    page.wait_for_selector("#alerts .alert[data-kind=success]", timeout=60_000)
    assert "rolled back" in alerts(page)[-1]["text"]
    # The panel is redrawn after the rollback: wait for the new live row, not the old table's.
    page.wait_for_selector("tr.versions tbody tr.live:has-text('rollback of')")
    assert "rollback of" in page.inner_text("tr.versions tbody tr.live")
    screenshot(page, "versions-rolled-back")
    # The site's URL serves the old content again, byte for byte.
    assert served(versions["second version"]["localUrl"], "index.html").data == b"<h1>first version</h1>"

    page.click("#tab-deploy")
    (folder / "index.html").write_text("<h1>a preview</h1>")
    choose_folder(page, folder, "history")
    page.check("#preview")
    preview = deploy_with_console(page, "cloudflare")
    assert page.inner_text("#result-title").startswith("Preview ready")
    assert served(preview["localUrl"], "index.html").data == b"<h1>a preview</h1>"  # the preview's own URL
    assert served(versions["second version"]["localUrl"], "index.html").data == b"<h1>first version</h1>"
    screenshot(page, "preview-ready")
    page.click("#tab-sites")
    page.click("#sites-table tbody tr button[aria-label^='Versions of history']")
    page.wait_for_selector("tr.versions button[data-action=promote]")
    page.click("tr.versions button[data-action=promote]")
    page.wait_for_function(
        "[...document.querySelectorAll('#alerts .alert')].some(a => a.textContent.includes('the preview is live'))",
        timeout=60_000,
    )
    assert served(versions["second version"]["localUrl"], "index.html").data == b"<h1>a preview</h1>"
    assert page_errors == []


def test_attach_a_domain_see_its_records_and_its_status_become_active(
    page: Page, page_errors: list[str], stack: LocalStack, tmp_path: Path
) -> None:
    folder = tmp_path / "dist"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>on my domain</h1>")
    open_console(page, stack.console.url)
    choose_folder(page, folder, "branded")
    deploy_with_console(page, "vercel")
    page.click("#tab-sites")
    page.click("#sites-table tbody tr button[aria-label^='Domains of branded']")
    hostname = f"www.{time.time_ns()}.example"
    page.fill("tr.domains input[name=hostname]", hostname)
    page.click("tr.domains button[type=submit]")
    block = page.wait_for_selector(f"section.domain[data-hostname='{hostname}']")
    assert block is not None
    assert block.get_attribute("data-status") == "pending_verification"
    records = page.query_selector_all(f"section.domain[data-hostname='{hostname}'] table.records tbody tr")
    assert records
    screenshot(page, "domain-records")
    for row in records:
        kind, name, value = (cell.inner_text() for cell in row.query_selector_all("td")[:3])
        stack.dns.add(name, kind, value)
    page.wait_for_selector(f"section.domain[data-hostname='{hostname}'][data-status=active]", timeout=60_000)
    screenshot(page, "domain-active")
    answer = urllib3.request(
        "GET", f"http://127.0.0.1:{stack.vercel.domains_port}/", headers={"Host": hostname}, timeout=10
    )
    assert answer.data == b"<h1>on my domain</h1>"
    page.click(f"section.domain[data-hostname='{hostname}'] button.danger")
    page.wait_for_function(
        "!document.querySelector(`section.domain[data-hostname='${arguments[0]}']`)".replace(
            "${arguments[0]}", hostname
        )
    )
    assert page_errors == []


def test_the_sites_list_cannot_be_clicked_while_stale_nor_overwritten_by_an_older_answer(
    page: Page, page_errors: list[str], stack: LocalStack
) -> None:
    """Opening the Sites tab redraws the list from the API. Until the answer is drawn, the rows on
    screen are the old ones: a click there would toggle a panel about to be replaced (a click on
    "Versions" then shows nothing). And of two refreshes, the older answer must not win."""
    http = urllib3.PoolManager()
    auth = {"Authorization": f"Bearer {stack.mint_token('dev-user')}"}
    page_html = b"<h1>listed</h1>"
    files = {"/index.html": page_html.decode()}
    accepted = http.request(
        "POST",
        stack.api_url + "/deployments/cloudflare",
        json={"files": files, "projectName": "listed", "authMode": "platform-managed"},
        headers=auth,
    ).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = http.request("GET", f"{stack.api_url}/deployments/{accepted['deploymentId']}", headers=auth).json()
        if got["status"] in ("ready", "failed"):
            break
        time.sleep(0.2)
    assert got["status"] == "ready", got
    versions_button = "#sites-table tbody tr button[aria-label^='Versions of listed']"

    open_console(page, stack.console.url)
    page.click("#tab-sites")
    page.click(versions_button)
    page.wait_for_selector("tr.versions .versions-table")
    page.click("#tab-deploy")

    sites_url = stack.api_url + "/sites"
    held = hold_gets(page, sites_url)
    busy = "document.querySelector('#sites-table tbody').getAttribute('aria-busy') === 'true'"
    page.click("#tab-sites")
    page.wait_for_function(busy, timeout=5_000)
    assert page.is_disabled(versions_button)  # the stale row waits for the list it belongs to
    page.click("#tab-deploy")
    page.click("#tab-sites")  # a second refresh while the first is unanswered
    until_held(page, held, 2, "the second refresh never read the sites")
    first, second = held
    second.continue_()
    page.wait_for_function(f"!({busy})", timeout=10_000)
    origin = stack.console.url.rstrip("/")
    # An older answer, arriving last (a valid one: CORS allows it), must not empty the list.
    first.fulfill(json={"sites": []}, headers={"Access-Control-Allow-Origin": origin})
    page.unroute(sites_url)
    page.wait_for_timeout(300)
    assert "listed" in page.inner_text("#sites-table tbody")
    assert page.is_hidden("#sites-empty")
    page.click(versions_button)  # the fresh row's button
    page.wait_for_selector("tr.versions .versions-table")
    assert all(a["kind"] != "error" for a in alerts(page)), alerts(page)
    assert page_errors == []


def test_an_older_answer_about_connections_never_overwrites_a_newer_one(page: Page, stack: LocalStack) -> None:
    """Opening Settings reads the connections; connecting reads them again. If the first answer
    arrives last, it must not say "Not connected." of an account just connected."""
    connections_url = stack.api_url + "/platform-tokens"
    open_console(page, stack.console.url)
    held = hold_gets(page, connections_url, first_only=True)
    page.click("#tab-settings")
    until_held(page, held, 1, "the Settings tab never read the connections")
    page.fill("#cloudflare-token", LOCAL_CLOUDFLARE_TOKEN)
    page.fill("#cloudflare-account", LOCAL_CLOUDFLARE_ACCOUNT)
    page.click("#cloudflare-form button[type=submit]")
    page.wait_for_function("document.querySelector('#cloudflare-connection').textContent.startsWith('Connected')")
    origin = stack.console.url.rstrip("/")
    held[0].fulfill(json={"connections": []}, headers={"Access-Control-Allow-Origin": origin})
    page.unroute(connections_url)
    page.wait_for_timeout(300)
    assert page.inner_text("#cloudflare-connection").startswith("Connected")
    page.click("#cloudflare-form button[data-action=disconnect]")
    page.wait_for_function("document.querySelector('#cloudflare-connection').textContent == 'Not connected.'")


def test_an_older_answer_about_platforms_never_redraws_the_deploy_buttons(page: Page, stack: LocalStack) -> None:
    """Connecting and then disconnecting read the platforms twice. If the first answer (connected)
    arrives after the second (not connected), the buttons must still offer Quick Deploy."""
    auth = {"Authorization": f"Bearer {stack.mint_token('dev-user')}"}
    stale = urllib3.request("GET", stack.api_url + "/platforms", headers=auth).json()
    for row in stale["platforms"]:
        if row["platform"] == "cloudflare":
            row["connected"] = True
    platforms_url = stack.api_url + "/platforms"
    open_console(page, stack.console.url)
    page.click("#tab-settings")
    held = hold_gets(page, platforms_url, first_only=True)
    page.fill("#cloudflare-token", LOCAL_CLOUDFLARE_TOKEN)
    page.fill("#cloudflare-account", LOCAL_CLOUDFLARE_ACCOUNT)
    page.click("#cloudflare-form button[type=submit]")
    page.wait_for_function("document.querySelector('#cloudflare-connection').textContent.startsWith('Connected')")
    until_held(page, held, 1, "connecting never read the platforms")
    button = "#deploy-buttons button[data-platform=cloudflare]"
    page.eval_on_selector(button, "b => { b.dataset.old = 'drawn before disconnecting'; }")
    page.click("#cloudflare-form button[data-action=disconnect]")
    page.wait_for_function("document.querySelector('#cloudflare-connection').textContent == 'Not connected.'")
    page.wait_for_selector(f"{button}:not([data-old])", state="attached")  # redrawn from the newer answer
    assert page.text_content(button) == "Quick Deploy to Cloudflare"
    origin = stack.console.url.rstrip("/")
    held[0].fulfill(json=stale, headers={"Access-Control-Allow-Origin": origin})
    page.unroute(platforms_url)
    page.wait_for_timeout(300)
    assert page.text_content(button) == "Quick Deploy to Cloudflare"


def test_a_failed_re_read_of_the_sites_gives_the_rows_back_and_says_why(page: Page, stack: LocalStack) -> None:
    auth = {"Authorization": f"Bearer {stack.mint_token('dev-user')}"}
    http = urllib3.PoolManager()
    accepted = http.request(
        "POST",
        stack.api_url + "/deployments/cloudflare",
        json={"files": {"/index.html": "<h1>kept</h1>"}, "projectName": "kept", "authMode": "platform-managed"},
        headers=auth,
    ).json()
    deadline = time.monotonic() + 60
    while (
        http.request("GET", f"{stack.api_url}/deployments/{accepted['deploymentId']}", headers=auth).json()["status"]
        not in ("ready", "error")
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    button = "#sites-table tbody tr button[aria-label^='Versions of kept']"
    open_console(page, stack.console.url)
    page.click("#tab-sites")
    page.wait_for_selector(button)
    page.click("#tab-deploy")
    sites_url = stack.api_url + "/sites"
    held = hold_gets(page, sites_url, first_only=True)
    page.click("#tab-sites")
    until_held(page, held, 1, "the Sites tab never read the sites")
    assert page.is_disabled(button)
    origin = stack.console.url.rstrip("/")
    held[0].fulfill(
        status=403, json={"code": "forbidden", "message": "no"}, headers={"Access-Control-Allow-Origin": origin}
    )
    page.unroute(sites_url)
    page.wait_for_selector("#alerts .alert[data-kind=error]")
    assert "cannot list the sites" in alerts(page)[-1]["text"]
    assert page.is_enabled(button)  # the rows on screen are usable again
    assert page.get_attribute("#sites-table tbody", "aria-busy") is None
