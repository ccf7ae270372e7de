"""Errors are stored as codes and read in each reader's own language: on the mailbox
pages, in the API, in notifications and for unreadable messages."""

from __future__ import annotations

from django.utils import translation

from postkamer.accounts.models import Notification
from postkamer.fetching import problems
from postkamer.mail import errors
from tests import factories


def test_every_code_has_a_sentence_in_dutch_and_english():
    codes = [*problems.CODES, "auth_failed", "timeout", "folder_missing", "no_such_code"]
    for code in codes:
        params = {"count": 3, "error": problems.nested("timeout", {}), "name": "Info"}
        with translation.override("nl"):
            dutch = problems.describe(code, params)
        with translation.override("en"):
            english = problems.describe(code, params)
        assert dutch and english, code
        assert dutch != english, code
    assert problems.describe("") == ""


def test_an_exception_becomes_a_code_with_its_parameters():
    assert problems.from_exception(errors.FolderMissing("Spam")) == (
        "folder_missing",
        {"folder": "Spam"},
    )
    assert problems.from_exception(errors.Timeout("slow")) == ("timeout", {})
    assert problems.from_exception(RuntimeError("?")) == ("internal_error", {})
    with translation.override("en"):
        assert problems.describe("folder_missing", {"folder": "Spam"}) == (
            "The folder 'Spam' no longer exists on the server."
        )


def test_a_switched_off_mailbox_reads_in_each_colleagues_language(client, api, office):
    english = factories.user(office.tenant, rights=("email_manager",), language="en")
    dutch = factories.user(office.tenant, rights=("email_manager",), language="nl")
    box = office.mailbox
    box.owner_users.add(english, dutch)
    box.interval_minutes = None
    box.disabled_code = problems.TOO_MANY_ERRORS
    box.disabled_params = {"count": 5, "error": problems.nested("auth_failed", {})}
    box.last_error_code, box.error_count = "auth_failed", 5
    box.save()
    client.force_login(english)
    page = client.get(f"/beheer/e-mailmanager/{box.pk}/").content.decode()
    assert "switched off after 5 failed attempts: The user name or password is wrong." in page
    assert (
        "The user name or password is wrong."
        in client.get("/beheer/e-mailmanager/").content.decode()
    )
    client.force_login(dutch)
    page = client.get(f"/email/?mailbox={box.pk}").content.decode()
    assert "uitgeschakeld na 5 mislukte pogingen" in page
    api.force_authenticate(english)
    body = api.get(f"/api/v1/mailboxes/{box.pk}/").json()
    assert body["last_error"] == "The user name or password is wrong."
    assert body["last_error_code"] == "auth_failed" and body["disabled_code"] == "too_many_errors"
    assert body["disabled_reason"].startswith("Automatic fetching was switched off after 5")
    api.force_authenticate(dutch)
    assert api.get(f"/api/v1/mailboxes/{box.pk}/").json()["last_error"] == (
        "De gebruikersnaam of het wachtwoord klopt niet."
    )


def test_a_notification_reads_in_its_readers_language_and_old_ones_keep_their_text(client, office):
    english = factories.user(office.tenant, language="en")
    params = {"name": "Schade", "count": 2, "error": problems.nested("timeout", {})}
    Notification.objects.create(user=english, kind=problems.MAILBOX_DISABLED, params=params)
    Notification.objects.create(user=english, kind="mailbox_disabled", text="Oude melding.")
    client.force_login(english)
    page = client.get("/notifications/").content.decode()
    assert "Automatic fetching of mailbox &#x27;Schade&#x27; was switched off after 2" in page
    assert "Oude melding." in page


def test_an_unreadable_message_is_listed_as_such_in_the_readers_language(client, office):
    english = factories.user(office.tenant, language="en")
    office.mailbox.owner_users.add(english)
    factories.message(office.mailbox, subject="", problems=["unparseable"])
    factories.message(office.mailbox, subject="")
    client.force_login(office.advisor)
    page = client.get("/email/").content.decode()
    assert "(onleesbaar bericht)" in page and "(geen onderwerp)" in page
    client.force_login(english)
    page = client.get("/email/").content.decode()
    assert "(unreadable message)" in page and "(no subject)" in page
