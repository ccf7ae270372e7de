"""How an automatic reply leaves, and what happens when it cannot: sent by the real
sending worker to the test SMTP server, which is told to refuse the null sender,
answer 5xx or 4xx, or not listen at all. A failure is recorded once, written to
the mailbox's log once, shown on the tab with its reason, and never tried again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from postkamer.autoreply.models import Reason, ReplyDecision, State
from postkamer.mailboxes import audit
from postkamer.mailboxes.models import AuditAction
from postkamer.sending import engine as send_engine
from postkamer.sending.models import OutgoingMessage
from tests import factories
from tests.autoreply.conftest import mail

ANNA = "anna@klant.test"


def _answer_anna(box) -> ReplyDecision:
    box.switch_on()
    box.send(mail("Vraag", sender=ANNA, to=box.address), ANNA)
    box.fetch()
    return box.decisions()["Vraag"]


def _failure_log(box) -> list[str]:
    entries = box.mailbox.audit_entries.filter(action=AuditAction.AUTO_REPLY_FAILED)
    return [audit.describe(entry) for entry in entries]


def _tab_and_api(box, client, api) -> tuple[str, dict]:
    """The tab's page and the API's reply row, as a manager who owns the mailbox sees them."""
    manager = factories.user(box.mailbox.tenant, rights=("email_manager",))
    box.mailbox.owner_users.add(manager)
    client.force_login(manager)
    page = client.get(reverse("mailbox-auto-reply", kwargs={"pk": box.mailbox.pk}))
    api.force_authenticate(manager)
    body = api.get(f"/api/v1/mailboxes/{box.mailbox.pk}/auto-reply/replies/").json()
    [row] = body["results"]
    return page.content.decode(), row


def _never_again(box, outgoing: OutgoingMessage) -> None:
    """Nothing tries the reply again: not the dispatcher of due retries, not the
    send task run again, not the next fetch, not even hours later."""
    attempts = len(box.smtp.mail_froms)
    later = timezone.now() + dt.timedelta(hours=2)
    assert send_engine.dispatch_due(later) == 0
    assert send_engine.run(outgoing.pk, now=later) == "skipped"
    box.fetch()
    assert len(box.smtp.mail_froms) == attempts
    outgoing.refresh_from_db()
    assert (outgoing.state, outgoing.attempts, outgoing.next_attempt_at) == ("failed", 1, None)


def test_a_server_that_refuses_the_null_sender_gets_the_reply_from_the_mailbox_address(
    reply_box,
):
    box = reply_box
    box.smtp.refuse_null_sender = True
    tried = len(box.smtp.mail_froms)
    decision = _answer_anna(box)
    assert decision.state == State.SENT
    [reply] = box.replies_to(ANNA)
    assert reply.mail_from == box.address
    # First the null sender (refused), then the mailbox's address on the same connection.
    assert box.smtp.mail_froms[tried:] == ["", box.address]
    assert decision.outgoing.envelope_from == box.address
    assert b"Auto-Submitted: auto-replied" in reply.raw


def test_a_permanent_refusal_fails_once_is_logged_once_and_never_retried(reply_box, client, api):
    box = reply_box
    box.smtp.rcpt_answers[ANNA] = "550 5.1.1 No such user"
    decision = _answer_anna(box)
    assert (decision.state, decision.error_code) == (State.FAILED, "message_refused")
    assert box.received() == []
    assert _failure_log(box) == [
        "Het automatisch antwoord aan anna@klant.test kon niet worden verstuurd."
    ]
    _never_again(box, decision.outgoing)
    assert len(_failure_log(box)) == 1
    # The tab and the API say why, in the reader's language.
    page, row = _tab_and_api(box, client, api)
    reason = "de mailserver weigerde het bericht voor anna@klant.test (onbekend adres)"
    assert "mislukt" in page and reason in page
    assert (row["state"], row["error_code"], row["error_label"]) == (
        "failed",
        "message_refused",
        reason,
    )
    # The sender's turn was used: a next message within the interval gets none,
    # so a refusing server cannot turn into a storm of attempts.
    box.send(mail("Nog een vraag", sender=ANNA, to=box.address), ANNA)
    box.fetch()
    assert box.decisions()["Nog een vraag"].reason == Reason.RECENTLY_REPLIED


@pytest.mark.parametrize(
    "fault, code, words",
    [
        ("451 after DATA", "message_deferred", "de mailserver kan het bericht nu niet aannemen"),
        ("server down", "connection_refused", "de mailserver was niet bereikbaar"),
    ],
)
def test_a_temporary_failure_fails_once_and_is_not_retried(
    reply_box, client, api, fault, code, words
):
    box = reply_box
    if fault == "server down":
        box.mailbox.smtp_port = box.smtp.down_port
        box.mailbox.save()
    else:
        box.smtp.fail_data(1, "451 4.3.0 Try again later")
    decision = _answer_anna(box)
    assert (decision.state, decision.error_code) == (State.FAILED, code)
    assert decision.outgoing.error_params.get("gave_up") is False
    assert len(_failure_log(box)) == 1
    _never_again(box, decision.outgoing)
    assert box.received() == [] and len(_failure_log(box)) == 1
    page, row = _tab_and_api(box, client, api)
    assert words in page and row["error_label"] == words


def test_a_reply_the_sending_app_cannot_address_fails_once_with_its_reason(reply_box, client, api):
    box = reply_box
    box.switch_on()
    tried = len(box.smtp.mail_froms)
    # A return path the reply rules take but the stricter address check refuses.
    raw = b"Return-Path: <jan..punt@klant.test>\r\n" + mail(
        "Rare afzender", sender="jan..punt@klant.test", to=box.address
    )
    box.append(raw)
    box.fetch()
    decision = box.decisions()["Rare afzender"]
    assert (decision.state, decision.error_code) == (State.FAILED, "invalid_recipient")
    assert decision.outgoing is None
    assert len(box.smtp.mail_froms) == tried and box.received() == []
    assert len(_failure_log(box)) == 1
    page, row = _tab_and_api(box, client, api)
    words = "het retouradres is geen adres waar mail naartoe kan"
    assert words in page and row["error_label"] == words
