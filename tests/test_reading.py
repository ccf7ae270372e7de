"""Reading mail in the e-mail module: the list, read state per person, the message page,
downloads and conversations."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import make_msgid

import pytest
from django.utils import timezone

from postkamer.messages import readstate
from postkamer.messages.models import MessageRead
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def colleague(office):
    """A second owner of the advisor's mailbox (through a workflow group)."""
    team = factories.group(office.tenant, "Hypotheken")
    user = factories.user(office.tenant, groups=("Hypotheken",))
    office.mailbox.owner_groups.add(team)
    return user


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _row(html: str, subject: str) -> str:
    match = re.search(r"<tr class=\"(\w+)\"[^>]*>(?:(?!</tr>).)*" + re.escape(subject), html, re.S)
    assert match, subject
    return match.group(1)


# --- the list ------------------------------------------------------------------------


def test_a_ten_thousand_character_subject_is_one_line_with_the_full_text_in_its_title(
    client, office
):
    subject = "Lang " * 2000
    factories.message(office.mailbox, subject=subject)
    client.force_login(office.advisor)
    html = _page(client, f"/email/?mailbox={office.mailbox.pk}")
    assert f'title="{subject}"' in html
    # Cut to one line by the style sheet: the table is fixed and cells do not wrap.
    css = (
        __import__("pathlib").Path("postkamer/static/postkamer/app.css").read_text()
        if __import__("pathlib").Path("postkamer/static/postkamer/app.css").exists()
        else ""
    )
    assert "table-layout: fixed" in css and "text-overflow: ellipsis" in css


def test_a_display_name_that_is_an_address_shows_the_real_address_with_a_warning(client, office):
    factories.stored(
        office.mailbox,
        factories.mime_message(sender='"service@bank.nl <>" <aanvaller@kwaad.test>'),
    )
    client.force_login(office.advisor)
    html = _page(client, f"/email/?mailbox={office.mailbox.pk}")
    assert "aanvaller@kwaad.test" in html
    assert 'class="name suspicious"' in html
    assert "echte adres is aanvaller@kwaad.test" in html


def test_a_plain_name_is_shown_with_its_address_and_no_warning(client, office):
    factories.stored(office.mailbox, factories.mime_message(sender="Jan Jansen <jan@klant.test>"))
    client.force_login(office.advisor)
    html = _page(client, f"/email/?mailbox={office.mailbox.pk}")
    assert (
        '<span class="name">Jan Jansen</span> <span class="email">&lt;jan@klant.test&gt;</span>'
        in html
    )
    assert "suspicious" not in html


def test_direction_overrides_are_removed_from_names_subjects_and_file_names(client, office):
    message = factories.stored(
        office.mailbox,
        factories.mime_message(
            sender="Jan \u202eJansen <jan@klant.test>",
            subject="Factuur \u2067fdp.exe\u2069",
            attachments=(("polis\u202efdp.exe", "application/octet-stream", b"MZ"),),
        ),
    )
    client.force_login(office.advisor)
    for url in (f"/email/?mailbox={office.mailbox.pk}", f"/email/messages/{message.pk}/"):
        html = _page(client, url)
        assert not re.search("[\u202a-\u202e\u2066-\u2069]", html), url
        assert "Factuur fdp.exe" in html
    download = client.get(f"/email/messages/{message.pk}/attachments/0/")
    assert download["Content-Disposition"] == 'attachment; filename="polisfdp.exe"'


def test_the_list_is_newest_first_with_unread_in_bold_and_counts_in_the_switcher(
    client, office, colleague
):
    now = timezone.now()
    old = factories.message(office.mailbox, subject="Oud", received_at=now - dt.timedelta(days=2))
    factories.message(office.mailbox, subject="Nieuw", received_at=now)
    factories.message(office.mailbox, folder="junk", subject="Spam")
    readstate.do_mark_read(office.advisor, old)
    client.force_login(office.advisor)
    html = _page(client, f"/email/?mailbox={office.mailbox.pk}")
    assert html.index("Nieuw") < html.index("Oud")
    assert _row(html, "Nieuw") == "unread" and _row(html, "Oud") == "read"
    assert '<span class="unread-count" title="1 ongelezen bericht">1</span>' in html
    # A colleague's state is their own.
    client.force_login(colleague)
    html = _page(client, f"/email/?mailbox={office.mailbox.pk}")
    assert _row(html, "Oud") == "unread"
    assert '<span class="unread-count" title="2 ongelezen berichten">2</span>' in html


