"""Recipient fields: splitting what a person typed, validating each address, and
suggesting addresses seen in a mailbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from email.utils import formataddr, parseaddr
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from postkamer.mail.outgoing import has_line_break
from postkamer.mailboxes.models import Mailbox
from postkamer.messages.models import Folder, Message

Address = dict[str, str]  # {"name": ..., "address": ...}, as Message stores them

#: Recent messages per folder whose addresses feed the suggestions.
SUGGEST_FROM_MESSAGES = 1000


def split_tokens(text: str) -> list[str]:
    """Split a recipient field at commas and semicolons outside quotes and <>."""
    tokens, current, quoted, angle = [], [], False, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            angle = True
        elif ch == ">" and not quoted:
            angle = False
        if ch in ",;" and not quoted and not angle:
            tokens.append("".join(current))
            current = []
        else:
            current.append(ch)
    tokens.append("".join(current))
    return [t.strip() for t in tokens if t.strip()]


def _from_token(token: str) -> Address:
    if "<" not in token:
        # A bare address: taken whole, so "jan @x.nl" is reported as typed.
        return {"name": "", "address": token.strip().strip('"')}
    name, address = parseaddr(token)
    if not address:
        # parseaddr gave up: keep what was typed, so a draft loses nothing.
        return {"name": "", "address": token}
    return {"name": name, "address": address}


def _items(value: Any) -> Iterable[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


def lenient(value: Any) -> list[Address]:
    """Return the addresses in ``value`` (text, a list of texts, pairs or dicts)
    as typed, invalid ones included: what a draft keeps."""
    out: list[Address] = []
    for item in _items(value):
        if isinstance(item, dict):
            out.append({"name": str(item.get("name") or ""), "address": str(item["address"])})
        elif isinstance(item, tuple | list):
            out.append({"name": str(item[0] or ""), "address": str(item[1])})
        else:
            out.extend(_from_token(token) for token in split_tokens(str(item)))
    return out


def strict(value: Any, label: str) -> tuple[list[Address], list[str]]:
    """Return the addresses in ``value`` and one error message per problem, each
    naming the field ``label`` and the address, so three mistakes show at once."""
    errors: list[str] = []
    raw_texts = [item for item in _items(value) if isinstance(item, str)]
    if any(has_line_break(text) for text in raw_texts):
        errors.append(
            _("%(field)s contains a line break, which is not allowed in a mail header.")
            % {"field": label}
        )
        return [], errors
    addresses = lenient(value)
    for item in addresses:
        if has_line_break(item["name"]) or has_line_break(item["address"]):
            errors.append(
                _("%(field)s contains a line break, which is not allowed in a mail header.")
                % {"field": label}
            )
            continue
        try:
            validate_email(item["address"])
        except ValidationError:
            errors.append(
                _("%(field)s: '%(address)s' is not a valid e-mail address.")
                % {"field": label, "address": item["address"]}
            )
    return addresses, errors


def as_text(addresses: Sequence[Address]) -> str:
    """The addresses as one field value: ``Name <address>, other@example.nl``."""
    return ", ".join(
        formataddr((a.get("name") or "", a["address"])) if a.get("name") else a["address"]
        for a in addresses
    )


def suggestions(mailbox: Mailbox, query: str, limit: int = 10) -> list[Address]:
    """Addresses seen in ``mailbox``'s recent mail (senders, recipients) that
    contain ``query`` in the name or address, most frequent first."""
    query = query.strip().lower()
    if not query:
        return []
    counts: Counter[str] = Counter()
    names: dict[str, str] = {}
    for folder in (Folder.INBOX, Folder.SENT):
        # The list index (mailbox, folder, -received_at) serves this slice.
        rows = (
            Message.objects.filter(mailbox=mailbox, folder=folder)
            .order_by("-received_at")
            .values_list("from_addresses", "to_addresses", "cc_addresses")[:SUGGEST_FROM_MESSAGES]
        )
        for lists in rows:
            for items in lists:
                for item in items or []:
                    address = (item.get("address") or "").strip()
                    if "@" not in address:
                        continue
                    key = address.lower()
                    name = (item.get("name") or "").strip()
                    if query in key or query in name.lower():
                        counts[key] += 1
                        if name and key not in names:
                            names[key] = name
    own = mailbox.sender_address.lower()
    return [
        {"name": names.get(key, ""), "address": key}
        for key, _count in counts.most_common()
        if key != own
    ][:limit]
