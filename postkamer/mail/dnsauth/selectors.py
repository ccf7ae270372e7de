"""Which DKIM selectors a domain signs its mail with, learned from stored mail.

What a message says about itself proves nothing: anyone can send the shared
mailbox one message with a thousand DKIM-Signature headers naming our domain,
each with another "selector" (markup included). Every selector handed to the
check costs DNS lookups and a line of advice, so :func:`selectors_in_mail`
takes a selector

- from received mail only when that signature *verifies* (dkimpy, with the key
  looked up through our own resolver): then the key exists and signed this very
  message;
- from our own copies in the Sent folder as written (``ours``): nobody outside
  writes there;

and in both cases only when it passes :func:`~.dkim.is_valid_selector`, the
rule for typed selectors. Everything is bounded: the signatures read per
message, the keys looked up and the signatures verified per call (a key costs a
few DNS questions at most), the size of a message verified, and the selectors
returned.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32

import dkim
import dkim.util
import dns.resolver

from postkamer.mail.dnsauth.dkim import is_valid_selector, lookup_key
from postkamer.mail.dnsauth.lookup import Lookups

#: Selectors learned from mail per call.
MAX_SELECTORS = 5
#: DKIM-Signature headers read per message; real mail carries one to three.
MAX_SIGNATURES_READ = 16
#: Distinct keys looked up per call, for all messages together. One key costs a
#: TXT question, plus a CNAME question per hop when it is not there (six hops
#: at most).
MAX_KEY_LOOKUPS = 5
#: Signatures verified per call, for all messages together, and the largest
#: received message verified: hashing a body costs about 50 ms per MiB (relaxed
#: canonicalisation), so a call spends well under a second on it. Large mail is
#: skipped; the small messages of the same sender show the same selector.
MAX_VERIFICATIONS = 8
MAX_VERIFIED_BYTES = 2 * 1024 * 1024

# dkimpy logs each defect of a hostile message at ERROR; for us they only mean
# "not verified". A logger outside the logging tree, above CRITICAL, drops them.
_dkimpy_log = logging.Logger("postkamer.mail.dnsauth.dkimpy", logging.CRITICAL + 1)
_dkimpy_log.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class StoredMail:
    """One stored message: ``raw`` is the whole message (for received mail; the
    header block is enough when ``ours``), ``ours`` marks a copy in the
    mailbox's own Sent folder."""

    raw: bytes
    ours: bool = False


def selectors_in_mail(
    mail: Iterable[StoredMail],
    domain: str,
    *,
    resolver: dns.resolver.Resolver | None,
    timeout: float = 3.0,
) -> list[str]:
    """Return the DKIM selectors, lower case, that signed ``mail`` for ``domain``.

    ``mail`` should come newest first: the first :data:`MAX_SELECTORS` found
    are returned. A signature counts when its ``d=`` is ``domain`` and its
    selector is valid, and, unless the message is ``ours``, when it verifies
    against the key published now. Without a ``resolver`` nothing received can
    be verified and only ``ours`` counts. All lookups share one ``timeout``
    (seconds). Raises nothing for bad mail or failed lookups.
    """
    search = _Search(domain.lower().rstrip("."), resolver, timeout)
    for item in mail:
        search.read(item)
        if len(search.found) >= MAX_SELECTORS:
            break
    return search.found[:MAX_SELECTORS]


class _Search:
    """The selectors found so far, and what finding them has cost."""

    def __init__(self, domain: str, resolver: dns.resolver.Resolver | None, timeout: float) -> None:
        self.domain = domain
        self.lookups = Lookups(resolver, timeout, time.monotonic() + timeout) if resolver else None
        self.found: list[str] = []
        self.keys: dict[str, bytes | None] = {}  # selector -> key record, None: no key
        self.verifications = 0

    def read(self, item: StoredMail) -> None:
        """Add the selectors that signed ``item`` for the domain."""
        if not item.ours and (self.lookups is None or len(item.raw) > MAX_VERIFIED_BYTES):
            return
        try:
            # dkimpy's own parse, so that our index of a signature is its index.
            # ``headers`` is not documented: pyproject pins dkimpy to 1.1.x, and
            # the signed-mail tests fail when it changes.
            message = dkim.DKIM(item.raw, logger=_dkimpy_log)
        except Exception:  # hostile bytes must not break the check
            return
        signatures = [v for k, v in message.headers if k.lower() == b"dkim-signature"]
        for index, value in enumerate(signatures[:MAX_SIGNATURES_READ]):
            selector = _selector_for(value, self.domain)
            if selector is None or selector in self.found:
                continue
            if item.ours or self._verifies(item.raw, index, selector):
                self.found.append(selector)

    def _verifies(self, raw: bytes, index: int, selector: str) -> bool:
        if self.verifications >= MAX_VERIFICATIONS:
            return False
        key = self._key(selector)
        if key is None:
            return False
        self.verifications += 1

        expected = f"{selector}._domainkey.{self.domain}."

        def published_key(name: bytes, timeout: float = 0) -> bytes | None:
            # Looked up already, through our resolver and within our deadline.
            return key if name.decode("ascii", "replace").lower() == expected else None

        try:
            # A fresh object per signature: dkimpy keeps per-signature state on it.
            checker = dkim.DKIM(raw, logger=_dkimpy_log)
            return bool(checker.verify(idx=index, dnsfunc=published_key))
        except Exception:  # dkimpy raises many kinds for hostile input: all mean "no"
            return False

    def _key(self, selector: str) -> bytes | None:
        if selector not in self.keys:
            if len(self.keys) >= MAX_KEY_LOOKUPS or self.lookups is None:
                return None
            result = lookup_key(self.lookups, self.domain, selector)
            record = result.record if result.state == "found" else None
            self.keys[selector] = record.encode() if record else None
        return self.keys[selector]


def _selector_for(value: bytes, domain: str) -> str | None:
    """Return the valid selector of a DKIM-Signature value signed for ``domain``."""
    try:
        tags = dkim.util.parse_tag_value(value)
        signer = tags[b"d"].decode("ascii").strip().lower().rstrip(".")
        selector = tags[b"s"].decode("ascii").strip().lower()
    except Exception:  # a malformed or foreign signature is simply not ours
        return None
    if signer != domain or not is_valid_selector(selector):
        return None
    return selector


_DKIM_TAG_RE = re.compile(r"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)", re.IGNORECASE)
_AR_DKIM_RE = re.compile(r"\bdkim\s*=\s*([a-z]+)", re.IGNORECASE)
_AR_PROP_RE = re.compile(r"\bheader\.([dis])\s*=\s*\"?([^\s;\"]+)\"?", re.IGNORECASE)
_COMMENT_RE = re.compile(r"\([^()]*\)")


def selectors_from_headers(raw_headers: Sequence[bytes | str]) -> list[tuple[str, str]]:
    """Return the ``(domain, selector)`` pairs mail *claims* it was signed with,
    first seen first.

    Claims, not proof, and not bounded: the security check uses
    :func:`selectors_in_mail`, which verifies. This reads a header block for
    display or diagnosis only.

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
