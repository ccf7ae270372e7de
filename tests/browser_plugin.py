"""Shared Playwright fixtures for browser tests (list in ``pytest_plugins``).

Uses the system Chromium, so nothing is downloaded (never ``playwright install``).
Mark browser tests ``@pytest.mark.browser`` and use pytest-django's ``live_server``.
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
    """One headless Chromium for the session (starting it costs about a second)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) and page per test, in Dutch."""
    context = browser.new_context(locale="nl-NL")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def login(page: Any, live_server: Any, user: Any, password: str | None = None) -> None:
    """Log ``user`` in through the login form (password: the factories' default)."""
    from tests.factories import PASSWORD

    page.goto(f"{live_server.url}/account/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", password or PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/account/login/" not in url)
