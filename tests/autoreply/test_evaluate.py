"""When the automatic reply answers: once per sender per N days, only within its
period, never twice for one message, and not at all once it is switched off.
Every reply is sent for real: the SMTP server on loopback shows who got one."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from postkamer.autoreply import actions, evaluate, receivers
from postkamer.autoreply.models import AutoReply, Reason, ReplyDecision, ReplyMemory, State
from postkamer.fetching import repair
from postkamer.messages.models import Message
from postkamer.sending import engine as send_engine
from postkamer.sending.models import OutgoingMessage
from tests.autoreply.conftest import mail


def _replied(box) -> list[str]:
    """Who got a reply: the recorded ones, checked against what the SMTP server took."""
    rows = ReplyDecision.objects.filter(mailbox=box.mailbox, state=State.SENT)
    recorded = sorted(rows.values_list("recipient", flat=True))
    assert sorted(r for m in box.received() for r in m.rcpt_tos) == recorded
    return recorded


def test_two_senders_with_two_messages_each_get_one_reply_each(reply_box):
    box = reply_box
    box.switch_on()
    for n in (1, 2):
        for sender in ("anna@klant.test", "bram@klant.test"):
            box.send(mail(f"{sender} {n}", sender=sender, to=box.address), sender)
    box.fetch()
    assert _replied(box) == ["anna@klant.test", "bram@klant.test"]
    skipped = ReplyDecision.objects.filter(mailbox=box.mailbox, state=State.SKIPPED)
    assert sorted(skipped.values_list("reason", flat=True)) == ["recently_replied"] * 2
    # The earlier message of each sender is the one answered.
    decisions = box.decisions()
    assert decisions["anna@klant.test 1"].state == State.SENT
    assert decisions["bram@klant.test 2"].reason == Reason.RECENTLY_REPLIED


def test_messages_fetched_in_separate_runs_are_remembered_in_the_database(reply_box):
    box = reply_box
    box.switch_on(interval_days=3)
    box.send(mail("Eerste", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch()
    box.send(mail("Tweede", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch()
    assert box.decisions()["Tweede"].reason == Reason.RECENTLY_REPLIED
    # After the interval the sender is answered again.
    ReplyMemory.objects.filter(mailbox=box.mailbox).update(
        last_replied_at=timezone.now() - dt.timedelta(days=3, seconds=1)
    )
    box.send(mail("Derde", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch()
    assert box.decisions()["Derde"].state == State.SENT
    assert _replied(box) == ["anna@klant.test", "anna@klant.test"]


def test_a_new_text_is_a_new_response_that_a_sender_gets_once(reply_box):
    box = reply_box
    box.switch_on()
    box.send(mail("Vraag 1", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch()
    first = AutoReply.objects.get(pk=box.mailbox.pk).response
    # Saving the same text again keeps the response; a new text changes it.
    box.switch_on()
    assert AutoReply.objects.get(pk=box.mailbox.pk).response == first
    box.switch_on(body_html="<p>Wij zijn vanaf maandag weer bereikbaar.</p>")
    assert AutoReply.objects.get(pk=box.mailbox.pk).response != first
    for n in (2, 3):
        box.send(mail(f"Vraag {n}", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch()
    decisions = box.decisions()
    assert decisions["Vraag 2"].state == State.SENT
    assert decisions["Vraag 2"].body_html == "<p>Wij zijn vanaf maandag weer bereikbaar.</p>"
    assert decisions["Vraag 3"].reason == Reason.RECENTLY_REPLIED
    first_text, second_text = box.replies_to("anna@klant.test")
    assert "Ons kantoor is gesloten" in first_text.raw.decode()
    assert "vanaf maandag weer bereikbaar" in second_text.raw.decode()


def test_mail_received_before_the_start_or_after_the_end_gets_none(reply_box):
    box = reply_box
    now = timezone.now().replace(microsecond=0)
    box.switch_on(starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(hours=1))
    # IMAP APPEND sets the server's moment of arrival (INTERNALDATE) as given.
    for subject, moment in (
        ("Voor het begin", now - dt.timedelta(hours=2)),
        ("Tijdens", now),
        ("Na het einde", now + dt.timedelta(hours=2)),
    ):
        raw = b"Return-Path: <anna@klant.test>\r\n" + mail(
            subject, sender="anna@klant.test", to=box.address
        )
        box.append(raw, internaldate=moment)
    box.fetch()
    decisions = box.decisions()
    assert decisions["Voor het begin"].reason == Reason.OUTSIDE_PERIOD
    assert decisions["Na het einde"].reason == Reason.OUTSIDE_PERIOD
    assert decisions["Tijdens"].state == State.SENT
    assert _replied(box) == ["anna@klant.test"]


def test_a_period_that_has_not_begun_or_has_ended_answers_nothing(reply_box):
    box = reply_box
    now = timezone.now()
    box.switch_on(starts_at=now + dt.timedelta(hours=1))
    box.send(mail("Te vroeg", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch()
    box.switch_on(starts_at=now - dt.timedelta(days=2), ends_at=now - dt.timedelta(days=1))
    box.send(mail("Te laat", sender="bram@klant.test", to=box.address), "bram@klant.test")
    box.fetch()
    assert box.decisions() == {}
    assert box.received() == []


def test_mail_that_arrived_before_the_reply_was_switched_on_is_not_answered(reply_box):
    box = reply_box
    raw = b"Return-Path: <anna@klant.test>\r\n" + mail(
        "Oud", sender="anna@klant.test", to=box.address
    )
    box.append(raw, internaldate=timezone.now() - dt.timedelta(hours=3))
    box.switch_on()
    box.send(mail("Nieuw", sender="bram@klant.test", to=box.address), "bram@klant.test")
    box.fetch()
    decisions = box.decisions()
    assert decisions["Oud"].reason == Reason.OUTSIDE_PERIOD
    assert decisions["Nieuw"].state == State.SENT
    assert _replied(box) == ["bram@klant.test"]


def test_switching_off_between_fetch_and_send_sends_nothing(reply_box):
    box = reply_box
    box.switch_on()
    box.send(mail("Beantwoord", sender="anna@klant.test", to=box.address), "anna@klant.test")
    # Fetched and judged; the reply is queued, the sending worker has not run yet.
    start_worker = box.fetch_and_judge()
    decision = box.decisions()["Beantwoord"]
    assert decision.state == State.QUEUED and start_worker
    outgoing_id = decision.outgoing_id
    actions.do_save_auto_reply(box.mailbox, None, {"enabled": False})
    # The queued reply is taken back from the sending app...
    decision.refresh_from_db()
    assert (decision.state, decision.reason) == (State.SKIPPED, Reason.SWITCHED_OFF)
    assert not OutgoingMessage.objects.filter(pk=outgoing_id).exists()
    # ...so the worker, when it comes, finds nothing to send.
    for hook in start_worker:
        hook()
    assert box.received() == []
    assert not actions.mark_queued(decision.pk)
    # Mail fetched afterwards is not judged at all.
    box.send(mail("Na het uitzetten", sender="bram@klant.test", to=box.address), "bram@klant.test")
    box.fetch()
    assert set(box.decisions()) == {"Beantwoord"}
    assert box.received() == []


def _decide_only(box, subject: str, sender: str) -> ReplyDecision:
    """Fetch ``subject`` and only decide it, as an evaluation that died before
    handing the reply off leaves it."""
    from postkamer.messages.signals import messages_stored

    messages_stored.disconnect(dispatch_uid="autoreply-evaluate")
    try:
        box.send(mail(subject, sender=sender, to=box.address), sender)
        box.fetch()
    finally:
        messages_stored.connect(receivers.queue_evaluation, dispatch_uid="autoreply-evaluate")
    message = Message.objects.get(mailbox=box.mailbox, subject=subject)
    verdict = evaluate._verdict(message, evaluate.own_addresses(box.mailbox))
    decision = evaluate._decide(box.mailbox, message, verdict)
    assert decision is not None and decision.state == State.PENDING
    return decision


def test_switching_off_cancels_replies_decided_but_not_yet_handed_off(reply_box):
    box = reply_box
    box.switch_on()
    decision = _decide_only(box, "Besloten", "anna@klant.test")
    actions.do_save_auto_reply(box.mailbox, None, {"enabled": False})
    decision.refresh_from_db()
    assert (decision.state, decision.reason) == (State.SKIPPED, Reason.SWITCHED_OFF)
    assert actions.do_hand_off(decision.pk) is None
    assert box.received() == []


def test_a_reply_left_decided_by_an_evaluation_that_died_goes_out_with_the_next_one(reply_box):
    box = reply_box
    box.switch_on()
    left = _decide_only(box, "Blijven liggen", "anna@klant.test")
    box.send(mail("Volgende", sender="bram@klant.test", to=box.address), "bram@klant.test")
    box.fetch()
    left.refresh_from_db()
    assert left.state == State.SENT
    assert _replied(box) == ["anna@klant.test", "bram@klant.test"]


def test_a_reply_already_in_the_workers_hands_when_switched_off_goes_out_and_is_recorded(
    reply_box,
):
    box = reply_box
    box.switch_on()
    box.send(mail("Onderweg", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch_and_judge()
    decision = box.decisions()["Onderweg"]
    # A worker has claimed it: it is in the middle of the SMTP conversation.
    assert send_engine.claim(decision.outgoing_id)
    actions.do_save_auto_reply(box.mailbox, None, {"enabled": False})
    decision.refresh_from_db()
    assert decision.state == State.QUEUED
    # That worker finishes (here: its lease is over and the run completes it).
    later = timezone.now() + send_engine.LEASE + dt.timedelta(seconds=1)
    assert send_engine.run(decision.outgoing_id, now=later) == "sent"
    decision.refresh_from_db()
    assert decision.state == State.SENT
    assert _replied(box) == ["anna@klant.test"]


def test_a_judgement_queued_while_on_does_nothing_once_switched_off(reply_box):
    box = reply_box
    box.switch_on()
    from postkamer.messages.signals import messages_stored

    # Fetch without the hook, as if the task were still waiting in the queue.
    messages_stored.disconnect(dispatch_uid="autoreply-evaluate")
    try:
        box.send(
            mail("In de wachtrij", sender="anna@klant.test", to=box.address), "anna@klant.test"
        )
        box.fetch()
    finally:
        from postkamer.autoreply import receivers

        messages_stored.connect(receivers.queue_evaluation, dispatch_uid="autoreply-evaluate")
    ids = list(Message.objects.filter(mailbox=box.mailbox).values_list("pk", flat=True))
    actions.do_save_auto_reply(box.mailbox, None, {"enabled": False})
    assert evaluate.evaluate_messages(box.mailbox.pk, ids) == []
    assert box.decisions() == {}


def test_judging_a_message_twice_answers_it_once(reply_box):
    box = reply_box
    box.switch_on()
    box.send(mail("Eenmaal", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch()
    ids = list(Message.objects.filter(mailbox=box.mailbox).values_list("pk", flat=True))
    assert evaluate.evaluate_messages(box.mailbox.pk, ids) == []
    assert evaluate.evaluate_messages(box.mailbox.pk, ids + ids) == []
    assert ReplyDecision.objects.filter(mailbox=box.mailbox).count() == 1
    assert ReplyMemory.objects.filter(mailbox=box.mailbox).count() == 1


def test_repaired_messages_never_get_a_reply(reply_box):
    box = reply_box
    old = timezone.now() - dt.timedelta(days=3)
    raw = b"Return-Path: <anna@klant.test>\r\n" + mail(
        "Gemist", sender="anna@klant.test", to=box.address
    )
    box.append(raw, internaldate=old)
    box.switch_on()
    box.fetch()  # the synchronisation date is a day ago: the message is not fetched
    assert not Message.objects.filter(mailbox=box.mailbox).exists()
    owner = box.mailbox.owner_users.get()
    repair.request_repair(box.mailbox, old - dt.timedelta(hours=1), user=owner)
    box.fetch()
    message = Message.objects.get(mailbox=box.mailbox)
    # Received "now" (the repair's rule), inside the period, and still not judged.
    assert message.repaired and message.received_at > AutoReply.objects.get().active_since
    assert box.decisions() == {}


def test_messages_of_another_mailbox_or_folder_are_not_judged(reply_box):
    from tests import factories

    box = reply_box
    box.switch_on()
    other = factories.mailbox(box.mailbox.tenant)
    stranger = factories.message(other, sender="anna@klant.test")
    junk = factories.message(box.mailbox, folder="junk", sender="bram@klant.test")
    assert evaluate.evaluate_messages(box.mailbox.pk, [stranger.pk, junk.pk]) == []
    assert evaluate.evaluate_messages(other.pk, [stranger.pk]) == []
