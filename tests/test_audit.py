"""The mailbox audit log: every change is written, shown in Dutch, and holds no secrets."""

from __future__ import annotations

import datetime as dt

import pytest

from postkamer.mailboxes import audit
from postkamer.mailboxes.models import MailboxAuditEntry
from tests import factories
from tests.test_manager_views import FORM

pytestmark = pytest.mark.django_db


def actions(box) -> list[str]:
    return list(box.audit_entries.order_by("at", "pk").values_list("action", flat=True))


def test_creating_and_editing_in_the_ui_is_logged_without_secret_values(client, office):
    client.force_login(office.manager)
    response = client.post("/beheer/e-mailmanager/new/", FORM)
    box = office.manager.owned_mailboxes.get(sender_address=FORM["sender_address"])
    client.post(
        response.url,
        {**FORM, "name": "Hypotheken NL", "imap_password": "nieuw-geheim-77"},
    )
    assert actions(box) == ["created", "settings_changed"]
    changed = box.audit_entries.get(action="settings_changed")
    assert changed.detail == {"fields": ["imap_password", "name"]}
    stored = str(list(MailboxAuditEntry.objects.values_list("detail", flat=True)))
    assert "geheim" not in stored


def test_saving_without_changes_writes_no_entry(client, office):
    client.force_login(office.manager)
    box = office.mailbox
    form = {**FORM, "name": box.name, "sender_address": box.sender_address}
    client.post(f"/beheer/e-mailmanager/{box.pk}/", form)
    client.post(f"/beheer/e-mailmanager/{box.pk}/", form)
    assert actions(box) == ["settings_changed"]


def test_api_create_update_and_owner_changes_are_logged(api, office):
    team = factories.group(office.tenant, "Schade")
    api.force_authenticate(office.admin)
    body = api.post(
        "/api/v1/mailboxes/",
        {
            "name": "Schade",
            "sender_address": "schade@kantoor-a.test",
            "imap_host": "mail.kantoor-a.test",
            "imap_username": "schade",
            "imap_password": "hunter2-geheim",
            "smtp_host": "mail.kantoor-a.test",
        },
        format="json",
    ).json()
    box_url = f"/api/v1/mailboxes/{body['id']}/"
    api.patch(box_url, {"smtp_password": "ander-geheim", "max_errors": 3}, format="json")
    api.post(f"{box_url}owners/", {"user": office.advisor.pk}, format="json")
    api.post(f"{box_url}owners/", {"group": team.pk}, format="json")
    api.delete(f"{box_url}owners/group/{team.pk}/")
    api.delete(f"{box_url}owners/user/{office.advisor.pk}/")

    log = api.get(f"{box_url}audit/").json()
    assert log["count"] == 6
    assert [e["action"] for e in log["results"]] == [
        "owner_removed",
        "group_unlinked",
        "group_linked",
        "owner_added",
        "settings_changed",
        "created",
    ]
    assert log["results"][4]["detail"] == {"fields": ["max_errors", "smtp_password"]}
    assert log["results"][0]["actor"] == {"id": office.admin.pk, "name": office.admin.email}
    assert "geheim" not in str(log)


def test_audit_api_is_paginated(api, office):
    for _ in range(3):
        audit.record(office.mailbox, office.admin, "owner_added", user=1, user_name="x")
    api.force_authenticate(office.admin)
    page = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/audit/?page_size=2").json()
    assert page["count"] == 3 and page["next"]


def test_the_log_tab_shows_plain_dutch_sentences_in_amsterdam_time(client, office):
    jan = factories.user(office.tenant, rights=("email_manager",), email="jan@kantoora.test")
    jan.name = "Jan de Vries"
    jan.save()
    piet = factories.user(office.tenant, email="piet@kantoora.test")
    piet.name = "Piet"
    piet.save()
    client.force_login(jan)
    client.post(f"/beheer/e-mailmanager/{office.mailbox.pk}/owners/add/", {"user": piet.pk})
    entry = office.mailbox.audit_entries.get()
    entry.at = dt.datetime(2026, 7, 1, 12, 30, tzinfo=dt.UTC)
    entry.save()
    page = client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/log/").content.decode()
    assert "Jan de Vries heeft Piet toegevoegd als eigenaar." in page
    assert "1 juli 2026 14:30" in page  # summer time in Amsterdam


def test_record_masks_values_under_secret_looking_keys(office):
    entry = audit.record(
        office.mailbox, office.admin, "oauth_connected", account="a@b.test", refresh_token="xyz"
    )
    assert entry.detail == {"account": "a@b.test", "refresh_token": "***"}


