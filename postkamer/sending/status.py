"""The send state in words, made when shown (stored as codes and parameters)."""

from __future__ import annotations

from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from postkamer.messages.models import Message
from postkamer.sending.models import OutgoingMessage

State = OutgoingMessage.State


def _reasons() -> dict[str, str]:
    return {
        "connection_refused": _("the mail server could not be reached"),
        "timeout": _("the mail server did not answer in time"),
        "protocol_error": _("the mail server gave an unexpected answer"),
        "message_deferred": _("the mail server cannot take the message right now"),
        "message_refused": _("the mail server refused the message"),
        "auth_failed": _("the mail server refused the user name or password of this mailbox"),
        "auth_unavailable": _("the mail server offers no way to log in that Postkamer can use"),
        "host_not_found": _("the name of the mail server cannot be found"),
        "certificate_untrusted": _("the mail server's certificate is not trusted"),
        "tls_failed": _("no secure connection with the mail server could be set up"),
        "no_starttls": _("the mail server offers no secure connection (STARTTLS)"),
        "private_host": _("the mail server is on an internal network address"),
        "secret_unreadable": _("the stored password cannot be read; enter it again"),
        "folder_missing": _("the sent folder no longer exists on the server"),
    }


def _smtp_reason(code: int) -> str:
    if 400 <= code < 500:
        return _("temporarily refused")
    if code in (550, 551, 553):
        return _("unknown address")
    if code == 552:
        return _("mailbox full or message too large")
    return _("refused")


def reason(code: str, params: dict[str, Any] | None = None) -> str:
    """The error ``code`` with ``params`` as a plain sentence fragment."""
    params = params or {}
    recipients = params.get("recipients") or {}
    if code == "message_refused" and recipients:
        text = _("the mail server refused the message for %(addresses)s") % {
            "addresses": ", ".join(
                f"{addr} ({_smtp_reason(int(c))})" for addr, c in recipients.items()
            )
        }
    else:
        text = _reasons().get(code, _("the message could not be sent"))
    if params.get("gave_up"):
        text = _("%(reason)s; tried again for an hour") % {"reason": text}
    return text


def label(message: OutgoingMessage) -> str:
    """The state as the user sees it: wordt verzonden / verzonden / mislukt / concept."""
    if message.state == State.DRAFT:
        return _("draft")
    if message.state in (State.QUEUED, State.SENDING):
        return _("being sent")
    if message.state == State.SENT:
        return _("sent")
    return _("failed")


def describe(message: OutgoingMessage) -> str:
    """The state in one line, with the reason for a failure or a retry."""
    if message.state == State.FAILED:
        return _("failed: %(reason)s") % {
            "reason": reason(message.error_code, message.error_params)
        }
    if message.state == State.QUEUED and message.error_code and message.next_attempt_at:
        when = formats.time_format(timezone.localtime(message.next_attempt_at), "H:i")
        return _("being sent; next attempt at %(time)s (%(reason)s)") % {
            "time": when,
            "reason": reason(message.error_code, message.error_params),
        }
    if message.state == State.SENT and message.refused:
        return _("sent, but not delivered to %(addresses)s") % {
            "addresses": ", ".join(
                f"{addr} ({_smtp_reason(int(c))})" for addr, c in message.refused.items()
            )
        }
    return label(message)


def as_dict(message: OutgoingMessage) -> dict[str, Any]:
    """The send state for the API and the pages' polling."""
    return {
        "id": message.pk,
        "mailbox": message.mailbox_id,
        "state": message.state,
        "label": label(message),
        "description": describe(message),
        "error_code": message.error_code,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "queued_at": message.queued_at,
        "sent_at": message.sent_at,
        "refused": message.refused,
        "message_id": message.message_id,
        "sent_message": message.sent_message_id,
        "in_sent_folder": message.append_state == OutgoingMessage.Append.DONE,
    }


def send_state(message: Message) -> dict[str, Any] | None:
    """The send state of a stored message we sent ourselves, None for others.

    For the message view and ``GET messages/{id}/`` (a sent copy is linked from
    ``OutgoingMessage.sent_message``, reverse name ``outgoing``).
    """
    outgoing = OutgoingMessage.objects.filter(sent_message=message).first()
    return as_dict(outgoing) if outgoing is not None else None
