"""The HTML cleaner and the HTML-to-text rendering (``postkamer.mail.html``)."""

from __future__ import annotations

import pytest

from postkamer.mail.html import clean_html, html_to_text, sanitize_html


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<script>alert(1)</script><p>x</p>", "alert"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">x</a>', "javascript"),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', "alert"),
        ('<a href="&#106;avascript:alert(1)">x</a>', "alert"),
        ('<iframe src="https://evil.example"></iframe>', "iframe"),
        ('<form action="https://evil.example"><input name="pw"></form>', "form"),
        ('<svg onload="alert(1)"><circle/></svg>', "onload"),
        ('<p style="background:url(javascript:alert(1))">x</p>', "javascript"),
        ('<p style="position:fixed;top:0">x</p>', "position"),
        ('<div onclick="steal()">x</div>', "onclick"),
        ("<object data='x.swf'></object><embed src='x.swf'>", "swf"),
        ("<style>body{display:none}</style>ok", "display"),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example">', "refresh"),
        ('<base href="https://evil.example/">', "base"),
        ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "onerror"),
        ('<img src="data:text/html;base64,PHNjcmlwdD4=">', "data:"),
    ],
)
def test_sanitize_html_removes_xss_vectors(dirty: str, forbidden: str) -> None:
    assert forbidden.lower() not in sanitize_html(dirty).lower()


def test_sanitize_html_keeps_formatting_and_marks_links() -> None:
    html = (
        '<table border="1"><tr><td colspan="2" style="color: red; padding: 4px">cel</td></tr></table>'
        '<p><b>vet</b> <a href="https://example.nl/x">link</a></p>'
    )
    clean = sanitize_html(html)
    assert "<table" in clean and 'colspan="2"' in clean and "color:red" in clean.replace(" ", "")
    assert 'target="_blank"' in clean and 'rel="noopener noreferrer"' in clean
    assert "<b>vet</b>" in clean


def test_sanitize_html_blocks_remote_images_unless_allowed() -> None:
    html = '<img src="https://tracker.example/p.gif" alt="t"><img src="cid:logo@x" alt="logo">'
    clean = sanitize_html(html)
    assert "tracker.example" not in clean
    assert 'src="cid:logo@x"' in clean
    assert "tracker.example" in sanitize_html(html, allow_remote_images=True)
    assert "evil" not in sanitize_html('<img src="//evil.example/x.gif">')


def test_html_to_text_strips_tags_cheaply() -> None:
    html = "<html><head><style>p{}</style></head><body><p>Hallo&nbsp;<b>Piet</b></p>\n\n<p>tot   ziens</p><script>x()</script></body></html>"
    assert html_to_text(html) == "Hallo\xa0Piet\ntot ziens"


def test_clean_html_says_whether_remote_images_were_held_back() -> None:
    tracked = clean_html('<p>Hoi</p><img src="https://tracker.example/p.gif">')
    assert tracked.blocked_remote_images and "tracker.example" not in tracked.html
    plain = clean_html('<p>Hoi</p><img src="cid:logo@x">')
    assert not plain.blocked_remote_images
    shown = clean_html('<img src="https://tracker.example/p.gif">', allow_remote_images=True)
    assert not shown.blocked_remote_images and "tracker.example" in shown.html


def test_clean_html_points_cid_images_at_our_url_and_drops_unknown_ones() -> None:
    urls = {"logo@x": "https://postkamer.test/inline/0/?t=abc"}
    clean = clean_html(
        '<img src="cid:logo@x" alt="logo"><img src="cid:onbekend@x" alt="weg">',
        cid_url=urls.get,
    )
    assert 'src="https://postkamer.test/inline/0/?t=abc"' in clean.html
    assert "onbekend" not in clean.html


@pytest.mark.parametrize(
    "style",
    [
        "width: expression(alert(1))",
        "background-color: url(https://evil.example/x.png)",
        "color: u\\72l(https://evil.example/x.png)",
        "color: red/**/; width: expr/**/ession(alert(1))",
        "font-family: x; -moz-binding: url(x.xml#xss)",
    ],
)
def test_css_values_that_load_or_run_something_are_dropped(style: str) -> None:
    clean = clean_html(f'<p style="{style}; text-align: center">x</p>').html
    for forbidden in ("url", "expression", "evil", "\\", "/*", "binding"):
        assert forbidden not in clean, (style, clean)
    assert "text-align:center" in clean.replace(" ", "")


def test_only_raster_data_images_survive_and_never_in_links() -> None:
    clean = clean_html(
        '<img src="data:image/png;base64,iVBORw0KGgo=">'
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">'
        '<a href="data:text/html;base64,PHNjcmlwdD4=">link</a>'
    ).html
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in clean
    assert "svg" not in clean and "text/html" not in clean
