"""A mailbox on the test Dovecot with its automatic reply switched on, mail
delivered the way a mail server delivers it (LMTP, so Dovecot writes Return-Path),
and replies sent through the test SMTP server (aiosmtpd), which keeps what it took."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import imapclient
import pytest
from django.utils import timezone

from postkamer.autoreply import actions
from postkamer.autoreply.models import ReplyDecision
from postkamer.fetching import engine
from postkamer.mailboxes.models import Mailbox
from tests import factories
from tests.servers.dovecot import Dovecot
from tests.servers.smtp import Received, SmtpServers

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


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


@dataclass
class ReplyBox:
    mailbox: Mailbox
    email: str
    password: str
    dovecot: Dovecot
    smtp: SmtpServers
    capture: Callable[..., Any] | None
    first: int = 0  # messages the SMTP server had taken before this test

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
        """Fetch with the real engine; commit hooks run as after a real commit, so
        the fetched mail is judged and the replies are sent before this returns."""
        self.mailbox.refresh_from_db()
        if self.capture is None:
            outcome = engine.fetch_mailbox(self.mailbox)
        else:
            with self.capture(execute=True):
                outcome = engine.fetch_mailbox(self.mailbox)
        assert outcome.ok, outcome.error
        return outcome

    def fetch_and_judge(self) -> list[Callable[[], None]]:
        """Fetch and judge, and return the hooks that would start the sending worker
        instead of running them: the replies are queued, nothing is sent yet."""
        assert self.capture is not None, "needs the reply_box fixture"
        self.mailbox.refresh_from_db()
        with self.capture() as fetched:
            outcome = engine.fetch_mailbox(self.mailbox)
        assert outcome.ok, outcome.error
        with self.capture() as handed_off:
            for hook in fetched:
                hook()
        return list(handed_off)

    def received(self) -> list[Received]:
        """What the SMTP server took during this test."""
        return list(self.smtp.messages)[self.first :]

    def replies_to(self, rcpt: str) -> list[Received]:
        return [m for m in self.received() if rcpt in m.rcpt_tos]

    def sent_folder(self) -> list[bytes]:
        """The messages in the Dovecot Sent folder (what the APPEND put there)."""
        client = imapclient.IMAPClient("127.0.0.1", self.dovecot.imap_port, ssl=False)
        try:
            client.login(self.email, self.password)
            client.select_folder("Sent", readonly=True)
            uids = client.search(["ALL"])
            fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [item[b"BODY[]"] for item in fetched.values()]
        finally:
            client.logout()

    def switch_on(self, **fields: Any) -> None:
        values = {"enabled": True, "subject": SUBJECT, "body_html": BODY, "interval_days": 7}
        values.update(fields)
        actions.do_save_auto_reply(self.mailbox, None, values)

    def decisions(self) -> dict[str, ReplyDecision]:
        """Subject of the original -> its decision."""
        rows = ReplyDecision.objects.filter(mailbox=self.mailbox).select_related("message")
        return {row.message.subject: row for row in rows}


def make_reply_box(
    dovecot: Dovecot, smtp: SmtpServers, imap_user: tuple[str, str], capture, **fields
) -> ReplyBox:
    """A mailbox on the test Dovecot that sends through the test SMTP server
    (STARTTLS, the same login), with junk folder Junk and sent folder Sent."""
    email, password = imap_user
    smtp.users[email] = password
    tenant = factories.tenant()
    owner = factories.user(tenant)
    values: dict[str, Any] = {
        "sync_since": timezone.now() - dt.timedelta(days=1),
        "display_name": "Kantoor Jansen",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.starttls_port,
        "smtp_security": "starttls",
        "junk_folder": "Junk",
        "sent_folder": "Sent",
    }
    values.update(fields)
    mailbox = factories.dovecot_mailbox(tenant, dovecot, email, password, owners=(owner,), **values)
    return ReplyBox(mailbox, email, password, dovecot, smtp, capture, len(smtp.messages))


@pytest.fixture(autouse=True)
def _fresh_pool():
    yield
    engine.pool.clear()


@pytest.fixture
def reply_box(
    db, settings, dovecot, smtp_servers, imap_user, django_capture_on_commit_callbacks
) -> Iterator[ReplyBox]:
    """A mailbox on the test Dovecot and SMTP server; its automatic reply is still off."""
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    yield make_reply_box(dovecot, smtp_servers, imap_user, django_capture_on_commit_callbacks)
    smtp_servers.reset_faults()


@pytest.fixture
def live_reply_box(
    transactional_db, settings, dovecot, smtp_servers, imap_user
) -> Iterator[ReplyBox]:
    """Like ``reply_box``, committed for real (threads see it, commit hooks run)."""
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    yield make_reply_box(dovecot, smtp_servers, imap_user, None)
    smtp_servers.reset_faults()
