"""A mailbox on the test Dovecot with its automatic reply switched on, and mail
delivered the way a mail server delivers it (LMTP, so Dovecot writes Return-Path)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from postkamer.autoreply import actions
from postkamer.autoreply.models import ReplyDecision
from postkamer.fetching import engine
from postkamer.mailboxes.models import Mailbox
from tests import factories
from tests.servers.dovecot import Dovecot

_seq = itertools.count(1)

BODY = "<p>Ons kantoor is gesloten. Wij antwoorden u na de vakantie.</p>"
SUBJECT = "Automatisch antwoord: {original subject}"


def mail(
    subject: str,
    *,
    sender: str = "klant@voorbeeld.test",
    to: str | None = "",
    headers: str = "",
    message_id: bool = True,
    content_type: str = "text/plain; charset=utf-8",
    body: str = "Beste kantoor,\r\n\r\nIk heb een vraag.\r\n",
) -> bytes:
    """A message as a customer's mail program writes it; ``to=None`` leaves To out."""
    n = next(_seq)
    head = f"From: {sender}\r\n"
    if to is not None:
        head += f"To: {to}\r\n"
    head += f"Subject: {subject}\r\nDate: {timezone.now():%a, %d %b %Y %H:%M:%S +0000}\r\n"
    if message_id:
        head += f"Message-ID: <m{n}.autoreply@voorbeeld.test>\r\n"
    head += headers
    head += f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
    return (head + body).encode()


@dataclass
class ReplyBox:
    mailbox: Mailbox
    email: str
    dovecot: Dovecot
    capture: Callable[..., Any] | None

    @property
    def address(self) -> str:
        return self.mailbox.sender_address

    def send(self, raw: bytes, envelope_from: str) -> None:
        """Deliver over LMTP with this envelope sender ("" is the null sender)."""
        self.dovecot.deliver_lmtp(self.email, raw, envelope_from)

    def append(self, raw: bytes, folder: str = "INBOX", internaldate: dt.datetime | None = None):
        """Put ``raw`` in ``folder`` with IMAP APPEND (no Return-Path is added)."""
        return self.dovecot.deliver(self.email, raw, folder, internaldate=internaldate)

    def fetch(self) -> engine.FetchOutcome:
        """Fetch with the real engine; commit hooks run as after a real commit."""
        self.mailbox.refresh_from_db()
        if self.capture is None:
            outcome = engine.fetch_mailbox(self.mailbox)
        else:
            with self.capture(execute=True):
                outcome = engine.fetch_mailbox(self.mailbox)
        assert outcome.ok, outcome.error
        return outcome

    def switch_on(self, **fields: Any) -> None:
        values = {"enabled": True, "subject": SUBJECT, "body_html": BODY, "interval_days": 7}
        values.update(fields)
        actions.do_save_auto_reply(self.mailbox, None, values)

    def decisions(self) -> dict[str, ReplyDecision]:
        """Subject of the original -> its decision."""
        rows = ReplyDecision.objects.filter(mailbox=self.mailbox).select_related("message")
        return {row.message.subject: row for row in rows}


def make_reply_box(dovecot: Dovecot, imap_user: tuple[str, str], capture, **fields) -> ReplyBox:
    email, password = imap_user
    tenant = factories.tenant()
    owner = factories.user(tenant)
    fields.setdefault("sync_since", timezone.now() - dt.timedelta(days=1))
    mailbox = factories.dovecot_mailbox(tenant, dovecot, email, password, owners=(owner,), **fields)
    return ReplyBox(mailbox, email, dovecot, capture)


@pytest.fixture(autouse=True)
def _fresh_pool():
    yield
    engine.pool.clear()


@pytest.fixture
def reply_box(db, settings, dovecot, imap_user, django_capture_on_commit_callbacks) -> ReplyBox:
    """A mailbox on the test Dovecot (junk folder Junk, sent folder Sent); its
    automatic reply is still off."""
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    return make_reply_box(
        dovecot,
        imap_user,
        django_capture_on_commit_callbacks,
        junk_folder="Junk",
        sent_folder="Sent",
    )


@pytest.fixture
def live_reply_box(transactional_db, settings, dovecot, imap_user) -> ReplyBox:
    """Like ``reply_box``, committed for real (threads see it, commit hooks run)."""
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    return make_reply_box(dovecot, imap_user, None, junk_folder="Junk", sent_folder="Sent")
