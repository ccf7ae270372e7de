"""The mailbox API: CRUD, write-only secrets, edition and right checks, tenant isolation."""

from __future__ import annotations

import pytest

from postkamer.mailboxes.models import Mailbox
from tests import factories

pytestmark = pytest.mark.django_db

NEW = {
    "name": "Schade",
    "sender_address": "schade@kantoor-a.test",
    "display_name": "Kantoor A Schade",
    "type": "imap",
    "imap_host": "mail.kantoor-a.test",
    "imap_port": 993,
    "imap_security": "ssl",
    "imap_username": "schade@kantoor-a.test",
    "imap_password": "hunter2-geheim",
    "smtp_host": "mail.kantoor-a.test",
    "smtp_port": 587,
    "smtp_security": "starttls",
    "interval_minutes": 5,
}


def test_manager_creates_reads_updates_and_deletes_a_mailbox(api, office):
    api.force_authenticate(office.manager)
    created = api.post("/api/v1/mailboxes/", NEW, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["name"] == "Schade"
    assert body["error_count"] == 0 and body["disabled_reason"] == ""
    assert body["sync_since"]
    box_id = body["id"]

    got = api.get(f"/api/v1/mailboxes/{box_id}/").json()
    assert got["sender_address"] == "schade@kantoor-a.test"

    patched = api.patch(f"/api/v1/mailboxes/{box_id}/", {"interval_minutes": None}, format="json")
    assert patched.status_code == 200
    assert patched.json()["interval_minutes"] is None

    assert api.delete(f"/api/v1/mailboxes/{box_id}/").status_code == 204
    assert not Mailbox.objects.filter(pk=box_id).exists()


def test_passwords_are_write_only_and_kept_when_left_out(api, office):
    api.force_authenticate(office.manager)
    body = api.post("/api/v1/mailboxes/", NEW, format="json").json()
    assert "imap_password" not in body and "smtp_password" not in body
    assert "hunter2-geheim" not in str(api.get(f"/api/v1/mailboxes/{body['id']}/").content)
    api.patch(f"/api/v1/mailboxes/{body['id']}/", {"name": "Schade NL"}, format="json")
    box = Mailbox.objects.get(pk=body["id"])
    assert box.imap_password == "hunter2-geheim"
    assert box.effective_smtp_password == "hunter2-geheim"
    assert "hunter2" not in box.imap_password_enc


def test_list_shows_managers_all_mailboxes_of_their_tenant_only(api, office):
    api.force_authenticate(office.manager)
    listing = api.get("/api/v1/mailboxes/").json()
    ids = {m["id"] for m in listing["results"]}
    assert listing["count"] == 1
    assert ids == {office.mailbox.pk}


def test_advisor_lists_only_owned_mailboxes_and_cannot_change_them(api, office):
    factories.mailbox(office.tenant)  # not owned by the advisor
    api.force_authenticate(office.advisor)
    listing = api.get("/api/v1/mailboxes/").json()
    assert [m["id"] for m in listing["results"]] == [office.mailbox.pk]
    response = api.patch(f"/api/v1/mailboxes/{office.mailbox.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "e-mailmanager" in response.json()["detail"]
    assert api.post("/api/v1/mailboxes/", NEW, format="json").status_code == 403


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_tenants_mailbox_id_gives_404(api, office, method):
    api.force_authenticate(office.outsider)
    response = getattr(api, method)(f"/api/v1/mailboxes/{office.mailbox.pk}/", {}, format="json")
    assert response.status_code == 404
    assert office.mailbox.name not in response.content.decode()
    assert Mailbox.objects.filter(pk=office.mailbox.pk, name=office.mailbox.name).exists()


def test_guessed_ids_give_404_for_test_connection_too(api, office):
    api.force_authenticate(office.outsider)
    for pk in (office.mailbox.pk, 999999, "abc"):
        response = api.post(f"/api/v1/mailboxes/{pk}/test-connection/")
        assert response.status_code == 404


def test_edition_without_the_email_manager_gets_403_with_a_message(api, db):
    basis = factories.tenant("Basis kantoor", edition="basis")
    admin = factories.user(basis, rights=("email_manager",))
    api.force_authenticate(admin)
    response = api.get("/api/v1/mailboxes/")
    assert response.status_code == 403
    assert "editie" in response.json()["detail"]


def test_anonymous_requests_are_refused(api, office):
    assert api.get("/api/v1/mailboxes/").status_code in (401, 403)


def test_token_authentication_works(api, office):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=office.manager)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/mailboxes/").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "dutch"),
    [
        ({"sender_address": "geen-adres"}, "sender_address", "geldig e-mailadres"),
        ({"imap_port": 70000}, "imap_port", "poortnummer"),
        ({"imap_password": ""}, "imap_password", "wachtwoord"),
        ({"imap_security": "none"}, "imap_security", "onversleutelde"),
        ({"interval_minutes": 7}, "interval_minutes", "interval"),
        ({"imap_host": "mail server!"}, "imap_host", "geen geldige servernaam"),
    ],
)
def test_invalid_settings_get_dutch_messages(api, office, change, field, dutch):
    api.force_authenticate(office.manager)
    response = api.post("/api/v1/mailboxes/", {**NEW, **change}, format="json")
    assert response.status_code == 400
    messages = " ".join(response.json()[field]).lower()
    assert dutch in messages


