"""The fetch announces newly stored messages once their batch has committed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from postkamer.fetching import repair
from postkamer.messages.models import Message
from postkamer.messages.signals import messages_stored
from tests.fetching.conftest import make_message


@pytest.fixture
def heard():
    calls: list[dict] = []

    def receiver(sender, **kwargs):
        calls.append(
            {
                "folder": kwargs["folder"],
                "mailbox_id": kwargs["mailbox_id"],
                "ids": sorted(kwargs["message_ids"]),
                "repaired": kwargs["repaired"],
            }
        )

    messages_stored.connect(receiver, dispatch_uid="test-heard")
    yield calls
    messages_stored.disconnect(dispatch_uid="test-heard")


def test_each_committed_batch_is_announced_with_its_folder_and_new_ids(
    box, heard, django_capture_on_commit_callbacks, monkeypatch
):
    from postkamer.fetching import reader

    monkeypatch.setattr(reader, "BATCH_MESSAGES", 2)
    box.mailbox.junk_folder = "Junk"
    box.mailbox.save()
    for i in range(3):
        box.deliver(make_message(f"Post {i}"))
    box.deliver(make_message("Reclame"), folder="Junk")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        box.fetch()
    # Nothing is announced before the commit.
    assert heard == []
    for callback in callbacks:
        callback()
    inbox = list(
        Message.objects.filter(folder="inbox").order_by("uid").values_list("pk", flat=True)
    )
    junk = list(Message.objects.filter(folder="junk").values_list("pk", flat=True))
    mailbox_id = box.mailbox.pk
    assert heard == [
        {"folder": "inbox", "mailbox_id": mailbox_id, "ids": inbox[:2], "repaired": False},
        {"folder": "inbox", "mailbox_id": mailbox_id, "ids": inbox[2:], "repaired": False},
        {"folder": "junk", "mailbox_id": mailbox_id, "ids": junk, "repaired": False},
    ]


def test_a_batch_of_known_messages_is_not_announced_again(
    box, heard, django_capture_on_commit_callbacks
):
    box.deliver(make_message("Een"))
    with django_capture_on_commit_callbacks(execute=True):
        box.fetch()
        box.fetch()
    assert len(heard) == 1


def test_repaired_messages_are_announced_as_repaired(
    box, heard, django_capture_on_commit_callbacks
):
    old = timezone.now() - dt.timedelta(days=3)
    box.dovecot.deliver(box.email, make_message("Gemist"), internaldate=old)
    with django_capture_on_commit_callbacks(execute=True):
        box.fetch()
        repair.request_repair(
            box.mailbox, old - dt.timedelta(hours=1), user=box.mailbox.owner_users.get()
        )
        box.fetch()
    assert [call["repaired"] for call in heard if call["ids"]] == [True]


def test_a_failing_receiver_does_not_fail_the_fetch(box, django_capture_on_commit_callbacks):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    messages_stored.connect(broken, dispatch_uid="test-broken")
    try:
        box.deliver(make_message("Toch opgeslagen"))
        with django_capture_on_commit_callbacks(execute=True):
            outcome = box.fetch()
    finally:
        messages_stored.disconnect(dispatch_uid="test-broken")
    assert outcome.ok
    assert box.subjects() == ["Toch opgeslagen"]


def test_the_announcement_costs_one_query_per_batch_and_the_auto_reply_check_one_more(
    dovecot, settings, db, django_capture_on_commit_callbacks, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from postkamer.autoreply import receivers
    from postkamer.fetching import reader
    from postkamer.messages import tasks as search_tasks
    from tests.fetching.conftest import make_box

    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    monkeypatch.setattr(reader, "BATCH_MESSAGES", 2)

    def queries_of_a_first_fetch() -> int:
        box = make_box(dovecot, *dovecot.new_user())
        for i in range(4):
            box.deliver(make_message(f"Bericht {i}"))
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert box.fetch().new_messages == 4
        return len(queries)

    # The other receiver (PostgreSQL's search index, a task of its own) is left out.
    messages_stored.disconnect(dispatch_uid="mailmessages-search-index")
    try:
        with_hook = queries_of_a_first_fetch()
        messages_stored.disconnect(dispatch_uid="autoreply-evaluate")
        assert not messages_stored.has_listeners(Message)
        without = queries_of_a_first_fetch()
    finally:
        messages_stored.connect(receivers.queue_evaluation, dispatch_uid="autoreply-evaluate")
        messages_stored.connect(search_tasks.queue_index, dispatch_uid="mailmessages-search-index")
    # Two inbox batches: per batch the id lookup, and the check whether the
    # mailbox's automatic reply is on (it is not: nothing is queued). On PostgreSQL
    # the lookup goes over psycopg's own connection (fetching/pgbulk.py), which
    # Django's query capture does not see.
    per_batch = 2 if connection.vendor == "sqlite" else 1
    assert with_hook - without == 2 * per_batch
