"""Counting failed fetches, switching a mailbox off, and picking up after a fix."""

from __future__ import annotations

from django.utils import translation

from postkamer.accounts import notifications
from postkamer.accounts.models import Notification
from postkamer.messages.models import Message
from tests import factories
from tests.fetching.conftest import make_message


def test_a_success_resets_the_error_count_and_the_last_error(box, dovecot):
    dovecot.set_password(box.email, "fout-wachtwoord")
    box.fetch()
    box.mailbox.refresh_from_db()
    assert box.mailbox.error_count == 1 and box.mailbox.last_error_at is not None
    dovecot.set_password(box.email, box.password)
    assert box.fetch().ok
    box.mailbox.refresh_from_db()
    assert box.mailbox.error_count == 0
    assert box.mailbox.last_error_code == "" and box.mailbox.last_error == ""
    assert box.mailbox.last_fetch_at is not None


def test_max_errors_switches_fetching_off_and_tells_every_owner(box, dovecot):
    mailbox = box.mailbox
    member = factories.user(mailbox.tenant, groups=("Hypotheken",), language="en")
    mailbox.owner_groups.add(factories.group(mailbox.tenant, "Hypotheken"))
    outsider = factories.user(factories.tenant())
    mailbox.max_errors = 2
    mailbox.save()
    box.deliver(make_message("Tijdens de storing"))
    dovecot.set_password(box.email, "fout-wachtwoord")
    box.fetch()
    box.mailbox.refresh_from_db()
    assert box.mailbox.interval_minutes == 5 and not box.mailbox.disabled_reason
    box.fetch()
    box.mailbox.refresh_from_db()
    assert box.mailbox.interval_minutes is None
    assert box.mailbox.disabled_code == "too_many_errors"
    assert box.mailbox.disabled_params == {
        "count": 2,
        "error": {"code": "auth_failed", "params": {}},
    }
    # Stored as a code, read in each reader's language.
    assert box.mailbox.disabled_reason == (
        "Automatisch ophalen uitgeschakeld na 2 mislukte pogingen: "
        "De gebruikersnaam of het wachtwoord klopt niet."
    )
    with translation.override("en"):
        assert box.mailbox.disabled_reason == (
            "Automatic fetching was switched off after 2 failed attempts: "
            "The user name or password is wrong."
        )
    notes = Notification.objects.filter(kind="mailbox_disabled", mailbox=mailbox)
    assert {n.user_id for n in notes} == {mailbox.owner_users.get().pk, member.pk}
    assert outsider.pk not in {n.user_id for n in notes}
    assert notes.get(user=member).text == ""
    with translation.override("en"):
        assert "switched off" in notifications.message(notes.get(user=member))
    # The mailbox's history says so, in the owners' language.
    entry = mailbox.audit_entries.get(action="auto_disabled")
    assert entry.actor is None
    from postkamer.mailboxes import audit

    assert audit.describe(entry) == (
        "Het automatisch ophalen is uitgeschakeld na 2 mislukte pogingen."
    )
    # A third failure does not notify again.
    box.fetch()
    assert notes.count() == 2
    assert mailbox.audit_entries.filter(action="auto_disabled").count() == 1
    # Nothing is lost: after the fix the next fetch picks up everything.
    dovecot.set_password(box.email, box.password)
    box.mailbox.set_interval(5)
    box.mailbox.save()
    assert box.fetch().new_messages == 1
    assert Message.objects.filter(mailbox=mailbox).count() == 1
