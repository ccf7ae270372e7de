"""The compose, draft, outbox and Template tab pages (Django test client)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from postkamer.mailboxes.models import MailboxAuditEntry
from postkamer.sending.models import MailTemplate, OutgoingMessage
from tests import factories

State = OutgoingMessage.State
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def advisor_client(client, office):
    client.force_login(office.advisor)
    return client


def _compose_url(office) -> str:
    return f"{reverse('sending-compose')}?mailbox={office.mailbox.pk}"


def test_the_compose_page_starts_in_the_template_font_with_the_signature(advisor_client, office):
    MailTemplate.objects.create(
        mailbox=office.mailbox,
        font_family="Verdana",
        font_size=14,
        font_color="#224466",
        signature_html="<p>Groet, <b>Kantoor A</b></p>",
    )
    page = advisor_client.get(_compose_url(office))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-font-family="Verdana, Geneva, sans-serif"' in html
    assert 'data-font-size="14"' in html and 'data-font-color="#224466"' in html
    assert "Groet, <b>Kantoor A</b>" in html
    assert "Bijlagen samen maximaal 25 MB." in html
    assert not OutgoingMessage.objects.exists()  # looking saves nothing


def test_an_autosave_creates_one_draft_per_client_key_and_keeps_half_typed_addresses(
    advisor_client, office
):
    data = {"client_key": "k1", "to": "jan@", "subject": "Conc", "body_html": "<p>Half</p>"}
    first = advisor_client.post(_compose_url(office), data, **JSON)
    again = advisor_client.post(_compose_url(office), {**data, "subject": "Concept"}, **JSON)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    draft = OutgoingMessage.objects.get()
    assert (draft.state, draft.subject, draft.to_addresses) == (
        State.DRAFT,
        "Concept",
        [{"name": "", "address": "jan@"}],
    )
    assert draft.author == office.advisor
    page = advisor_client.get(reverse("sending-edit", args=[draft.pk]))
    assert 'value="jan@"' in page.content.decode()


def test_sending_a_draft_with_mistakes_names_each_one_and_keeps_the_text(advisor_client, office):
    draft = OutgoingMessage.objects.create(
        mailbox=office.mailbox, author=office.advisor, body_html="<p>Tekst</p>"
    )
    response = advisor_client.post(
        reverse("sending-edit", args=[draft.pk]),
        {
            "to": "jan@, piet",
            "cc": "ook@fout",
            "subject": "Hallo",
            "body_html": "<p>Tekst</p>",
            "action": "send",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    for text in ("&#x27;jan@&#x27;", "&#x27;piet&#x27;", "&#x27;ook@fout&#x27;"):
        assert text in html
    draft.refresh_from_db()
    assert draft.state == State.DRAFT and draft.body_html == "<p>Tekst</p>"


def test_a_draft_is_only_visible_to_its_author(client, office):
    draft = OutgoingMessage.objects.create(mailbox=office.mailbox, author=office.advisor)
    colleague = factories.user(office.tenant)
    office.mailbox.owner_users.add(colleague)
    client.force_login(colleague)
    assert client.get(reverse("sending-edit", args=[draft.pk])).status_code == 404
    assert client.post(reverse("sending-delete", args=[draft.pk])).status_code == 404
    assert client.get(reverse("sending-outbox")).content.decode().count("data-outgoing=") == 0


def test_uploads_past_the_limit_are_refused_by_the_server(advisor_client, office, settings):
    settings.POSTKAMER_MAX_ATTACHMENTS_MB = 0.001  # about 1 KB
    draft = OutgoingMessage.objects.create(mailbox=office.mailbox, author=office.advisor)
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("sending-attachments", args=[draft.pk])
    ok = advisor_client.post(url, {"files": SimpleUploadedFile("a.txt", b"x" * 600)}, **JSON)
    assert ok.status_code == 200 and ok.json()["attachments_size"] == 600
    big = advisor_client.post(url, {"files": SimpleUploadedFile("b.txt", b"x" * 600)}, **JSON)
    assert big.status_code == 413
    assert "groter dan" in json.dumps(big.json(), ensure_ascii=False)
    assert draft.attachments.count() == 1


def test_address_suggestions_come_from_this_mailbox_only(advisor_client, office):
    factories.message(office.mailbox, sender="jan.jansen@klant.test")
    factories.message(office.other_mailbox, sender="jan.geheim@ander.test")
    url = reverse("sending-addresses", args=[office.mailbox.pk])
    results = advisor_client.get(url, {"q": "jan"}).json()["results"]
    assert [r["address"] for r in results] == ["jan.jansen@klant.test"]
    other = reverse("sending-addresses", args=[office.other_mailbox.pk])
    assert advisor_client.get(other, {"q": "jan"}).status_code == 404


def test_the_template_tab_saves_sanitised_and_writes_the_audit_log(client, office):
    client.force_login(office.manager)
    url = reverse("mailbox-template", args=[office.mailbox.pk])
    page = client.get(url)
    assert page.status_code == 200 and "Template" in page.content.decode()
    bad = client.post(url, {"font_family": "Comic", "font_size": "7", "font_color": "red"})
    assert bad.status_code == 400
    assert bad.content.decode().count('class="error"') == 3
    good = client.post(
        url,
        {
            "font_family": "Georgia",
            "font_size": "12",
            "font_color": "#112233",
            "signature_html": '<p onclick="x()">Groet<script>alert(1)</script></p>',
        },
    )
    assert good.status_code == 302
    template = MailTemplate.objects.get(mailbox=office.mailbox)
    assert template.signature_html == "<p>Groet</p>"
    entry = MailboxAuditEntry.objects.filter(mailbox=office.mailbox).first()
    assert entry.action == "template_changed"
    assert set(entry.detail["fields"]) == {
        "font_family",
        "font_size",
        "font_color",
        "signature_html",
    }
    client.force_login(office.advisor)  # an owner without the right
    assert client.get(url).status_code == 403
