"""Real Chromium (Debian's ``chromium``) driven by Playwright for Python, against the session's
local stack. Playwright's own browser download is not used: the installed executable is.

Screenshots of the screens a person looks at are kept in ``test-artifacts/browser/``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from sitedeploy_local.console import ConsoleServer
from sitedeploy_local.stack import REPO_ROOT, LocalStack

ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
# What Chromium needs on these machines: no sandbox as root, and none of the background traffic a
# closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    found = os.environ.get("SITEDEPLOY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "the browser tests need Chromium: `make test` installs Debian's chromium package "
            "(scripts/install-chromium), or point SITEDEPLOY_CHROMIUM at a Chromium executable"
        )
    return found


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, clean: LocalStack) -> Iterator[Page]:
    """A fresh browser context: no storage carried over from another test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()


@pytest.fixture
def page_errors(page: Page) -> list[str]:
    """Uncaught errors of the page's scripts, from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


@pytest.fixture(scope="session")
def foreign_console(stack: LocalStack) -> Iterator[ConsoleServer]:
    """The same console on an origin the stack does not allow: what a page elsewhere sees."""
    server = ConsoleServer(stack.console.root, stack.console_config)
    server.start()
    yield server
    server.stop()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_console(page: Page, base_url: str) -> Page:
    page.goto(base_url + "/index.html")
    page.wait_for_selector("body[data-ready=true]")
    return page


def alerts(page: Page) -> list[dict[str, Any]]:
    return [
        {"kind": el.get_attribute("data-kind"), "text": el.inner_text()}
        for el in page.query_selector_all("#alerts .alert")
    ]