def test_listing_never_marks_anything_read(client, api, office):
    factories.message(office.mailbox, subject="Nog niet gelezen")
    client.force_login(office.advisor)
    _page(client, f"/email/?mailbox={office.mailbox.pk}")
    _page(client, f"/email/?mailbox={office.mailbox.pk}&q=gelezen")
    api.force_authenticate(office.advisor)
    api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/")
    api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/?q=gelezen")
    assert not MessageRead.objects.exists()


def test_the_switcher_lists_every_readable_mailbox_and_refuses_others(client, office):
    second = factories.mailbox(office.tenant, owners=(office.advisor,), name="Schade")
    unrelated = factories.mailbox(office.tenant, name="Directie")
    client.force_login(office.advisor)
    html = _page(client, "/email/")
    assert office.mailbox.name in html and "Schade" in html and "Directie" not in html
    assert client.get(f"/email/?mailbox={second.pk}").status_code == 200
    assert client.get(f"/email/?mailbox={unrelated.pk}").status_code in (403, 404)
    assert client.get(f"/email/?mailbox={office.other_mailbox.pk}").status_code == 404


# --- reading one message ---------------------------------------------------------------


def test_opening_a_message_marks_it_read_for_me_only_and_i_can_mark_it_unread(
    client, office, colleague
):
    message = factories.message(office.mailbox, subject="Polisvraag")
    client.force_login(office.advisor)
    _page(client, f"/email/messages/{message.pk}/")
    assert readstate.is_read(office.advisor, message)
    assert not readstate.is_read(colleague, message)
    response = client.post(f"/email/messages/{message.pk}/unread/")
    assert response.status_code == 302
    assert response["Location"] == f"/email/?mailbox={office.mailbox.pk}&folder=inbox"
    assert not readstate.is_read(office.advisor, message)


