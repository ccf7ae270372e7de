"""Turning a fetch failure into its stored code and parameters.

The codes and their sentences are ``postkamer.mailboxes.problems`` (the mailbox
shows them; fetching only writes them); this module adds what only the fetch
knows: which exception means which code.
"""

from __future__ import annotations

from postkamer.crypto import SecretUnreadable
from postkamer.fetching.lease import LeaseLost
from postkamer.mail import errors
from postkamer.mailboxes.problems import (
    ABANDONED,
    BUSY,
    CODES,
    INTERNAL_ERROR,
    LEASE_LOST,
    MAILBOX_DISABLED,
    NOT_IMAP,
    SECRET_UNREADABLE,
    TOO_MANY_ERRORS,
    Params,
    describe,
    describe_nested,
    nested,
)

__all__ = [
    "ABANDONED",
    "BUSY",
    "CODES",
    "INTERNAL_ERROR",
    "LEASE_LOST",
    "MAILBOX_DISABLED",
    "NOT_IMAP",
    "SECRET_UNREADABLE",
    "TOO_MANY_ERRORS",
    "Params",
    "describe",
    "describe_nested",
    "from_exception",
    "nested",
]


def from_exception(exc: BaseException) -> tuple[str, Params]:
    """Return the code and parameters of a fetch failure."""
    if isinstance(exc, errors.MailError):
        return exc.code, dict(exc.params)
    if isinstance(exc, SecretUnreadable):
        return SECRET_UNREADABLE, {}
    if isinstance(exc, LeaseLost):
        return LEASE_LOST, {}
    return INTERNAL_ERROR, {}
