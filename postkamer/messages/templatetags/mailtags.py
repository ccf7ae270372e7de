from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def first_address(addresses: Any) -> str:
    """The display name (or address) of the first entry of a stored address list.

    Entries are ``{"name", "address"}`` objects; a plain string is tolerated
    because broken headers are stored as well as they can be.
    """
    if not addresses:
        return ""
    first = addresses[0]
    if isinstance(first, dict):
        return first.get("name") or first.get("address") or ""
    return str(first)
