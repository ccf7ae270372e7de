"""One login throttle for every way in: the login page, the admin's login, the old
password on the password-change page and API tokens; counted per account and per real
client address (behind a trusted proxy), and atomic under parallel attempts."""

from __future__ import annotations

import ipaddress
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from postkamer.accounts.models import LoginThrottle, User
from postkamer.core.middleware import forwarded_client
from tests import factories
from tests.hashers import CountingMD5Hasher

THROTTLED = "Te veel mislukte pogingen"
ATTACKER = "203.0.113.5"
VICTIM = "198.51.100.7"


def _login(client, email, password, **extra):
    return client.post("/account/login/", {"username": email, "password": password}, **extra)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def staff(db):
    return User.objects.create_user(
        "platform@postkamer.test", factories.PASSWORD, is_staff=True, is_superuser=True
    )


def _fail(client, path, email, times, **extra):
    for _ in range(times):
        client.post(path, {"username": email, "password": "fout"}, **extra)


@pytest.mark.django_db
def test_a_lock_earned_on_the_login_page_also_closes_the_admin_login(client, staff, settings):
    _fail(client, "/account/login/", staff.email, settings.LOGIN_FAILURE_LIMIT)
    page = client.post(
        "/admin/login/?next=/admin/", {"username": staff.email, "password": factories.PASSWORD}
    )
    assert page.status_code == 200 and THROTTLED in page.content.decode()
    assert not _logged_in(client)


@pytest.mark.django_db
def test_failures_on_the_admin_login_lock_the_login_page_too(client, staff, settings):
    _fail(client, "/admin/login/", staff.email, settings.LOGIN_FAILURE_LIMIT)
    assert THROTTLED in _login(client, staff.email, factories.PASSWORD).content.decode()
    assert not _logged_in(client)


@pytest.mark.django_db
def test_the_old_password_field_is_throttled_and_locks_the_login_page(client, office, settings):
    client.force_login(office.advisor)
    new = {"new_password1": "Een-nieuw-wachtwoord-9", "new_password2": "Een-nieuw-wachtwoord-9"}
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        page = client.post("/account/password/", {"old_password": "fout", **new})
        assert "niet juist ingevoerd" in page.content.decode()
    page = client.post("/account/password/", {"old_password": factories.PASSWORD, **new})
    assert THROTTLED in page.content.decode()
    office.advisor.refresh_from_db()
    assert office.advisor.check_password(factories.PASSWORD)
    other = Client()
    assert THROTTLED in _login(other, office.advisor.email, factories.PASSWORD).content.decode()


@pytest.mark.django_db
def test_the_admins_password_change_page_leads_to_the_throttled_one(client, staff):
    client.force_login(staff)
    response = client.get("/admin/password_change/")
    assert response.status_code == 302 and response["Location"] == "/account/password/"


@pytest.mark.django_db
def test_an_address_sending_wrong_api_tokens_is_refused_even_with_a_good_token(
    api, office, settings
):
    good = Token.objects.create(user=office.advisor).key
    limit = settings.LOGIN_FAILURE_LIMIT * 4
    for n in range(limit):
        wrong = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {n:040x}", REMOTE_ADDR=ATTACKER)
        assert wrong.status_code == 401
    refused = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {good}", REMOTE_ADDR=ATTACKER)
    assert refused.status_code == 429 and THROTTLED in refused.json()["detail"]
    # The same address is refused on the login page too; others are not.
    page = _login(Client(), office.admin.email, factories.PASSWORD, REMOTE_ADDR=ATTACKER)
    assert THROTTLED in page.content.decode()
    fine = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {good}", REMOTE_ADDR=VICTIM)
    assert fine.status_code == 200 and fine.json()["email"] == office.advisor.email


@pytest.mark.django_db
def test_behind_a_trusted_proxy_one_attackers_failures_do_not_lock_out_anyone_else(
    office, settings
):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1")]
    attacker = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER)
    # Twenty failures, spread over accounts so that only the address runs out.
    for n in range(settings.LOGIN_FAILURE_LIMIT * 4):
        _login(attacker, f"gok{n}@kantoor-a.test", "fout")
    page = _login(attacker, office.manager.email, factories.PASSWORD)
    assert THROTTLED in page.content.decode() and not _logged_in(attacker)

    victim = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=VICTIM)
    assert _login(victim, office.advisor.email, factories.PASSWORD).status_code == 302
    assert _logged_in(victim)