def test_duplicate_sender_address_in_the_tenant_is_refused(api, office):
    api.force_authenticate(office.manager)
    duplicate = {**NEW, "sender_address": office.mailbox.sender_address.upper()}
    response = api.post("/api/v1/mailboxes/", duplicate, format="json")
    assert response.status_code == 400
    assert "bestaat al" in response.json()["sender_address"][0]


def test_the_same_sender_address_in_another_tenant_is_fine(api, office):
    api.force_authenticate(office.manager)
    other = {**NEW, "sender_address": office.other_mailbox.sender_address}
    assert api.post("/api/v1/mailboxes/", other, format="json").status_code == 201


def test_english_users_get_english_messages(api, office):
    office.manager.language = "en"
    office.manager.save()
    api.force_authenticate(office.manager)
    response = api.post("/api/v1/mailboxes/", {**NEW, "imap_port": 0}, format="json")
    assert "port number" in response.json()["imap_port"][0]


def test_office365_mailbox_needs_no_server_settings(api, office):
    api.force_authenticate(office.manager)
    response = api.post(
        "/api/v1/mailboxes/",
        {"name": "O365", "sender_address": "o365@kantoor-a.test", "type": "office365"},
        format="json",
    )
    assert response.status_code == 201, response.json()


def test_insecure_connection_allowed_only_with_the_explicit_box(api, office):
    api.force_authenticate(office.manager)
    insecure = {**NEW, "imap_security": "none", "allow_insecure": True, "imap_port": 143}
    assert api.post("/api/v1/mailboxes/", insecure, format="json").status_code == 201


