"""In real Chromium: "Verbinden met Microsoft" through the local sign-in page and back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from postkamer.mailboxes import oauth
from postkamer.mailboxes.models import Mailbox
from tests.browser_plugin import login
from tests.oauth.conftest import office_with_mailbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_connects_an_office_365_mailbox_in_the_browser(
    browser, live_server, settings, microsoft, dovecot
):
    settings.BASE_URL = live_server.url  # the redirect URI leads back to this server
    office = office_with_mailbox(dovecot)
    person = "jan@kantoor.test"
    microsoft.delegates[person] = office.address
    # Chromium does not know the test CA; Postkamer's own calls trust it via
    # POSTKAMER_CA_FILE, which is what the tests are about.
    context = browser.new_context(
        locale="nl-NL", timezone_id="Europe/Amsterdam", ignore_https_errors=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        login(page, live_server, office.admin)
        page.goto(f"{live_server.url}/beheer/e-mailmanager/{office.mailbox.pk}/")
        expect(page.locator(".oauth-status")).to_have_text("Nog niet verbonden.")

        # First the person changes their mind at the sign-in page.
        page.get_by_role("link", name="Verbinden met Microsoft").click()
        expect(page.get_by_role("heading", name="Aanmelden bij de testomgeving")).to_be_visible()
        page.get_by_role("button", name="Weigeren").click()
        expect(page.get_by_text("Er is niets gewijzigd.")).to_be_visible()
        assert oauth.status(Mailbox.objects.get(pk=office.mailbox.pk)) == oauth.NOT_CONNECTED

        page.get_by_role("link", name="Verbinden met Microsoft").click()
        page.get_by_label("Account").fill(person)
        page.get_by_role("button", name="Accepteren").click()
        expect(page.get_by_text(f"is verbonden met Microsoft als {person}")).to_be_visible()
        expect(page.locator(".oauth-status")).to_have_text(f"Verbonden als {person}.")
        expect(page.get_by_text("niet als het afzenderadres").first).to_be_visible()
        assert page.url == f"{live_server.url}/beheer/e-mailmanager/{office.mailbox.pk}/"
        assert oauth.account(office.mailbox) == person
        page.screenshot(path=str(_screenshots() / "office365-verbonden.png"), full_page=True)

        page.get_by_role("button", name="Verbinding testen").click()
        results = page.locator("#connection-results")
        expect(results).to_contain_text("IMAP: Verbinding OK")
        expect(results).to_contain_text("SMTP: Verbinding OK")
    finally:
        context.close()


def _screenshots():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "test-results"
    path.mkdir(exist_ok=True)
    return path
