"""Whether a message may get an automatic reply, judged from its header block alone.

The rules are those of RFC 3834 (recommendations for automatic responses) and of
the Sieve "vacation" action, RFC 5230, which an out-of-office reply is. Each rule
that says "no" has a stable reason code: the Django layer stores the code and
words it in the reader's language.

What this module cannot see is judged elsewhere: the folder (junk), repaired
messages, the reply's active period and the once-per-N-days memory live in
``postkamer.autoreply``.

Nothing here imports Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr

__all__ = [
    "REASONS",
    "Verdict",
    "judge",
    "normalise_address",
]

# Reason codes, in the order the rules are tried (the first that applies is given).
UNREADABLE = "unreadable"
NO_RETURN_PATH = "no_return_path"
NULL_RETURN_PATH = "null_return_path"
BAD_RETURN_PATH = "bad_return_path"
AUTO_SUBMITTED = "auto_submitted"
AUTORESPONDER = "autoresponder"
DELIVERY_REPORT = "delivery_report"
PRECEDENCE = "precedence"
MAILING_LIST = "mailing_list"
SUPPRESSED = "suppressed"
SYSTEM_SENDER = "system_sender"
OWN_ADDRESS = "own_address"
NOT_ADDRESSED = "not_addressed"

REASONS = (
    UNREADABLE,
    NO_RETURN_PATH,
    NULL_RETURN_PATH,
    BAD_RETURN_PATH,
    AUTO_SUBMITTED,
    AUTORESPONDER,
    DELIVERY_REPORT,
    PRECEDENCE,
    MAILING_LIST,
    SUPPRESSED,
    SYSTEM_SENDER,
    OWN_ADDRESS,
    NOT_ADDRESSED,
)

# RFC 3834 §2 leaves room to refuse any message that looks automatic. Other
# responders mark their replies with these (Postfix/cPanel vacation, procmail).
_AUTORESPONDER_FIELDS = ("x-autoreply", "x-autorespond", "x-auto-reply")
# Precedence is not standardised, but bulk, list and junk mark mail nobody expects
# an answer to (RFC 3834 §2, RFC 5230 §4.6). "auto_reply" is what some responders
# put on their own replies.
_PRECEDENCE_VALUES = frozenset(["bulk", "list", "junk", "auto_reply"])
# Microsoft's X-Auto-Response-Suppress ([MS-OXCMAIL] 2.2.3.2.20): the sender asks
# for no out-of-office (OOF) or other automatic reply (AutoReply), or none at all.
_SUPPRESS_VALUES = frozenset(["all", "oof", "autoreply"])
# RFC 3834 §2 and RFC 5230 §4.6: addresses used by mail systems and list servers,
# and addresses that say themselves that nobody reads replies.
_SYSTEM_LOCALPART = re.compile(
    r"""^(?:
        mailer-daemon | postmaster | listserv | majordomo | mailman
      | owner-.+ | .+-request | .+-owner
      | bounces? | bounce[-+.].+ | .+-bounces?
      | no[-_.]?reply(?:[-+_.].*)? | do[-_.]?not[-_.]?reply(?:[-+_.].*)?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# RFC 5230 §4.5 and RFC 3834 §2: the recipient fields in which the mailbox's own
# address must appear.
_RECIPIENT_FIELDS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True)
class Verdict:
    """The outcome for one message.

    ``reply`` says whether an automatic reply may be sent; ``reason`` is one of
    :data:`REASONS` when it may not ("" otherwise). ``recipient`` is the address
    a reply goes to, the envelope sender from ``Return-Path`` ("" when there is
    none), and ``sender_key`` its :func:`normalise_address` form, under which
    the once-per-N-days memory is kept.
    """

    reply: bool
    reason: str
    recipient: str = ""
    sender_key: str = ""


