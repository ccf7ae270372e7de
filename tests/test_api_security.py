"""GET/POST /api/v1/mailboxes/{id}/security/: the verdicts, access and language."""

from __future__ import annotations

import pytest

from postkamer.dnschecks.models import SecurityCheck
from postkamer.dnschecks.services import report_data, run_check
from tests import factories
from tests.dnschecks_support import install_zones

pytestmark = pytest.mark.django_db

VERDICT_KEYS = {"status", "record", "problems", "advice"}


@pytest.fixture
def dns(settings, dns_server, dns_resolver_spec):
    install_zones(dns_server)
    settings.POSTKAMER_DNS_RESOLVERS = dns_resolver_spec
    return dns_server


@pytest.fixture
def box(office):
    return factories.mailbox(office.tenant, sender_address="info@spf-missing.nl", type="office365")


def _url(pk: object) -> str:
    return f"/api/v1/mailboxes/{pk}/security/"


def test_a_manager_gets_the_verdicts_in_the_spec_shape_in_dutch(api, office, box, dns):
    api.force_authenticate(office.manager)
    response = api.get(_url(box.pk))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"checked_at", "domain", "spf", "dkim", "dmarc"}
    assert body["domain"] == "spf-missing.nl"
    for key in ("spf", "dkim", "dmarc"):
        assert set(body[key]) == VERDICT_KEYS
    spf = body["spf"]
    assert spf["status"] == "error"
    assert spf["problems"][0] == {
        "code": "spf_missing",
        "params": {"domain": "spf-missing.nl"},
        "message": "Het domein spf-missing.nl heeft geen SPF-record.",
    }
    advice = spf["advice"][0]
    assert advice["code"] == "spf_add_record"
    assert advice["record"] == "v=spf1 include:spf.protection.outlook.com -all"
    assert advice["message"].startswith("Vraag je ICT-beheerder")
    assert (body["dkim"]["status"], body["dmarc"]["status"]) == ("ok", "ok")


def test_get_returns_the_stored_check_and_post_stores_a_new_one(api, office, box, dns):
    api.force_authenticate(office.manager)
    first = api.get(_url(box.pk)).json()
    assert api.get(_url(box.pk)).json()["checked_at"] == first["checked_at"]
    assert SecurityCheck.objects.filter(mailbox=box).count() == 1
    created = api.post(_url(box.pk))
    assert created.status_code == 201
    assert SecurityCheck.objects.filter(mailbox=box).count() == 2
    assert created.json()["checked_at"] != first["checked_at"]
    assert api.get(_url(box.pk)).json() == created.json()


def test_an_english_user_gets_english_messages(api, office, box, dns):
    manager = factories.user(office.tenant, rights=("email_manager",), language="en")
    api.force_authenticate(manager)
    spf = api.get(_url(box.pk)).json()["spf"]
    assert spf["problems"][0]["message"] == "The domain spf-missing.nl has no SPF record."
    assert spf["advice"][0]["message"].startswith("Ask the ICT administrator")


def test_an_advisor_without_the_right_gets_403_with_a_message(api, office, dns):
    api.force_authenticate(office.advisor)
    for response in (api.get(_url(office.mailbox.pk)), api.post(_url(office.mailbox.pk))):
        assert response.status_code == 403
        assert "e-mailmanager" in response.json()["detail"]
    assert not SecurityCheck.objects.exists()


def test_another_tenants_mailbox_and_an_unknown_id_are_404(api, office, dns):
    api.force_authenticate(office.manager)
    assert api.get(_url(office.other_mailbox.pk)).status_code == 404
    assert api.post(_url(office.other_mailbox.pk)).status_code == 404
    missing = api.get(_url(999999))
    assert missing.status_code == 404
    assert missing.json()["detail"] == "E-mailbox niet gevonden."
    assert not SecurityCheck.objects.exists()


def test_anonymous_callers_are_refused(api, office):
    assert api.get(_url(office.mailbox.pk)).status_code in (401, 403)


def test_the_stored_result_is_rendered_in_the_readers_language(office, box, dns):
    from django.utils import translation

    check = run_check(box)
    with translation.override("en"):
        english = report_data(check)
    with translation.override("nl"):
        dutch = report_data(check)
    assert english["spf"]["problems"][0]["message"] == check.result["spf"]["problems"][0]["message"]
    assert dutch["spf"]["problems"][0]["message"] != english["spf"]["problems"][0]["message"]


def test_the_openapi_schema_documents_the_security_endpoint(api, office):
    api.force_authenticate(office.manager)
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert "/api/v1/mailboxes/{id}/security/" in response.content.decode()
