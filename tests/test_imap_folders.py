"""IMAP mappen ophalen against the real Dovecot (Sent/Junk carry RFC 6154 flags there)."""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def dovecot_box(office, dovecot, imap_user, settings):
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    email, password = imap_user
    return factories.dovecot_mailbox(
        office.tenant, dovecot, email, password, owners=(office.admin,)
    )


def test_api_lists_the_servers_folders_and_suggests_sent_and_junk(api, office, dovecot_box):
    api.force_authenticate(office.manager)
    response = api.get(f"/api/v1/mailboxes/{dovecot_box.pk}/imap-folders/")
    assert response.status_code == 200, response.json()
    body = response.json()
    names = {f["name"] for f in body["folders"]}
    assert {"INBOX", "Sent", "Junk"} <= names
    sent = next(f for f in body["folders"] if f["name"] == "Sent")
    assert sent["special_use"] == "\\Sent" and sent["selectable"] is True
    assert body["suggested"] == {"sent": "Sent", "junk": "Junk"}


def test_api_reports_a_wrong_password_in_dutch(api, office, dovecot_box):
    dovecot_box.imap_password = "fout"
    dovecot_box.save()
    api.force_authenticate(office.manager)
    response = api.get(f"/api/v1/mailboxes/{dovecot_box.pk}/imap-folders/")
    assert response.status_code == 502
    assert response.json()["code"] == "auth_failed"
    assert "wachtwoord" in response.json()["detail"]


def test_the_button_offers_the_folders_and_preselects_sent_and_junk(client, office, dovecot_box):
    client.force_login(office.manager)
    response = client.post(f"/beheer/e-mailmanager/{dovecot_box.pk}/imap-folders/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<select name="sent_folder"' in html and '<select name="junk_folder"' in html
    assert '<option value="Sent" selected>Sent</option>' in html
    assert '<option value="Junk" selected>Junk</option>' in html
    assert "De mappen zijn van de server gelezen" in html


def test_a_folder_that_disappeared_gives_a_clear_error(client, office, dovecot, dovecot_box):
    dovecot.create_folder(dovecot_box.imap_username, "Verzonden items")
    dovecot_box.sent_folder = "Verzonden items"
    dovecot_box.save()
    dovecot.delete_folder(dovecot_box.imap_username, "Verzonden items")
    client.force_login(office.manager)
    response = client.post(f"/beheer/e-mailmanager/{dovecot_box.pk}/imap-folders/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "De map &#x27;Verzonden items&#x27; bestaat niet meer op de server" in html
    # Still offered, so saving the page does not silently drop it.
    assert '<option value="Verzonden items" selected>' in html


def test_the_button_shows_a_connection_error_in_plain_dutch(client, office, dovecot_box):
    dovecot_box.imap_password = "fout"
    dovecot_box.save()
    client.force_login(office.manager)
    response = client.post(f"/beheer/e-mailmanager/{dovecot_box.pk}/imap-folders/")
    assert response.status_code == 200
    assert "De gebruikersnaam of het wachtwoord klopt niet." in response.content.decode()
    assert '<select name="sent_folder"' not in response.content.decode()


def test_the_button_needs_the_manager_right(client, office, dovecot_box):
    # An owner without the right gets 403; a user who cannot see the box gets 404.
    dovecot_box.owner_users.add(office.advisor)
    client.force_login(office.advisor)
    assert client.post(f"/beheer/e-mailmanager/{dovecot_box.pk}/imap-folders/").status_code == 403
    client.force_login(office.outsider)
    assert client.post(f"/beheer/e-mailmanager/{dovecot_box.pk}/imap-folders/").status_code == 404
