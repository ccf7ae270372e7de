"""The migrations that turn stored sentences into codes keep what was there."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone, translation

from postkamer.fetching import problems

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("mailboxes", "0004_mailbox_dkim_selector"),
    ("fetching", "0001_initial"),
    ("mailmessages", "0003_fewer_message_indexes"),
]
AFTER = [
    ("mailboxes", "0006_remove_sentence_status"),
    ("fetching", "0003_one_open_run_per_mailbox"),
    ("mailmessages", "0004_unreadable_subject_in_words"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_old_sentences_become_codes_and_what_is_not_recognised_stays_readable():
    old = _migrate(BEFORE)
    try:
        tenant = old.get_model("accounts", "Tenant").objects.create(name="Oud kantoor")
        Mailbox = old.get_model("mailboxes", "Mailbox")
        disabled = Mailbox.objects.create(
            tenant=tenant,
            name="Info",
            sender_address="info@oud.test",
            last_error="De gebruikersnaam of het wachtwoord klopt niet.",
            disabled_reason=(
                "Automatisch ophalen uitgeschakeld na 5 mislukte pogingen: "
                "De map 'Spam' bestaat niet meer op de server."
            ),
        )
        odd = Mailbox.objects.create(
            tenant=tenant,
            name="Schade",
            sender_address="schade@oud.test",
            last_error="The server did not answer in time. Try again later or check the port.",
            disabled_reason="Handmatig uitgezet door de beheerder.",
        )
        FetchRun = old.get_model("fetching", "FetchRun")
        missing = FetchRun.objects.create(
            mailbox=disabled,
            trigger="interval",
            finished_at=timezone.now(),
            ok=False,
            error_code="folder_missing",
            error="De map 'Spam' bestaat niet meer op de server.",
        )
        stuck = [FetchRun.objects.create(mailbox=odd, trigger="button") for _ in range(2)]
        raw = old.get_model("mailmessages", "RawMessage").objects.create(
            sha256="0" * 64, size=3, data=b"\x00\x01\x02"
        )
        Message = old.get_model("mailmessages", "Message")
        common = {"mailbox": disabled, "folder": "inbox", "server_folder": "INBOX"}
        common.update(uidvalidity=1, raw=raw, sha256="0" * 64, size=3)
        unreadable = Message.objects.create(
            uid=1, subject="(onleesbaar bericht)", problems=["unparseable"], **common
        )
        chosen = Message.objects.create(uid=2, subject="(onleesbaar bericht)", **common)
    finally:
        new = _migrate(AFTER)

    Mailbox = new.get_model("mailboxes", "Mailbox")
    first = Mailbox.objects.get(pk=disabled.pk)
    assert (first.last_error_code, first.last_error_params) == ("auth_failed", {})
    assert first.disabled_code == problems.TOO_MANY_ERRORS
    assert first.disabled_params == {
        "count": 5,
        "error": {"code": "folder_missing", "params": {"folder": "Spam"}},
    }
    with translation.override("en"):
        assert problems.describe(first.disabled_code, first.disabled_params) == (
            "Automatic fetching was switched off after 5 failed attempts: "
            "The folder 'Spam' no longer exists on the server."
        )
    second = Mailbox.objects.get(pk=odd.pk)
    assert second.last_error_code == "timeout"
    assert (second.disabled_code, second.disabled_params) == (
        "legacy",
        {"text": "Handmatig uitgezet door de beheerder."},
    )
    FetchRun = new.get_model("fetching", "FetchRun")
    run = FetchRun.objects.get(pk=missing.pk)
    assert (run.error_code, run.error_params) == ("folder_missing", {"folder": "Spam"})
    # Of two runs left open, the older is closed: one open run per mailbox.
    assert FetchRun.objects.get(pk=stuck[0].pk).error_code == "abandoned"
    assert FetchRun.objects.get(pk=stuck[1].pk).finished_at is None
    # A subject we wrote is emptied (the list says it in the reader's language);
    # a sender who chose these words keeps them.
    Message = new.get_model("mailmessages", "Message")
    assert Message.objects.get(pk=unreadable.pk).subject == ""
    assert Message.objects.get(pk=chosen.pk).subject == "(onleesbaar bericht)"
