"""In a real Chromium: write, reply and send from the e-mail module and see the mail
under Verzonden; autosave survives a closed tab (online and offline); the Template
tab's live preview."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import time

import pytest
from django.utils import timezone

from postkamer.fetching import engine as fetch_engine
from postkamer.messages.models import Message
from postkamer.sending.models import MailTemplate, OutgoingMessage
from tests import factories
from tests.browser_plugin import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-results"
SHOTS.mkdir(exist_ok=True)


@pytest.fixture
def office_box(settings, dovecot, smtp_servers, imap_user):
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    email_, password = imap_user
    smtp_servers.users[email_] = password
    tenant = factories.tenant("Kantoor Schrijven")
    advisor = factories.user(tenant, rights=("email_manager",))
    mailbox = factories.dovecot_mailbox(
        tenant,
        dovecot,
        email_,
        password,
        owners=(advisor,),
        name="Info",
        sender_address=email_,
        display_name="Kantoor Schrijven",
        smtp_host="127.0.0.1",
        smtp_port=smtp_servers.starttls_port,
        smtp_security="starttls",
        sent_folder="Sent",
        sync_since=timezone.now() - dt.timedelta(days=1),
    )
    MailTemplate.objects.create(
        mailbox=mailbox,
        font_family="Verdana",
        font_size=12,
        signature_html="<p>Met vriendelijke groet,<br>Kantoor Schrijven</p>",
    )
    first = len(smtp_servers.messages)

    class Box:
        pass

    box = Box()
    box.mailbox, box.advisor, box.email, box.smtp = mailbox, advisor, email_, smtp_servers
    box.received = lambda rcpt: [
        m for m in list(smtp_servers.messages)[first:] if rcpt in m.rcpt_tos
    ]
    yield box
    fetch_engine.pool.clear()


def _type_in_editor(page, text: str) -> None:
    editor = page.locator(".editor-body")
    editor.click(position={"x": 8, "y": 8})
    page.keyboard.press("Control+Home")
    page.keyboard.type(text)


def test_write_a_new_message_send_it_and_see_it_under_verzonden(page, live_server, office_box):
    box = office_box
    factories.message(box.mailbox, sender="jan.klant@voorbeeld.test", subject="Eerder contact")
    login(page, live_server, box.advisor)
    page.goto(f"{live_server.url}/email/outgoing/")
    page.get_by_role("link", name="Nieuw bericht").click()
    page.wait_for_url(re.compile(r"/email/compose/"))
    # The editor starts in the template's font, with the signature.
    editor = page.locator(".editor-body")
    assert "Verdana" in editor.evaluate("e => getComputedStyle(e).fontFamily")
    assert "Kantoor Schrijven" in editor.inner_text()
    page.fill("#id_to", "jan.kl")
    page.locator("#suggest-to li", has_text="jan.klant@voorbeeld.test").click()
    assert page.input_value("#id_to") == "jan.klant@voorbeeld.test, "
    page.fill("#id_subject", "Offerte inboedel")
    _type_in_editor(page, "Beste Jan, hierbij de offerte.")
    page.get_by_role("button", name="Verzenden").click()
    page.wait_for_url(re.compile(r"/email/outgoing/\?sent="))
    page.locator("td.send-state", has_text="verzonden").wait_for()

    [received] = box.received("jan.klant@voorbeeld.test")
    msg = email.message_from_bytes(received.raw, policy=email.policy.default)
    assert msg["Subject"] == "Offerte inboedel"
    assert "Beste Jan, hierbij de offerte." in msg.get_body(("plain",)).get_content()

    page.goto(f"{live_server.url}/email/?mailbox={box.mailbox.pk}&folder=sent")
    page.locator("#message-list td.subject", has_text="Offerte inboedel").wait_for()
    page.screenshot(path=str(SHOTS / "sent-folder.png"), full_page=True)


def test_reply_from_the_module_threads_and_quotes_the_original(
    page, live_server, office_box, dovecot
):
    box = office_box
    dovecot.deliver(
        box.email,
        b"From: Jan Klant <jan.klant@voorbeeld.test>\r\nTo: info@kantoor.test\r\n"
        b"Subject: Vraag over mijn polis\r\nMessage-ID: <polis-vraag@voorbeeld.test>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nWanneer loopt mijn polis af?\r\n",
    )
    box.mailbox.refresh_from_db()
    assert fetch_engine.fetch_mailbox(box.mailbox).ok
    original = Message.objects.get(mailbox=box.mailbox, folder="inbox")
    login(page, live_server, box.advisor)
    page.goto(f"{live_server.url}/email/compose/?reply_to={original.pk}&mode=reply")
    assert page.input_value("#id_to") == "Jan Klant <jan.klant@voorbeeld.test>"
    assert page.input_value("#id_subject") == "Re: Vraag over mijn polis"
    assert "Wanneer loopt mijn polis af?" in page.locator(".editor-body blockquote").inner_text()
    _type_in_editor(page, "Op 1 januari.")
    page.screenshot(path=str(SHOTS / "reply.png"), full_page=True)
    page.get_by_role("button", name="Verzenden").click()
    page.locator("td.send-state", has_text="verzonden").wait_for()
    msg = email.message_from_bytes(
        box.received("jan.klant@voorbeeld.test")[-1].raw, policy=email.policy.default
    )
    assert msg["In-Reply-To"] == "<polis-vraag@voorbeeld.test>"
    page.goto(f"{live_server.url}/email/?mailbox={box.mailbox.pk}&folder=sent")
    page.locator("#message-list td.subject", has_text="Re: Vraag over mijn polis").wait_for()


def _wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_autosave_keeps_what_was_typed_when_the_tab_is_closed(page, live_server, office_box):
    box = office_box
    login(page, live_server, box.advisor)
    page.goto(f"{live_server.url}/email/compose/?mailbox={box.mailbox.pk}")
    page.fill("#id_subject", "Half af")
    _type_in_editor(page, "Dit typte ik voor het sluiten.")
    page.close()  # no button pressed: pagehide and the autosave timer must do it

    draft = _wait_for(lambda: OutgoingMessage.objects.filter(author=box.advisor).first())
    _wait_for(lambda: "voor het sluiten" in OutgoingMessage.objects.get(pk=draft.pk).body_html)
    reopened = page.context.new_page()
    reopened.goto(f"{live_server.url}/email/outgoing/")
    reopened.get_by_role("link", name="Half af").click()
    assert "Dit typte ik voor het sluiten." in reopened.locator(".editor-body").inner_text()
    assert OutgoingMessage.objects.filter(author=box.advisor).count() == 1


def test_typed_text_survives_a_lost_connection_and_reaches_the_server_later(
    page, live_server, office_box
):
    box = office_box
    login(page, live_server, box.advisor)
    page.goto(f"{live_server.url}/email/compose/?mailbox={box.mailbox.pk}")
    page.context.set_offline(True)
    page.fill("#id_subject", "Zonder verbinding")
    _type_in_editor(page, "Getypt zonder internet.")
    page.locator("[data-autosave-status]", has_text="bewaard in deze browser").wait_for()
    page.close()
    assert not OutgoingMessage.objects.filter(author=box.advisor).exists()

    page.context.set_offline(False)
    later = page.context.new_page()
    later.goto(f"{live_server.url}/email/outgoing/")
    later.get_by_role("link", name="Zonder verbinding").wait_for()
    later.get_by_role("link", name="Zonder verbinding").click()
    assert "Getypt zonder internet." in later.locator(".editor-body").inner_text()


def test_the_template_tab_shows_a_live_preview_and_saves(page, live_server, office_box):
    box = office_box
    login(page, live_server, box.advisor)
    page.goto(f"{live_server.url}/beheer/e-mailmanager/{box.mailbox.pk}/")
    page.get_by_role("link", name="Template").click()
    page.wait_for_url(re.compile(r"/template/$"))
    preview = page.locator("[data-template-preview]")
    page.select_option("#id_font_family", "Georgia")
    page.select_option("#id_font_size", "16")
    page.locator("#id_font_color").evaluate(
        "e => { e.value = '#1f3864'; e.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    style = preview.evaluate(
        "e => [getComputedStyle(e).fontFamily, getComputedStyle(e).fontSize, getComputedStyle(e).color]"
    )
    assert style[0].startswith("Georgia") and style[1] == "21.3333px"
    assert style[2] == "rgb(31, 56, 100)"
    editor = page.locator(".editor-body")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" Team Schade")
    page.locator("[data-preview-signature]", has_text="Team Schade").wait_for()
    page.screenshot(path=str(SHOTS / "template-tab.png"), full_page=True)
    page.get_by_role("button", name="Opslaan").click()
    page.locator(".flash li", has_text="Template opgeslagen").wait_for()
    template = MailTemplate.objects.get(mailbox=box.mailbox)
    assert (template.font_family, template.font_size, template.font_color) == (
        "Georgia",
        16,
        "#1f3864",
    )
    assert "Team Schade" in template.signature_html
    assert box.mailbox.audit_entries.filter(action="template_changed").exists()


def test_an_advisors_day_fetch_search_read_reply_and_find_the_answer_under_verzonden(
    page, live_server, office_box, dovecot
):
    box = office_box
    box.advisor.default_mailbox = box.mailbox
    box.advisor.save(update_fields=["default_mailbox"])
    dovecot.deliver(
        box.email,
        b"From: Petra Bakker <petra@klant.test>\r\nTo: info@kantoor.test\r\n"
        b"Subject: Schade aan mijn auto\r\nMessage-ID: <schade-golf@klant.test>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Mijn Golf is aangereden. Wat moet ik doen?</p>\r\n",
    )
    dovecot.deliver(
        box.email,
        b"From: nieuws@bank.test\r\nSubject: Nieuwsbrief december\r\n"
        b"Message-ID: <nieuws-12@bank.test>\r\n\r\nRente omlaag.\r\n",
    )
    login(page, live_server, box.advisor)
    page.click("a.envelope")  # the envelope opens the default mailbox
    page.wait_for_url(re.compile(r"/email/"))
    page.get_by_role("button", name="E-mail ophalen").click()
    page.locator("table.messages td.subject", has_text="Schade aan mijn auto").wait_for()

    page.fill("input[name=q]", "aangereden")
    page.click(".search-form button[type=submit]")
    page.wait_for_url(re.compile(r"q=aangereden"))
    assert page.locator("table.messages tbody tr").count() == 1
    page.locator("table.messages td.subject a").click()
    page.wait_for_url(re.compile(r"/email/messages/\d+/$"))
    page.frame_locator("iframe.message-body").locator("text=is aangereden").wait_for()

    page.get_by_role("link", name="Beantwoorden", exact=True).click()
    page.wait_for_url(re.compile(r"/email/compose/"))
    assert page.input_value("#id_to") == "Petra Bakker <petra@klant.test>"
    assert page.input_value("#id_subject") == "Re: Schade aan mijn auto"
    _type_in_editor(page, "Beste Petra, vul het schadeformulier in.")
    page.get_by_role("button", name="Verzenden").click()
    page.locator("td.send-state", has_text="verzonden").wait_for()

    [answer] = box.received("petra@klant.test")
    msg = email.message_from_bytes(answer.raw, policy=email.policy.default)
    assert msg["In-Reply-To"] == "<schade-golf@klant.test>"
    assert "Verdana" in msg.get_body(("html",)).get_content()  # the template's font

    page.goto(f"{live_server.url}/email/?mailbox={box.mailbox.pk}&folder=sent")
    page.locator("table.messages td.subject a", has_text="Re: Schade aan mijn auto").click()
    page.wait_for_url(re.compile(r"/email/messages/\d+/$"))
    page.locator(".send-state", has_text="verzonden").wait_for()
    # The conversation links the answer to the customer's message.
    page.locator(".thread", has_text="Schade aan mijn auto").wait_for()
    page.screenshot(path=str(SHOTS / "advisors-day.png"), full_page=True)
