"""What a sender controls, made unable to impersonate when shown.

Bidirectional override and isolate characters (U+202A-U+202E, U+2066-U+2069) can
turn ``invoice\u202efdp.exe`` into what looks like ``invoiceexe.pdf``, or reorder
a name around an address; they are removed from every sender-controlled string we
show (names, subjects, file names). A display name that contains ``@`` or looks
like a domain pretends to be an address: the page shows the real address next to
it and marks it.
"""

from __future__ import annotations

import re

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_BIDI_TABLE = {ord(c): None for c in BIDI_CONTROLS}
# "bank.nl", "www.bank-online.com": a word, a dot and a lower-case top-level domain
# ("J.Jansen" and "B.V." are names, not domains).
_DOMAIN_RE = re.compile(r"[\w-]+(\.[\w-]+)*\.[a-z]{2,10}\b")


def strip_bidi(value: str) -> str:
    """``value`` without bidirectional override/isolate characters."""
    return value.translate(_BIDI_TABLE) if value else value


def name_looks_like_address(name: str) -> bool:
    """True when a display name contains ``@`` or something shaped like a domain."""
    return bool(name) and ("@" in name or _DOMAIN_RE.search(name) is not None)
