"""postkamer check-dns DOMAIN: Dutch text, the API's JSON object, exit codes."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from postkamer.dnschecks.management.commands.check_dns import HELP
from tests import factories
from tests.dnschecks_support import install_zones


@pytest.fixture
def dns(settings, dns_server, dns_resolver_spec):
    install_zones(dns_server)
    settings.POSTKAMER_DNS_RESOLVERS = dns_resolver_spec
    return dns_server


def _run(capsys, *args: str, **options: object) -> tuple[int, str]:
    try:
        call_command("check_dns", *args, **options)
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    return code, capsys.readouterr().out


def test_a_good_domain_prints_dutch_verdicts_and_exits_0(capsys, dns):
    code, out = _run(capsys, "good-o365.nl", provider="office365")
    assert code == 0
    assert out.startswith("Domein: good-o365.nl (gecontroleerd op ")
    assert "SPF: OK" in out and "DKIM: OK" in out and "DMARC: OK" in out
    assert "record: v=spf1 include:spf.protection.outlook.com -all" in out


def test_an_error_exits_1_and_prints_the_record_to_add(capsys, dns):
    code, out = _run(capsys, "spf-missing.nl", "--provider", "office365")
    assert code == 1
    assert "SPF: FOUT" in out
    assert "Vraag je ICT-beheerder om dit TXT-record toe te voegen aan spf-missing.nl." in out
    assert "      v=spf1 include:spf.protection.outlook.com -all" in out


def test_warnings_alone_exit_0(capsys, dns):
    code, out = _run(capsys, "dmarc-p-none.nl", "--smtp-host", "192.0.2.25")
    assert code == 0
    assert "DMARC: WAARSCHUWING" in out


def test_a_dns_failure_without_errors_exits_2_and_says_try_again_later(capsys, dns):
    code, out = _run(capsys, "servfail.test", "--provider", "office365")
    assert code == 2
    assert "SPF: ONBEKEND" in out
    assert "Probeer later opnieuw." in out


def test_language_en_prints_english(capsys, dns):
    code, out = _run(capsys, "spf-missing.nl", "--provider", "office365", "--language", "en")
    assert code == 1
    assert out.startswith("Domain: spf-missing.nl (checked on ")
    assert "SPF: ERROR" in out
    assert "The domain spf-missing.nl has no SPF record." in out


def test_a_selector_option_is_checked_first(capsys, dns):
    code, out = _run(capsys, "dkim-admin-selector.nl", "--selector", "custom2024", "--json")
    assert json.loads(out)["dkim"]["record"].startswith("custom2024: v=DKIM1")
    code, out = _run(capsys, "dkim-admin-selector-missing.nl", "--selector", "typo", "--json")
    assert code == 1
    assert json.loads(out)["dkim"]["problems"][0]["code"] == "dkim_selector_not_found"


@pytest.mark.django_db
def test_json_prints_exactly_the_apis_object(capsys, api, office, dns):
    code, out = _run(capsys, "spf-missing.nl", "--provider", "office365", "--json")
    assert code == 1
    printed = json.loads(out)
    box = factories.mailbox(office.tenant, sender_address="info@spf-missing.nl", type="office365")
    api.force_authenticate(office.manager)
    served = api.get(f"/api/v1/mailboxes/{box.pk}/security/").json()
    assert set(printed) == set(served) == {"checked_at", "domain", "spf", "dkim", "dmarc"}
    printed.pop("checked_at")
    served.pop("checked_at")
    assert printed == served


def test_the_help_documents_the_exit_codes():
    assert "0 when no record has an error" in HELP
    assert "1 when at least" in HELP and "2 when none has an error" in HELP


@pytest.mark.parametrize("selector", ["<script>", "a b", "-fout", "x" * 201])
def test_an_invalid_selector_is_refused_before_anything_is_looked_up(dns, selector):
    before = len(dns.queries)
    with pytest.raises(CommandError) as refused:
        call_command("check_dns", "good-imap.nl", f"--selector={selector}")
    assert "--selector" in str(refused.value)
    assert "DKIM-selector" in str(refused.value)
    assert dns.queries[before:] == []