def test_record_refuses_unknown_actions(office):
    with pytest.raises(ValueError):
        audit.record(office.mailbox, office.admin, "made_up")


def test_outsiders_and_owners_without_the_right_cannot_read_the_log(api, office):
    api.force_authenticate(office.outsider)
    assert api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/audit/").status_code == 404
    api.force_authenticate(office.advisor)
    assert api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/audit/").status_code == 403


# -- deleting keeps the log ---------------------------------------------------------


def test_deleting_on_the_page_keeps_the_log_and_says_who_deleted_it(client, office):
    box = office.mailbox
    box_id, name = box.pk, box.name
    audit.record(box, office.admin, "owner_added", user=office.advisor.pk, user_name="Advisor")
    client.force_login(office.manager)  # a manager who is not an owner
    assert client.post(f"/beheer/e-mailmanager/{box_id}/delete/").status_code == 302

    entries = MailboxAuditEntry.objects.filter(mailbox_ref=box_id).order_by("at", "pk")
    assert [e.action for e in entries] == ["owner_added", "deleted"]
    assert all(e.mailbox_id is None and e.tenant_id == office.tenant.pk for e in entries)
    deleted = entries.last()
    assert deleted.actor == office.manager and deleted.mailbox_name == name
    assert deleted.detail == {"name": name, "sender_address": box.sender_address}

    listing = client.get("/beheer/e-mailmanager/deleted/").content.decode()
    assert name in listing and box.sender_address in listing
    log = client.get(f"/beheer/e-mailmanager/deleted/{box_id}/").content.decode()
    assert f"{office.manager.display_name} heeft de e-mailbox verwijderd." in log
    assert "toegevoegd als eigenaar" in log
    assert (
        "Logboeken van verwijderde e-mailboxen"
        in client.get("/beheer/e-mailmanager/").content.decode()
    )


def test_deleting_through_the_api_keeps_the_log_for_the_offices_managers_only(api, office):
    box = office.mailbox
    box_id = box.pk
    api.force_authenticate(office.admin)
    assert api.delete(f"/api/v1/mailboxes/{box_id}/").status_code == 204
    assert api.get(f"/api/v1/mailboxes/{box_id}/audit/").status_code == 404

    listed = api.get("/api/v1/deleted-mailboxes/").json()
    assert listed == [
        {
            "id": box_id,
            "name": box.name,
            "sender_address": box.sender_address,
            "deleted_at": listed[0]["deleted_at"],
            "deleted_by": {"id": office.admin.pk, "name": office.admin.display_name},
        }
    ]
    log = api.get(f"/api/v1/deleted-mailboxes/{box_id}/audit/").json()
    assert [e["action"] for e in log["results"]] == ["deleted"]

    api.force_authenticate(office.outsider)
    assert api.get("/api/v1/deleted-mailboxes/").json() == []
    assert api.get(f"/api/v1/deleted-mailboxes/{box_id}/audit/").status_code == 404
    api.force_authenticate(office.advisor)
    assert api.get(f"/api/v1/deleted-mailboxes/{box_id}/audit/").status_code == 403
    assert api.get("/api/v1/deleted-mailboxes/").status_code == 403


def test_a_new_mailbox_with_the_old_address_starts_its_own_log(api, office):
    old = office.mailbox
    api.force_authenticate(office.admin)
    api.delete(f"/api/v1/mailboxes/{old.pk}/")
    body = api.post(
        "/api/v1/mailboxes/",
        {
            "name": "Opnieuw",
            "sender_address": old.sender_address,
            "imap_host": "mail.kantoor-a.test",
            "imap_username": "opnieuw",
            "imap_password": "geheim-1",
            "smtp_host": "mail.kantoor-a.test",
        },
        format="json",
    ).json()
    assert body["id"] != old.pk
    log = api.get(f"/api/v1/mailboxes/{body['id']}/audit/").json()
    assert [e["action"] for e in log["results"]] == ["created"]


def test_a_live_mailbox_is_not_found_among_the_deleted(api, client, office):
    api.force_authenticate(office.admin)
    url = f"/api/v1/deleted-mailboxes/{office.mailbox.pk}/audit/"
    assert api.get(url).status_code == 404
    client.force_login(office.admin)
    assert client.get(f"/beheer/e-mailmanager/deleted/{office.mailbox.pk}/").status_code == 404
