"""The tab "Automatisch antwoord" in a real Chromium: write the reply in the editor,
watch the preview, get every mistake named, save, and see the replies listed."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from postkamer.autoreply.models import AutoReply, ReplyDecision, State
from postkamer.sending.actions import do_set_template
from tests import factories
from tests.browser_plugin import login

SHOTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-results"
SHOTS.mkdir(exist_ok=True)

pytestmark = [pytest.mark.browser]


def test_a_manager_writes_previews_corrects_and_saves_the_automatic_reply(
    live_server, transactional_db, page
):
    tenant = factories.tenant("Kantoor Vakantie")
    manager = factories.user(tenant, rights=("email_manager",), email="beheer@vakantie.test")
    box = factories.mailbox(
        tenant, name="Schade", sender_address="schade@vakantie.test", display_name="Schadeteam"
    )
    box.owner_users.add(manager)
    do_set_template(
        box,
        actor=manager,
        font_family="Georgia",
        font_size=12,
        font_color="#112233",
        signature_html="<p>Met vriendelijke groet,<br>Het schadeteam</p>",
    )
    answered = factories.message(box, subject="Ruit kapot", sender="anna@klant.test")
    ReplyDecision.objects.create(
        mailbox=box,
        message=answered,
        recipient="anna@klant.test",
        state=State.SENT,
        subject="Automatisch antwoord: Ruit kapot",
        decided_at=timezone.now(),
    )
    unreachable = factories.message(box, subject="Schade melden", sender="bram@klant.test")
    ReplyDecision.objects.create(
        mailbox=box,
        message=unreachable,
        recipient="bram@klant.test",
        state=State.FAILED,
        subject="Automatisch antwoord: Schade melden",
        error_code="connection_refused",
        decided_at=timezone.now() - timezone.timedelta(minutes=1),
    )

    login(page, live_server, manager)
    page.goto(f"{live_server.url}/beheer/e-mailmanager/")
    page.click(f"text={box.name}")
    tabs = page.locator("nav.tabs a")
    labels = [t.strip() for t in tabs.all_inner_texts()]
    assert labels.index("Automatisch antwoord") == labels.index("Beveiliging") - 1
    page.click("nav.tabs a:has-text('Automatisch antwoord')")
    page.wait_for_url(f"**/beheer/e-mailmanager/{box.pk}/automatisch-antwoord/")
    assert "Uit:" in page.inner_text("#autoreply-status")

    # The editor replaces the HTML field; the preview follows every keystroke.
    assert page.locator("textarea[name=body_html]").is_hidden()
    editor = page.locator("#body-editor")
    assert editor.is_visible()
    preview_subject = page.locator("#preview-subject")
    assert preview_subject.inner_text() == "Automatisch antwoord: Vraag over mijn polis"
    page.fill("input[name=subject]", "Afwezig - {original subject}")
    assert preview_subject.inner_text() == "Afwezig - Vraag over mijn polis"
    assert "Schadeteam <schade@vakantie.test>" in page.inner_text(".preview-head")
    editor.click()
    page.keyboard.type("Wij zijn gesloten tot maandag.")
    page.keyboard.press("Control+A")
    page.click(".editor-toolbar button[data-command=bold]")
    # In the template's font, with the signature under it, as the customer gets it.
    preview = page.frame_locator("#preview-body")
    assert preview.locator("b").inner_text() == "Wij zijn gesloten tot maandag."
    style = preview.locator("body > div").get_attribute("style")
    assert "font-family: Georgia" in style and "font-size: 12pt" in style
    assert "color: #112233" in style
    assert "Het schadeteam" in preview.locator("body > div").inner_text()
    assert "Georgia" in editor.evaluate("e => getComputedStyle(e).fontFamily")

    # Three mistakes at once, each named, and nothing typed is lost.
    page.check("input[name=enabled]")
    page.fill("input[name=starts_at]", "2026-12-24T17:00")
    page.fill("input[name=ends_at]", "2026-12-20T09:00")
    page.fill("input[name=interval_days]", "0")
    page.fill("input[name=subject]", "")
    page.click("button:has-text('Opslaan')")
    errors = page.locator(".field .error")
    assert sorted(errors.all_inner_texts()) == sorted(
        [
            "Einde: kies een moment na het begin (24-12-2026 17:00).",
            "Dagen tussen twee antwoorden aan dezelfde afzender: vul minimaal 1 in.",
            "Onderwerp: vul een onderwerp in, of zet het automatisch antwoord uit.",
        ]
    )
    assert page.input_value("input[name=ends_at]") == "2026-12-20T09:00"
    assert page.locator("#body-editor b").inner_text() == "Wij zijn gesloten tot maandag."
    assert not AutoReply.objects.exists()
    page.screenshot(path=str(SHOTS / "auto-reply-errors.png"), full_page=True)

    page.fill("input[name=ends_at]", "2027-01-04T08:30")
    page.fill("input[name=interval_days]", "3")
    page.fill("input[name=subject]", "Afwezig: {original subject}")
    page.click("button:has-text('Opslaan')")
    page.wait_for_selector(".flash li")
    assert page.inner_text(".flash li") == "Aan vanaf 24-12-2026 17:00."
    config = AutoReply.objects.get(pk=box.pk)
    assert config.enabled and config.interval_days == 3
    assert config.body_html == "<b>Wij zijn gesloten tot maandag.</b>"
    assert re.search(r"Afwezig: Vraag over mijn polis", preview_subject.inner_text())
    assert page.locator("#body-editor b").inner_text() == "Wij zijn gesloten tot maandag."

    # What customers received: to whom, when, for which message.
    row = page.locator("table.replies tbody tr").first
    assert "anna@klant.test" in row.inner_text()
    assert "Ruit kapot" in row.inner_text()
    assert "verstuurd" in row.inner_text()
    # A reply that failed says why.
    failed = page.locator("table.replies tbody tr").nth(1)
    assert "bram@klant.test" in failed.inner_text()
    assert "mislukt" in failed.inner_text()
    assert "de mailserver was niet bereikbaar" in failed.inner_text()
    page.screenshot(path=str(SHOTS / "auto-reply-tab.png"), full_page=True)

    page.goto(f"{live_server.url}/beheer/e-mailmanager/{box.pk}/log/")
    assert "heeft het automatisch antwoord aangezet en gewijzigd" in page.inner_text("table.log")
