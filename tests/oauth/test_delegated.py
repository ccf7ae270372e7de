"""Office 365 with a person's sign-in (delegated): connecting, fetching with XOAUTH2,
token expiry and rotation, a revoked sign-in and reconnecting."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from postkamer import crypto
from postkamer.accounts.models import Notification
from postkamer.fetching import engine
from postkamer.fetching.models import FetchRun
from postkamer.mailboxes import oauth
from postkamer.mailboxes.models import AuditAction, Mailbox, OAuthGrant
from postkamer.messages.models import Message
from tests.oauth.conftest import (
    BASE_URL,
    connect,
    expire_cached_token,
    host_of,
    manager_client,
    message,
    office_with_mailbox,
)

pytestmark = pytest.mark.django_db

SCOPES = (
    "offline_access openid email https://outlook.office.com/IMAP.AccessAsUser.All "
    "https://outlook.office.com/SMTP.Send"
)


def _stored_subjects(mailbox: Mailbox) -> list[str]:
    return sorted(Message.objects.filter(mailbox=mailbox).values_list("subject", flat=True))


def test_the_button_sends_the_browser_to_the_tenants_authorize_page_with_pkce(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    answer = client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/microsoft/connect/")
    assert answer.status_code == 302
    url = urlsplit(answer["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        f"{microsoft.url}/organizations/oauth2/v2.0/authorize"
    )
    assert query["redirect_uri"] == f"{BASE_URL}/oauth/microsoft/callback/"
    assert query["scope"] == SCOPES
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["response_type"] == "code" and query["client_id"] == microsoft.client_id
    # The state is bound to this session; the verifier never leaves the server.
    pending = client.session["postkamer_oauth_pending"]
    assert list(pending) == [query["state"]]
    assert pending[query["state"]]["verifier"] not in answer["Location"]

    office.mailbox.microsoft_tenant = "kantoor.onmicrosoft.com"
    office.mailbox.save()
    again = client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/microsoft/connect/")
    assert urlsplit(again["Location"]).path == "/kantoor.onmicrosoft.com/oauth2/v2.0/authorize"


def test_connecting_keeps_the_refresh_token_encrypted_and_shows_the_account(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    back = connect(client, office.mailbox, microsoft, office.address)
    assert back.status_code == 302
    page = client.get(back["Location"]).content.decode()
    assert f"is verbonden met Microsoft als {office.address}" in page
    assert f"Verbonden als {office.address}." in page
    assert "niet als het afzenderadres" not in page

    grant = OAuthGrant.objects.get(mailbox=office.mailbox)
    live = microsoft.refresh_tokens_of(office.address)
    assert crypto.decrypt(grant.refresh_token_enc) == live[0]
    assert live[0] not in grant.refresh_token_enc
    assert oauth.status(office.mailbox) == oauth.CONNECTED
    entry = office.mailbox.audit_entries.get(action=AuditAction.OAUTH_CONNECTED)
    assert entry.detail == {"provider": "microsoft", "account": office.address}
    assert entry.actor == office.admin


def test_a_persons_account_reaching_a_shared_mailbox_is_warned_about_and_works(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    person = "jan@kantoor.test"
    microsoft.delegates[person] = office.address  # Jan has full access to the shared box
    dovecot.deliver(office.address, message("Gedeeld", office.address))
    client = manager_client(office)
    back = connect(client, office.mailbox, microsoft, person)
    page = client.get(back["Location"]).content.decode()
    assert f"Je hebt je aangemeld als {person}, niet als het afzenderadres" in page
    outcome = engine.fetch_mailbox(office.mailbox)
    assert outcome.ok, outcome.error
    assert _stored_subjects(office.mailbox) == ["Gedeeld"]


def test_an_access_token_is_used_until_shortly_before_it_expires_then_refreshed(microsoft, dovecot):
    microsoft.access_lifetime = 2
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    dovecot.deliver(office.address, message("Eerste", office.address))
    assert engine.fetch_mailbox(office.mailbox).ok
    assert engine.fetch_mailbox(office.mailbox).ok  # still the token of the sign-in
    assert microsoft.grants("refresh_token") == []

    grant = OAuthGrant.objects.get(mailbox=office.mailbox)
    lifetime = (grant.access_expires_at - grant.refreshed_at).total_seconds()
    assert (grant.access_use_until - grant.refreshed_at).total_seconds() == pytest.approx(
        lifetime * 3 / 4, abs=0.01
    )
    import time

    time.sleep(2.2)  # the token expires at the platform (and Dovecot refuses it now)
    dovecot.deliver(office.address, message("Tweede", office.address))
    outcome = engine.fetch_mailbox(office.mailbox)
    assert outcome.ok, outcome.error
    assert len(microsoft.grants("refresh_token")) == 1
    assert _stored_subjects(office.mailbox) == ["Eerste", "Tweede"]


def test_a_rotated_refresh_token_replaces_the_stored_one(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    first = microsoft.refresh_tokens_of(office.address)
    expire_cached_token(office.mailbox, microsoft)
    assert engine.fetch_mailbox(office.mailbox).ok
    now_live = microsoft.refresh_tokens_of(office.address)
    assert now_live != first and len(now_live) == 1
    grant = OAuthGrant.objects.get(mailbox=office.mailbox)
    assert crypto.decrypt(grant.refresh_token_enc) == now_live[0]
    # And the one after it too: the stored token is the live one each time.
    expire_cached_token(office.mailbox, microsoft)
    assert engine.fetch_mailbox(office.mailbox).ok
    assert len(microsoft.grants("refresh_token")) == 2


@pytest.mark.django_db(transaction=True)
def test_processes_that_need_a_token_at_once_share_one_refresh(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    expire_cached_token(office.mailbox, microsoft)
    tokens: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            tokens.append(oauth.access_token(Mailbox.objects.get(pk=office.mailbox.pk)))
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures
    assert len(tokens) == 4 and len(set(tokens)) == 1
    assert len(microsoft.grants("refresh_token")) == 1  # rotation survived: one refresh


def test_a_revoked_sign_in_counts_notifies_the_readers_once_and_asks_to_reconnect(
    microsoft, dovecot, client
):
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    microsoft.revoke(office.address)  # consent withdrawn, password reset…
    expire_cached_token(office.mailbox, microsoft)

    outcome = engine.fetch_mailbox(office.mailbox)
    assert outcome.error_code == "oauth_reconnect"
    box = Mailbox.objects.get(pk=office.mailbox.pk)
    assert box.error_count == 1
    assert box.last_error == "Verbinding met Microsoft verlopen: opnieuw verbinden"
    assert engine.fetch_mailbox(box).error_code == "oauth_reconnect"
    assert Mailbox.objects.get(pk=box.pk).error_count == 2
    assert len(microsoft.grants("refresh_token")) == 1  # the second did not ask again

    notes = Notification.objects.filter(mailbox=box, kind="oauth_reconnect_needed")
    assert sorted(n.user_id for n in notes) == sorted([office.admin.pk, office.reader.pk])
    assert box.audit_entries.filter(action=AuditAction.OAUTH_EXPIRED).count() == 1
    assert oauth.status(box) == oauth.RECONNECT_NEEDED

    manager = manager_client(office)
    page = manager.get(f"/beheer/e-mailmanager/{box.pk}/").content.decode()
    assert "Verbinding met Microsoft verlopen: opnieuw verbinden" in page
    assert f'href="/beheer/e-mailmanager/{box.pk}/microsoft/connect/">Opnieuw verbinden' in page
    module = manager.get(f"/email/?mailbox={box.pk}").content.decode()
    assert "Opnieuw verbinden</a>" in module
    client.force_login(office.reader)
    module = client.get(f"/email/?mailbox={box.pk}").content.decode()
    assert "Verbinding met Microsoft verlopen" in module
    assert "Vraag je beheerder" in module and "/microsoft/connect/" not in module
    notice = client.get("/notifications/").content.decode()
    assert "opnieuw verbindt" in notice


def test_after_reconnecting_the_next_fetch_stores_exactly_the_new_mail(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    connect(client, office.mailbox, microsoft, office.address)
    for subject in ("Een", "Twee"):
        dovecot.deliver(office.address, message(subject, office.address))
    assert engine.fetch_mailbox(office.mailbox).new_messages == 2
    microsoft.revoke(office.address)
    expire_cached_token(office.mailbox, microsoft)
    for subject in ("Drie", "Vier"):
        dovecot.deliver(office.address, message(subject, office.address))
    assert engine.fetch_mailbox(office.mailbox).error_code == "oauth_reconnect"

    back = connect(client, office.mailbox, microsoft, office.address)
    assert back.status_code == 302
    box = Mailbox.objects.get(pk=office.mailbox.pk)
    assert box.error_count == 0 and box.last_error_code == ""
    assert oauth.status(box) == oauth.CONNECTED
    outcome = engine.fetch_mailbox(box)
    assert outcome.ok and outcome.new_messages == 2
    assert _stored_subjects(box) == ["Drie", "Een", "Twee", "Vier"]


def test_a_platform_that_is_down_is_a_temporary_error_not_a_reconnect(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    expire_cached_token(office.mailbox, microsoft)
    microsoft.down = True
    outcome = engine.fetch_mailbox(office.mailbox)
    assert outcome.error_code == "oauth_unavailable"
    assert oauth.status(office.mailbox) == oauth.CONNECTED
    assert not Notification.objects.filter(mailbox=office.mailbox).exists()
    microsoft.down = False
    assert engine.fetch_mailbox(office.mailbox).ok


def test_changing_the_tenant_or_sender_forgets_the_sign_in(microsoft, dovecot, api):
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    api.force_authenticate(office.admin)
    url = f"/api/v1/mailboxes/{office.mailbox.pk}/"
    assert api.get(url).json()["microsoft_status"] == "connected"
    answer = api.patch(url, {"microsoft_tenant": "elders.onmicrosoft.com"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["microsoft_status"] == "not_connected"
    assert not OAuthGrant.objects.filter(mailbox=office.mailbox).exists()
    entry = office.mailbox.audit_entries.filter(action=AuditAction.OAUTH_DISCONNECTED).get()
    assert entry.detail["reason"] == "settings"
    assert engine.fetch_mailbox(office.mailbox).error_code == "oauth_not_connected"


def test_a_mailbox_without_a_sign_in_says_so_when_tested(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    answer = manager_client(office).post(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/test-connection/",
        HTTP_ACCEPT="application/json",
    )
    results = {r["server"]: r for r in answer.json()["results"]}
    assert results["imap"]["code"] == results["smtp"]["code"] == "oauth_not_connected"
    assert "nog niet verbonden met Microsoft" in results["imap"]["message"]
    assert host_of(microsoft.url)  # nothing was asked of the platform
    assert microsoft.requests == []


def test_the_schedule_leaves_mailboxes_alone_until_someone_connects_them(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    app_only = office_with_mailbox(
        dovecot, microsoft_auth="application", microsoft_tenant="kantoor.onmicrosoft.com"
    )
    engine.dispatch_due()
    queued = set(FetchRun.objects.values_list("mailbox_id", flat=True))
    assert office.mailbox.pk not in queued and app_only.mailbox.pk in queued
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    Mailbox.objects.filter(pk=office.mailbox.pk).update(next_fetch_at=None)
    engine.dispatch_due()
    assert FetchRun.objects.filter(mailbox=office.mailbox).exists()


def test_a_token_the_server_refuses_before_its_time_is_not_used_again(microsoft, dovecot):
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    # The platform ends the sign-in early; Postkamer's cache still trusts the token.
    microsoft.revoke(office.address)
    microsoft.expire_access_tokens()
    assert engine.fetch_mailbox(office.mailbox).error_code == "auth_failed"
    assert microsoft.grants("refresh_token") == []
    # The next fetch asks for a new token, and so learns why.
    assert engine.fetch_mailbox(office.mailbox).error_code == "oauth_reconnect"
    assert oauth.status(office.mailbox) == oauth.RECONNECT_NEEDED
