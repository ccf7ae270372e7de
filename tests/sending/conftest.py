"""A mailbox on the test Dovecot that sends through the test SMTP server."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import imapclient
import pytest
from django.utils import timezone

from postkamer.fetching import engine as fetch_engine
from postkamer.mailboxes.models import Mailbox
from postkamer.sending import engine
from postkamer.sending.models import OutgoingMessage
from tests import factories


@dataclass
class Sender:
    mailbox: Mailbox
    email: str
    password: str
    author: object
    dovecot: object
    smtp: object
    first: int = 0  # messages the SMTP server had before this test

    def run(self, outgoing: OutgoingMessage, now: dt.datetime | None = None) -> OutgoingMessage:
        """What the worker does for ``outgoing`` now (or at ``now``)."""
        engine.run(outgoing.pk, now=now)
        outgoing.refresh_from_db()
        return outgoing

    def received(self, rcpt: str):
        """The messages for ``rcpt`` that the SMTP server took during this test."""
        return [m for m in list(self.smtp.messages)[self.first :] if rcpt in m.rcpt_tos]

    def sent_folder(self) -> dict[int, dict]:
        """{uid: {FLAGS, BODY[]}} of the Dovecot Sent folder."""
        client = imapclient.IMAPClient("127.0.0.1", self.dovecot.imap_port, ssl=False)
        try:
            client.login(self.email, self.password)
            client.select_folder("Sent", readonly=True)
            uids = client.search(["ALL"])
            return client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
        finally:
            client.logout()

    def fetch(self):
        self.mailbox.refresh_from_db()
        outcome = fetch_engine.fetch_mailbox(self.mailbox)
        assert outcome.ok, outcome.error_text
        return outcome


@pytest.fixture
def sender(db, settings, dovecot, smtp_servers, imap_user):
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    email, password = imap_user
    smtp_servers.users[email] = password
    tenant = factories.tenant()
    author = factories.user(tenant)
    mailbox = factories.dovecot_mailbox(
        tenant,
        dovecot,
        email,
        password,
        owners=(author,),
        name="Info",
        display_name="Kantoor Jansen",
        sender_address=email,
        smtp_host="127.0.0.1",
        smtp_port=smtp_servers.starttls_port,
        smtp_security="starttls",
        sent_folder="Sent",
        sync_since=timezone.now() - dt.timedelta(days=1),
    )
    yield Sender(
        mailbox, email, password, author, dovecot, smtp_servers, len(smtp_servers.messages)
    )
    smtp_servers.reset_faults()
    fetch_engine.pool.clear()
