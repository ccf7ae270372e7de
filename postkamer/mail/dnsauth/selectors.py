"""Which DKIM selectors mail claims it was signed with."""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32

_DKIM_TAG_RE = re.compile(r"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)", re.IGNORECASE)
_AR_DKIM_RE = re.compile(r"\bdkim\s*=\s*([a-z]+)", re.IGNORECASE)
_AR_PROP_RE = re.compile(r"\bheader\.([dis])\s*=\s*\"?([^\s;\"]+)\"?", re.IGNORECASE)
_COMMENT_RE = re.compile(r"\([^()]*\)")


def selectors_from_headers(raw_headers: Sequence[bytes | str]) -> list[tuple[str, str]]:
    """Return the ``(domain, selector)`` pairs used to sign mail, first seen first.

    Each item is one header (``DKIM-Signature: ...``) or a whole header block
    of a message. Reads ``d=``/``s=`` of DKIM-Signature and
    ``header.d``/``header.s`` (or ``header.i``) of the ``dkim=`` results in
    Authentication-Results. Domains and selectors are lower-cased. Malformed
    input is skipped; raises nothing.
    """
    pairs: list[tuple[str, str]] = []

    def add(domain: str | None, selector: str | None) -> None:
        if not domain or not selector:
            return
        pair = (domain.strip().lower().rstrip("."), selector.strip().lower())
        if all(pair) and pair not in pairs:
            pairs.append(pair)

    for raw in raw_headers:
        # The compat32 parsers never raise: defects are recorded, not thrown.
        if isinstance(raw, bytes):
            message = BytesHeaderParser(policy=compat32).parsebytes(raw)
        else:
            message = HeaderParser(policy=compat32).parsestr(str(raw))
        for value in message.get_all("DKIM-Signature") or []:
            text = re.sub(r"\s+", " ", str(value))
            tags = {k.lower(): v.strip() for k, v in _DKIM_TAG_RE.findall(text)}
            add(tags.get("d"), tags.get("s"))
        for value in message.get_all("Authentication-Results") or []:
            text = _COMMENT_RE.sub(" ", re.sub(r"\s+", " ", str(value)))
            for part in text.split(";"):
                result = _AR_DKIM_RE.search(part)
                if not result or result.group(1).lower() in ("none", "neutral"):
                    continue
                props = {k.lower(): v for k, v in _AR_PROP_RE.findall(part)}
                domain = props.get("d")
                if not domain and "i" in props:
                    domain = props["i"].rpartition("@")[2]
                add(domain, props.get("s"))
    return pairs
