"""App-only Office 365 mailboxes (client credentials), sending over SMTP XOAUTH2, and
the connection test's report per server."""

from __future__ import annotations

import pytest

from postkamer.fetching import engine
from postkamer.mailboxes import oauth
from postkamer.mailboxes.models import Mailbox, OAuthGrant
from postkamer.messages.models import Folder, Message
from postkamer.sending import actions as sending
from postkamer.sending import engine as send_engine
from tests.oauth.conftest import (
    connect,
    expire_cached_token,
    manager_client,
    message,
    office_with_mailbox,
)

pytestmark = pytest.mark.django_db

TENANT = "kantoor.onmicrosoft.com"


def _app_office(microsoft, dovecot, tenant: str = TENANT):
    office = office_with_mailbox(
        dovecot, microsoft_auth="application", microsoft_tenant=tenant, sent_folder="Sent"
    )
    microsoft.add_tenant(TENANT, office.address)
    return office


def _send(mailbox: Mailbox, author, to: str = "klant@voorbeeld.test"):
    row = sending.do_queue_message(
        mailbox, author=author, to=to, subject="Uw offerte", body_html="<p>Hierbij.</p>"
    )
    send_engine.run(row.pk)
    row.refresh_from_db()
    return row


def test_an_app_only_mailbox_fetches_and_sends_with_one_client_credentials_token(
    microsoft, dovecot, smtp_servers
):
    office = _app_office(microsoft, dovecot)
    dovecot.deliver(office.address, message("Aanvraag", office.address))
    outcome = engine.fetch_mailbox(office.mailbox)
    assert outcome.ok, outcome.error
    assert Message.objects.filter(mailbox=office.mailbox, subject="Aanvraag").exists()

    before = len(smtp_servers.messages)
    row = _send(office.mailbox, office.reader)
    assert row.state == "sent", (row.error_code, row.error_params)
    received = list(smtp_servers.messages)[before:]
    assert [m.auth_user for m in received] == [office.address]
    assert row.append_state == "done"  # APPENDed to Sent over IMAP XOAUTH2 as well
    # Fetch, submit and APPEND shared one token from the database cache.
    assert [(r.grant_type, r.tenant) for r in microsoft.requests] == [
        ("client_credentials", TENANT)
    ]
    assert oauth.status(office.mailbox) == oauth.CONNECTED

    expire_cached_token(office.mailbox, microsoft)
    assert engine.fetch_mailbox(office.mailbox).ok
    assert len(microsoft.grants("client_credentials")) == 2


def test_a_wrong_tenant_gives_a_plain_error(microsoft, dovecot, api):
    office = _app_office(microsoft, dovecot, tenant="elders.onmicrosoft.com")
    answer = manager_client(office).post(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/test-connection/",
        HTTP_ACCEPT="application/json",
    )
    results = {r["server"]: r for r in answer.json()["results"]}
    expected = (
        "Microsoft kent de tenant 'elders.onmicrosoft.com' niet. "
        "Controleer de tenant-ID of het domein."
    )
    assert results["imap"]["message"] == results["smtp"]["message"] == expected
    outcome = engine.fetch_mailbox(office.mailbox)
    assert outcome.error_code == "oauth_tenant_unknown"
    box = Mailbox.objects.get(pk=office.mailbox.pk)
    assert box.last_error == expected
    api.force_authenticate(office.admin)
    data = api.get(f"/api/v1/mailboxes/{box.pk}/").json()
    assert data["microsoft_status"] == "not_connected"
    assert data["last_error_code"] == "oauth_tenant_unknown"


