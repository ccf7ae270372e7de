"""HTML from mail, made safe to show, and made into plain text.

:func:`sanitize_html` is the one cleaner for inbound HTML (nh3, an allow-list of
tags, attributes, URL schemes and CSS properties); :func:`html_to_text` gives the
rough plain text used for search and for the text part of mail we send.

Nothing here imports Django.
"""

from __future__ import annotations

import html as html_mod
import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3
from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

__all__ = [
    "CleanHtml",
    "clean_html",
    "html_to_plain_text",
    "html_to_text",
    "sanitize_html",
    "sanitize_outgoing_html",
]


_TAGS = frozenset(
    [
        "a",
        "abbr",
        "address",
        "b",
        "bdi",
        "bdo",
        "big",
        "blockquote",
        "br",
        "caption",
        "center",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "font",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "mark",
        "ol",
        "p",
        "pre",
        "q",
        "rp",
        "rt",
        "ruby",
        "s",
        "samp",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "time",
        "tr",
        "tt",
        "u",
        "ul",
        "var",
    ]
)
_GENERIC_ATTRS = {"style", "title", "dir", "lang", "align", "valign", "width", "height", "bgcolor"}
_ATTRS: dict[str, set[str]] = {
    "*": _GENERIC_ATTRS,
    "a": {"href", "name"},
    "img": {"src", "alt", "border", "hspace", "vspace"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "summary"},
    "td": {"colspan", "rowspan", "nowrap", "abbr", "headers", "scope"},
    "th": {"colspan", "rowspan", "nowrap", "abbr", "headers", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "time": {"datetime"},
}
# Only properties that cannot carry url() or change positioning.
_STYLE_PROPS = frozenset(
    [
        "color",
        "background-color",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "font-variant",
        "text-align",
        "text-decoration",
        "text-indent",
        "text-transform",
        "letter-spacing",
        "word-spacing",
        "line-height",
        "vertical-align",
        "white-space",
        "direction",
        "padding",
        "padding-top",
        "padding-right",
        "padding-bottom",
        "padding-left",
        "margin",
        "margin-top",
        "margin-right",
        "margin-bottom",
        "margin-left",
        "border",
        "border-top",
        "border-right",
        "border-bottom",
        "border-left",
        "border-color",
        "border-style",
        "border-width",
        "border-radius",
        "border-collapse",
        "border-spacing",
        "width",
        "height",
        "max-width",
        "min-width",
        "max-height",
        "min-height",
        "list-style-type",
        "display",
        "table-layout",
    ]
)
_CLEAN_CONTENT = {
    "script",
    "style",
    "template",
    "noscript",
    "title",
    "textarea",
    "select",
    "iframe",
    "object",
}
_REMOTE_RE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# Inline pictures may come as data: URLs; only raster formats (an SVG can carry script).
_DATA_IMAGE_RE = re.compile(r"^\s*data:image/(png|gif|jpeg|jpg|webp|bmp);base64,", re.IGNORECASE)
_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
# A declaration whose value could fetch something or run code is dropped whole.
# Backslashes and comments go too: CSS escapes (``u\72l(``) and ``/**/`` would
# otherwise hide the words from this check.
_BAD_CSS_RE = re.compile(
    r"url\s*\(|expression|image-set|image\s*\(|@import|javascript:|behaviou?r|-moz-binding|\\|/\*",
    re.IGNORECASE,
)


def _clean_style(value: str) -> str | None:
    kept = [d for d in value.split(";") if d.strip() and not _BAD_CSS_RE.search(d)]
    return "; ".join(d.strip() for d in kept) or None


class _Filter:
    """The per-call attribute filter: URL rules per tag, CSS values, cid: rewriting,
    and a note of whether a remote image was held back."""

    def __init__(self, allow_remote_images: bool, cid_url: Callable[[str], str | None] | None):
        self.allow_remote_images = allow_remote_images
        self.cid_url = cid_url
        self.blocked_remote_images = False

    def __call__(self, tag: str, attr: str, value: str) -> str | None:
        if attr == "style":
            return _clean_style(value)
        if tag == "img" and attr == "src":
            return self._image(value)
        if tag == "a" and attr == "href":
            # data:, cid: and anything else a link could abuse stay out of links.
            return value if value.strip().lower().startswith(_LINK_SCHEMES) else None
        if attr in ("cite",):
            return value if _REMOTE_RE.match(value) else None
        return value

    def _image(self, value: str) -> str | None:
        lowered = value.strip().lower()
        if lowered.startswith("cid:"):
            if self.cid_url is None:
                return value
            return self.cid_url(value.strip()[4:])
        if _DATA_IMAGE_RE.match(value):
            return value
        if _REMOTE_RE.match(value):
            if self.allow_remote_images:
                return value
            self.blocked_remote_images = True
        return None


@dataclass(frozen=True)
class CleanHtml:
    """:func:`clean_html`'s answer: the safe markup, and whether remote images were
    held back (so the page offers to show them)."""

    html: str
    blocked_remote_images: bool


def clean_html(
    html: str,
    *,
    allow_remote_images: bool = False,
    cid_url: Callable[[str], str | None] | None = None,
) -> CleanHtml:
    """Clean ``html`` as :func:`sanitize_html` does and say what was held back.

    ``cid_url(content_id)`` turns a ``cid:`` image reference into the absolute URL
    that serves that inline part (None drops the image); without it ``cid:`` is
    kept as is. ``data:`` image sources of raster types are kept (inline images);
    every other ``data:`` URL is removed. Never raises for ``str`` input.
    """
    keep = _Filter(allow_remote_images, cid_url)
    cleaned = nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT),
        attributes={k: set(v) for k, v in _ATTRS.items()},
        attribute_filter=keep,
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=set(_STYLE_PROPS),
        url_relative="deny",
        strip_comments=True,
    )
    return CleanHtml(cleaned, keep.blocked_remote_images)


