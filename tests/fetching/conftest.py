"""Fixtures for fetch tests: a mailbox on the test Dovecot with a fresh user."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest
from django.utils import timezone

from postkamer.fetching import engine
from postkamer.mailboxes.models import Mailbox
from tests import factories
from tests.servers.dovecot import Dovecot
from tests.servers.proxy import CuttingProxy

_seq = itertools.count(1)


def make_message(
    subject: str = "Hallo",
    *,
    message_id: str | None = "auto",
    body: str = "Beste klant,\r\n\r\nDit is een test.\r\n",
    extra_headers: str = "",
) -> bytes:
    """A small valid message; ``message_id=None`` leaves the header out."""
    n = next(_seq)
    mid = f"<m{n}.{id(subject)}@example.test>" if message_id == "auto" else message_id
    head = (
        f"From: Jan Jansen <jan@example.test>\r\n"
        f"To: info@kantoor.test\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Thu, 26 Nov 2026 10:00:00 +0100\r\n"
        + (f"Message-ID: {mid}\r\n" if mid else "")
        + extra_headers
        + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head.encode() + body.encode()


@dataclass
class Box:
    mailbox: Mailbox
    email: str
    password: str
    dovecot: Dovecot

    def deliver(self, raw: bytes, folder: str = "INBOX", **kw) -> int:
        return self.dovecot.deliver(self.email, raw, folder, **kw)

    def fetch(self) -> engine.FetchOutcome:
        self.mailbox.refresh_from_db()
        return engine.fetch_mailbox(self.mailbox)

    def subjects(self, folder: str = "inbox") -> list[str]:
        return sorted(self.mailbox.messages.filter(folder=folder).values_list("subject", flat=True))


@pytest.fixture(autouse=True)
def _fresh_pool():
    yield
    engine.pool.clear()


def make_box(dovecot: Dovecot, email: str, password: str, **fields) -> Box:
    """A mailbox on the test Dovecot (STARTTLS) owned by one user, synchronising
    from a day ago; ``fields`` override the mailbox fields."""
    tenant = factories.tenant()
    owner = factories.user(tenant)
    fields.setdefault("sync_since", timezone.now() - dt.timedelta(days=1))
    mailbox = factories.dovecot_mailbox(tenant, dovecot, email, password, owners=(owner,), **fields)
    return Box(mailbox, email, password, dovecot)


@pytest.fixture
def box(db, settings, dovecot: Dovecot, imap_user) -> Box:
    """A mailbox on the test Dovecot with a fresh user (trusted test CA)."""
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    return make_box(dovecot, *imap_user)


@pytest.fixture
def live_box(transactional_db, settings, dovecot: Dovecot, imap_user) -> Box:
    """Like ``box``, but committed, so a subprocess sees it."""
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    return make_box(dovecot, *imap_user)


@pytest.fixture
def proxy(dovecot: Dovecot):
    """A cutting proxy in front of Dovecot's IMAP port."""
    p = CuttingProxy(dovecot.imap_port)
    yield p
    p.stop()
