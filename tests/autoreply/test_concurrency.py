"""Two workers at the same moment never send a sender two replies: not when they
judge the same mail, and not when they send it.

These tests use real transactions in several threads, each with its own database
connection: on PostgreSQL the second claim waits for the first transaction's row
lock (checked in pg_locks), on SQLite for the write lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone

from postkamer.autoreply import evaluate, receivers
from postkamer.autoreply.models import ReplyDecision, ReplyMemory, State
from postkamer.messages.models import Message
from postkamer.messages.signals import messages_stored
from postkamer.sending import engine as send_engine
from postkamer.sending.models import OutgoingMessage
from tests.autoreply.conftest import mail


def _in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_until_blocked(timeout: float = 10.0) -> None:
    """Return once another connection waits for a lock (PostgreSQL), or after a
    moment in which the waiting thread has surely reached its lock (SQLite)."""
    if connection.vendor != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    pytest.fail("the second claim never waited for the first one")


@pytest.mark.django_db(transaction=True)
def test_a_claim_made_while_another_is_uncommitted_waits_and_loses(office):
    mailbox_id = office.mailbox.pk
    now = timezone.now()
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    first_claimed, release = threading.Event(), threading.Event()

    def first() -> None:
        with transaction.atomic():
            results.append(
                ("first", evaluate.claim_sender(mailbox_id, "a@klant.test", "r1", 7, now))
            )
            first_claimed.set()
            release.wait(10)

    def second() -> None:
        first_claimed.wait(10)
        with transaction.atomic():
            results.append(
                ("second", evaluate.claim_sender(mailbox_id, "a@klant.test", "r1", 7, now))
            )

    threads = [_in_thread(first, errors), _in_thread(second, errors)]
    first_claimed.wait(10)
    _wait_until_blocked()
    release.set()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    assert sorted(results) == [("first", True), ("second", False)]
    assert ReplyMemory.objects.filter(mailbox_id=mailbox_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_old_memory_row_is_renewed_by_one_of_two_concurrent_claims(office):
    mailbox_id = office.mailbox.pk
    now = timezone.now()
    ReplyMemory.objects.create(
        mailbox_id=mailbox_id,
        sender="a@klant.test",
        response="r1",
        last_replied_at=now - timezone.timedelta(days=8),
    )
    results: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def claim() -> None:
        start.wait(10)
        with transaction.atomic():
            results.append(evaluate.claim_sender(mailbox_id, "a@klant.test", "r1", 7, now))

    threads = [_in_thread(claim, errors) for _ in range(2)]
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    assert sorted(results) == [False, True]
    assert ReplyMemory.objects.get(mailbox_id=mailbox_id).last_replied_at == now


def test_a_second_worker_judging_and_sending_the_same_mail_at_the_same_time_sends_no_extra_reply(
    live_reply_box,
):
    box = live_reply_box
    box.switch_on()
    # Fetch without the hook, then let two workers judge the batch at once.
    messages_stored.disconnect(dispatch_uid="autoreply-evaluate")
    try:
        for n in (1, 2, 3):
            box.send(
                mail(f"Vraag {n}", sender="anna@klant.test", to=box.address), "anna@klant.test"
            )
        box.send(mail("Andere klant", sender="bram@klant.test", to=box.address), "bram@klant.test")
        box.fetch()
    finally:
        messages_stored.connect(receivers.queue_evaluation, dispatch_uid="autoreply-evaluate")
    ids = list(Message.objects.filter(mailbox=box.mailbox).values_list("pk", flat=True))
    assert len(ids) == 4
    for round_ in range(3):
        ReplyDecision.objects.filter(mailbox=box.mailbox).delete()
        ReplyMemory.objects.filter(mailbox=box.mailbox).delete()
        before = len(box.smtp.messages)
        errors: list[BaseException] = []
        start = threading.Barrier(2)
        # One worker judges in arrival order, the other backwards: they meet. Each
        # hands its replies off (and, on commit, runs the send task, as Huey runs
        # it inline here), then works through every message of the mailbox as a
        # sending worker would: the two meet there too.
        orders = [ids, list(reversed(ids))]

        def work(order: list[int]) -> None:
            start.wait(10)
            evaluate.evaluate_messages(box.mailbox.pk, order)
            outgoing = OutgoingMessage.objects.filter(mailbox=box.mailbox).values_list(
                "pk", flat=True
            )
            for pk in outgoing:
                send_engine.run(pk)

        threads = [_in_thread(lambda order=order: work(order), errors) for order in orders]
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        decisions = ReplyDecision.objects.filter(mailbox=box.mailbox)
        assert decisions.count() == 4, round_
        sent = sorted(decisions.filter(state=State.SENT).values_list("recipient", flat=True))
        assert sent == ["anna@klant.test", "bram@klant.test"], round_
        received = list(box.smtp.messages)[before:]
        assert sorted(r for m in received for r in m.rcpt_tos) == sent, round_


def test_the_hook_runs_after_a_real_commit(live_reply_box):
    box = live_reply_box
    box.switch_on()
    box.send(mail("Na de commit", sender="anna@klant.test", to=box.address), "anna@klant.test")
    box.fetch()
    assert box.decisions()["Na de commit"].state == State.SENT
    [reply] = box.replies_to("anna@klant.test")
    assert reply.mail_from == ""
