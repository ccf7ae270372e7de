"""The "test connection" button and API against real Dovecot and SMTP servers:
one plain-language Dutch result per server for each way a connection can fail."""

from __future__ import annotations

import time

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_account(dovecot, smtp_servers, settings):
    """A Dovecot user that the SMTP servers accept too, and trust in the test CA."""
    email, password = dovecot.new_user()
    smtp_servers.users[email] = password
    settings.POSTKAMER_CA_FILE = str(dovecot.ca_file)
    settings.POSTKAMER_ALLOW_PRIVATE_HOSTS = True
    settings.POSTKAMER_MAIL_TIMEOUT = 1.5
    return email, password


@pytest.fixture
def box(office, dovecot, smtp_servers, mail_account):
    email, password = mail_account
    return factories.dovecot_mailbox(
        office.tenant,
        dovecot,
        email,
        password,
        owners=(office.manager,),
        imap_port=dovecot.imaps_port,
        imap_security="ssl",
        smtp_host="127.0.0.1",
        smtp_port=smtp_servers.starttls_port,
        smtp_security="starttls",
    )


def _test(api, office, box):
    api.force_authenticate(office.manager)
    response = api.post(f"/api/v1/mailboxes/{box.pk}/test-connection/")
    assert response.status_code == 200
    return {r["server"]: r for r in response.json()["results"]}


def test_good_settings_give_verbinding_ok_for_imap_and_smtp(api, office, box):
    results = _test(api, office, box)
    assert results["imap"]["ok"] and results["imap"]["message"] == "Verbinding OK"
    assert results["smtp"]["ok"] and results["smtp"]["message"] == "Verbinding OK"


def test_starttls_imap_works_too(api, office, box, dovecot):
    box.imap_port, box.imap_security = dovecot.imap_port, "starttls"
    box.save()
    assert _test(api, office, box)["imap"]["ok"]


def test_wrong_password_is_reported_plainly(api, office, box):
    box.imap_password = "helemaal-fout"
    box.save()
    results = _test(api, office, box)
    assert results["imap"]["code"] == "auth_failed"
    assert results["imap"]["message"] == "De gebruikersnaam of het wachtwoord klopt niet."
    assert results["smtp"]["code"] == "auth_failed"


def test_unknown_host_is_reported_as_not_found(api, office, box):
    box.imap_host = "bestaat-niet.invalid"
    box.save()
    results = _test(api, office, box)
    assert results["imap"]["code"] == "host_not_found"
    assert "niet gevonden" in results["imap"]["message"]


def test_closed_port_is_reported_as_refused(api, office, box, closed_port):
    box.imap_port = closed_port
    box.save()
    results = _test(api, office, box)
    assert results["imap"]["code"] == "connection_refused"
    assert "weigert de verbinding" in results["imap"]["message"]


def test_a_server_that_says_nothing_times_out_in_seconds(api, office, box, silent_server):
    box.imap_port = silent_server.port
    box.save()
    started = time.monotonic()
    results = _test(api, office, box)
    assert time.monotonic() - started < 6
    assert results["imap"]["code"] == "timeout"
    assert "niet op tijd" in results["imap"]["message"]


def test_an_untrusted_certificate_is_refused(api, office, box, settings):
    settings.POSTKAMER_CA_FILE = None
    results = _test(api, office, box)
    assert results["imap"]["code"] == "certificate_untrusted"
    assert "certificaat" in results["imap"]["message"]
    assert results["smtp"]["code"] == "certificate_untrusted"


def test_a_server_without_starttls_is_refused_not_used_in_plain_text(
    api, office, box, smtp_servers
):
    box.smtp_port = smtp_servers.plain_port
    box.save()
    results = _test(api, office, box)
    assert results["smtp"]["code"] == "no_starttls"
    assert "geen STARTTLS" in results["smtp"]["message"]


def test_private_addresses_are_refused_unless_allowed(api, office, box, settings):
    settings.POSTKAMER_ALLOW_PRIVATE_HOSTS = False
    results = _test(api, office, box)
    assert results["imap"]["code"] == "private_host"
    assert "intern netwerkadres" in results["imap"]["message"]


def test_the_button_on_the_mailbox_page_shows_the_results(client, office, box):
    client.force_login(office.manager)
    page = client.post(f"/beheer/e-mailmanager/{box.pk}/test-connection/").content.decode()
    assert "Verbindingstest" in page and page.count("Verbinding OK") == 2


def test_the_password_never_appears_in_results_or_logs(api, office, box, caplog):
    box.imap_host = "bestaat-niet.invalid"
    box.save()
    api.force_authenticate(office.manager)
    response = api.post(f"/api/v1/mailboxes/{box.pk}/test-connection/")
    password = box.imap_password
    assert password not in response.content.decode()
    assert password not in caplog.text
