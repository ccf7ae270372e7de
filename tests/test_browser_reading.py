"""In a real Chromium: open a mailbox, search, read a message; and a hostile message that
neither runs a script nor reaches another host until the reader asks for images."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import factories
from tests.browser_plugin import login

SHOTS = Path(__file__).resolve().parent.parent / "test-results"
SHOTS.mkdir(exist_ok=True)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _png() -> bytes:
    """A 1x1 PNG."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def other_host():
    """An HTTP server on another origin that counts what reaches it (a tracker)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.hits = hits  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def test_an_advisor_opens_a_mailbox_searches_and_reads_a_message(page, live_server):
    tenant = factories.tenant("Kantoor Lezen")
    advisor = factories.user(tenant)
    box = factories.mailbox(tenant, owners=(advisor,), name="Info")
    advisor.default_mailbox = box
    advisor.save()
    for i in range(3):
        factories.stored(box, factories.mime_message(subject=f"Nieuwsbrief {i}", text="nieuws"))
    factories.stored(
        box,
        factories.mime_message(
            subject="Schademelding Golf",
            sender="Petra Bakker <petra@klant.test>",
            text=None,
            html="<p>Beste kantoor,</p><p>Mijn <b>Golf</b> is aangereden.</p>"
            '<img src="cid:handtekening@klant.test" alt="handtekening">',
            inline=(("handtekening@klant.test", "image/png", _png()),),
            attachments=(("foto.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 3000),),
        ),
    )
    login(page, live_server, advisor)
    page.click("a.envelope")
    page.wait_for_url(re.compile(r"/email/"))
    rows = page.locator("table.messages tbody tr")
    assert rows.count() == 4
    assert "unread" in (rows.first.get_attribute("class") or "")

    page.fill("input[name=q]", "aangereden")
    page.click(".search-form button[type=submit]")
    page.wait_for_url(re.compile(r"q=aangereden"))
    assert page.locator(".search-summary").inner_text() == "1 bericht gevonden"
    assert rows.count() == 1
    row = rows.first
    assert "petra@klant.test" in row.inner_text()

    images: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: images.append((r.url, r.status)) if "/inline/" in r.url else None,
    )
    row.locator("td.subject a").click()
    page.wait_for_url(re.compile(r"/email/messages/\d+/$"))
    assert page.locator("h1#message-subject").inner_text() == "Schademelding Golf"
    frame = page.frame_locator("iframe.message-body")
    frame.locator("text=is aangereden").wait_for()
    assert page.locator(".attachments").inner_text().count("foto.jpg") == 1
    # The inline picture came from the stored message, inside the cookie-less sandbox.
    for _ in range(20):
        if images:
            break
        page.wait_for_timeout(100)
    assert [status for _url, status in images] == [200]
    page.screenshot(path=str(SHOTS / "email-message.png"), full_page=True)

    # Back in the list the message is no longer bold; "markeer als ongelezen" undoes it.
    page.click("text=Markeer als ongelezen")
    page.wait_for_url(re.compile(r"/email/\?mailbox="))
    golf = page.locator("table.messages tbody tr", has_text="Schademelding Golf")
    assert "unread" in (golf.get_attribute("class") or "")
    page.screenshot(path=str(SHOTS / "email-list.png"), full_page=True)


def test_a_hostile_message_runs_nothing_and_reaches_no_other_host_before_images_are_shown(
    page, live_server, other_host
):
    tenant = factories.tenant("Kantoor Aanval")
    advisor = factories.user(tenant)
    box = factories.mailbox(tenant, owners=(advisor,), name="Info")
    tracker = other_host.url
    html = f"""<html><head>
<meta http-equiv="refresh" content="0;url={tracker}/refresh">
<base href="{tracker}/base/">
<link rel="stylesheet" href="{tracker}/style.css">
<style>body {{ background: url({tracker}/style-bg.png) }}</style>
<script>fetch('{tracker}/script-ran'); alert('script')</script>
</head><body>
<p>Beste klant, uw polis verloopt.</p>
<img src="x" onerror="fetch('{tracker}/onerror-ran'); alert('onerror')">
<a id="js" href="javascript:fetch('{tracker}/javascript-link')">Klik</a>
<p style="background-image: url('{tracker}/inline-style.png')">Stijl</p>
<svg><script>fetch('{tracker}/svg-ran')</script></svg>
<form action="{tracker}/form" method="post"><input name="pin"><button id="send">Verstuur</button></form>
<img src="{tracker}/pixel.gif" width="1" height="1">
<iframe src="{tracker}/frame"></iframe>
</body></html>"""
    message = factories.stored(box, factories.mime_message(text=None, html=html))
    login(page, live_server, advisor)

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    foreign: list[str] = []
    own = urlsplit(live_server.url).netloc
    page.on(
        "request",
        lambda request: (
            foreign.append(request.url) if urlsplit(request.url).netloc not in (own, "") else None
        ),
    )
    page.goto(f"{live_server.url}/email/messages/{message.pk}/")
    frame = page.frame_locator("iframe.message-body")
    frame.locator("text=uw polis verloopt").wait_for()
    # A click on its javascript: link (the cleaner left the text, without the link).
    frame.locator("a", has_text="Klik").click()
    assert frame.locator("form, input, button, iframe, script, svg").count() == 0
    page.wait_for_timeout(500)
    assert dialogs == []
    assert foreign == [] and other_host.hits == []
    assert page.url.endswith(f"/email/messages/{message.pk}/")

    page.click("text=Afbeeldingen tonen")
    page.wait_for_url(re.compile(r"\?images=1$"))
    page.frame_locator("iframe.message-body").locator("text=uw polis verloopt").wait_for()
    for _ in range(20):  # the image request may still be on its way
        if other_host.hits:
            break
        page.wait_for_timeout(100)
    # Only the picture the reader asked for; still no script and no style request.
    assert other_host.hits == ["/pixel.gif"]
    assert dialogs == []
