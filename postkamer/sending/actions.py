"""The only way anything writes or sends mail: views, the API, the worker and the
auto-reply all call these functions, so each rule lives here once.

- :func:`do_save_draft` keeps what was typed, half-typed addresses included;
- :func:`do_queue_message` / :func:`do_queue_draft` validate everything at once
  (every mistake named, CR/LF in a header value refused, never stripped), build
  the message with fixed bytes, and queue it for the worker on commit;
- :func:`do_cancel` takes a message that waits for a retry back as a draft;
- :func:`do_set_template` changes Tab Template and writes the audit log.

Errors for the user are ``django.core.exceptions.ValidationError`` with a dict
``{field: [message, ...]}`` (fields ``to``, ``cc``, ``bcc``, ``subject``,
``attachments``, ``extra_headers``, ``__all__``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from postkamer.accounts.models import User
from postkamer.fetching.store import save_raws
from postkamer.mail import mime, outgoing
from postkamer.mail.html import sanitize_outgoing_html
from postkamer.mailboxes import audit
from postkamer.mailboxes.models import AuditAction, Mailbox
from postkamer.messages import rawstore
from postkamer.messages.models import Message
from postkamer.sending import addresses
from postkamer.sending.models import (
    FONT_SIZES,
    FONT_STACKS,
    MailTemplate,
    OutgoingAttachment,
    OutgoingMessage,
)

log = logging.getLogger(__name__)

Kind = OutgoingMessage.Kind
State = OutgoingMessage.State
_HEADER_NAME_RE = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable, no colon
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_SUBJECT = 900


class NotEditable(Exception):
    """The message is queued, being sent or sent: it can no longer change."""


@dataclass(frozen=True)
class NewFile:
    """An attachment given as bytes (an upload)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ForwardedPart:
    """An attachment of a stored message, copied when the message is queued."""

    message: Message
    part: str


def max_attachment_bytes() -> int:
    """The limit on all attachments of one message together, in bytes."""
    return int(float(settings.POSTKAMER_MAX_ATTACHMENTS_MB) * 1024 * 1024)


def limit_text() -> str:
    """The attachment limit as people read it ("25 MB")."""
    mb = float(settings.POSTKAMER_MAX_ATTACHMENTS_MB)
    return f"{mb:g} MB"


def _too_big_message() -> str:
    return _("The attachments together are larger than %(limit)s.") % {"limit": limit_text()}


# -- the template --------------------------------------------------------------------


def get_template(mailbox: Mailbox) -> MailTemplate:
    """The mailbox's template, or the defaults (unsaved) when none was set."""
    return MailTemplate.objects.filter(mailbox=mailbox).first() or MailTemplate(mailbox=mailbox)


def font_of(mailbox: Mailbox) -> outgoing.Font:
    template = get_template(mailbox)
    return outgoing.Font(template.font_css_family, template.font_size, template.font_color)


def do_set_template(
    mailbox: Mailbox,
    *,
    actor: User | None,
    font_family: Any,
    font_size: Any,
    font_color: Any,
    signature_html: Any,
) -> MailTemplate:
    """Validate and save the template; record the changed fields in the audit log.

    Raises ValidationError naming every wrong field at once.
    """
    errors: dict[str, list[str]] = {}
    if font_family not in FONT_STACKS:
        errors["font_family"] = [
            _("Choose one of these fonts: %(fonts)s.") % {"fonts": ", ".join(FONT_STACKS)}
        ]
    try:
        size = int(font_size)
    except (TypeError, ValueError):
        size = 0
    if size not in FONT_SIZES:
        errors["font_size"] = [
            _("Choose a font size of %(sizes)s points.")
            % {"sizes": ", ".join(str(s) for s in FONT_SIZES)}
        ]
    color = str(font_color or "")
    if not _COLOR_RE.match(color):
        errors["font_color"] = [_("Give the colour as #RRGGBB, for example #1F3864.")]
    if signature_html is not None and not isinstance(signature_html, str):
        errors["signature_html"] = [_("The signature must be text (HTML).")]
    if errors:
        raise ValidationError(errors)
    template = get_template(mailbox)
    before = {f: getattr(template, f) for f in _TEMPLATE_FIELDS}
    template.font_family = font_family
    template.font_size = size
    template.font_color = color.lower()
    template.signature_html = sanitize_outgoing_html(signature_html or "")
    changed = [f for f in _TEMPLATE_FIELDS if getattr(template, f) != before[f]]
    with transaction.atomic():
        template.save()
        if changed:
            audit.record(mailbox, actor, AuditAction.TEMPLATE_CHANGED, fields=changed)
    return template


