"""Login, logout, throttling, password change, language and the default mailbox."""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def test_login_with_e_mail_address_and_password(client, office):
    response = client.post(
        "/account/login/", {"username": office.admin.email, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_gives_a_dutch_message(client, office):
    page = client.post(
        "/account/login/", {"username": office.admin.email, "password": "fout"}
    ).content.decode()
    assert "Dit e-mailadres en wachtwoord horen niet bij elkaar" in page


def test_after_five_failures_even_the_right_password_is_refused_for_a_while(
    client, office, settings
):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/account/login/", {"username": office.admin.email, "password": "fout"})
    page = client.post(
        "/account/login/", {"username": office.admin.email, "password": factories.PASSWORD}
    ).content.decode()
    assert "Te veel mislukte pogingen" in page
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(client, office):
    client.force_login(office.admin)
    client.post("/account/logout/")
    assert client.get("/beheer/e-mailmanager/").status_code == 302


def test_password_change(client, office):
    client.force_login(office.advisor)
    response = client.post(
        "/account/password/",
        {
            "old_password": factories.PASSWORD,
            "new_password1": "Een-nieuw-wachtwoord-9",
            "new_password2": "Een-nieuw-wachtwoord-9",
        },
    )
    assert response.status_code == 302
    office.advisor.refresh_from_db()
    assert office.advisor.check_password("Een-nieuw-wachtwoord-9")


def test_pages_are_dutch_by_default_even_for_an_english_browser(client, db):
    page = client.get("/account/login/", HTTP_ACCEPT_LANGUAGE="en-US,en").content.decode()
    assert "Inloggen" in page


def test_choosing_english_before_login_and_as_a_user(client, office):
    client.post("/account/language/", {"language": "en", "next": "/account/login/"})
    assert "Log in" in client.get("/account/login/").content.decode()
    client.force_login(office.advisor)
    client.post("/account/language/", {"language": "en"})
    office.advisor.refresh_from_db()
    assert office.advisor.language == "en"


def test_missing_default_mailbox_shows_the_red_exclamation_mark(client, office):
    client.force_login(office.advisor)
    page = client.get("/account/settings/").content.decode()
    assert "alert-dot" in page and "Je hebt geen standaard e-mailbox" in page
    client.post(
        "/account/settings/",
        {"name": "Adviseur", "language": "nl", "default_mailbox": office.mailbox.pk},
    )
    page = client.get("/account/settings/").content.decode()
    assert "alert-dot" not in page


def test_a_default_mailbox_that_became_inaccessible_is_cleared(client, office):
    office.advisor.default_mailbox = office.mailbox
    office.advisor.save()
    office.mailbox.owner_users.remove(office.advisor)
    client.force_login(office.advisor)
    page = client.get("/account/settings/").content.decode()
    assert "niet meer voor je beschikbaar" in page
    office.advisor.refresh_from_db()
    assert office.advisor.default_mailbox is None


def test_settings_do_not_offer_other_tenants_mailboxes(client, office):
    client.force_login(office.advisor)
    response = client.post(
        "/account/settings/",
        {"name": "x", "language": "nl", "default_mailbox": office.other_mailbox.pk},
    )
    assert response.status_code == 200  # the form is shown again with an error
    office.advisor.refresh_from_db()
    assert office.advisor.default_mailbox is None
