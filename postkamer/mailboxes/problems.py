"""Why a fetch failed or a mailbox was switched off: stored as a code and its
parameters, put into words only when shown, in the reader's language.

A colleague who chose English must not read the Dutch of whoever happened to be
first; so the mailbox (``last_error_code``, ``disabled_code``), the fetch run
(``error_code``) and the notification (``kind``) keep a code plus JSON
parameters, and :func:`describe` makes the sentence in the active language when
a page or an API answer is made. The codes of mail errors are those of
``postkamer.mail.errors``; the others are listed in :data:`CODES`.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from postkamer.mail import errors
from postkamer.mailboxes.connection import describe_code
from postkamer.mailboxes.providers import RECONNECT_NOTIFICATION, TITLES

SECRET_UNREADABLE = "secret_unreadable"
NOT_IMAP = "not_imap"
BUSY = "busy"
INTERNAL_ERROR = "internal_error"
ABANDONED = "abandoned"
LEASE_LOST = "lease_lost"
TOO_MANY_ERRORS = "too_many_errors"
MAILBOX_DISABLED = "mailbox_disabled"
RECONNECT_NEEDED = RECONNECT_NOTIFICATION

#: Our own codes (besides the mail errors'), each with what its parameters hold.
CODES = {
    SECRET_UNREADABLE: "the stored password cannot be decrypted",
    NOT_IMAP: "the mailbox type cannot be fetched",
    BUSY: "another fetch of the mailbox was running (a skipped run)",
    INTERNAL_ERROR: "not the server's fault, e.g. a database error",
    ABANDONED: "the worker running the fetch stopped before it finished",
    LEASE_LOST: "the claim on the mailbox expired during the fetch",
    TOO_MANY_ERRORS: "switched off: {count, error: {code, params}}",
    MAILBOX_DISABLED: "notification: {name, count, error: {code, params}}",
    RECONNECT_NEEDED: "notification: {name, provider}: the OAuth2 sign-in expired",
}

Params = dict[str, Any]


def _mail_error_classes() -> list[type[errors.MailError]]:
    found: list[type[errors.MailError]] = []
    todo: list[type[errors.MailError]] = [errors.MailError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _is_mail_error_code(code: str) -> bool:
    return any(cls.code == code for cls in _mail_error_classes())


def describe(code: str, params: Params | None = None) -> str:
    """Return the sentence for ``code`` with ``params``, in the active language;
    "" for no code."""
    params = params or {}
    if not code:
        return ""
    if code == TOO_MANY_ERRORS:
        return _(
            "Automatic fetching was switched off after %(count)d failed attempts: %(error)s"
        ) % {"count": int(params.get("count", 0)), "error": describe_nested(params.get("error"))}
    if code == RECONNECT_NEEDED:
        return _(
            "The connection of mailbox '%(name)s' with %(provider)s expired: no mail is "
            "fetched or sent until an administrator connects it again."
        ) % {
            "name": params.get("name", ""),
            "provider": TITLES.get(str(params.get("provider")), str(params.get("provider"))),
        }
    if code == MAILBOX_DISABLED:
        return _(
            "Automatic fetching of mailbox '%(name)s' was switched off after "
            "%(count)d failed attempts. Last error: %(error)s"
        ) % {
            "name": params.get("name", ""),
            "count": int(params.get("count", 0)),
            "error": describe_nested(params.get("error")),
        }
    texts = {
        SECRET_UNREADABLE: _("The stored password cannot be read. Enter the password again."),
        NOT_IMAP: _("This mailbox type cannot be fetched yet."),
        BUSY: _("Another fetch of this mailbox was still running; this one was skipped."),
        INTERNAL_ERROR: _("The fetch failed."),
        ABANDONED: _("The fetch was interrupted: the worker stopped before it finished."),
        LEASE_LOST: _("The fetch took too long and was taken over by another one."),
    }
    if code in texts:
        return texts[code]
    if not _is_mail_error_code(code):
        return _("The connection failed.")
    return describe_code(code, params)


def describe_nested(value: object) -> str:
    """Describe a ``{"code", "params"}`` value (as kept inside other parameters)."""
    if not isinstance(value, dict):
        return ""
    return describe(str(value.get("code", "")), value.get("params") or {})


def nested(code: str, params: Params) -> Params:
    """Return ``code`` and ``params`` as one value to keep inside other parameters."""
    return {"code": code, "params": params}
