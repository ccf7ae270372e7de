"""The e-mail module page, the fetch button, the repair section and notifications."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from postkamer.accounts.models import Notification
from postkamer.fetching.models import FetchRun
from postkamer.mailboxes.models import Mailbox
from tests import factories

pytestmark = pytest.mark.django_db


def test_owner_sees_the_default_mailboxs_inbox_newest_first(client, office):
    other = factories.mailbox(office.tenant, owners=(office.advisor,), name="Aaa eerst")
    office.advisor.default_mailbox = office.mailbox
    office.advisor.save()
    now = timezone.now()
    factories.message(
        office.mailbox, subject="Ouder bericht", received_at=now - dt.timedelta(days=1)
    )
    factories.message(
        office.mailbox, subject="Nieuwste bericht", attachments=(("a.pdf", "application/pdf", 1),)
    )
    factories.message(office.mailbox, folder="junk", subject="Goedkope pillen")
    client.force_login(office.advisor)
    html = client.get("/email/").content.decode()
    assert office.mailbox.name in html and other.name in html
    assert html.index("Nieuwste bericht") < html.index("Ouder bericht")
    assert "Goedkope pillen" not in html
    assert "Postvak IN" in html and "Ongewenst" in html and "Verzonden" in html
    assert 'title="Heeft bijlagen"' in html
    assert "Nog niet opgehaald." in html


def test_the_junk_tab_shows_junk_only(client, office):
    factories.message(office.mailbox, subject="Gewoon")
    factories.message(office.mailbox, folder="junk", subject="Goedkope pillen")
    client.force_login(office.advisor)
    html = client.get(f"/email/?mailbox={office.mailbox.pk}&folder=junk").content.decode()
    assert "Goedkope pillen" in html and "Gewoon" not in html


def test_the_list_is_paginated(client, office):
    for i in range(55):
        factories.message(office.mailbox, subject=f"Bericht {i}")
    client.force_login(office.advisor)
    html = client.get(f"/email/?mailbox={office.mailbox.pk}").content.decode()
    assert "Pagina 1 van 2" in html
    assert html.count('class="subject"') == 50


def test_list_page_does_a_fixed_number_of_queries(client, office, django_assert_max_num_queries):
    for i in range(20):
        factories.message(office.mailbox, subject=f"Bericht {i}")
    client.force_login(office.advisor)
    with django_assert_max_num_queries(20):
        client.get(f"/email/?mailbox={office.mailbox.pk}")


def test_other_tenants_mailbox_is_404_and_a_non_owner_manager_gets_403(client, office):
    client.force_login(office.advisor)
    assert client.get(f"/email/?mailbox={office.other_mailbox.pk}").status_code == 404
    client.force_login(office.manager)
    response = client.get(f"/email/?mailbox={office.mailbox.pk}")
    assert response.status_code == 403
    assert "eigenaar" in response.content.decode()


def test_a_user_without_mailboxes_is_told_so(client, office):
    client.force_login(office.manager)
    assert "Je hebt nog geen toegang tot een e-mailbox" in client.get("/email/").content.decode()


def test_the_envelope_in_the_top_bar_links_to_the_module(client, office):
    office.advisor.default_mailbox = office.mailbox
    office.advisor.save()
    client.force_login(office.advisor)
    page = client.get("/account/settings/").content.decode()
    assert f'href="/email/?mailbox={office.mailbox.pk}"' in page


def test_fetch_button_queues_a_fetch_and_returns_to_the_folder(client, office):
    client.force_login(office.advisor)
    response = client.post(f"/email/{office.mailbox.pk}/fetch/", {"folder": "junk"})
    assert response.status_code == 302
    assert response["Location"] == f"/email/?mailbox={office.mailbox.pk}&folder=junk"
    run = FetchRun.objects.get()
    assert run.trigger == "button" and run.requested_by == office.advisor
    html = client.get(response["Location"]).content.decode()
    assert "Bezig met ophalen…" in html


def test_fetch_button_answers_json_for_the_script(client, office):
    client.force_login(office.advisor)
    response = client.post(
        f"/email/{office.mailbox.pk}/fetch/", headers={"accept": "application/json"}
    )
    assert response.status_code == 202
    run = FetchRun.objects.get()
    assert response.json() == {"fetch_run": run.pk, "status_url": f"/api/v1/fetch-runs/{run.pk}/"}


def test_fetch_button_refuses_strangers(client, office):
    client.force_login(office.outsider)
    assert client.post(f"/email/{office.mailbox.pk}/fetch/").status_code == 404
    client.force_login(office.manager)
    assert client.post(f"/email/{office.mailbox.pk}/fetch/").status_code == 403
    assert not FetchRun.objects.exists()


def test_status_line_shows_the_last_result_or_its_error_in_red(client, office):
    at = timezone.make_aware(dt.datetime(2026, 11, 2, 14, 3))
    FetchRun.objects.create(
        mailbox=office.mailbox,
        trigger="interval",
        finished_at=at,
        ok=True,
        new_messages=1,
        queued_at=at - dt.timedelta(minutes=1),
    )
    client.force_login(office.advisor)
    html = client.get("/email/").content.decode()
    assert "Opgehaald om 14:03: 1 nieuw bericht" in html
    FetchRun.objects.create(
        mailbox=office.mailbox,
        trigger="interval",
        finished_at=at,
        ok=False,
        error_code="auth_failed",
    )
    html = client.get("/email/").content.decode()
    assert 'class="fetch-status error"' in html
    assert "Ophalen mislukt om 14:03: De gebruikersnaam of het wachtwoord klopt niet." in html


def test_a_disabled_mailbox_shows_its_reason_in_red(client, office):
    Mailbox.objects.filter(pk=office.mailbox.pk).update(
        disabled_code="too_many_errors",
        disabled_params={"count": 5, "error": {"code": "auth_failed", "params": {}}},
    )
    client.force_login(office.advisor)
    html = client.get("/email/").content.decode()
    assert 'class="notice error"' in html
    assert "na 5 mislukte pogingen: De gebruikersnaam of het wachtwoord klopt niet." in html


def test_repair_section_queues_a_repair_fetch_in_amsterdam_time(client, office):
    client.force_login(office.admin)
    page = client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/").content.decode()
    assert "Synchronisatie herstellen" in page
    response = client.post(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/repair-sync/",
        {"since": "2026-07-01T09:00", "confirm": "on"},
    )
    assert response.status_code == 302
    box = Mailbox.objects.get(pk=office.mailbox.pk)
    # 09:00 summer time in Amsterdam is 07:00 UTC.
    assert box.repair_since == dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)
    assert FetchRun.objects.get().trigger == "repair"


def test_repair_section_without_agreeing_shows_the_dutch_error(client, office):
    client.force_login(office.admin)
    response = client.post(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/repair-sync/", {"since": "2026-07-01T09:00"}
    )
    assert response.status_code == 200
    assert (
        "Vink &#x27;akkoord&#x27; aan om de synchronisatie te herstellen."
        in response.content.decode()
    )
    assert Mailbox.objects.get(pk=office.mailbox.pk).repair_since is None


def test_repair_section_is_hidden_and_refused_without_the_right(client, office):
    client.force_login(office.manager)
    page = client.get(f"/beheer/e-mailmanager/{office.mailbox.pk}/").content.decode()
    assert "Synchronisatie herstellen" not in page
    response = client.post(
        f"/beheer/e-mailmanager/{office.mailbox.pk}/repair-sync/",
        {"since": "2026-07-01T09:00", "confirm": "on"},
    )
    assert response.status_code == 403
    assert "synchronisatie herstellen" in response.content.decode()
    client.force_login(office.outsider)
    assert (
        client.post(
            f"/beheer/e-mailmanager/{office.mailbox.pk}/repair-sync/",
            {"since": "2026-07-01T09:00", "confirm": "on"},
        ).status_code
        == 404
    )
    assert not FetchRun.objects.exists()


def test_the_bell_counts_unread_notifications_and_the_list_marks_them_read(client, office):
    Notification.objects.create(
        user=office.advisor,
        mailbox=office.mailbox,
        kind="mailbox_disabled",
        text="E-mailbox Schade is uitgeschakeld.",
    )
    Notification.objects.create(user=office.manager, kind="x", text="Niet voor jou")
    client.force_login(office.advisor)
    home = client.get("/account/settings/").content.decode()
    assert "1 ongelezen melding" in home
    page = client.get("/notifications/").content.decode()
    assert "E-mailbox Schade is uitgeschakeld." in page and "Niet voor jou" not in page
    assert not Notification.objects.filter(user=office.advisor, read_at__isnull=True).exists()
    assert "ongelezen melding" not in client.get("/account/settings/").content.decode()
