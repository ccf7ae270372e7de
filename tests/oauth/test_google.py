"""Google Workspace mailboxes on the same OAuth2 layer."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from postkamer.fetching import engine
from postkamer.mailboxes import oauth
from postkamer.messages.models import Message
from tests.oauth.conftest import (
    BASE_URL,
    connect,
    expire_cached_token,
    manager_client,
    message,
    office_with_mailbox,
)

pytestmark = pytest.mark.django_db


def test_a_google_mailbox_connects_with_offline_access_and_fetches_as_its_account(google, dovecot):
    office = office_with_mailbox(dovecot, type="gmail")
    client = manager_client(office)
    started = client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/google/connect/")
    url = urlsplit(started["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == google.google_auth_url
    assert query["scope"] == "openid email https://mail.google.com/"
    assert query["access_type"] == "offline" and "consent" in query["prompt"]
    assert query["redirect_uri"] == f"{BASE_URL}/oauth/google/callback/"
    assert query["code_challenge_method"] == "S256"

    back = google.sign_in(started["Location"], office.address)
    assert client.get(back.removeprefix(BASE_URL)).status_code == 302
    assert oauth.account(office.mailbox) == office.address
    dovecot.deliver(office.address, message("Van Google", office.address))
    assert engine.fetch_mailbox(office.mailbox).ok
    expire_cached_token(office.mailbox, google)
    dovecot.deliver(office.address, message("Nog een", office.address))
    assert engine.fetch_mailbox(office.mailbox).ok
    assert [(r.grant_type, r.tenant) for r in google.requests] == [
        ("authorization_code", "google"),
        ("refresh_token", "google"),
    ]
    assert Message.objects.filter(mailbox=office.mailbox).count() == 2


def test_a_google_mailbox_cannot_start_a_microsoft_sign_in(google, dovecot):
    office = office_with_mailbox(dovecot, type="gmail")
    answer = connect(manager_client(office), office.mailbox, google, office.address, "google")
    assert answer.status_code == 302
    wrong = manager_client(office).get(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/microsoft/connect/", follow=True
    )
    assert "niet van een type dat met Microsoft verbindt" in wrong.content.decode()
