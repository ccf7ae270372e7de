"""Real Chromium for browser tests: a session-wide ``browser``, a fresh ``page`` per test.

Uses the system's Debian chromium (never ``playwright install``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("POSTKAMER_CHROMIUM", "/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a new browser context (own cookies), Dutch like our users."""
    context = browser.new_context(locale="nl-NL", timezone_id="Europe/Amsterdam")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def login(page: Any, live_server: Any, user: Any, password: str | None = None) -> None:
    """Log ``user`` in through the login form."""
    from tests.factories import PASSWORD

    page.goto(f"{live_server.url}/account/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", password or PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(lambda url: "/account/login/" not in url)
