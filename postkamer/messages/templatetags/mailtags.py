"""Showing what a sender controls: names, addresses, subjects, file names.

Every such string goes through ``bidi`` (or a tag below that applies it), so no
direction override reaches the page; a display name that looks like an address
is shown with the real address beside it and a warning style.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from postkamer.messages.textsafety import name_looks_like_address, strip_bidi

register = template.Library()


def _entry(item: Any) -> tuple[str, str]:
    """(name, address) of a stored address entry; a plain string is tolerated
    because broken headers are stored as well as they can be."""
    if isinstance(item, dict):
        return strip_bidi(str(item.get("name") or "")), strip_bidi(str(item.get("address") or ""))
    return "", strip_bidi(str(item))


@register.filter
def bidi(value: Any) -> str:
    """``value`` as text without bidirectional override characters."""
    return strip_bidi("" if value is None else str(value))


@register.filter
def first_address(addresses: Any) -> str:
    """The display name (or address) of the first entry of a stored address list."""
    if not addresses:
        return ""
    name, address = _entry(addresses[0])
    return name or address


def _render(item: Any) -> SafeString:
    name, address = _entry(item)
    if not name:
        return format_html('<span class="addr"><span class="email">{}</span></span>', address)
    if name_looks_like_address(name):
        warning = _("This name looks like an e-mail address. The real address is %(address)s.") % {
            "address": address or _("(none)")
        }
        return format_html(
            '<span class="addr"><span class="name suspicious" title="{}">{}</span> '
            '<span class="email">&lt;{}&gt;</span></span>',
            warning,
            name,
            address,
        )
    return format_html(
        '<span class="addr"><span class="name">{}</span> <span class="email">&lt;{}&gt;</span></span>',
        name,
        address,
    )


@register.simple_tag
def address(addresses: Any) -> SafeString:
    """The first entry of an address list: display name *and* address."""
    if not addresses:
        return format_html('<span class="addr empty">{}</span>', _("(unknown)"))
    return _render(addresses[0])


@register.simple_tag
def address_list(addresses: Any) -> SafeString:
    """Every entry of an address list, each with name and address."""
    if not addresses:
        return format_html('<span class="addr empty">{}</span>', "—")
    return format_html_join(", ", "{}", ((_render(item),) for item in addresses))
