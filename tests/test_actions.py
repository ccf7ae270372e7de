"""The action functions: the one place each mailbox rule lives, whoever calls them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from postkamer.accounts.models import User
from postkamer.mailboxes import actions
from postkamer.mailboxes.models import Mailbox
from tests import factories

pytestmark = pytest.mark.django_db

SETTINGS = {
    "name": "Hypotheken",
    "sender_address": "hypotheken@kantoor-a.test",
    "imap_host": "mail.kantoor-a.test",
    "imap_username": "hypotheken",
    "imap_password": "geheim-1",
    "smtp_host": "mail.kantoor-a.test",
}


def log(box: Mailbox) -> list[tuple[str, dict]]:
    return list(box.audit_entries.order_by("at", "pk").values_list("action", "detail"))


def test_the_creator_becomes_owner_and_the_synchronisation_starts_now(office):
    before = timezone.now()
    box = actions.do_create_mailbox(office.manager, office.tenant, SETTINGS)
    assert list(box.owner_users.all()) == [office.manager]
    assert box.sync_since >= before and box.interval_minutes == 5
    assert box.imap_password == "geheim-1" and "geheim" not in box.imap_password_enc
    assert log(box) == [("created", {})]


def test_an_earlier_synchronisation_date_imports_history(office):
    since = timezone.now() - dt.timedelta(days=400)
    box = actions.do_create_mailbox(
        office.manager, office.tenant, {**SETTINGS, "sync_since": since}
    )
    assert box.sync_since == since


def test_platform_staff_create_without_becoming_owner(office):
    staff = User.objects.create_superuser("staf@postkamer.test", "x")
    box = actions.do_create_mailbox(staff, office.tenant, SETTINGS)
    assert not box.owner_users.exists()
    assert box.audit_entries.get().actor == staff


def test_an_update_is_checked_again_whoever_calls_it(office):
    """No form or serializer in between: the action itself refuses, stores nothing."""
    box = office.mailbox
    with pytest.raises(ValidationError) as refused:
        actions.do_update_mailbox(office.manager, box, {"imap_host": "mail.elders.test"})
    assert set(refused.value.message_dict) == {"imap_password"}
    box.refresh_from_db()
    assert box.imap_host == "127.0.0.1" and not box.audit_entries.exists()


def test_an_update_compares_with_what_is_stored_not_with_the_object_in_memory(office):
    box = office.mailbox
    box.imap_host = "mail.elders.test"  # as a bound form leaves the instance behind
    with pytest.raises(ValidationError):
        actions.do_update_mailbox(office.manager, box, {"imap_host": "mail.elders.test"})
    stored = actions.do_update_mailbox(office.manager, box, {"name": "Schade"})
    assert stored.imap_host == "127.0.0.1" and stored.name == "Schade"
    assert log(stored) == [("settings_changed", {"fields": ["name"]})]


def test_choosing_an_interval_again_switches_fetching_back_on(office):
    box = office.mailbox
    Mailbox.objects.filter(pk=box.pk).update(
        interval_minutes=None,
        disabled_code="too_many_errors",
        disabled_params={"count": 5, "error": {"code": "timeout", "params": {}}},
        error_count=5,
    )
    stored = actions.do_update_mailbox(office.manager, box, {"interval_minutes": None})
    assert stored.disabled_reason  # 'none' again changes nothing
    stored = actions.do_update_mailbox(office.manager, box, {"interval_minutes": 10})
    assert (stored.interval_minutes, stored.disabled_reason, stored.error_count) == (10, "", 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda o: actions.do_update_mailbox(o.advisor, o.mailbox, {"name": "x"}),
        lambda o: actions.do_delete_mailbox(o.advisor, o.mailbox),
        lambda o: actions.do_add_owner(o.advisor, o.mailbox, o.manager),
        lambda o: actions.do_create_mailbox(o.advisor, o.tenant, SETTINGS),
    ],
)
def test_an_office_user_without_the_right_is_refused(office, call):
    with pytest.raises(PermissionDenied):
        call(office)
    assert Mailbox.objects.filter(pk=office.mailbox.pk, name=office.mailbox.name).exists()
    assert not office.mailbox.audit_entries.exists()


def test_another_offices_manager_does_not_find_the_mailbox(office):
    with pytest.raises(Http404):
        actions.do_delete_mailbox(office.outsider, office.mailbox)
    with pytest.raises(Http404):
        actions.do_add_owner(office.admin, office.mailbox, office.outsider)
    assert Mailbox.objects.filter(pk=office.mailbox.pk).exists()


def test_setting_the_owners_logs_one_entry_per_difference(office):
    box = office.mailbox
    team = factories.group(office.tenant, "Schade")
    actions.do_set_owners(office.admin, box, users=[office.manager], groups=[team])
    assert list(box.owner_users.all()) == [office.manager]
    assert [a for a, _ in log(box)] == ["owner_removed", "owner_added", "group_linked"]
    actions.do_set_owners(office.admin, box, users=[office.manager], groups=[team])
    assert len(log(box)) == 3  # nothing changed, nothing logged


def test_setting_only_the_users_does_not_need_multi_user(office):
    team = factories.group(office.tenant, "Schade")
    office.mailbox.owner_groups.add(team)
    actions.do_set_owners(office.manager, office.mailbox, users=[office.manager], groups=[team])
    with pytest.raises(PermissionDenied):
        actions.do_set_owners(office.manager, office.mailbox, groups=[])
    assert office.mailbox.owner_groups.filter(pk=team.pk).exists()