def test_sync_since_defaults_to_now_and_changes_only_by_repair(api, office):
    from django.utils import timezone

    api.force_authenticate(office.manager)
    before = timezone.now()
    body = api.post("/api/v1/mailboxes/", NEW, format="json").json()
    box = Mailbox.objects.get(pk=body["id"])
    assert box.sync_since >= before.replace(microsecond=0)
    response = api.patch(
        f"/api/v1/mailboxes/{box.pk}/", {"sync_since": "2020-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400


def test_choosing_an_interval_again_re_enables_a_disabled_mailbox(api, office):
    box = office.mailbox
    box.interval_minutes = None
    box.disabled_code = "too_many_errors"
    box.disabled_params = {"count": 5, "error": {"code": "timeout", "params": {}}}
    box.error_count = 5
    box.save()
    api.force_authenticate(office.manager)
    api.patch(f"/api/v1/mailboxes/{box.pk}/", {"interval_minutes": 15}, format="json")
    box.refresh_from_db()
    assert box.disabled_code == "" and box.error_count == 0 and box.interval_minutes == 15


def test_openapi_schema_is_served(api, office):
    api.force_authenticate(office.manager)
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/mailboxes/" in response.content


def test_me_shows_the_user_and_accepts_only_readable_default_mailboxes(api, office):
    api.force_authenticate(office.advisor)
    me = api.get("/api/v1/me/").json()
    assert me["id"] == office.advisor.pk and me["rights"] == [] and me["default_mailbox"] is None
    ok = api.patch("/api/v1/me/", {"default_mailbox": office.mailbox.pk}, format="json")
    assert ok.status_code == 200 and ok.json()["default_mailbox"] == office.mailbox.pk
    other = api.patch("/api/v1/me/", {"default_mailbox": office.other_mailbox.pk}, format="json")
    missing = api.patch("/api/v1/me/", {"default_mailbox": 987654}, format="json")
    assert other.status_code == missing.status_code == 400
    assert other.json() == missing.json()


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in (
        "/api/v1/mailboxes/{id}/owners/",
        "/api/v1/mailboxes/{id}/security/",
        "/api/v1/mailboxes/{id}/messages/",
        "/api/v1/me/",
    ):
        assert path in text


def test_three_mistakes_in_one_request_are_named_together(api, office):
    """A field's own error (the address) no longer hides the rules that look at
    several fields (the port range, the insecure box)."""
    api.force_authenticate(office.manager)
    bad = {**NEW, "sender_address": "geen adres", "imap_port": 70000, "imap_security": "none"}
    response = api.post("/api/v1/mailboxes/", bad, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"sender_address", "imap_port", "imap_security"}
    assert "geldig e-mailadres" in body["sender_address"][0]
    assert "poortnummer" in body["imap_port"][0]
    assert "onversleutelde" in body["imap_security"][0]
    assert not Mailbox.objects.filter(name=NEW["name"]).exists()


def test_a_field_that_does_not_parse_gets_its_own_message_only(api, office):
    api.force_authenticate(office.manager)
    bad = {**NEW, "imap_port": "abc", "smtp_port": 0, "interval_minutes": 7}
    body = api.post("/api/v1/mailboxes/", bad, format="json").json()
    assert body["imap_port"] == ["Een geldig getal is vereist."]
    assert "poortnummer" in body["smtp_port"][0] and "interval" in body["interval_minutes"][0]


def test_a_patch_names_every_mistake_too(api, office):
    api.force_authenticate(office.manager)
    response = api.patch(
        f"/api/v1/mailboxes/{office.mailbox.pk}/",
        {"max_errors": "veel", "imap_host": "mail server!", "smtp_port": 0},
        format="json",
    )
    assert response.status_code == 400
    # The server changed without the password, so that is named as well.
    assert set(response.json()) == {"max_errors", "imap_host", "smtp_port", "imap_password"}


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("display_name", "Kantoor A\r\nBcc: iedereen@elders.test", "weergavenaam"),
        ("name", "Schade\nX-Spam: nee", "naam"),
        ("display_name", "Kantoor\u2028A", "weergavenaam"),
        ("sender_address", "schade@kantoor-a.test\r\nBcc: x@elders.test", "afzenderadres"),
    ],
)
def test_line_breaks_in_values_that_end_up_in_mail_headers_are_refused(
    api, office, field, value, label
):
    api.force_authenticate(office.manager)
    response = api.post("/api/v1/mailboxes/", {**NEW, field: value}, format="json")
    assert response.status_code == 400
    messages = " ".join(response.json()[field])
    assert f"Het veld '{label}' mag geen regeleinden" in messages
    assert not Mailbox.objects.filter(sender_address=NEW["sender_address"]).exists()
