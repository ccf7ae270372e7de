"""In a real Chromium: set up a mailbox on the test Dovecot, press fetch, read the mail;
and watch a mailbox with a wrong password switch itself off."""

from __future__ import annotations

import importlib.util
import re

import pytest
from playwright.sync_api import expect

from postkamer.accounts.models import Notification
from postkamer.mailboxes.models import Mailbox
from tests import factories
from tests.browser_plugin import login

engine_available = importlib.util.find_spec("postkamer.fetching.engine") is not None

SHOTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-results"
SHOTS.mkdir(exist_ok=True)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not engine_available,
        reason="the fetch engine (branch fetch) is not merged yet: pressing fetch cannot run",
    ),
]


def _message(subject: str) -> bytes:
    return (
        "From: Jan Jansen <jan@klant.test>\r\nTo: info@kantoor.test\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@klant.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBeste kantoor,\r\n"
    ).encode()


@pytest.fixture
def browser_env(settings, dovecot):
    # The live server runs in this process, so the override reaches its requests and
    # the fetch that Huey (immediate in tests) runs on commit.
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    return dovecot


def test_owner_sets_up_a_mailbox_presses_fetch_and_sees_the_new_mail(
    page, live_server, browser_env, imap_user
):
    dovecot = browser_env
    email, password = imap_user
    tenant = factories.tenant("Kantoor Browser")
    owner = factories.user(tenant, rights=("email_manager",))
    login(page, live_server, owner)

    page.goto(f"{live_server.url}/beheer/e-mailmanager/new/")
    page.fill("input[name=name]", "Info")
    page.fill("input[name=sender_address]", email)
    page.select_option("select[name=interval]", "5")
    page.fill("input[name=imap_host]", "127.0.0.1")
    page.fill("input[name=imap_port]", str(dovecot.imap_port))
    page.select_option("select[name=imap_security]", "starttls")
    page.fill("input[name=imap_username]", email)
    page.fill("input[name=imap_password]", password)
    page.fill("input[name=smtp_host]", "127.0.0.1")
    page.click("button.primary[type=submit]")
    page.wait_for_url(re.compile(r"/beheer/e-mailmanager/\d+/$"))
    mailbox = Mailbox.objects.get(tenant=tenant)
    assert mailbox.interval_minutes == 5

    # IMAP mappen ophalen: the \Sent and \Junk folders come preselected.
    page.click("text=IMAP mappen ophalen")
    assert page.locator("select[name=sent_folder]").input_value() == "Sent"
    assert page.locator("select[name=junk_folder]").input_value() == "Junk"
    page.click("button.primary[type=submit] >> nth=0")
    page.wait_for_selector(".flash li")
    mailbox.refresh_from_db()
    assert (mailbox.sent_folder, mailbox.junk_folder) == ("Sent", "Junk")

    subjects = ["Schademelding auto", "Offerte woonhuis", "Vraag over polis"]
    for subject in subjects:
        dovecot.deliver(email, _message(subject))

    page.click("a.envelope")
    page.wait_for_url(re.compile(r"/email/"))
    assert page.locator(".fetch-status").inner_text() == "Nog niet opgehaald."
    page.click("text=E-mail ophalen")
    status = page.locator(".fetch-status")
    status.filter(has_text="3 nieuwe berichten").wait_for()
    assert re.fullmatch(r"Opgehaald om \d\d:\d\d: 3 nieuwe berichten", status.inner_text())
    for subject in subjects:
        page.locator("#message-list td.subject", has_text=subject).wait_for()
    # The script swapped the list in place: the page itself was not reloaded.
    assert page.url.endswith("/email/")
    page.screenshot(path=str(SHOTS / "email-module.png"), full_page=True)


def test_wrong_password_disables_the_mailbox_after_max_errors_and_tells_the_owner(
    page, live_server, browser_env, imap_user
):
    from postkamer.fetching import engine
    from postkamer.fetching.models import FetchRun
    from postkamer.fetching.queue import request_fetch

    dovecot = browser_env
    email, _password = imap_user
    tenant = factories.tenant("Kantoor Fout")
    owner = factories.user(tenant, rights=("email_manager",))
    mailbox = factories.dovecot_mailbox(
        tenant,
        dovecot,
        email,
        "verkeerd-wachtwoord",
        owners=(owner,),
        name="Schade",
        interval_minutes=5,
        max_errors=2,
    )
    login(page, live_server, owner)
    page.goto(f"{live_server.url}/email/?mailbox={mailbox.pk}")
    status = page.locator(".fetch-status")
    for _ in range(3):
        page.click("text=E-mail ophalen")
        status.filter(has_text="Ophalen mislukt").wait_for()
        expect(page.locator("form.fetch-form button")).to_be_enabled()

    assert "wachtwoord" in status.inner_text()
    assert "error" in (status.get_attribute("class") or "")
    # Pressing the button against a broken server never switches the mailbox off.
    mailbox.refresh_from_db()
    assert mailbox.interval_minutes == 5 and not mailbox.is_disabled
    # Two scheduled fetches fail: now it is switched off.
    for _ in range(2):
        run = request_fetch(mailbox, trigger=FetchRun.Trigger.INTERVAL, enqueue=False)
        engine.run_queued(run.pk)
    page.reload()
    page.locator(".mailbox-view .notice.error").wait_for()

    mailbox.refresh_from_db()
    assert mailbox.interval_minutes is None and mailbox.disabled_reason
    assert Notification.objects.filter(user=owner, mailbox=mailbox).count() == 1

    page.goto(f"{live_server.url}/beheer/e-mailmanager/")
    row = page.locator("tr.disabled", has_text="Schade")
    assert "Uitgeschakeld" in row.locator(".status.error").inner_text()
    assert mailbox.disabled_reason in row.inner_text()

    bell = page.locator("a.bell .count")
    assert bell.inner_text() == "1"
    page.click("a.bell")
    assert mailbox.name in page.locator(".notifications").inner_text()
    assert page.locator("a.bell .count").count() == 0
