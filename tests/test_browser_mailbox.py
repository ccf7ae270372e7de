"""In real Chromium: log in, create a mailbox, see a Dutch validation error, fix it,
save, and test the connection against the real Dovecot and SMTP servers."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from postkamer.mailboxes.models import Mailbox
from tests import factories
from tests.browser_plugin import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_administrator_creates_a_mailbox_and_sees_verbinding_ok(
    page, live_server, settings, dovecot, smtp_servers
):
    email, password = dovecot.new_user()
    smtp_servers.users[email] = password
    settings.POSTKAMER_CA_FILE = str(dovecot.ca_file)
    settings.POSTKAMER_ALLOW_PRIVATE_HOSTS = True
    tenant = factories.tenant("Browser kantoor")
    admin = factories.user(tenant, rights=("email_manager", "multi_user", "repair_sync"))

    login(page, live_server, admin)
    page.get_by_role("link", name="Beheer → E-mailmanager").click()
    expect(page.get_by_role("heading", name="E-mailmanager")).to_be_visible()
    page.get_by_role("link", name="Nieuwe e-mailbox").click()

    page.get_by_label("Naam", exact=True).fill("Info")
    page.get_by_label("Afzenderadres").fill(email)
    page.get_by_label("IMAP-server").fill("127.0.0.1")
    page.get_by_label("IMAP-poort").fill("99999")
    page.get_by_label("IMAP-gebruikersnaam").fill(email)
    page.get_by_label("IMAP-wachtwoord").fill(password)
    page.get_by_label("SMTP-server").fill("127.0.0.1")
    page.get_by_label("SMTP-poort").fill(str(smtp_servers.starttls_port))
    page.get_by_role("button", name="Opslaan").click()

    expect(page.get_by_text("Vul een poortnummer van 1 tot en met 65535 in.")).to_be_visible()
    assert not Mailbox.objects.filter(tenant=tenant).exists()

    page.get_by_label("IMAP-poort").fill(str(dovecot.imaps_port))
    page.get_by_label("IMAP-wachtwoord").fill(password)  # never echoed back
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_text("E-mailbox 'Info' is opgeslagen.")).to_be_visible()

    page.get_by_role("button", name="Verbinding testen").click()
    results = page.locator("#connection-results")
    expect(results).to_contain_text("IMAP: Verbinding OK")
    expect(results).to_contain_text("SMTP: Verbinding OK")
    page.screenshot(path=str(live_server_screenshot_dir() / "mailbox-verbinding-ok.png"))


def live_server_screenshot_dir():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "test-results"
    path.mkdir(exist_ok=True)
    return path