def test_the_api_takes_the_microsoft_settings_and_names_every_mistake(microsoft, dovecot, api):
    office = office_with_mailbox(dovecot)
    api.force_authenticate(office.admin)
    answer = api.post(
        "/api/v1/mailboxes/",
        {
            "name": "Gedeeld",
            "sender_address": "gedeeld@kantoor.test",
            "type": "office365",
            "microsoft_auth": "application",
        },
        format="json",
    )
    assert answer.status_code == 400
    assert "tenant" in answer.json()["microsoft_tenant"][0]
    answer = api.post(
        "/api/v1/mailboxes/",
        {
            "name": "Gedeeld",
            "sender_address": "gedeeld@kantoor.test",
            "type": "office365",
            "microsoft_auth": "application",
            "microsoft_tenant": "kantoor/../x",
            "interval_minutes": 7,
        },
        format="json",
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"microsoft_tenant", "interval_minutes"}
    answer = api.post(
        "/api/v1/mailboxes/",
        {
            "name": "Gedeeld",
            "sender_address": "gedeeld@kantoor.test",
            "type": "office365",
            "microsoft_auth": "application",
            "microsoft_tenant": "0b1f4a0e-6d0e-4f3a-9d2b-2f6c1f0e8a11",
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    data = answer.json()
    assert data["microsoft_auth"] == "application"
    assert data["microsoft_status"] == "not_connected" and data["microsoft_account"] is None
    assert data["oauth_connect_url"].endswith(
        f"/beheer/e-mailmanager/{data['id']}/microsoft/connect/"
    )
    imap = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/")  # an office365 one, delegated
    assert imap.json()["microsoft_auth"] == "delegated"


def test_a_delegated_mailbox_sends_over_smtp_xoauth2_and_appends_to_sent(
    microsoft, dovecot, smtp_servers
):
    office = office_with_mailbox(dovecot, sent_folder="Sent")
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    before = len(smtp_servers.messages)
    row = _send(office.mailbox, office.reader)
    assert row.state == "sent" and row.append_state == "done"
    received = list(smtp_servers.messages)[before:]
    assert [m.auth_user for m in received] == [office.address]
    assert b"Subject: Uw offerte" in received[0].raw
    assert Message.objects.filter(mailbox=office.mailbox, folder=Folder.SENT).count() == 1
    assert microsoft.grants("refresh_token") == []  # the sign-in's token was still good


def test_sending_waits_when_the_platform_is_down_and_fails_when_the_sign_in_was_revoked(
    microsoft, dovecot, smtp_servers
):
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    expire_cached_token(office.mailbox, microsoft)
    microsoft.down = True
    row = _send(office.mailbox, office.reader)
    assert row.state == "queued" and row.error_code == "oauth_unavailable"
    microsoft.down = False
    microsoft.revoke(office.address)
    row = _send(office.mailbox, office.reader)
    assert row.state == "failed" and row.error_code == "oauth_reconnect"


def test_the_connection_test_reports_imap_and_smtp_separately(
    microsoft, dovecot, settings, closed_port
):
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    connect(client, office.mailbox, microsoft, office.address)
    answer = client.post(
        f"/api/v1/mailboxes/{office.mailbox.pk}/test-connection/", HTTP_ACCEPT="application/json"
    )
    assert [(r["server"], r["ok"]) for r in answer.json()["results"]] == [
        ("imap", True),
        ("smtp", True),
    ]
    settings.POSTKAMER_MS_SMTP = ("127.0.0.1", closed_port)
    page = client.post(f"/beheer/e-mailmanager/{office.mailbox.pk}/test-connection/")
    text = page.content.decode()
    assert "<strong>IMAP</strong>: Verbinding OK" in text
    assert "<strong>SMTP</strong>: De server weigert de verbinding" in text


def test_the_folder_list_is_read_with_xoauth2(microsoft, dovecot, api):
    office = office_with_mailbox(dovecot)
    connect(manager_client(office), office.mailbox, microsoft, office.address)
    api.force_authenticate(office.admin)
    answer = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/imap-folders/")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["suggested"] == {"sent": "Sent", "junk": "Junk"}


def test_without_a_client_id_the_page_explains_and_nothing_connects(microsoft, dovecot, settings):
    settings.POSTKAMER_MS_CLIENT_ID = ""
    office = office_with_mailbox(dovecot)
    client = manager_client(office)
    page = client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/").content.decode()
    assert "Deze installatie heeft nog geen Microsoft-app" in page
    assert "disabled>Verbinden met Microsoft</button>" in page
    answer = client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/microsoft/connect/")
    assert answer.status_code == 302 and answer["Location"].startswith("/beheer/")
    assert not OAuthGrant.objects.exists()
    assert engine.fetch_mailbox(office.mailbox).error_code == "oauth_not_configured"


def test_the_deployment_check_names_an_incomplete_oauth_app(settings):
    from postkamer.core.checks import oauth_apps_are_complete

    settings.BASE_URL = "https://post.kantoor.nl"
    settings.POSTKAMER_MS_CLIENT_ID, settings.POSTKAMER_MS_CLIENT_SECRET = "app", "geheim"
    settings.POSTKAMER_GOOGLE_CLIENT_ID = ""
    assert oauth_apps_are_complete() == []
    settings.POSTKAMER_MS_CLIENT_SECRET = ""
    settings.BASE_URL = "http://post.kantoor.nl"
    assert [w.id for w in oauth_apps_are_complete()] == ["postkamer.W003", "postkamer.W004"]
    settings.BASE_URL = "http://127.0.0.1:8000"
    settings.POSTKAMER_MS_CLIENT_SECRET = "geheim"
    assert oauth_apps_are_complete() == []
