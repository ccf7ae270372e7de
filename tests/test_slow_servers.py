"""Servers that drip one byte at a time: the connection test and the folder list
answer the web request within the mail deadline, and a fetch fails with
``timeout`` within its deadline (twice ``POSTKAMER_MAIL_TIMEOUT``)."""

from __future__ import annotations

import time

import pytest

from postkamer.fetching import engine
from tests import factories
from tests.servers.drip import DrippingProxy

pytestmark = pytest.mark.django_db

TIMEOUT = 1.0
DEADLINE = 2 * TIMEOUT
#: What a loaded machine may add before the test gives up on the deadline.
SLACK = 2.0


@pytest.fixture
def dripping(dovecot, smtp_servers):
    """Proxies in front of Dovecot (STARTTLS) and aiosmtpd (STARTTLS) that send one
    byte every 0.1 s from the first byte on."""
    imap_proxy = DrippingProxy(dovecot.imap_port, drip_after=0, interval=0.1)
    smtp_proxy = DrippingProxy(smtp_servers.starttls_port, drip_after=0, interval=0.1)
    yield imap_proxy, smtp_proxy
    imap_proxy.stop()
    smtp_proxy.stop()


@pytest.fixture
def slow_box(office, dovecot, smtp_servers, dripping, settings):
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    settings.POSTKAMER_MAIL_TIMEOUT = TIMEOUT
    email, password = dovecot.new_user()
    smtp_servers.users[email] = password
    imap_proxy, smtp_proxy = dripping
    return factories.dovecot_mailbox(
        office.tenant,
        dovecot,
        email,
        password,
        owners=(office.manager,),
        imap_port=imap_proxy.port,
        smtp_port=smtp_proxy.port,
        smtp_security="starttls",
    )


def test_the_connection_test_answers_within_the_deadline(api, office, slow_box):
    api.force_authenticate(office.manager)
    started = time.monotonic()
    response = api.post(f"/api/v1/mailboxes/{slow_box.pk}/test-connection/")
    assert time.monotonic() - started < DEADLINE + SLACK
    results = {r["server"]: r for r in response.json()["results"]}
    assert results["imap"]["code"] == results["smtp"]["code"] == "timeout"
    assert "niet op tijd" in results["imap"]["message"]


def test_the_folder_list_answers_within_the_deadline(api, office, slow_box):
    api.force_authenticate(office.manager)
    started = time.monotonic()
    response = api.get(f"/api/v1/mailboxes/{slow_box.pk}/imap-folders/")
    assert time.monotonic() - started < DEADLINE + SLACK
    assert response.status_code == 502 and response.json()["code"] == "timeout"


def test_a_fetch_of_a_dripping_server_fails_with_timeout_within_its_deadline(slow_box):
    started = time.monotonic()
    outcome = engine.fetch_mailbox(slow_box)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert outcome.error_code == "timeout"
    slow_box.refresh_from_db()
    assert slow_box.last_error_code == "timeout" and slow_box.lease_until is None
