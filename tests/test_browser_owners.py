"""Tab Eigenaar and the default mailbox in a real Chromium, with JavaScript on."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from postkamer.mailboxes import access
from tests import factories
from tests.browser_plugin import login

SHOTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-results"
SHOTS.mkdir(exist_ok=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_manages_owners_and_chooses_a_default_mailbox(
    page, live_server, office, transactional_db
):
    office.admin.name = "Jan de Vries"
    office.admin.save()
    office.mailbox.owner_users.add(office.admin)
    branch = factories.organisation(office.tenant, "Vestiging Utrecht")
    factories.organisation(office.tenant, "Vestiging Zeist")
    piet = factories.user(office.tenant, organisation=branch, email="piet@kantoora.test")
    piet.name = "Piet Pietersen"
    piet.save()

    login(page, live_server, office.admin)
    page.goto(f"{live_server.url}/beheer/e-mailmanager/{office.mailbox.pk}/")
    page.get_by_role("link", name="Eigenaar").click()
    page.wait_for_url(f"**/{office.mailbox.pk}/owners/")
    # A marker that only survives if the page is never reloaded.
    page.evaluate("window.noReload = true")

    page.get_by_label("Organisatie zoeken").fill("utrecht")
    page.get_by_label("Organisatie zoeken").press("Enter")
    tree = page.get_by_role("list", name="Organisaties")
    tree.get_by_text("Vestiging Zeist").wait_for(state="detached")
    choose = page.locator("li", has_text="Vestiging Utrecht").get_by_role(
        "button", name="Kies organisatie"
    )
    choose.focus()
    page.keyboard.press("Enter")  # keyboard only

    candidate = page.locator("li", has_text="Piet Pietersen")
    candidate.get_by_role("button", name="Toevoegen").click()
    status = page.locator("[data-owners-status]")
    expect(status).to_have_text("Piet Pietersen heeft nu toegang.")
    page.screenshot(path=str(SHOTS / "owners-tab.png"), full_page=True)
    current = page.locator("section", has=page.get_by_role("heading", name="Iedereen met toegang"))
    current.locator("li", has_text="Piet Pietersen").get_by_role(
        "button", name="Verwijderen"
    ).wait_for()
    assert access.can_read(piet, office.mailbox)

    advisor = current.locator("li", has_text=office.advisor.email)
    advisor.get_by_role("button", name="Verwijderen").click()
    advisor.wait_for(state="detached")
    expect(status).to_contain_text("geen eigenaar meer")
    assert not access.can_read(office.advisor, office.mailbox)
    assert page.evaluate("window.noReload") is True

    page.get_by_role("link", name="Mijn instellingen", exact=True).click()
    envelope = page.locator("a.envelope")
    assert envelope.locator(".alert-dot").count() == 1
    assert "geen standaard e-mailbox" in envelope.get_attribute("title")
    page.locator("select#id_default_mailbox").select_option(value=str(office.mailbox.pk))
    page.get_by_role("button", name="Opslaan").click()
    page.get_by_text("Je instellingen zijn opgeslagen.").wait_for()
    expect(envelope.locator(".alert-dot")).to_have_count(0)
    expect(envelope).to_have_attribute("href", f"/email/?mailbox={office.mailbox.pk}")


def test_the_owners_tab_works_without_javascript(browser, live_server, office, transactional_db):
    piet = factories.user(office.tenant, email="piet@kantoora.test")
    context = browser.new_context(java_script_enabled=False, locale="nl-NL")
    page = context.new_page()
    try:
        login(page, live_server, office.admin)
        page.goto(f"{live_server.url}/beheer/e-mailmanager/{office.mailbox.pk}/owners/")
        page.get_by_role("button", name="Kies organisatie").click()
        page.locator("li", has_text="piet@kantoora.test").get_by_role(
            "button", name="Toevoegen"
        ).click()
        expect(page.locator(".flash")).to_contain_text("piet@kantoora.test heeft nu toegang.")
        assert access.can_read(piet, office.mailbox)
    finally:
        context.close()
