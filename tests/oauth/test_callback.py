"""The way back from the sign-in page: every answer that is not a fresh, matching one
ends in a clear message and changes nothing; and no secret ever shows."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from postkamer.fetching import engine
from postkamer.mailboxes.models import MailboxAuditEntry, OAuthGrant
from tests.oauth.conftest import (
    BASE_URL,
    connect,
    expire_cached_token,
    manager_client,
    message,
    office_with_mailbox,
)

pytestmark = pytest.mark.django_db


def _start(client: Client, mailbox) -> str:
    answer = client.get(f"/beheer/e-mailmanager/{mailbox.pk}/microsoft/connect/")
    assert answer.status_code == 302
    return answer["Location"]


def _nothing_changed(mailbox) -> None:
    assert not OAuthGrant.objects.filter(mailbox=mailbox).exists()
    assert not MailboxAuditEntry.objects.filter(mailbox=mailbox, action="oauth_connected").exists()


def test_an_answer_with_a_state_this_session_did_not_start_changes_nothing(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    back = microsoft.sign_in(_start(client, office.mailbox), office.address)
    code = parse_qs(urlsplit(back).query)["code"][0]
    answer = client.get("/oauth/microsoft/callback/", {"state": "verzonnen", "code": code})
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "hoort niet bij een aanmelding die hier is begonnen" in text
    assert code not in text
    _nothing_changed(office.mailbox)
    # Another person's session cannot finish this sign-in either.
    stranger = Client()
    stranger.force_login(office.reader)
    assert stranger.get(back.removeprefix(BASE_URL)).status_code == 400
    _nothing_changed(office.mailbox)
    assert microsoft.grants("authorization_code") == []
    # The real answer still works: a wrong one did not use up the right state.
    assert client.get(back.removeprefix(BASE_URL)).status_code == 302
    assert OAuthGrant.objects.filter(mailbox=office.mailbox).exists()


def test_an_answer_after_the_session_ended_changes_nothing_and_is_not_echoed(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    back = microsoft.sign_in(_start(client, office.mailbox), office.address)
    client.logout()
    answer = client.get(back.removeprefix(BASE_URL), follow=True)
    assert answer.redirect_chain == [("/account/login/", 302)]
    text = answer.content.decode()
    assert "Je bent uitgelogd tijdens het aanmelden bij Microsoft" in text
    assert parse_qs(urlsplit(back).query)["code"][0] not in text
    _nothing_changed(office.mailbox)


def test_a_replayed_answer_changes_nothing(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    back = microsoft.sign_in(_start(client, office.mailbox), office.address)
    assert client.get(back.removeprefix(BASE_URL)).status_code == 302
    before = OAuthGrant.objects.values().get(mailbox=office.mailbox)
    entries = MailboxAuditEntry.objects.filter(mailbox=office.mailbox).count()
    again = client.get(back.removeprefix(BASE_URL))
    assert again.status_code == 400
    assert OAuthGrant.objects.values().get(mailbox=office.mailbox) == before
    assert MailboxAuditEntry.objects.filter(mailbox=office.mailbox).count() == entries
    assert len(microsoft.grants("authorization_code")) == 1


def test_an_answer_without_a_code_says_so_and_changes_nothing(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    state = parse_qs(urlsplit(_start(client, office.mailbox)).query)["state"][0]
    answer = client.get("/oauth/microsoft/callback/", {"state": state}, follow=True)
    assert "Microsoft stuurde geen autorisatiecode. Er is niets gewijzigd" in (
        answer.content.decode()
    )
    _nothing_changed(office.mailbox)


def test_a_refusal_at_the_sign_in_page_says_so_and_changes_nothing(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    back = microsoft.sign_in(_start(client, office.mailbox), office.address, accept=False)
    answer = client.get(back.removeprefix(BASE_URL), follow=True)
    assert answer.redirect_chain[-1][0] == f"/beheer/e-mailmanager/{office.mailbox.pk}/"
    assert (
        "Het aanmelden bij Microsoft is afgebroken of de toestemming is geweigerd. "
        "Er is niets gewijzigd." in answer.content.decode()
    )
    _nothing_changed(office.mailbox)
    weird = client.get(
        "/oauth/microsoft/callback/",
        {
            "state": parse_qs(urlsplit(_start(client, office.mailbox)).query)["state"][0],
            "error": "<script>alert(1)</script>",
        },
        follow=True,
    )
    assert "(unknown)" in weird.content.decode() and "<script>alert" not in weird.content.decode()
    _nothing_changed(office.mailbox)


def test_a_used_code_is_refused_by_the_platform_and_changes_nothing(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    back = microsoft.sign_in(_start(client, office.mailbox), office.address)
    code = parse_qs(urlsplit(back).query)["code"][0]
    # Someone else redeems the code first (it is single use at the platform).
    state = parse_qs(urlsplit(_start(client, office.mailbox)).query)["state"][0]
    assert client.get(back.removeprefix(BASE_URL)).status_code == 302
    OAuthGrant.objects.all().delete()
    answer = client.get("/oauth/microsoft/callback/", {"state": state, "code": code}, follow=True)
    assert "Verbinding met Microsoft verlopen" in answer.content.decode()
    assert not OAuthGrant.objects.exists()


def test_no_token_code_or_secret_shows_in_logs_pages_api_or_audit(microsoft, dovecot, api, caplog):
    caplog.set_level(logging.DEBUG)
    office = office_with_mailbox(dovecot, sent_folder="Sent")
    client = manager_client(office)
    codes: list[str] = []
    original = microsoft.sign_in

    def remembering(url: str, account: str, **kwargs):
        back = original(url, account, **kwargs)
        codes.append(parse_qs(urlsplit(back).query)["code"][0])
        return back

    microsoft.sign_in = remembering  # type: ignore[method-assign]
    try:
        connect(client, office.mailbox, microsoft, office.address)
        dovecot.deliver(office.address, message("Geheim", office.address))
        assert engine.fetch_mailbox(office.mailbox).ok
        expire_cached_token(office.mailbox, microsoft)  # a refresh, with rotation
        assert engine.fetch_mailbox(office.mailbox).ok
        microsoft.revoke(office.address)
        expire_cached_token(office.mailbox, microsoft)
        assert engine.fetch_mailbox(office.mailbox).error_code == "oauth_reconnect"
        connect(client, office.mailbox, microsoft, office.address)
    finally:
        microsoft.sign_in = original  # type: ignore[method-assign]
    pk = office.mailbox.pk
    seen = [
        client.get(f"/beheer/e-mailmanager/{pk}/").content.decode(),
        client.post(f"/beheer/e-mailmanager/{pk}/test-connection/").content.decode(),
        client.get(f"/beheer/e-mailmanager/{pk}/log/").content.decode(),
        client.get(f"/email/?mailbox={pk}").content.decode(),
        client.get("/notifications/").content.decode(),
    ]
    api.force_authenticate(office.admin)
    for url in (f"/api/v1/mailboxes/{pk}/", "/api/v1/mailboxes/", f"/api/v1/mailboxes/{pk}/audit/"):
        seen.append(api.get(url).content.decode())
    seen.append(repr(list(MailboxAuditEntry.objects.filter(mailbox_id=pk).values())))
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.args) for record in caplog.records)
    secrets = [*microsoft.issued_tokens(), *codes, microsoft.client_secret]
    assert len(codes) == 2 and len(secrets) > 6
    everything = "\n".join(seen)
    assert "Verbonden als" in everything  # the pages were really rendered
    leaked = [s for s in secrets if s in everything]
    assert leaked == []
