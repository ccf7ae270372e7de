"""A stored password goes only to the server it was typed for.

Changing the server, port, security or user name of IMAP or SMTP needs the password
again, in the form, the API and the admin alike. The proof against a real client:
a recording IMAP server on loopback, pointed at by a manager without the
password, never sees it, not at the connection test nor at a fetch.
"""

from __future__ import annotations

import pytest

from postkamer.accounts.models import User
from postkamer.fetching import engine
from postkamer.mailboxes.models import Mailbox
from tests import factories
from tests.servers.recorder import RecordingImapServer
from tests.test_manager_views import form_of

pytestmark = pytest.mark.django_db

AGAIN_IMAP = "vul het IMAP-wachtwoord opnieuw in"
AGAIN_SMTP = "vul het SMTP-wachtwoord opnieuw in"


@pytest.fixture
def recorder(test_ca):
    server = RecordingImapServer(test_ca.server_cert, test_ca.server_key)
    yield server
    server.stop()


@pytest.fixture
def live(office, dovecot, settings):
    """``office.mailbox`` replaced by one on the test Dovecot (STARTTLS), managed by
    ``office.manager``; returns (mailbox, its real password)."""
    settings.POSTKAMER_CA_FILE = dovecot.ca_file
    email, password = dovecot.new_user()
    box = factories.dovecot_mailbox(office.tenant, dovecot, email, password)
    yield box, password
    engine.pool.clear()


def _stored(box: Mailbox) -> tuple:
    box.refresh_from_db()
    return (box.imap_host, box.imap_port, box.imap_security, box.imap_username)


def _test_and_fetch(api, office, box: Mailbox) -> None:
    """The connection test and a fetch, both of which log in with the stored password."""
    api.force_authenticate(office.manager)
    results = api.post(f"/api/v1/mailboxes/{box.pk}/test-connection/").json()["results"]
    assert next(r for r in results if r["server"] == "imap")["ok"]
    box.refresh_from_db()
    assert engine.fetch_mailbox(box).ok


def test_a_patched_imap_server_without_the_password_never_receives_it(api, office, live, recorder):
    box, password = live
    before = _stored(box)
    api.force_authenticate(office.manager)
    response = api.patch(
        f"/api/v1/mailboxes/{box.pk}/",
        {"imap_host": "localhost", "imap_port": recorder.port},
        format="json",
    )
    assert response.status_code == 400
    assert AGAIN_IMAP in response.json()["imap_password"][0]
    assert _stored(box) == before
    _test_and_fetch(api, office, box)
    assert recorder.connections == 0 and not recorder.saw(password)


