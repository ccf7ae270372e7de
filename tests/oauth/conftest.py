"""Office 365 and Google mailboxes against local servers only: the test identity
platform (``tests/servers/idp.py``, HTTPS with the test CA), Dovecot checking XOAUTH2
tokens with it, and the SMTP server accepting only its live tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from postkamer.fetching import engine
from postkamer.mailboxes.models import Mailbox, OAuthGrant
from tests import factories
from tests.servers.idp import IdentityProvider

BASE_URL = "http://testserver"


@pytest.fixture(autouse=True)
def _fresh_pool():
    yield
    engine.pool.clear()


def _common(settings: Any, idp: IdentityProvider, dovecot: Any) -> None:
    idp.reset()
    settings.POSTKAMER_CA_FILE = dovecot.ca_file  # the test CA signs the IdP too
    settings.POSTKAMER_ALLOW_PRIVATE_HOSTS = True
    settings.BASE_URL = BASE_URL


@pytest.fixture
def microsoft(settings, idp, dovecot, smtp_servers) -> IdentityProvider:
    """The installation's Microsoft app, pointed at the local platform and servers."""
    _common(settings, idp, dovecot)
    settings.POSTKAMER_MS_CLIENT_ID = idp.client_id
    settings.POSTKAMER_MS_CLIENT_SECRET = idp.client_secret
    settings.POSTKAMER_MS_LOGIN_URL = idp.url
    settings.POSTKAMER_MS_IMAP = ("127.0.0.1", dovecot.imap_port)
    settings.POSTKAMER_MS_SMTP = ("127.0.0.1", smtp_servers.starttls_port)
    return idp


@pytest.fixture
def google(settings, idp, dovecot, smtp_servers) -> IdentityProvider:
    """The installation's Google app, pointed at the local platform and servers."""
    _common(settings, idp, dovecot)
    settings.POSTKAMER_GOOGLE_CLIENT_ID = idp.client_id
    settings.POSTKAMER_GOOGLE_CLIENT_SECRET = idp.client_secret
    settings.POSTKAMER_GOOGLE_AUTH_URL = idp.google_auth_url
    settings.POSTKAMER_GOOGLE_TOKEN_URL = idp.google_token_url
    settings.POSTKAMER_GOOGLE_IMAP = ("127.0.0.1", dovecot.imap_port)
    settings.POSTKAMER_GOOGLE_SMTP = ("127.0.0.1", smtp_servers.starttls_port)
    return idp


@dataclass
class Office:
    tenant: Any
    admin: Any  # manages and owns the mailbox
    reader: Any  # owns the mailbox, no rights
    mailbox: Mailbox
    address: str


def office_with_mailbox(dovecot: Any, type: str = "office365", **fields: Any) -> Office:
    """An office with an OAuth2 mailbox whose address is a fresh Dovecot user."""
    address, _password = dovecot.new_user()
    tenant = factories.tenant()
    admin = factories.user(tenant, rights=("email_manager", "multi_user", "repair_sync"))
    reader = factories.user(tenant)
    values: dict[str, Any] = {
        "type": type,
        "sender_address": address,
        "imap_host": "",
        "imap_username": "",
        "smtp_host": "",
        "password": "",
        "sync_since": timezone.now() - dt.timedelta(days=1),
    }
    values.update(fields)
    mailbox = factories.mailbox(tenant, owners=(admin, reader), **values)
    return Office(tenant, admin, reader, mailbox, address)


def connect(
    client: Client, mailbox: Mailbox, idp: IdentityProvider, account: str, provider="microsoft"
):
    """Press "Verbinden met …", sign in as ``account`` at the platform, come back;
    return the callback's response."""
    started = client.get(f"/beheer/e-mailmanager/{mailbox.pk}/{provider}/connect/")
    assert started.status_code == 302, started.content[:500]
    back = idp.sign_in(started["Location"], account)
    return client.get(back.removeprefix(BASE_URL))


def manager_client(office: Office) -> Client:
    client = Client()
    client.force_login(office.admin)
    return client


def expire_cached_token(mailbox: Mailbox, idp: IdentityProvider) -> None:
    """Time passes: the access token ran out, at the platform and in Postkamer's cache."""
    idp.expire_access_tokens()
    OAuthGrant.objects.filter(mailbox=mailbox).update(
        access_use_until=timezone.now() - dt.timedelta(seconds=1)
    )


def message(subject: str, to: str) -> bytes:
    return (
        f"From: klant@voorbeeld.test\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@voorbeeld.test>\r\n"
        f"Date: {timezone.now():%a, %d %b %Y %H:%M:%S +0000}\r\n\r\nHallo\r\n"
    ).encode()


def host_of(url: str) -> str:
    return urlsplit(url).netloc
