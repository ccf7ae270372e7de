"""Office 365 mailboxes are watched with IMAP IDLE too: XOAUTH2 with a token from the
platform, like the fetch; one nobody has connected yet is not watched at all."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from postkamer.fetching import push
from postkamer.fetching.watchers import WatcherService
from postkamer.messages.models import Message
from tests.oauth.conftest import message, office_with_mailbox

pytestmark = pytest.mark.django_db(transaction=True)

TENANT = "push.onmicrosoft.com"


def _wait_for(check: Callable[[], object], seconds: float = 20.0, what: str = "") -> object:
    deadline = time.monotonic() + seconds
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.05)
    return value


@pytest.fixture
def watchers(settings):
    settings.POSTKAMER_WATCH_LEASE = 3.0
    service = WatcherService()
    yield service
    service.stop()


def _push_state(mailbox) -> str:
    mailbox.refresh_from_db()
    return push.status(mailbox)[0]


def test_an_app_only_office365_mailbox_is_held_in_idle_and_new_mail_arrives_by_push(
    microsoft, dovecot, watchers
):
    office = office_with_mailbox(
        dovecot,
        microsoft_auth="application",
        microsoft_tenant=TENANT,
        interval_minutes=60,
    )
    microsoft.add_tenant(TENANT, office.address)
    watchers.start()
    _wait_for(lambda: _push_state(office.mailbox) == "idle", what="the watcher")
    assert dovecot.idle_sessions(office.address) == 1

    dovecot.deliver_lmtp(office.address, message("Via push", office.address), "klant@x.test")
    _wait_for(
        lambda: Message.objects.filter(mailbox=office.mailbox, subject="Via push").exists(),
        seconds=10,
        what="the pushed message",
    )
    # The watcher logged in with a client-credentials token of the platform.
    assert {r.grant_type for r in microsoft.requests} == {"client_credentials"}


def test_a_delegated_mailbox_nobody_connected_is_not_watched(microsoft, dovecot, watchers):
    office = office_with_mailbox(dovecot, microsoft_auth="delegated", interval_minutes=5)
    assert not push.watchable().filter(pk=office.mailbox.pk).exists()
    assert _push_state(office.mailbox) == "off"
    watchers.start()
    time.sleep(1.0)
    assert dovecot.idle_sessions(office.address) == 0
    assert microsoft.requests == []
