"""The fields the product stores, as Python's own ``email`` package reads them.

``reference(raw)`` parses with ``email`` (``policy.default``) and takes subject,
from, to, cc, date, message-id, text, html, the attachments (name, type, decoded
size) and has_attachments through ``email``'s own API, applying only the
selection rules the product defines (which part is the text, which the HTML,
what is an attachment). It is the peer of ``postkamer.mail.mime`` in the
differential test (``tests/mail/test_mime_differential.py``) and in the
benchmark (``bench/bench_parse.py``). Nothing here uses our parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email import errors as email_errors
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import Any


class Failed(str):
    """The standard library raised (the exception's class name)."""


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        return Failed(type(exc).__name__)


@dataclass
class Body:
    """A text/html body as the standard library read it, with what it came from."""

    value: Any
    payload: bytes
    charset: str | None
    defects: list[Any]


def _charset(part: Message) -> str | None:
    cs = part.get_param("charset")
    if isinstance(cs, tuple):
        cs = collapse_rfc2231_value(cs)
    return str(cs) if cs is not None else None


def _text_of(part: Message) -> Body:
    # What get_content() does for text/*, kept apart so a failure is visible.
    payload = part.get_payload(decode=True)
    payload = payload if isinstance(payload, bytes) else b""
    charset = _charset(part)
    value = _safe(lambda: payload.decode(charset or "ascii", "replace").replace("\r\n", "\n"))
    return Body(value, payload, charset, list(part.defects))


def reference(raw: bytes) -> dict[str, Any]:
    """The fields as ``email`` (``policy.default``) gives them."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    out: dict[str, Any] = {"subject": _safe(lambda: str(msg["subject"] or "").strip())}
    for name in ("from", "to", "cc"):
        out[name] = _safe(
            lambda name=name: [
                (a.display_name, a.addr_spec) for h in msg.get_all(name) or [] for a in h.addresses
            ]
        )

    def date() -> Any:
        h = msg["date"]
        d = h.datetime if h is not None else None
        return d.replace(tzinfo=UTC) if d is not None and d.tzinfo is None else d

    out["date"] = _safe(date)

    def message_id() -> str | None:
        # The raw field (unfolded): the registry's parsed form re-renders it.
        value = next((v for n, v in msg.raw_items() if n.lower() == "message-id"), None)
        if value is None:
            return None
        value = re.sub(r"\r?\n", "", str(value)).strip()
        m = re.search(r"<([^<>\s]+)>", value)
        return m.group(1) if m else (value.strip("<>").split() or [None])[0]

    out["message_id"] = _safe(message_id)
    bodies: dict[str, Body] = {}
    attachments: list[tuple[Any, str, Any]] = []
    seen: list[Message] = []
    uu_gave_up: list[int] = []  # attachments whose uuencoding email could not undo

    def walk(part: Message, nested: bool, depth: int) -> None:
        if depth > 40:
            return
        ctype = part.get_content_type()
        payload = part.get_payload()
        seen.append(part)
        if part.get_content_maintype() == "multipart":
            if isinstance(payload, list):
                for sub in payload:
                    walk(sub, nested, depth + 1)
                return
            if not str(payload).strip():
                return  # an empty multipart holds nothing
            ctype = "text/plain"  # a multipart without parts: its body is text
        if depth and not part.keys() and isinstance(payload, str) and not payload.strip():
            return  # nothing between two delimiters
        name = _safe(lambda: part.get_filename() or part.get_param("name") or "")
        if isinstance(name, tuple):
            name = collapse_rfc2231_value(name)
        disposition = _safe(lambda: part.get_content_disposition() or "")
        if ctype in ("message/rfc822", "message/global") and isinstance(payload, list) and payload:
            inner = payload[0]
            if not name:
                name = _safe(lambda: (str(inner["subject"] or "").strip() or "message") + ".eml")
            attachments.append((name, ctype, None))
            walk(inner, True, depth + 1)
            return
        if not name and disposition != "attachment" and ctype in ("text/plain", "text/html"):
            if nested:
                return
            key = ctype.split("/")[1]
            if key not in bodies:
                bodies[key] = _text_of(part)
                return
        size = None
        if part.get_content_maintype() != "message":
            size = _safe(lambda: len(part.get_payload(decode=True) or b""))
            cte = str(part.get("content-transfer-encoding", "")).strip().lower()
            if cte in ("x-uuencode", "uuencode", "uue", "x-uue") and size == len(str(payload)):
                uu_gave_up.append(len(attachments))
        attachments.append((name, ctype, size))

    walk(msg, False, 0)
    for key in ("plain", "html"):
        bodies.setdefault(key, Body("", b"", None, []))
    out["text"] = bodies["plain"]
    out["html"] = bodies["html"]
    out["attachments"] = attachments
    out["has_attachments"] = bool(attachments)
    out["_uu_gave_up"] = uu_gave_up
    # Decoding registers this defect, so look after the walk.
    out["_b64_length"] = any(
        isinstance(d, email_errors.InvalidBase64LengthDefect) for p in seen for d in p.defects
    )
    return out