@pytest.mark.django_db
def test_x_forwarded_for_from_a_peer_that_is_not_trusted_changes_nothing(office, settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.1")]
    for n in range(settings.LOGIN_FAILURE_LIMIT * 4):
        spoofed = Client(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        _login(spoofed, f"gok{n}@kantoor-a.test", "fout")
    spoofed = Client(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert THROTTLED in _login(spoofed, office.advisor.email, factories.PASSWORD).content.decode()


def test_the_client_is_the_first_address_from_the_right_that_is_no_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = [
        ipaddress.ip_network("127.0.0.1"),
        ipaddress.ip_network("10.0.0.0/8"),
    ]
    # The client wrote "6.6.6.6"; the outer proxy appended 1.2.3.4, the inner 10.0.0.2.
    assert forwarded_client("127.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2") == "1.2.3.4"
    assert forwarded_client("127.0.0.1", "1.2.3.4") == "1.2.3.4"
    assert forwarded_client("127.0.0.1", "nonsense, 10.0.0.2") == "10.0.0.2"
    assert forwarded_client("127.0.0.1", "::ffff:1.2.3.4") == "1.2.3.4"


@pytest.mark.django_db
def test_a_success_clears_the_accounts_failures_and_the_lock_ends_with_the_window(
    client, office, settings
):
    _fail(client, "/account/login/", office.advisor.email, settings.LOGIN_FAILURE_LIMIT - 1)
    assert _login(client, office.advisor.email, factories.PASSWORD).status_code == 302
    client.logout()
    _fail(client, "/account/login/", office.advisor.email, settings.LOGIN_FAILURE_LIMIT - 1)
    assert _login(client, office.advisor.email, factories.PASSWORD).status_code == 302
    client.logout()

    _fail(client, "/account/login/", office.advisor.email, settings.LOGIN_FAILURE_LIMIT)
    assert THROTTLED in _login(client, office.advisor.email, factories.PASSWORD).content.decode()
    LoginThrottle.objects.update(
        window_start=timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS + 1)
    )
    assert _login(client, office.advisor.email, factories.PASSWORD).status_code == 302


@pytest.mark.django_db
def test_an_unknown_address_is_throttled_like_a_known_one(client, office, settings):
    """The throttle's answer must not tell which e-mail addresses have an account."""
    _fail(client, "/account/login/", "bestaat-niet@kantoor-a.test", settings.LOGIN_FAILURE_LIMIT)
    page = _login(client, "bestaat-niet@kantoor-a.test", "fout").content.decode()
    assert THROTTLED in page


@pytest.mark.django_db
def test_ipv6_clients_are_counted_per_64_block(client, office, settings):
    for n in range(settings.LOGIN_FAILURE_LIMIT * 4):
        _login(client, f"gok{n}@kantoor-a.test", "fout", REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}")
    neighbour = _login(
        Client(), office.advisor.email, factories.PASSWORD, REMOTE_ADDR="2001:db8:1:2:ffff::9"
    )
    assert THROTTLED in neighbour.content.decode()
    elsewhere = _login(
        Client(), office.advisor.email, factories.PASSWORD, REMOTE_ADDR="2001:db8:1:3::9"
    )
    assert elsewhere.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_forty_parallel_wrong_logins_check_no_more_passwords_than_the_limit(settings):
    tenant = factories.tenant("Kantoor Parallel")
    victim = factories.user(tenant, email="doelwit@parallel.test")
    settings.PASSWORD_HASHERS = ["tests.hashers.CountingMD5Hasher"]
    CountingMD5Hasher.checks = 0
    CountingMD5Hasher.delay = 0.05  # a real hasher takes longer: attempts overlap
    start = threading.Barrier(40)
    answers: list[int] = []
    errors: list[BaseException] = []

    def attempt(n: int) -> None:
        try:
            start.wait()
            page = _login(Client(), victim.email, f"fout-{n}", REMOTE_ADDR=f"192.0.2.{n}")
            answers.append(page.status_code)
        except BaseException as error:  # reported below, not swallowed
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert answers == [200] * 40  # every one refused, none crashed
    assert 1 <= CountingMD5Hasher.checks <= settings.LOGIN_FAILURE_LIMIT
    checked = CountingMD5Hasher.checks
    page = _login(Client(), victim.email, factories.PASSWORD, REMOTE_ADDR="192.0.2.99")
    assert THROTTLED in page.content.decode()
    assert CountingMD5Hasher.checks == checked