def sanitize_html(html: str, *, allow_remote_images: bool = False) -> str:
    """Return ``html`` made safe to show inside the web UI.

    Scripts, styles blocks, event handlers, forms, frames and non-http(s)/
    mailto/tel/cid URLs (``javascript:``) are removed; inline ``style`` keeps
    only harmless properties, and no value that loads something (``url()``,
    ``expression``). Remote (``http(s)``) image sources are dropped unless
    ``allow_remote_images``; ``cid:`` images are kept. Links get
    ``target="_blank"`` and ``rel="noopener noreferrer"``. Never raises for
    ``str`` input.
    """
    return clean_html(html, allow_remote_images=allow_remote_images).html


def sanitize_outgoing_html(html: str) -> str:
    """Return ``html`` written in Postkamer (a body, a signature) cleaned for sending.

    The same allow-list as :func:`sanitize_html`, including inline font styles;
    remote images are kept (an office logo in a signature), scripts, event
    handlers and ``javascript:`` links are not. Never raises for ``str`` input.
    """
    return nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT),
        attributes={k: set(v) for k, v in _ATTRS.items()},
        url_schemes={"http", "https", "mailto", "tel", "cid"},
        link_rel=None,
        filter_style_properties=set(_STYLE_PROPS),
        url_relative="deny",
        strip_comments=True,
    )


# The "strict" profile lays text out as a reader expects (paragraphs, line breaks,
# "* " list items) without indenting every block; links show their address.
_PLAIN_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=True)
_BLANK_LINES_RE = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def html_to_plain_text(html: str) -> str:
    """Return ``html`` as readable plain text, for the text part of mail we send.

    Paragraphs and ``<br>`` become line breaks, list items get a bullet or
    number, links are followed by their address. Uses inscriptis; never raises
    for ``str`` input (empty text for empty or unparseable HTML).
    """
    if not html.strip():
        return ""
    try:
        text = get_text(html, _PLAIN_CONFIG)
    except ValueError:  # lxml refuses some inputs (e.g. only a comment)
        return html_to_text(html)
    lines = [line.rstrip() for line in text.splitlines()]
    text = _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip("\n")
    return text + "\n" if text.strip() else ""


_WS_RE = re.compile(r"[ \t\r\f\v]*\n[ \t\r\n\f\v]*|[ \t\r\f\v]+")


def html_to_text(html: str) -> str:
    """Return a rough plain-text rendering of ``html`` (tags stripped).

    Not called by :func:`parse_message` (it would cost ~0.5 ms per
    newsletter); meant for search indexing of HTML-only mail.
    """
    stripped = nh3.clean(html, tags=set(), clean_content_tags={"script", "style", "head", "title"})
    text = html_mod.unescape(stripped)
    return _WS_RE.sub(lambda m: "\n" if "\n" in m.group(0) else " ", text).strip()
