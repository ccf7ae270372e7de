"""The Content-Security-Policy in a real Chromium: the main pages, with their own
JavaScript at work, report no violation; an inline script is blocked and reported."""

from __future__ import annotations

import pytest

from postkamer.accounts.models import User
from tests import factories
from tests.browser_plugin import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script (through the DevTools protocol, which the policy does
# not govern) and keeps every violation the page reports.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _watch(page) -> list[str]:
    console: list[str] = []
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    return console


def _visit(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("load")
    return page.evaluate("window.__violations")


def test_the_main_pages_run_under_the_policy_without_a_violation(page, live_server, office):
    console = _watch(page)
    office.mailbox.owner_users.add(office.admin)
    base = live_server.url
    box = office.mailbox.pk
    seen: dict[str, list[str]] = {}
    seen["login"] = _visit(page, f"{base}/account/login/")
    login(page, live_server, office.admin)
    for path in [
        "/beheer/e-mailmanager/",
        "/beheer/e-mailmanager/new/",
        f"/beheer/e-mailmanager/{box}/",
        f"/beheer/e-mailmanager/{box}/owners/",
        f"/beheer/e-mailmanager/{box}/log/",
        f"/beheer/e-mailmanager/{box}/beveiliging/",
        f"/email/?mailbox={box}",
        "/account/settings/",
        "/account/password/",
        "/notifications/",
    ]:
        seen[path] = _visit(page, f"{base}{path}")
    # The pages' own scripts at work: the type switch and the owners panel (fetch()).
    page.goto(f"{base}/beheer/e-mailmanager/new/")
    page.select_option("select[name=type]", "office365")
    page.goto(f"{base}/beheer/e-mailmanager/{box}/owners/")
    page.get_by_label("Organisatie zoeken").fill("kantoor")
    page.get_by_label("Organisatie zoeken").press("Enter")
    page.wait_for_load_state("networkidle")
    seen["owners (script)"] = page.evaluate("window.__violations")
    page.goto(f"{base}/account/settings/")
    page.get_by_role("button", name="API-token aanmaken").click()
    page.wait_for_url("**/account/token/")
    seen["token"] = page.evaluate("window.__violations")

    staff = User.objects.create_user(
        "platform@postkamer.test", factories.PASSWORD, is_staff=True, is_superuser=True
    )
    page.context.clear_cookies()
    seen["admin login"] = _visit(page, f"{base}/admin/login/")
    page.fill("input[name=username]", staff.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    for path in [
        "/admin/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{office.advisor.pk}/change/",
    ]:
        seen[path] = _visit(page, f"{base}{path}")

    assert {name: found for name, found in seen.items() if found} == {}
    assert console == []

    # The listener and the policy work: an injected inline script is blocked.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.body.append(s); }"
    )
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__ran === undefined")
    assert page.evaluate("window.__violations")[0].startswith("script-src")