_TEMPLATE_FIELDS = ("font_family", "font_size", "font_color", "signature_html")


# -- drafts --------------------------------------------------------------------------


def do_save_draft(
    mailbox: Mailbox,
    *,
    author: User,
    draft: OutgoingMessage | None = None,
    client_key: str = "",
    to: Any = (),
    cc: Any = (),
    bcc: Any = (),
    subject: str = "",
    body_html: str = "",
    kind: str = Kind.NEW,
    reply_to: Message | None = None,
    forward_of: Message | None = None,
) -> OutgoingMessage:
    """Create or update a draft exactly as typed (invalid addresses included) and
    return it. ``client_key`` makes a repeated first save find the draft it
    created. The body is cleaned of scripts; nothing else is changed.

    A new forward gets the original's attachments, referenced (not copied).
    Raises :class:`NotEditable` when ``draft`` is queued, being sent or sent.
    """
    values = {
        "mailbox": mailbox,
        "to_addresses": addresses.lenient(to),
        "cc_addresses": addresses.lenient(cc),
        "bcc_addresses": addresses.lenient(bcc),
        "subject": subject or "",
        "body_html": sanitize_outgoing_html(body_html or ""),
    }
    client_key = (client_key or "")[:64]
    with transaction.atomic():
        if draft is None and client_key:
            draft = (
                OutgoingMessage.objects.select_for_update()
                .filter(author=author, client_key=client_key)
                .first()
            )
        if draft is None:
            try:
                with transaction.atomic():
                    draft = OutgoingMessage.objects.create(
                        author=author,
                        client_key=client_key,
                        kind=kind,
                        reply_to=reply_to,
                        forward_of=forward_of,
                        **values,
                    )
            except IntegrityError:
                # The same first save arrived twice at once: the other one won.
                return do_save_draft(
                    mailbox,
                    author=author,
                    client_key=client_key,
                    to=to,
                    cc=cc,
                    bcc=bcc,
                    subject=subject,
                    body_html=body_html,
                )
            if forward_of is not None:
                _attach_originals(draft, forward_of)
            return draft
        # Only while still editable: a conditional UPDATE, so a save arriving just
        # after "send" cannot change what is being sent.
        changed = OutgoingMessage.objects.filter(
            pk=draft.pk, state__in=(State.DRAFT, State.FAILED)
        ).update(updated_at=timezone.now(), **values)
        if not changed:
            raise NotEditable(draft.pk)
    draft.refresh_from_db()
    return draft


def _attach_originals(draft: OutgoingMessage, original: Message) -> None:
    OutgoingAttachment.objects.bulk_create(
        [
            OutgoingAttachment(
                outgoing=draft,
                filename=a.filename or _("attachment"),
                content_type=a.content_type,
                size=a.size,
                source_message=original,
                source_part=a.part,
            )
            for a in original.attachments.filter(inline=False)
        ]
    )


def attachments_size(draft: OutgoingMessage) -> int:
    return sum(draft.attachments.values_list("size", flat=True))


def do_add_attachments(
    draft: OutgoingMessage, files: Sequence[NewFile]
) -> list[OutgoingAttachment]:
    """Store uploaded files with the draft (bytes in the raw store by SHA-256).

    Raises ValidationError (``attachments``) when the total would pass the limit
    or a file name holds a line break, and :class:`NotEditable`.
    """
    if not draft.editable:
        raise NotEditable(draft.pk)
    errors = [
        _("The file name '%(name)s' contains a line break; rename the file.") % {"name": f.filename}
        for f in files
        if outgoing.has_line_break(f.filename)
    ]
    problems = [ValidationError(e, code="invalid") for e in errors]
    if attachments_size(draft) + sum(len(f.data) for f in files) > max_attachment_bytes():
        problems.append(ValidationError(_too_big_message(), code="too_large"))
    if problems:
        raise ValidationError({"attachments": problems})
    with rawstore.session() as writer, transaction.atomic():
        ids = save_raws(writer, [f.data for f in files])
        return [
            OutgoingAttachment.objects.create(
                outgoing=draft,
                filename=f.filename[:255] or _("attachment"),
                content_type=(f.content_type or "application/octet-stream")[:200],
                size=len(f.data),
                blob_id=ids[hashlib.sha256(f.data).hexdigest()],
            )
            for f in files
        ]


