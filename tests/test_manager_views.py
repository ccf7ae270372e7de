"""Beheer -> E-mailmanager pages: who gets in, Dutch validation, create and edit."""

from __future__ import annotations

import pytest

from postkamer.mailboxes.models import Mailbox
from tests import factories

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Hypotheken",
    "sender_address": "hypotheken@kantoor-a.test",
    "type": "imap",
    "imap_host": "mail.kantoor-a.test",
    "imap_port": "993",
    "imap_security": "ssl",
    "imap_username": "hypotheken@kantoor-a.test",
    "imap_password": "zeer-geheim-42",
    "smtp_host": "mail.kantoor-a.test",
    "smtp_port": "587",
    "smtp_security": "starttls",
    "interval": "5",
    "max_errors": "5",
    "sync_since": "2026-11-01T08:00",
}


def test_manager_sees_the_list_of_the_tenants_mailboxes_only(client, office):
    client.force_login(office.manager)
    page = client.get("/beheer/e-mailmanager/").content.decode()
    assert office.mailbox.name in page
    assert office.other_mailbox.name not in page
    assert "E-mailmanager" in page


def test_user_without_the_right_gets_403_with_a_message(client, office):
    client.force_login(office.advisor)
    response = client.get("/beheer/e-mailmanager/")
    assert response.status_code == 403
    assert "recht &#x27;e-mailmanager&#x27;" in response.content.decode()


def test_edition_without_the_email_manager_shows_a_page_saying_so(client, db):
    basis = factories.tenant("Basis", edition="basis")
    admin = factories.user(basis, rights=("email_manager",))
    client.force_login(admin)
    response = client.get("/beheer/e-mailmanager/")
    assert response.status_code == 403
    assert "niet in jullie editie" in response.content.decode().lower()


def test_creating_a_mailbox_stores_an_encrypted_password_and_makes_the_creator_owner(
    client, office
):
    client.force_login(office.manager)
    response = client.post("/beheer/e-mailmanager/new/", FORM)
    assert response.status_code == 302
    box = Mailbox.objects.get(sender_address="hypotheken@kantoor-a.test")
    assert box.imap_password == "zeer-geheim-42"
    assert box.interval_minutes == 5
    assert box.owner_users.filter(pk=office.manager.pk).exists()
    page = client.get(response.url).content.decode()
    assert "zeer-geheim-42" not in page
    assert "Laat leeg om het huidige wachtwoord te houden" in page


def test_invalid_form_shows_dutch_messages_and_keeps_nothing(client, office):
    client.force_login(office.manager)
    bad = {**FORM, "sender_address": "geen adres", "imap_port": "0", "imap_password": ""}
    page = client.post("/beheer/e-mailmanager/new/", bad).content.decode()
    assert "Voer een geldig e-mailadres in." in page
    assert "Vul een poortnummer van 1 tot en met 65535 in." in page
    assert "Vul het wachtwoord voor de mailserver in." in page
    assert not Mailbox.objects.filter(name="Hypotheken").exists()


def form_of(box: Mailbox, **changes: str) -> dict[str, str]:
    """The mailbox page's form as it shows ``box``, with ``changes``."""
    form = {
        **FORM,
        "sender_address": box.sender_address,
        "imap_password": "",
        "interval": str(box.interval_minutes or ""),
    }
    for name in ("name", "imap_host", "imap_port", "imap_security", "imap_username"):
        form[name] = str(getattr(box, name))
    for name in ("smtp_host", "smtp_port", "smtp_security", "smtp_username"):
        form[name] = str(getattr(box, name))
    form.update(changes)
    return form


def test_editing_without_a_password_keeps_the_stored_one(client, office):
    client.force_login(office.manager)
    box = office.mailbox
    form = form_of(box, name="Nieuwe naam")
    response = client.post(f"/beheer/e-mailmanager/{box.pk}/", form)
    assert response.status_code == 302
    box.refresh_from_db()
    assert box.name == "Nieuwe naam" and box.imap_password == "secret"


def test_another_tenants_mailbox_page_is_404(client, office):
    client.force_login(office.outsider)
    for url in (
        f"/beheer/e-mailmanager/{office.mailbox.pk}/",
        f"/beheer/e-mailmanager/{office.mailbox.pk}/delete/",
    ):
        assert client.get(url).status_code == 404
    assert (
        client.post(f"/beheer/e-mailmanager/{office.mailbox.pk}/test-connection/").status_code
        == 404
    )
    assert client.post(f"/beheer/e-mailmanager/{office.mailbox.pk}/delete/").status_code == 404
    assert Mailbox.objects.filter(pk=office.mailbox.pk).exists()


def test_deleting_asks_first_and_then_deletes(client, office):
    client.force_login(office.manager)
    url = f"/beheer/e-mailmanager/{office.mailbox.pk}/delete/"
    assert "Verwijderen" in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    assert not Mailbox.objects.filter(pk=office.mailbox.pk).exists()


def test_disabled_mailbox_is_shown_in_red_with_its_reason(client, office):
    office.mailbox.disabled_code = "too_many_errors"
    office.mailbox.disabled_params = {"count": 5, "error": {"code": "timeout", "params": {}}}
    office.mailbox.interval_minutes = None
    office.mailbox.save()
    client.force_login(office.manager)
    page = client.get("/beheer/e-mailmanager/").content.decode()
    assert 'class="disabled"' in page and "uitgeschakeld na 5 mislukte pogingen" in page


def test_three_mistakes_on_the_page_are_named_together_once_each(client, office):
    client.force_login(office.manager)
    bad = {
        **FORM,
        "sender_address": "geen adres",
        "imap_port": "abc",
        "smtp_security": "none",
        "display_name": "Kantoor A\r\nBcc: iedereen@elders.test",
    }
    page = client.post("/beheer/e-mailmanager/new/", bad).content.decode()
    assert "Voer een geldig e-mailadres in." in page
    assert page.count("Voer een geheel getal in.") == 1
    assert "Vul een poortnummer" not in page  # the port's own message is enough
    assert "Een onversleutelde verbinding mag alleen" in page  # SMTP without TLS
    assert "Het veld &#x27;weergavenaam&#x27; mag geen regeleinden" in page
    assert not Mailbox.objects.filter(name="Hypotheken").exists()


def test_the_page_refuses_a_new_server_without_the_password_and_keeps_the_old_one(client, office):
    client.force_login(office.manager)
    box = office.mailbox
    response = client.post(
        f"/beheer/e-mailmanager/{box.pk}/", form_of(box, imap_host="mail.elders.test")
    )
    assert response.status_code == 200
    assert "vul het IMAP-wachtwoord opnieuw in" in response.content.decode()
    box.refresh_from_db()
    assert box.imap_host == "127.0.0.1" and box.imap_password == "secret"
    assert not box.audit_entries.exists()