def test_the_recorder_does_catch_a_password_sent_to_it(api, office, live, recorder):
    """The control: with a password typed in the same change the move is allowed,
    and the recorder receives that password (and only that one)."""
    box, password = live
    api.force_authenticate(office.manager)
    response = api.patch(
        f"/api/v1/mailboxes/{box.pk}/",
        {"imap_host": "localhost", "imap_port": recorder.port, "imap_password": "lokaas-42"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    results = api.post(f"/api/v1/mailboxes/{box.pk}/test-connection/").json()["results"]
    assert not next(r for r in results if r["server"] == "imap")["ok"]
    assert recorder.connections >= 1
    assert recorder.saw("lokaas-42") and not recorder.saw(password)


def test_the_mailbox_page_refuses_a_new_server_without_the_password(
    client, api, office, live, recorder
):
    box, password = live
    before = _stored(box)
    client.force_login(office.manager)
    response = client.post(
        f"/beheer/e-mailmanager/{box.pk}/",
        form_of(box, imap_host="localhost", imap_port=str(recorder.port)),
    )
    assert response.status_code == 200
    assert AGAIN_IMAP in response.content.decode()
    assert _stored(box) == before
    _test_and_fetch(api, office, box)
    assert recorder.connections == 0 and not recorder.saw(password)


def _admin(client) -> User:
    staff = User.objects.create_superuser("beheer@postkamer.test", factories.PASSWORD)
    client.force_login(staff)
    return staff


def admin_form(box: Mailbox, **changes: str) -> dict[str, object]:
    """The admin's change form as it shows ``box``, with ``changes``."""
    data: dict[str, object] = {
        key: value for key, value in form_of(box).items() if key not in ("sync_since",)
    }
    data["display_name"] = box.display_name
    data["sent_folder"], data["junk_folder"] = box.sent_folder, box.junk_folder
    data["max_errors"] = str(box.max_errors)
    data["owner_users"] = [str(u.pk) for u in box.owner_users.all()]
    data["owner_groups"] = [str(g.pk) for g in box.owner_groups.all()]
    data["_save"] = "Save"
    data.update(changes)
    return data


def test_the_admin_refuses_a_new_server_without_the_password(client, api, office, live, recorder):
    box, password = live
    before = _stored(box)
    _admin(client)
    url = f"/admin/mailboxes/mailbox/{box.pk}/change/"
    response = client.post(url, admin_form(box, imap_host="localhost", imap_port=recorder.port))
    assert response.status_code == 200
    assert AGAIN_IMAP in response.content.decode()
    assert _stored(box) == before
    _test_and_fetch(api, office, box)
    assert recorder.connections == 0 and not recorder.saw(password)
    # With the password typed again the admin may move it.
    moved = client.post(
        url, admin_form(box, imap_host="localhost", imap_port=recorder.port, imap_password="n-1")
    )
    assert moved.status_code == 302
    assert _stored(box)[:2] == ("localhost", recorder.port)


# -- the rule, case by case, through the API ------------------------------------------


def _patch(api, office, box: Mailbox, change: dict) -> tuple[int, dict]:
    api.force_authenticate(office.manager)
    response = api.patch(f"/api/v1/mailboxes/{box.pk}/", change, format="json")
    return response.status_code, response.json()


@pytest.mark.parametrize(
    "change",
    [
        {"imap_host": "mail.elders.test"},
        {"imap_port": 143},
        {"imap_security": "starttls"},
        {"imap_username": "iemand-anders"},
        {"type": "office365", "imap_host": "mail.elders.test"},
    ],
)
def test_every_part_of_the_imap_login_needs_the_password_again(api, office, change):
    status, body = _patch(api, office, office.mailbox, change)
    assert status == 400
    assert AGAIN_IMAP in body["imap_password"][0]
    status, _ = _patch(api, office, office.mailbox, {**change, "imap_password": "nieuw-1"})
    assert status == 200
    office.mailbox.refresh_from_db()
    assert office.mailbox.imap_password == "nieuw-1"


def test_settings_that_send_no_password_elsewhere_change_without_it(api, office):
    change = {"name": "Schade", "interval_minutes": 15, "sent_folder": "Sent", "max_errors": 3}
    assert _patch(api, office, office.mailbox, change)[0] == 200


def test_smtp_using_the_imap_password_needs_one_of_the_two_again(api, office):
    box = office.mailbox  # no SMTP password of its own: SMTP logs in with the IMAP one
    status, body = _patch(api, office, box, {"smtp_host": "smtp.elders.test"})
    assert status == 400
    assert "IMAP-wachtwoord opnieuw" in body["smtp_password"][0]
    assert "imap_password" not in body
    assert _patch(api, office, box, {"smtp_port": 2525, "imap_password": "nieuw-1"})[0] == 200
    assert _patch(api, office, box, {"smtp_port": 465, "smtp_password": "smtp-1"})[0] == 200
    box.refresh_from_db()
    assert (box.smtp_port, box.smtp_password, box.imap_password) == (465, "smtp-1", "nieuw-1")


def test_smtp_with_a_password_of_its_own_needs_that_one_again(api, office):
    box = office.mailbox
    box.smtp_password = "eigen-smtp"
    box.save()
    status, body = _patch(api, office, box, {"smtp_host": "smtp.elders.test"})
    assert status == 400 and AGAIN_SMTP in body["smtp_password"][0]
    # The IMAP password is not the one SMTP would send.
    status, body = _patch(
        api, office, box, {"smtp_host": "smtp.elders.test", "imap_password": "x-1"}
    )
    assert status == 400 and AGAIN_SMTP in body["smtp_password"][0]


def test_a_new_imap_user_name_that_smtp_also_uses_asks_once(api, office):
    box = office.mailbox
    assert not box.smtp_username  # SMTP logs in with the IMAP user name and password
    status, body = _patch(api, office, box, {"imap_username": "nieuw@kantoor-a.test"})
    assert status == 400
    assert set(body) == {"imap_password"}


def test_a_manager_may_still_set_up_a_new_mailbox_on_any_server(api, office):
    api.force_authenticate(office.manager)
    response = api.post(
        "/api/v1/mailboxes/",
        {
            "name": "Nieuw",
            "sender_address": "nieuw@kantoor-a.test",
            "imap_host": "mail.kantoor-a.test",
            "imap_username": "nieuw",
            "imap_password": "geheim-1",
            "smtp_host": "mail.kantoor-a.test",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