def do_remove_attachment(draft: OutgoingMessage, attachment_id: int) -> None:
    """Remove one attachment from an editable draft (its bytes go with ``gc-raw``)."""
    if not draft.editable:
        raise NotEditable(draft.pk)
    draft.attachments.filter(pk=attachment_id).delete()


def do_delete_draft(draft: OutgoingMessage) -> None:
    """Throw away a draft or failed message."""
    if not OutgoingMessage.objects.filter(
        pk=draft.pk, state__in=(State.DRAFT, State.FAILED)
    ).delete()[0]:
        raise NotEditable(draft.pk)


# -- queueing ------------------------------------------------------------------------


def _header_errors(label: str, value: str) -> list[str]:
    if outgoing.has_line_break(value):
        return [
            _("%(field)s contains a line break, which is not allowed in a mail header.")
            % {"field": label}
        ]
    return []


def _extra_header_errors(extra: Sequence[tuple[str, str]]) -> list[str]:
    errors = []
    for name, value in extra:
        if not _HEADER_NAME_RE.match(name):
            errors.append(_("'%(name)s' is not a valid header name.") % {"name": name})
        elif name.lower() in outgoing.RESERVED_HEADERS:
            errors.append(_("The header %(name)s is set by Postkamer itself.") % {"name": name})
        elif outgoing.has_line_break(value):
            errors.append(
                _("The header %(name)s contains a line break, which is not allowed.")
                % {"name": name}
            )
    return errors


def _resolve_attachments(
    mailbox: Mailbox, items: Sequence[NewFile | ForwardedPart | OutgoingAttachment]
) -> tuple[list[outgoing.Attachment], list[str]]:
    """The attachments' bytes, and what is wrong with them."""
    files: list[outgoing.Attachment] = []
    errors: list[str] = []
    raws: dict[int, bytes] = {}
    for item in items:
        if isinstance(item, OutgoingAttachment):
            if item.blob_id is not None:
                data = rawstore.read(item.blob)
                files.append(outgoing.Attachment(item.filename, item.content_type, data))
                continue
            source, part, name = item.source_message, item.source_part, item.filename
        elif isinstance(item, ForwardedPart):
            source, part, name = item.message, item.part, ""
        else:
            if outgoing.has_line_break(item.filename):
                errors.append(
                    _("The file name '%(name)s' contains a line break; rename the file.")
                    % {"name": item.filename}
                )
            files.append(outgoing.Attachment(item.filename, item.content_type, item.data))
            continue
        if source is None or source.mailbox_id != mailbox.pk:
            errors.append(
                _("The attachment '%(name)s' of the original message is no longer available.")
                % {"name": name or part}
            )
            continue
        if source.pk not in raws:
            raws[source.pk] = rawstore.read(source.raw)
        try:
            filename, content_type, data = mime.extract_part(raws[source.pk], part)
        except KeyError:
            errors.append(
                _("The attachment '%(name)s' of the original message is no longer available.")
                % {"name": name or part}
            )
            continue
        filename = name or filename or _("attachment")
        if outgoing.has_line_break(filename):
            errors.append(
                _("The file name '%(name)s' contains a line break; remove this attachment.")
                % {"name": filename.replace("\r", " ").replace("\n", " ")}
            )
            continue
        files.append(outgoing.Attachment(filename, content_type, data))
    if sum(len(f.data) for f in files) > max_attachment_bytes():
        errors.append(_too_big_message())
    return files, errors