def normalise_address(address: str) -> str:
    """Return ``address`` in the form used for comparing: lower case, and without a
    ``+tag`` in the local part (``info+offerte@kantoor.nl`` is ``info@kantoor.nl``)."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    local = local.split("+", 1)[0] or local
    return f"{local}@{domain}"


def _valid(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(
        at
        and local
        and domain
        and "@" not in local.strip('"')
        and "." in domain
        and not any(c.isspace() or c in "<>,;" for c in address)
    )


def _fields(block: bytes) -> dict[str, list[str]]:
    """Header name (lower case) -> its values in order, unfolded."""
    message: Message = BytesHeaderParser(policy=compat32).parsebytes(block)
    fields: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        text = _FOLD_RE.sub("", str(value)).strip()
        fields.setdefault(name.strip().lower(), []).append(text)
    return fields


def _addresses(values: list[str]) -> list[str]:
    return [addr for _name, addr in getaddresses(values) if _valid(addr)]


def _localpart(address: str) -> str:
    return address.rpartition("@")[0]


def judge(header_block: bytes, own_addresses: Iterable[str]) -> Verdict:
    """Decide whether the message with ``header_block`` may get an automatic reply
    from the mailbox whose addresses are ``own_addresses``.

    ``header_block`` is the message's header bytes (``mime.header_block``). Never
    raises: a header block that cannot be read gives ``unreadable``.
    """
    own = {normalise_address(a) for a in own_addresses if a and "@" in a}
    try:
        fields = _fields(header_block) if header_block.strip() else {}
    except Exception:  # the parser is lenient; this guards against its bugs
        fields = {}
    if not fields:
        return Verdict(False, UNREADABLE)

    # Replies go to the envelope sender, which the final delivery records as
    # Return-Path (RFC 3834 §4, RFC 5230 §4.2 and §5); never to Reply-To or From.
    # The topmost Return-Path is the one the delivering server added.
    return_paths = fields.get("return-path")
    if not return_paths:
        return Verdict(False, NO_RETURN_PATH)
    raw_path = return_paths[0].strip()
    # A null return path marks bounces and other automatic mail; a reply to it
    # would go nowhere (RFC 3834 §2, RFC 5230 §4.6).
    if raw_path in ("", "<>") or raw_path.replace(" ", "") == "<>":
        return Verdict(False, NULL_RETURN_PATH)
    recipient = parseaddr(raw_path)[1]
    if not _valid(recipient):
        return Verdict(False, BAD_RETURN_PATH)
    key = normalise_address(recipient)

    def no(reason: str) -> Verdict:
        return Verdict(False, reason, recipient, key)

    # Auto-Submitted with any value but "no" (RFC 3834 §2 and §5, RFC 5230 §4.6).
    for value in fields.get("auto-submitted", ()):
        keyword = value.split(";", 1)[0].split("(", 1)[0].strip().lower()
        if keyword != "no":
            return no(AUTO_SUBMITTED)
    if any(name in fields for name in _AUTORESPONDER_FIELDS):
        return no(AUTORESPONDER)
    # Delivery and disposition reports (RFC 3464, RFC 8098) are answers of mail
    # systems themselves; answering them is how loops start (RFC 3834 §2).
    content_type = (fields.get("content-type") or [""])[0].strip().lower()
    if content_type.startswith("multipart/report"):
        return no(DELIVERY_REPORT)
    # Precedence: bulk, list or junk (RFC 3834 §2, RFC 5230 §4.6).
    for value in fields.get("precedence", ()):
        if value.strip().lower() in _PRECEDENCE_VALUES:
            return no(PRECEDENCE)
    # Any List-* field (RFC 2369, RFC 2919, RFC 8058) marks mailing-list mail
    # (RFC 3834 §2, RFC 5230 §4.6).
    if any(name.startswith("list-") for name in fields):
        return no(MAILING_LIST)
    for value in fields.get("x-auto-response-suppress", ()):
        tokens = {token.strip().lower() for token in value.split(",")}
        if tokens & _SUPPRESS_VALUES:
            return no(SUPPRESSED)

    senders = [
        recipient,
        *_addresses(fields.get("from", [])),
        *_addresses(fields.get("sender", [])),
    ]
    # Mail systems, list servers and no-reply addresses (RFC 3834 §2, RFC 5230 §4.6).
    if any(_SYSTEM_LOCALPART.match(_localpart(address)) for address in senders):
        return no(SYSTEM_SENDER)
    # Never answer ourselves: that is a loop (RFC 5230 §4.5, RFC 3834 §2).
    if any(normalise_address(address) in own for address in senders):
        return no(OWN_ADDRESS)
    # An out-of-office reply answers mail addressed to this mailbox, not a copy it
    # received as a list member or a blind copy (RFC 5230 §4.5, RFC 3834 §2).
    # When no recipient field names anyone (missing, or an empty group such as
    # "undisclosed-recipients:;") it cannot be known, and the rule does not apply.
    recipients = _addresses([v for name in _RECIPIENT_FIELDS for v in fields.get(name, [])])
    if own and recipients and not any(normalise_address(a) in own for a in recipients):
        return no(NOT_ADDRESSED)
    return Verdict(True, "", recipient, key)
