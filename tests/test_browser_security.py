"""The Beveiliging tab in a real Chromium: an SPF error, the fix, "Opnieuw controleren", OK."""

from __future__ import annotations

import pytest

from tests import factories
from tests.dnschecks_support import serve_case
from tests.mail.dnsauth_zones import SMTP_IP, Case

SHOTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-results"
SHOTS.mkdir(exist_ok=True)

pytestmark = [pytest.mark.browser]

# A domain of this test's own, so breaking and fixing it disturbs no other test.
DOMAIN = "browser-security.nl"


def test_a_manager_sees_a_missing_spf_record_fixes_it_and_checks_again(
    live_server, transactional_db, page, settings, dns_server, dns_resolver_spec
):
    settings.POSTKAMER_DNS_RESOLVERS = dns_resolver_spec
    broken = Case(DOMAIN, ("error", "ok", "ok"), spf=["google-site-verification=abc"])
    serve_case(dns_server, broken)
    tenant = factories.tenant("Kantoor Browser")
    manager = factories.user(tenant, rights=("email_manager",), email="beheer@browser.test")
    box = factories.mailbox(tenant, name="Info", sender_address=f"info@{DOMAIN}", smtp_host=SMTP_IP)

    page.goto(f"{live_server.url}/account/login/?next=/beheer/e-mailmanager/")
    page.fill("input[name=username]", manager.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.click(f"text={box.name}")
    page.click("a:has-text('Beveiliging')")

    spf = page.locator("#verdict-spf")
    badge = spf.locator(".badge")
    assert badge.inner_text().strip().lower().endswith("fout")
    assert "heeft geen SPF-record" in spf.inner_text()
    assert spf.locator(".copybox pre").inner_text() == f"v=spf1 ip4:{SMTP_IP} -all"
    assert page.locator("#verdict-dkim .badge").get_attribute("data-status") == "ok"
    assert "Gecontroleerd op" in page.inner_text(".checked-at")
    page.screenshot(path=str(SHOTS / "security-tab.png"), full_page=True)

    serve_case(dns_server, Case(DOMAIN, ("ok", "ok", "ok")))
    page.click("button:has-text('Opnieuw controleren')")
    page.wait_for_url(f"**/beheer/e-mailmanager/{box.pk}/beveiliging/")
    assert badge.get_attribute("data-status") == "ok"
    assert badge.inner_text().strip().endswith("OK")
    assert f"v=spf1 ip4:{SMTP_IP} -all" in spf.locator("pre.record").first.inner_text()
    assert spf.locator(".copybox").count() == 0

    page.goto(f"{live_server.url}/beheer/e-mailmanager/")
    assert page.locator(".security-alert").count() == 0
