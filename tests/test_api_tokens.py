"""API tokens: replaced when the password changes, renewable on My settings and with
``postkamer token --rotate``, revocable, and shown by the admin only by their prefix."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from postkamer.accounts.models import User
from postkamer.accounts.tokens import get_or_create
from tests import factories

pytestmark = pytest.mark.django_db


def _works(api, key: str) -> bool:
    return api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_a_password_change_stops_the_old_api_token(client, api, office):
    old = get_or_create(office.advisor)
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
    assert not _works(api, old)
    new = Token.objects.get(user=office.advisor).key
    assert new != old and _works(api, new)


def test_a_password_set_in_the_admin_stops_the_old_api_token_too(client, api, office):
    old = get_or_create(office.advisor)
    staff = User.objects.create_user(
        "platform@postkamer.test", "x", is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    response = client.post(
        f"/admin/accounts/user/{office.advisor.pk}/password/",
        {
            "password1": "Een-nieuw-wachtwoord-9",
            "password2": "Een-nieuw-wachtwoord-9",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    assert not _works(api, old)


def test_a_user_without_a_token_gets_none_from_a_password_change(office):
    office.advisor.set_password("Een-nieuw-wachtwoord-9")
    office.advisor.save()
    assert not Token.objects.filter(user=office.advisor).exists()


def test_rehashing_the_same_password_at_login_keeps_the_token(client, api, office, settings):
    key = get_or_create(office.advisor)
    settings.PASSWORD_HASHERS = [
        "tests.hashers.NewerMD5Hasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    client.post(
        "/account/login/", {"username": office.advisor.email, "password": factories.PASSWORD}
    )
    office.advisor.refresh_from_db()
    assert office.advisor.password.startswith("md5-newer$")  # it was re-hashed
    assert _works(api, key)


def test_renewing_on_my_settings_shows_the_new_token_once_and_stops_the_old(client, api, office):
    old = get_or_create(office.advisor)
    client.force_login(office.advisor)
    page = client.get("/account/settings/").content.decode()
    assert old[:6] in page and old not in page
    assert "API-token vernieuwen" in page
    shown = client.post("/account/token/")
    new = Token.objects.get(user=office.advisor).key
    assert new != old and new in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    assert not _works(api, old) and _works(api, new)
    assert new not in client.get("/account/settings/").content.decode()
    assert client.get("/account/token/").status_code == 405


def test_token_rotate_and_revoke_commands(capsys, api, office):
    call_command("token", office.admin.email)
    first = capsys.readouterr().out.strip()
    call_command("token", office.admin.email, rotate=True)
    second = capsys.readouterr().out.strip()
    assert second != first and len(second) == 40
    assert not _works(api, first) and _works(api, second)
    call_command("token", office.admin.email, revoke=True)
    assert "revoked" in capsys.readouterr().out
    assert not _works(api, second)


def test_the_admin_shows_api_tokens_only_by_their_prefix_and_can_revoke_them(client, office):
    key = get_or_create(office.advisor)
    staff = User.objects.create_user(
        "platform@postkamer.test", "x", is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    listing = client.get("/admin/accounts/apitoken/").content.decode()
    assert key[:6] in listing and key not in listing
    detail = client.get(f"/admin/accounts/apitoken/{office.advisor.pk}/change/")
    assert detail.status_code == 200 and key not in detail.content.decode()
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404
    assert client.get("/admin/accounts/apitoken/add/").status_code == 403
    confirm = client.get(f"/admin/accounts/apitoken/{office.advisor.pk}/delete/")
    assert key not in confirm.content.decode()
    client.post(f"/admin/accounts/apitoken/{office.advisor.pk}/delete/", {"post": "yes"})
    assert not Token.objects.filter(key=key).exists()


def test_the_token_changes_when_the_new_password_is_saved_not_before(office):
    key = get_or_create(office.advisor)
    office.advisor.set_password("Een-nieuw-wachtwoord-9")
    office.advisor.save(update_fields=["language"])
    assert Token.objects.get(user=office.advisor).key == key
    office.advisor.save(update_fields=["password"])
    assert Token.objects.get(user=office.advisor).key != key