def _thread_of(original: Message | None) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a reply to ``original`` (none without a
    Message-ID)."""
    if original is None or not original.message_id.strip("<> "):
        return None, []
    # The store keeps ids with or without their angle brackets; headers need them.
    return _msg_id(original.message_id), [_msg_id(r) for r in original.references.split()]


def _msg_id(value: str) -> str:
    return f"<{value.strip().strip('<>')}>"


def _prepare(
    mailbox: Mailbox,
    *,
    to: Any,
    cc: Any,
    bcc: Any,
    subject: str,
    body_html: str,
    reply_to: Message | None,
    forward_of: Message | None,
    attachments: Sequence[NewFile | ForwardedPart | OutgoingAttachment],
    extra_headers: Sequence[tuple[str, str]],
) -> tuple[dict[str, Any], outgoing.Built]:
    """Validate everything and build the message; returns the row's values and
    the built bytes. Raises ValidationError with every problem."""
    errors: dict[str, list[str]] = {}
    lists = {}
    for field, label, value in (
        ("to", _("To"), to),
        ("cc", _("Cc"), cc),
        ("bcc", _("Bcc"), bcc),
    ):
        lists[field], problems = addresses.strict(value, label)
        if problems:
            errors[field] = problems
    if not errors and not any(lists.values()):
        errors["to"] = [_("Add at least one recipient.")]
    subject = subject or ""
    subject_errors = _header_errors(_("The subject"), subject)
    if len(subject) > MAX_SUBJECT:
        subject_errors.append(
            _("The subject is longer than %(n)d characters.") % {"n": MAX_SUBJECT}
        )
    if subject_errors:
        errors["subject"] = subject_errors
    extra = [(str(n), str(v)) for n, v in extra_headers]
    if extra_errors := _extra_header_errors(extra):
        errors["extra_headers"] = extra_errors
    sender_errors = _header_errors(_("The mailbox's display name"), mailbox.display_name)
    sender_errors += _header_errors(_("The mailbox's sender address"), mailbox.sender_address)
    if sender_errors:
        errors["__all__"] = [
            *sender_errors,
            _("Ask your administrator to correct it in the mailbox settings."),
        ]
    for original in (reply_to, forward_of):
        if original is not None and original.mailbox_id != mailbox.pk:
            errors.setdefault("__all__", []).append(
                _("The original message belongs to another mailbox.")
            )
    files, attachment_errors = _resolve_attachments(mailbox, attachments)
    if attachment_errors:
        errors["attachments"] = attachment_errors
    if errors:
        raise ValidationError(errors)
    body = sanitize_outgoing_html(body_html or "")
    in_reply_to, references = _thread_of(reply_to)
    spec = outgoing.Spec(
        sender=(mailbox.display_name, mailbox.sender_address),
        to=[(a["name"], a["address"]) for a in lists["to"]],
        cc=[(a["name"], a["address"]) for a in lists["cc"]],
        bcc=[(a["name"], a["address"]) for a in lists["bcc"]],
        subject=subject,
        body_html=body,
        font=font_of(mailbox),
        date=timezone.now(),
        in_reply_to=in_reply_to,
        references=references,
        attachments=files,
        extra_headers=extra,
    )
    try:
        built = outgoing.build(spec)
    except (ValueError, UnicodeError) as exc:
        # Validation above should have caught it; say so rather than crash.
        log.warning("building mailbox %s's message failed: %s", mailbox.pk, exc)
        raise ValidationError({"__all__": [_("The message could not be put together.")]}) from None
    values = {
        "to_addresses": lists["to"],
        "cc_addresses": lists["cc"],
        "bcc_addresses": lists["bcc"],
        "subject": subject,
        "body_html": body,
        "extra_headers": [list(pair) for pair in extra],
        "message_id": built.message_id,
    }
    return values, built


def _enqueue(outgoing_id: int) -> None:
    from postkamer.sending import tasks

    transaction.on_commit(
        lambda: tasks.send_task.schedule((outgoing_id,), delay=0, priority=tasks.SEND_PRIORITY)
    )


def _queued_values(built: outgoing.Built) -> dict[str, Any]:
    now = timezone.now()
    with rawstore.session() as writer:
        ids = save_raws(writer, [built.raw, built.copy])
    return {
        "raw_id": ids[hashlib.sha256(built.raw).hexdigest()],
        "copy_raw_id": ids[hashlib.sha256(built.copy).hexdigest()],
        "state": State.QUEUED,
        "queued_at": now,
        "next_attempt_at": now,
        "attempts": 0,
        "error_code": "",
        "error_params": {},
        "refused": {},
        "lease_until": None,
        "lease_token": "",
    }


def do_queue_message(
    mailbox: Mailbox,
    *,
    author: User | None,
    to: Any,
    cc: Any = (),
    bcc: Any = (),
    subject: str,
    body_html: str,
    reply_to: Message | None = None,
    forward_of: Message | None = None,
    kind: str | None = None,
    attachments: Sequence[NewFile | ForwardedPart] = (),
    extra_headers: Sequence[tuple[str, str]] | None = None,
    null_sender: bool = False,
    retry: bool = True,
) -> OutgoingMessage:
    """Validate, build and queue a message from ``mailbox``; return it (state
    queued). The worker sends it once the caller's transaction commits.

    ``to``/``cc``/``bcc``: text ("Jan <jan@x.nl>, b@y.nl") or lists of texts,
    ``(name, address)`` pairs or ``{"name", "address"}`` dicts. ``reply_to``
    adds In-Reply-To/References (none when it has no Message-ID); the template's
    font is applied, the signature is whatever ``body_html`` holds (see
    ``compose.with_signature``). ``extra_headers`` are added verbatim after
    validation (e.g. ``[("Auto-Submitted", "auto-replied")]``). ``null_sender``
    sends with ``MAIL FROM:<>`` and falls back to the mailbox address when the
    server refuses it; ``retry=False`` records a failure once, never retried.
    The caller checked that ``author`` may read ``mailbox``.

    Raises ValidationError naming every problem at once.
    """
    if kind is None:
        kind = Kind.REPLY if reply_to else Kind.FORWARD if forward_of else Kind.NEW
    values, built = _prepare(
        mailbox,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body_html=body_html,
        reply_to=reply_to,
        forward_of=forward_of,
        attachments=attachments,
        extra_headers=list(extra_headers or ()),
    )
    with transaction.atomic():
        message = OutgoingMessage.objects.create(
            mailbox=mailbox,
            author=author,
            kind=kind,
            reply_to=reply_to,
            forward_of=forward_of,
            null_sender=null_sender,
            retry=retry,
            **values,
            **_queued_values(built),
        )
        _enqueue(message.pk)
    return message


def do_queue_draft(draft: OutgoingMessage) -> OutgoingMessage:
    """Validate and queue a draft (or a failed message, edited or not); return it.

    A second click finds it queued already and changes nothing. Raises
    ValidationError with every problem, or :class:`NotEditable`.
    """
    draft.refresh_from_db()
    if not draft.editable:
        if draft.state in (State.QUEUED, State.SENDING, State.SENT):
            return draft
        raise NotEditable(draft.pk)
    values, built = _prepare(
        draft.mailbox,
        to=draft.to_addresses,
        cc=draft.cc_addresses,
        bcc=draft.bcc_addresses,
        subject=draft.subject,
        body_html=draft.body_html,
        reply_to=draft.reply_to,
        forward_of=draft.forward_of,
        attachments=list(draft.attachments.select_related("blob", "source_message__raw")),
        extra_headers=[tuple(pair) for pair in draft.extra_headers],
    )
    with transaction.atomic():
        queued = OutgoingMessage.objects.filter(
            pk=draft.pk, state__in=(State.DRAFT, State.FAILED)
        ).update(updated_at=timezone.now(), **values, **_queued_values(built))
        if queued:
            _enqueue(draft.pk)
    draft.refresh_from_db()
    return draft


def do_cancel(message: OutgoingMessage) -> bool:
    """Take a queued message that is not being sent right now back as a draft
    (to change it); returns False when the worker has it or it is sent."""
    now = timezone.now()
    taken = (
        OutgoingMessage.objects.filter(pk=message.pk, state=State.QUEUED)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(state=State.DRAFT, next_attempt_at=None, updated_at=now)
    )
    message.refresh_from_db()
    return bool(taken)
