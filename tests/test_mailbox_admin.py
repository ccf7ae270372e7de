"""The Django admin changes mailboxes only through the action functions: the same
rules and the same audit log as the pages and the API."""

from __future__ import annotations

import pytest

from postkamer.accounts.models import User
from postkamer.mailboxes.models import Mailbox, MailboxAuditEntry
from tests import factories
from tests.test_password_rule import admin_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("beheer@postkamer.test", factories.PASSWORD)
    client.force_login(user)
    return user


def actions_of(box: Mailbox) -> list[str]:
    return list(box.audit_entries.order_by("at", "pk").values_list("action", flat=True))


def test_creating_in_the_admin_is_logged_and_sets_the_owners_one_by_one(client, staff, office):
    data = admin_form(office.mailbox)
    data.update(
        tenant=str(office.tenant.pk),
        name="Hypotheken",
        sender_address="hypotheken@kantoor-a.test",
        imap_password="geheim-1",
        owner_users=[str(office.advisor.pk)],
        sync_since="",
    )
    response = client.post("/admin/mailboxes/mailbox/add/", data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    box = Mailbox.objects.get(sender_address="hypotheken@kantoor-a.test")
    assert list(box.owner_users.all()) == [office.advisor]  # staff are never owners
    assert actions_of(box) == ["created", "owner_added"]
    assert box.audit_entries.filter(actor=staff).count() == 2
    assert box.imap_password == "geheim-1"


def test_changing_in_the_admin_is_logged_with_the_interval_rule(client, staff, office):
    box = office.mailbox
    Mailbox.objects.filter(pk=box.pk).update(
        interval_minutes=None,
        disabled_code="too_many_errors",
        disabled_params={"count": 5, "error": {"code": "timeout", "params": {}}},
        error_count=5,
    )
    box.refresh_from_db()
    url = f"/admin/mailboxes/mailbox/{box.pk}/change/"
    response = client.post(url, admin_form(box, name="Schade NL", interval="15"))
    assert response.status_code == 302
    box.refresh_from_db()
    assert (box.name, box.interval_minutes, box.disabled_reason) == ("Schade NL", 15, "")
    entry = box.audit_entries.get()
    assert entry.detail == {"fields": ["interval_minutes", "name"]} and entry.actor == staff


def test_owners_changed_in_the_admin_are_logged_and_stay_in_the_tenant(client, staff, office):
    box = office.mailbox
    team = factories.group(office.tenant, "Schade")
    url = f"/admin/mailboxes/mailbox/{box.pk}/change/"
    data = admin_form(box, owner_users=[str(office.manager.pk)], owner_groups=[str(team.pk)])
    assert client.post(url, data).status_code == 302
    assert list(box.owner_users.all()) == [office.manager]
    assert actions_of(box) == ["owner_removed", "owner_added", "group_linked"]

    foreign = admin_form(box, owner_users=[str(office.outsider.pk)])
    assert client.post(url, foreign).status_code == 200
    assert list(box.owner_users.all()) == [office.manager]


def test_deleting_in_the_admin_keeps_the_log(client, staff, office):
    box_id = office.mailbox.pk
    other = factories.mailbox(office.tenant)
    response = client.post(f"/admin/mailboxes/mailbox/{box_id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    response = client.post(
        "/admin/mailboxes/mailbox/",
        {"action": "delete_selected", "_selected_action": [str(other.pk)], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Mailbox.objects.filter(pk__in=[box_id, other.pk]).exists()
    deleted = MailboxAuditEntry.objects.filter(action="deleted", actor=staff)
    assert sorted(deleted.values_list("mailbox_ref", flat=True)) == sorted([box_id, other.pk])


@pytest.mark.parametrize(
    "model",
    [
        "mailboxes/mailboxauditentry",
        "fetching/fetchrun",
        "fetching/folderstate",
        "mailmessages/message",
        "mailmessages/attachment",
        "mailmessages/rawmessage",
        "dnschecks/securitycheck",
        "accounts/notification",
        "accounts/loginthrottle",
    ],
)
def test_rows_only_postkamer_writes_are_shown_read_only(client, staff, office, model):
    assert client.get(f"/admin/{model}/").status_code == 200
    assert client.get(f"/admin/{model}/add/").status_code == 403


def test_the_admin_shows_no_mail_content(client, staff, office):
    message = factories.message(
        office.mailbox, sender="klant@voorbeeld.test", text="Geheime inhoud"
    )
    page = client.get(f"/admin/mailmessages/message/{message.pk}/change/").content.decode()
    assert message.message_id in page.replace("&lt;", "<").replace("&gt;", ">")
    assert "Geheime inhoud" not in page and "klant@voorbeeld.test" not in page
    entry_page = client.get(f"/admin/mailboxes/mailbox/{office.mailbox.pk}/change/")
    assert "secret" not in entry_page.content.decode()