def test_the_message_page_shows_headers_attachments_and_the_original(client, office):
    raw = factories.mime_message(
        sender="Jan Jansen <jan@klant.test>",
        to="Info <info@kantoor.test>",
        subject="Schade auto",
        headers="Cc: Piet <piet@klant.test>",
        attachments=(("schade.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 2000),),
    )
    message = factories.stored(office.mailbox, raw)
    client.force_login(office.advisor)
    html = _page(client, f"/email/messages/{message.pk}/")
    for expected in (
        "Jan Jansen",
        "&lt;jan@klant.test&gt;",
        "&lt;info@kantoor.test&gt;",
        "&lt;piet@klant.test&gt;",
        "Schade auto",
        "schade.pdf",
        "2,0\xa0KB",
        "Origineel downloaden",
        "Markeer als ongelezen",
        f'href="/email/messages/{message.pk}/attachments/0/"',
    ):
        assert expected in html, expected
    assert "<script" not in html.split("</head>", 1)[1]
    original = client.get(f"/email/messages/{message.pk}/raw/")
    assert b"".join(original.streaming_content) == raw
    assert original["Content-Type"] == "message/rfc822"
    assert original["Content-Disposition"].startswith("attachment;")


def test_an_attachment_downloads_with_its_type_a_safe_name_and_nosniff(client, api, office):
    data = bytes(range(256)) * 300
    message = factories.stored(
        office.mailbox,
        factories.mime_message(
            attachments=(
                ("../../etc/offerte 2026.pdf", "application/pdf", data),
                ("één € lijst.html", "text/html", b"<script>alert(1)</script>"),
            )
        ),
    )
    client.force_login(office.advisor)
    response = client.get(f"/email/messages/{message.pk}/attachments/0/")
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="offerte 2026.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    second = client.get(f"/email/messages/{message.pk}/attachments/1/")
    assert second["Content-Type"] == "text/html"
    assert second["Content-Disposition"] == (
        "attachment; filename*=utf-8''%C3%A9%C3%A9n%20%E2%82%AC%20lijst.html"
    )
    assert "sandbox" in second["Content-Security-Policy"]
    assert client.get(f"/email/messages/{message.pk}/attachments/2/").status_code == 404
    api.force_authenticate(office.advisor)
    via_api = api.get(f"/api/v1/messages/{message.pk}/attachments/0/")
    assert via_api.status_code == 200
    assert b"".join(via_api.streaming_content) == data


def test_another_office_cannot_read_search_or_download(client, api, office):
    message = factories.stored(
        office.mailbox,
        factories.mime_message(
            subject="Geheim", attachments=(("a.pdf", "application/pdf", b"%PDF"),)
        ),
    )
    client.force_login(office.outsider)
    for url in (
        f"/email/?mailbox={office.mailbox.pk}&q=geheim",
        f"/email/messages/{message.pk}/",
        f"/email/messages/{message.pk}/body/",
        f"/email/messages/{message.pk}/attachments/0/",
        f"/email/messages/{message.pk}/raw/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Geheim" not in (b"" if response.streaming else response.content)
    api.force_authenticate(office.outsider)
    assert api.get(f"/api/v1/mailboxes/{office.mailbox.pk}/messages/?q=geheim").status_code == 404
    assert api.patch(f"/api/v1/messages/{message.pk}/", {"read": True}).status_code == 404
    assert api.get(f"/api/v1/messages/{message.pk}/attachments/0/").status_code == 404
    assert not MessageRead.objects.exists()


def test_an_inline_image_is_served_from_the_stored_message_by_a_signed_link(client, office):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    message = factories.stored(
        office.mailbox,
        factories.mime_message(
            html='<p>Logo: <img src="cid:logo@klant.test"></p>',
            inline=(("logo@klant.test", "image/png", png),),
        ),
    )
    client.force_login(office.advisor)
    body = _page(client, f"/email/messages/{message.pk}/body/")
    src = re.search(r'<img src="([^"]+)"', body).group(1).replace("&amp;", "&")
    assert src.startswith(f"http://testserver/email/messages/{message.pk}/inline/")
    # The sandboxed frame may send no cookie: the signed link alone is enough...
    anonymous = client.__class__()
    image = anonymous.get(src)
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == png
    # ...but only for this message, and only while the reader may read the mailbox.
    other = factories.stored(office.mailbox, factories.mime_message())
    assert anonymous.get(src.replace(f"/{message.pk}/", f"/{other.pk}/")).status_code == 403
    office.mailbox.owner_users.remove(office.advisor)
    assert anonymous.get(src).status_code == 404
    assert anonymous.get(src.split("?")[0]).status_code == 403


# --- conversations -------------------------------------------------------------------


def _reply(original_id: str, subject: str, *, references: bool = True) -> bytes:
    headers = f"In-Reply-To: {original_id}"
    if references:
        headers += f"\nReferences: {original_id}"
    return factories.mime_message(subject=subject, headers=headers)


def test_a_message_shows_the_other_messages_of_its_conversation(client, office):
    first_id = make_msgid(domain="klant.test")
    first = factories.stored(
        office.mailbox,
        factories.mime_message(subject="Offerte woonhuis").replace(
            b"Message-ID: <", b"Message-ID: " + first_id.encode() + b"\nX-Old: <", 1
        ),
    )
    reply = factories.stored(office.mailbox, _reply(first_id, "Re: Offerte woonhuis"))
    second = factories.stored(office.mailbox, _reply(first_id, "Antw: Offerte woonhuis"))
    unrelated = factories.stored(office.mailbox, factories.mime_message(subject="Iets anders"))
    client.force_login(office.advisor)
    html = _page(client, f"/email/messages/{first.pk}/")
    thread = html.split('id="thread-title"', 1)[1]
    assert f"/email/messages/{reply.pk}/" in thread and f"/email/messages/{second.pk}/" in thread
    assert f"/email/messages/{unrelated.pk}/" not in thread
    html = _page(client, f"/email/messages/{reply.pk}/")
    assert f"/email/messages/{first.pk}/" in html.split('id="thread-title"', 1)[1]


def test_without_reference_headers_the_conversation_falls_back_to_the_subject(client, office):
    first = factories.stored(office.mailbox, factories.mime_message(subject="Vraag over polis"))
    answer = factories.stored(
        office.mailbox, factories.mime_message(subject="Doorst: RE: Vraag over polis")
    )
    factories.stored(office.mailbox, factories.mime_message(subject="Vraag over polis 2"))
    client.force_login(office.advisor)
    html = _page(client, f"/email/messages/{first.pk}/")
    thread = html.split('id="thread-title"', 1)[1]
    assert f"/email/messages/{answer.pk}/" in thread
    assert "Vraag over polis 2" not in thread


@pytest.mark.parametrize("kind", ["pack", "database"])
def test_a_large_attachment_streams_from_either_raw_store(client, office, settings, kind):
    settings.POSTKAMER_RAW_STORE = kind
    data = bytes(range(256)) * (6 * 1024)  # 1.5 MiB: the database row is read in pieces
    message = factories.stored(
        office.mailbox,
        factories.mime_message(attachments=(("groot.bin", "application/octet-stream", data),)),
    )
    assert (message.raw.pack is None) == (kind == "database")
    client.force_login(office.advisor)
    response = client.get(f"/email/messages/{message.pk}/attachments/0/")
    chunks = list(response.streaming_content)
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 64 * 1024
    original = client.get(f"/email/messages/{message.pk}/raw/")
    assert b"".join(original.streaming_content) == rawstore_read(message)


def rawstore_read(message):
    from postkamer.messages import rawstore

    return rawstore.read(message.raw)
