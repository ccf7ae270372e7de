"""Real Chromium for UI tests: Debian's build driven by pip playwright (no downloads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/lib/chromium/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(locale="nl-NL", timezone_id="Europe/Amsterdam")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def login(page, live_server, user, password: str | None = None) -> None:
    """Log ``user`` in through the login form."""
    from tests.factories import PASSWORD

    page.goto(f"{live_server.url}/account/login/")
    page.get_by_label("E-mailadres").fill(user.email)
    page.get_by_label("Wachtwoord").fill(password or PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_load_state()
