"""Fixtures for the real-browser tests: headless Chromium driven by Playwright."""

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def chromium_path():
    path = shutil.which("chromium")
    if path is None:
        reason = "Chromium is not installed: apt-get install chromium"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
def browser_page(chromium_path, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM refuses
    # to run next to one unless told it is safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()
        # Under Playwright's event loop the ORM keeps its connections per context,
        # so the test's connection is closed here or it outlives the test database.
        connections.close_all()


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where a browser test keeps its screenshots for people to look at:
    SCREENSHOT_DIR (CI keeps them as artefacts), else the test's tmp_path."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def admin_login(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click('input[type="submit"]')
    page.wait_for_selector("#user-tools")
