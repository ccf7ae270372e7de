"""The e-mail module API: messages, fetch, fetch runs, repair-sync, message detail and raw."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from postkamer.fetching.models import FetchRun
from postkamer.mailboxes import audit
from postkamer.mailboxes.models import Mailbox
from postkamer.messages import rawstore
from tests import factories

pytestmark = pytest.mark.django_db


def test_owner_lists_a_folder_newest_first_with_the_contract_fields(api, office):
    now = timezone.now()
    factories.message(office.mailbox, subject="Oud", received_at=now - dt.timedelta(hours=2))
    factories.message(
        office.mailbox,
        subject="Nieuw",
        received_at=now,
        attachments=(("a.pdf", "application/pdf", 10),),
    )
    factories.message(office.mailbox, folder="junk", subject="Spam")
    api.force_authenticate(office.advisor)
    response = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [m["subject"] for m in body["results"]] == ["Nieuw", "Oud"]
    first = body["results"][0]
    for key in (
        "id",
        "folder",
        "message_id",
        "subject",
        "from",
        "to",
        "cc",
        "date",
        "received_at",
        "has_attachments",
    ):
        assert key in first
    assert first["has_attachments"] is True
    assert first["from"] == [{"name": "", "address": "klant@voorbeeld.test"}]
    junk = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/?folder=junk").json()
    assert [m["subject"] for m in junk["results"]] == ["Spam"]


def test_an_unknown_folder_is_refused_in_dutch(api, office):
    api.force_authenticate(office.advisor)
    response = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/?folder=drafts")
    assert response.status_code == 400
    assert "inbox, junk of sent" in response.json()["folder"][0]


def test_message_list_refuses_managers_who_are_no_owner_and_hides_other_tenants(api, office):
    api.force_authenticate(office.manager)
    response = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/")
    assert response.status_code == 403
    assert "eigenaar" in response.json()["detail"]
    api.force_authenticate(office.outsider)
    assert api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/").status_code == 404
    assert api.get("/api/v1/mailboxes/999999/messages/").status_code == 404


def test_owner_queues_a_fetch_and_reads_its_status(api, office):
    api.force_authenticate(office.advisor)
    response = api.post(f"/api/v1/mailboxes/{office.mailbox.pk}/fetch/")
    assert response.status_code == 202
    body = response.json()
    run = FetchRun.objects.get(pk=body["fetch_run"])
    assert run.trigger == "button" and run.requested_by == office.advisor
    assert body["status_url"] == f"/api/v1/fetch-runs/{run.pk}/"
    status = api.get(body["status_url"]).json()
    assert status["state"] == "queued"
    assert status["summary"] == "Bezig met ophalen…"


def test_fetch_run_status_tells_what_was_found(api, office):
    finished = timezone.make_aware(dt.datetime(2026, 11, 2, 14, 3))
    run = FetchRun.objects.create(
        mailbox=office.mailbox, trigger="button", finished_at=finished, ok=True, new_messages=3
    )
    api.force_authenticate(office.advisor)
    body = api.get(f"/api/v1/fetch-runs/{run.pk}/").json()
    assert body["state"] == "done"
    assert body["summary"] == "Opgehaald om 14:03: 3 nieuwe berichten"


def test_fetch_and_fetch_runs_refuse_non_owners_and_other_tenants(api, office):
    run = FetchRun.objects.create(mailbox=office.mailbox, trigger="button")
    api.force_authenticate(office.manager)
    assert api.post(f"/api/v1/mailboxes/{office.mailbox.pk}/fetch/").status_code == 403
    assert api.get(f"/api/v1/fetch-runs/{run.pk}/").status_code == 403
    api.force_authenticate(office.outsider)
    assert api.post(f"/api/v1/mailboxes/{office.mailbox.pk}/fetch/").status_code == 404
    assert api.get(f"/api/v1/fetch-runs/{run.pk}/").status_code == 404
    assert api.get("/api/v1/fetch-runs/999999/").status_code == 404
    assert FetchRun.objects.count() == 1


def test_message_detail_sanitises_html_and_lists_attachments(api, office):
    msg = factories.message(
        office.mailbox,
        html='<p onclick="x()">Hoi <b>daar</b><script>alert(1)</script>'
        '<img src="https://tracker.test/p.gif"></p>',
        attachments=(("polis.pdf", "application/pdf", 1234),),
    )
    api.force_authenticate(office.advisor)
    body = api.get(f"/api/v1/messages/{msg.pk}/").json()
    assert "<b>daar</b>" in body["html"]
    assert "script" not in body["html"] and "onclick" not in body["html"]
    assert "tracker.test" not in body["html"]
    assert body["text"] == "Hallo"
    assert body["attachments"] == [
        {
            "id": msg.attachments.get().pk,
            "filename": "polis.pdf",
            "content_type": "application/pdf",
            "size": 1234,
            "inline": False,
            "content_id": "",
        }
    ]


def test_raw_message_downloads_the_stored_bytes(api, office):
    msg = factories.message(office.mailbox, subject="Ruw")
    api.force_authenticate(office.advisor)
    response = api.get(f"/api/v1/messages/{msg.pk}/raw/")
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    body = b"".join(response.streaming_content)
    assert body == rawstore.read(msg.raw)
    assert b"Subject: Ruw" in body


def test_message_endpoints_refuse_non_owners_and_other_tenants(api, office):
    msg = factories.message(office.mailbox)
    foreign = factories.message(office.other_mailbox)
    api.force_authenticate(office.manager)
    assert api.get(f"/api/v1/messages/{msg.pk}/").status_code == 403
    assert api.get(f"/api/v1/messages/{msg.pk}/raw/").status_code == 403
    api.force_authenticate(office.advisor)
    assert api.get(f"/api/v1/messages/{foreign.pk}/").status_code == 404
    assert api.get(f"/api/v1/messages/{foreign.pk}/raw/").status_code == 404
    assert api.get("/api/v1/messages/999999/").status_code == 404


def test_anonymous_callers_get_no_messages(api, office):
    msg = factories.message(office.mailbox)
    assert api.get(f"/api/v1/messages/{msg.pk}/").status_code in (401, 403)


def test_repair_sync_sets_the_moment_and_queues_a_repair_fetch(api, office):
    api.force_authenticate(office.admin)
    since = "2026-10-01T08:30:00+02:00"
    response = api.post(
        f"/api/v1/mailboxes/{office.mailbox.pk}/repair-sync/",
        {"since": since, "confirm": True},
        format="json",
    )
    assert response.status_code == 202, response.json()
    box = Mailbox.objects.get(pk=office.mailbox.pk)
    assert box.repair_since == dt.datetime.fromisoformat(since)
    run = FetchRun.objects.get(pk=response.json()["fetch_run"])
    assert run.trigger == "repair"
    assert box.sync_since == office.mailbox.sync_since
    # The history of the mailbox records who repaired it, from when.
    entry = box.audit_entries.get(action="sync_repaired")
    assert entry.actor == office.admin
    assert audit.describe(entry) == (
        f"{office.admin.display_name} heeft de synchronisatie hersteld vanaf 1 oktober 2026 08:30."
    )


def test_repair_sync_without_confirm_is_refused_in_dutch(api, office):
    api.force_authenticate(office.admin)
    response = api.post(
        f"/api/v1/mailboxes/{office.mailbox.pk}/repair-sync/",
        {"since": "2026-10-01T08:30:00+02:00"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["confirm"] == ["Vink 'akkoord' aan om de synchronisatie te herstellen."]
    assert Mailbox.objects.get(pk=office.mailbox.pk).repair_since is None
    assert not FetchRun.objects.exists()


def test_repair_sync_refuses_a_moment_in_the_future(api, office):
    api.force_authenticate(office.admin)
    since = (timezone.now() + dt.timedelta(days=1)).isoformat()
    response = api.post(
        f"/api/v1/mailboxes/{office.mailbox.pk}/repair-sync/",
        {"since": since, "confirm": True},
        format="json",
    )
    assert response.status_code == 400
    assert "verleden" in response.json()["since"][0]


def test_repair_sync_needs_the_right_and_hides_other_tenants(api, office):
    payload = {"since": "2026-10-01T08:30:00+02:00", "confirm": True}
    url = f"/api/v1/mailboxes/{office.mailbox.pk}/repair-sync/"
    for user in (office.manager, office.advisor):
        api.force_authenticate(user)
        response = api.post(url, payload, format="json")
        assert response.status_code == 403
        assert "synchronisatie herstellen" in response.json()["detail"]
    api.force_authenticate(office.outsider)
    assert api.post(url, payload, format="json").status_code == 404
    assert (
        api.post("/api/v1/mailboxes/999999/repair-sync/", payload, format="json").status_code == 404
    )
    assert not FetchRun.objects.exists()


def test_imap_folders_need_the_manage_right_and_hide_other_tenants(api, office):
    url = f"/api/v1/mailboxes/{office.mailbox.pk}/imap-folders/"
    api.force_authenticate(office.advisor)
    response = api.get(url)
    assert response.status_code == 403
    assert "e-mailmanager" in response.json()["detail"]
    api.force_authenticate(office.outsider)
    assert api.get(url).status_code == 404
    assert api.get("/api/v1/mailboxes/999999/imap-folders/").status_code == 404


def test_the_endpoints_answer_english_users_in_english(api, office):
    english = factories.user(office.tenant, language="en")
    office.mailbox.owner_users.add(english)
    api.force_authenticate(english)
    response = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/?folder=x")
    assert response.json()["folder"] == ["Choose the folder inbox, junk or sent."]


def test_a_run_skipped_because_another_fetch_was_running_is_no_error(api, office):
    run = FetchRun.objects.create(
        mailbox=office.mailbox,
        trigger="button",
        finished_at=timezone.now(),
        ok=None,
        error_code="busy",
    )
    api.force_authenticate(office.advisor)
    body = api.get(f"/api/v1/fetch-runs/{run.pk}/").json()
    assert body["state"] == "skipped"
    skipped = "Er liep al een andere ophaalactie voor deze mailbox; deze is overgeslagen."
    assert body["summary"] == skipped and body["error"] == skipped


def test_the_schema_describes_the_new_endpoints(api, office):
    api.force_authenticate(office.advisor)
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in (
        "/api/v1/mailboxes/{id}/messages/",
        "/api/v1/mailboxes/{id}/fetch/",
        "/api/v1/mailboxes/{id}/imap-folders/",
        "/api/v1/mailboxes/{id}/repair-sync/",
        "/api/v1/fetch-runs/{id}/",
        "/api/v1/messages/{id}/",
        "/api/v1/messages/{id}/raw/",
    ):
        assert path in schema


def test_read_state_is_the_callers_and_patch_changes_only_it(api, office):
    colleague = factories.user(office.tenant)
    office.mailbox.owner_users.add(colleague)
    msg = factories.message(office.mailbox, subject="Gedeeld")
    api.force_authenticate(office.advisor)
    detail = api.get(f"/api/v1/messages/{msg.pk}/").json()
    assert detail["read"] is False  # GET alone does not mark it read
    patched = api.patch(f"/api/v1/messages/{msg.pk}/", {"read": True}, format="json")
    assert patched.status_code == 200 and patched.json()["read"] is True
    listing = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/").json()
    assert listing["results"][0]["read"] is True
    api.force_authenticate(colleague)
    listing = api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/").json()
    assert listing["results"][0]["read"] is False
    api.force_authenticate(office.advisor)
    assert (
        api.patch(f"/api/v1/messages/{msg.pk}/", {"read": False}, format="json").json()["read"]
        is False
    )
    refused = api.patch(f"/api/v1/messages/{msg.pk}/", {"read": "misschien"}, format="json")
    assert refused.status_code == 400 and "read" in refused.json()


def test_fetched_mail_has_no_send_state(api, office):
    msg = factories.message(office.mailbox)
    api.force_authenticate(office.advisor)
    body = api.get(f"/api/v1/messages/{msg.pk}/").json()
    assert "send_state" in body and body["send_state"] is None


def test_the_attachment_positions_in_the_detail_are_the_download_numbers(api, office):
    message = factories.stored(
        office.mailbox,
        factories.mime_message(
            attachments=(
                ("een.txt", "text/plain", b"eerste"),
                ("twee.csv", "text/csv", b"a;b\r\n1;2\r\n"),
            )
        ),
    )
    api.force_authenticate(office.advisor)
    attachments = api.get(f"/api/v1/messages/{message.pk}/").json()["attachments"]
    assert [(a["filename"], a["content_type"]) for a in attachments] == [
        ("een.txt", "text/plain"),
        ("twee.csv", "text/csv"),
    ]
    for n, attachment in enumerate(attachments):
        response = api.get(f"/api/v1/messages/{message.pk}/attachments/{n}/")
        assert response.status_code == 200
        assert len(b"".join(response.streaming_content)) == attachment["size"]
    assert api.get(f"/api/v1/messages/{message.pk}/attachments/2/").status_code == 404
