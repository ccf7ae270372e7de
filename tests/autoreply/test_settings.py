"""The tab "Automatisch antwoord" and GET/PUT /api/v1/mailboxes/{id}/auto-reply/:
saving, refusing bad input with every mistake named, times in Dutch time, the log,
and the list of replies."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from postkamer.autoreply import actions
from postkamer.autoreply.models import AutoReply, ReplyDecision, State
from postkamer.mailboxes import audit
from postkamer.mailboxes.models import AuditAction
from postkamer.mailboxes.tabs import TABS
from tests import factories

pytestmark = pytest.mark.django_db

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
GOOD = {
    "enabled": "on",
    "starts_at": "2026-12-24T17:00",
    "ends_at": "2027-01-04T08:30",
    "subject": "Automatisch antwoord: {original subject}",
    "body_html": "<p>Wij zijn <b>gesloten</b>.</p><script>alert(1)</script>",
    "interval_days": "7",
}


def _tab(mailbox) -> str:
    return reverse("mailbox-auto-reply", kwargs={"pk": mailbox.pk})


def _api(mailbox, suffix: str = "") -> str:
    return f"/api/v1/mailboxes/{mailbox.pk}/auto-reply/{suffix}"


def test_the_tab_sits_just_before_security():
    keys = [tab.key for tab in TABS]
    assert keys.index("auto_reply") == keys.index("security") - 1
    assert keys.index("auto_reply") > keys.index("owners")


def test_a_new_mailbox_shows_the_reply_off_with_the_defaults(client, office):
    client.force_login(office.manager)
    response = client.get(_tab(office.mailbox))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Automatisch antwoord: {original subject}" in page
    assert 'name="interval_days" value="7"' in page
    assert "Uit: niemand krijgt een automatisch antwoord." in page
    assert not AutoReply.objects.exists()


def test_saving_switches_the_reply_on_in_dutch_time_and_logs_it(client, office):
    client.force_login(office.manager)
    response = client.post(_tab(office.mailbox), GOOD)
    assert response.status_code == 302
    config = AutoReply.objects.get(pk=office.mailbox.pk)
    assert config.enabled and config.active_since is not None
    # Entered in Europe/Amsterdam: 17:00 in winter is 16:00 UTC.
    assert config.starts_at == dt.datetime(2026, 12, 24, 16, 0, tzinfo=dt.UTC)
    assert config.ends_at == dt.datetime(2027, 1, 4, 7, 30, tzinfo=dt.UTC)
    assert config.body_html == "<p>Wij zijn <b>gesloten</b>.</p>"
    assert config.response == AutoReply.response_of(config.subject, config.body_html)
    entry = office.mailbox.audit_entries.get(action=AuditAction.AUTO_REPLY_CHANGED)
    assert audit.describe(entry) == (
        f"{office.manager.display_name} heeft het automatisch antwoord aangezet en gewijzigd: "
        "begin, einde, tekst."
    )
    page = client.get(_tab(office.mailbox)).content.decode()
    assert 'value="2026-12-24T17:00"' in page
    assert "Aan vanaf 24-12-2026 17:00." in page


def test_three_mistakes_are_refused_at_once_each_naming_its_field(client, office):
    client.force_login(office.manager)
    bad = {**GOOD, "ends_at": "2026-12-20T09:00", "interval_days": "0", "body_html": "<p> </p>"}
    response = client.post(_tab(office.mailbox), bad)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["ends_at"] == ["Einde: kies een moment na het begin (24-12-2026 17:00)."]
    assert errors["interval_days"] == [
        "Dagen tussen twee antwoorden aan dezelfde afzender: vul minimaal 1 in."
    ]
    assert errors["body_html"] == [
        "Tekst: schrijf het antwoord dat afzenders krijgen, of zet het automatisch antwoord uit."
    ]
    page = response.content.decode()
    for messages in errors.values():
        assert messages[0] in page
    # Nothing is lost on the page, nothing is saved.
    assert 'value="2026-12-20T09:00"' in page
    assert not AutoReply.objects.exists()
    assert not office.mailbox.audit_entries.exists()


def test_an_empty_interval_or_subject_while_on_is_refused_by_name(client, office):
    client.force_login(office.manager)
    response = client.post(_tab(office.mailbox), {**GOOD, "interval_days": "", "subject": " "})
    errors = response.context["form"].errors
    assert errors["interval_days"] == [
        "Dagen tussen twee antwoorden aan dezelfde afzender: vul minimaal 1 in."
    ]
    assert errors["subject"] == [
        "Onderwerp: vul een onderwerp in, of zet het automatisch antwoord uit."
    ]


def test_an_empty_text_is_fine_while_the_reply_is_off(client, office):
    client.force_login(office.manager)
    off = {**GOOD, "body_html": "", "subject": ""}
    del off["enabled"]
    assert client.post(_tab(office.mailbox), off).status_code == 302
    assert not AutoReply.objects.get().enabled


def test_the_api_gives_and_takes_the_spec_fields_in_dutch_time(api, office):
    api.force_authenticate(office.manager)
    body = api.get(_api(office.mailbox)).json()
    assert body == {
        "enabled": False,
        "starts_at": None,
        "ends_at": None,
        "subject": "Automatisch antwoord: {original subject}",
        "body_html": "",
        "interval_days": 7,
        "active": False,
        "status": "Uit: niemand krijgt een automatisch antwoord.",
    }
    response = api.put(
        _api(office.mailbox),
        {
            "enabled": True,
            "starts_at": "2026-07-01T09:00",
            "subject": "Afwezig: {original subject}",
            "body_html": '<p onclick="x()">Tot <a href="javascript:x()">snel</a></p>',
            "interval_days": 3,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    saved = response.json()
    # Summer time: 09:00 in Amsterdam is 07:00 UTC, and it is shown back as 09:00+02:00.
    assert saved["starts_at"] == "2026-07-01T09:00:00+02:00"
    assert AutoReply.objects.get().starts_at == dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)
    assert saved["body_html"] == '<p>Tot <a target="_blank" rel="noopener noreferrer">snel</a></p>'
    assert (saved["enabled"], saved["interval_days"], saved["ends_at"]) == (True, 3, None)
    # A field left out keeps its value.
    response = api.put(_api(office.mailbox), {"interval_days": 14}, format="json")
    assert response.json()["subject"] == "Afwezig: {original subject}"
    assert response.json()["interval_days"] == 14


def test_the_api_refuses_every_mistake_at_once_in_the_users_language(api, office):
    api.force_authenticate(office.manager)
    bad = {
        "enabled": True,
        "starts_at": "2026-12-24T17:00:00+01:00",
        "ends_at": "2026-12-24T16:00:00+01:00",
        "body_html": "",
        "interval_days": 0,
        "subject": "Weg",
    }
    response = api.put(_api(office.mailbox), bad, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "ends_at": ["Einde: kies een moment na het begin (24-12-2026 17:00)."],
        "interval_days": ["Dagen tussen twee antwoorden aan dezelfde afzender: vul minimaal 1 in."],
        "body_html": [
            "Tekst: schrijf het antwoord dat afzenders krijgen, of zet het automatisch antwoord uit."
        ],
    }
    # A value of the wrong type is named together with the other mistakes.
    response = api.put(
        _api(office.mailbox),
        {**bad, "interval_days": "vaak", "body_html": "<p>Hoi</p>"},
        format="json",
    )
    assert set(response.json()) == {"ends_at", "interval_days"}
    office.manager.language = "en"
    office.manager.save()
    response = api.put(_api(office.mailbox), bad, format="json")
    assert response.json()["ends_at"] == [
        "End: choose a moment after the start (24-12-2026 17:00)."
    ]
    assert not AutoReply.objects.exists()


def test_an_interval_beyond_a_year_is_refused(api, office):
    api.force_authenticate(office.manager)
    response = api.put(_api(office.mailbox), {"interval_days": 400}, format="json")
    assert response.json() == {
        "interval_days": [
            "Dagen tussen twee antwoorden aan dezelfde afzender: vul hoogstens 365 in."
        ]
    }


def test_switching_off_and_editing_are_described_in_the_log(office):
    box = office.mailbox
    actions.do_save_auto_reply(box, office.manager, {"enabled": True, "body_html": "<p>x</p>"})
    actions.do_save_auto_reply(box, office.manager, {"enabled": False})
    actions.do_save_auto_reply(box, office.manager, {"interval_days": 3})
    actions.do_save_auto_reply(box, office.manager, {"interval_days": 3})
    who = office.manager.display_name
    texts = [audit.describe(e) for e in box.audit_entries.order_by("at", "pk")]
    assert texts == [
        f"{who} heeft het automatisch antwoord aangezet en gewijzigd: tekst.",
        f"{who} heeft het automatisch antwoord uitgezet.",
        f"{who} heeft het automatisch antwoord gewijzigd: "
        "dagen tussen twee antwoorden aan dezelfde afzender.",
    ]


def _decision(
    mailbox, subject: str, state: str, reason: str = "", recipient: str = "anna@klant.test"
):
    message = factories.message(mailbox, subject=subject, sender=recipient)
    return ReplyDecision.objects.create(
        mailbox=mailbox,
        message=message,
        recipient=recipient,
        state=state,
        reason=reason,
        subject=f"Automatisch antwoord: {subject}" if state != State.SKIPPED else "",
        decided_at=timezone.now(),
    )


def test_the_replies_are_listed_to_whom_when_and_for_which_message(client, api, office):
    box = office.mailbox
    _decision(box, "Schade aan auto", State.PENDING)
    _decision(box, "Nieuwsbrief", State.SKIPPED, "mailing_list", "nieuws@lijst.test")
    # A manager who is no owner sees to whom and when, not the mail's subjects.
    client.force_login(office.manager)
    page = client.get(_tab(box)).content.decode()
    assert "anna@klant.test" in page and "klaar om te versturen" in page
    assert "Schade aan auto" not in page and "nieuws@lijst.test" not in page
    page = client.get(_tab(box) + "?all=1").content.decode()
    assert "nieuws@lijst.test" in page and "mail van een mailinglijst" in page
    api.force_authenticate(office.manager)
    body = api.get(_api(box, "replies/")).json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["recipient"], row["state"], row["message_subject"], row["subject"]) == (
        "anna@klant.test",
        "pending",
        None,
        None,
    )
    # An owner who manages sees what the customer received.
    box.owner_users.add(office.manager)
    client.force_login(office.manager)
    assert "Schade aan auto" in client.get(_tab(box)).content.decode()
    body = api.get(_api(box, "replies/") + "?all=1").json()
    assert body["count"] == 2
    by_state = {row["state"]: row for row in body["results"]}
    assert by_state["pending"]["subject"] == "Automatisch antwoord: Schade aan auto"
    assert by_state["skipped"]["reason"] == "mailing_list"
    assert by_state["skipped"]["reason_label"] == "mail van een mailinglijst"


def test_a_reply_moves_to_queued_once_and_a_failure_is_logged_once(office):
    decision = _decision(office.mailbox, "Vraag", State.PENDING)
    assert actions.mark_queued(decision.pk)
    assert not actions.mark_queued(decision.pk)
    assert actions.mark_failed(decision.pk, "auth_failed")
    assert not actions.mark_failed(decision.pk, "auth_failed")
    decision.refresh_from_db()
    assert (decision.state, decision.error_code) == (State.FAILED, "auth_failed")
    entry = office.mailbox.audit_entries.get(action=AuditAction.AUTO_REPLY_FAILED)
    assert (
        audit.describe(entry)
        == "Het automatisch antwoord aan anna@klant.test kon niet worden verstuurd."
    )
    other = _decision(office.mailbox, "Nog een", State.PENDING, recipient="bram@klant.test")
    actions.mark_queued(other.pk)
    actions.mark_sent(other.pk)
    other.refresh_from_db()
    assert other.state == State.SENT and other.sent_at is not None
