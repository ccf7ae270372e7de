"""Personas and objects for tests: two offices, users with and without each right."""

from __future__ import annotations

import itertools
from typing import Any

from postkamer.accounts.models import Organisation, Tenant, User, WorkflowGroup
from postkamer.accounts.services import ensure_user, root_organisation
from postkamer.mailboxes.models import Mailbox

PASSWORD = "Geheim-wachtwoord-1"
_seq = itertools.count(1)


def tenant(name: str | None = None, edition: str = "compleet") -> Tenant:
    t = Tenant.objects.create(name=name or f"Kantoor {next(_seq)}", edition=edition)
    root_organisation(t)
    return t


def user(
    t: Tenant,
    *,
    rights: tuple[str, ...] = (),
    email: str | None = None,
    organisation: Organisation | None = None,
    groups: tuple[str, ...] = (),
    language: str = "nl",
) -> User:
    u, _ = ensure_user(
        email or f"user{next(_seq)}@{t.name.lower().replace(' ', '')}.test",
        tenant=t,
        organisation=organisation,
        rights=rights,
        groups=groups,
        password=PASSWORD,
    )
    if u.language != language:
        u.language = language
        u.save(update_fields=["language"])
    return u


def group(t: Tenant, name: str, *, members: tuple[User, ...] = ()) -> WorkflowGroup:
    g = WorkflowGroup.objects.get_or_create(tenant=t, name=name)[0]
    if members:
        g.members.add(*members)
    return g


def organisation(t: Tenant, name: str, *, parent: Organisation | None = None) -> Organisation:
    """An organisation under ``parent`` (default: the tenant's root)."""
    return Organisation.objects.get_or_create(
        tenant=t, parent=parent or root_organisation(t), name=name
    )[0]


def mailbox(t: Tenant, *, owners: tuple[User, ...] = (), **fields: Any) -> Mailbox:
    n = next(_seq)
    values: dict[str, Any] = {
        "name": f"Mailbox {n}",
        "sender_address": f"box{n}@example.test",
        "imap_host": "127.0.0.1",
        "imap_port": 993,
        "imap_username": f"box{n}@example.test",
        "smtp_host": "127.0.0.1",
        "smtp_port": 587,
    }
    password = fields.pop("password", "secret")
    values.update(fields)
    box = Mailbox(tenant=t, **values)
    box.imap_password = password
    box.save()
    if owners:
        box.owner_users.add(*owners)
    return box


def message(
    box: Mailbox,
    *,
    folder: str = "inbox",
    subject: str = "Offerte",
    sender: str = "klant@voorbeeld.test",
    to: str | None = None,
    html: str = "",
    text: str = "Hallo",
    attachments: tuple[tuple[str, str, int], ...] = (),
    **fields: Any,
):
    """A stored message (RawMessage + Message) as the fetch engine would leave it."""
    import hashlib

    from django.utils import timezone

    from postkamer.messages.models import Attachment, Message, RawMessage

    n = next(_seq)
    to = to or box.sender_address
    raw = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <m{n}@voorbeeld.test>\r\n\r\n{text}\r\n"
    ).encode()
    digest = hashlib.sha256(raw).hexdigest()
    stored = RawMessage.objects.get_or_create(
        sha256=digest, defaults={"size": len(raw), "data": raw}
    )[0]
    values: dict[str, Any] = {
        "mailbox": box,
        "folder": folder,
        "server_folder": {"inbox": "INBOX", "junk": "Junk", "sent": "Sent"}[folder],
        "uidvalidity": 1,
        "uid": n,
        "raw": stored,
        "sha256": digest,
        "size": len(raw),
        "message_id": f"<m{n}@voorbeeld.test>",
        "subject": subject,
        "from_addresses": [{"name": "", "address": sender}],
        "to_addresses": [{"name": "", "address": to}],
        "date": timezone.now(),
        "text": text,
        "html": html,
        "has_attachments": bool(attachments),
    }
    values.update(fields)
    msg = Message.objects.create(**values)
    for i, (filename, content_type, size) in enumerate(attachments, start=2):
        Attachment.objects.create(
            message=msg, filename=filename, content_type=content_type, size=size, part=str(i)
        )
    return msg


def dovecot_mailbox(
    t: Tenant,
    dovecot: Any,
    email: str,
    password: str,
    *,
    owners: tuple[User, ...] = (),
    **fields: Any,
) -> Mailbox:
    """A mailbox on the test Dovecot: ``email``/``password`` over STARTTLS on
    127.0.0.1 (the caller trusts ``dovecot.ca_file``); ``fields`` override."""
    values: dict[str, Any] = {
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.imap_port,
        "imap_security": "starttls",
        "imap_username": email,
        "password": password,
    }
    values.update(fields)
    return mailbox(t, owners=owners, **values)


def stored(box: Mailbox, raw: bytes, *, folder: str = "inbox", when: Any = None):
    """Store ``raw`` as the fetch does (``fetching.store``: parse, raw store, the bulk
    INSERT with its search triggers) and return the Message."""
    from django.utils import timezone

    from postkamer.fetching import store
    from postkamer.fetching.models import FolderState
    from postkamer.mail.imapfetch import FetchedMessage
    from postkamer.messages.models import Message

    name = {"inbox": "INBOX", "junk": "Junk", "sent": "Sent"}[folder]
    state = FolderState.objects.get_or_create(
        mailbox=box, role=folder, defaults={"name": name, "uidvalidity": 1}
    )[0]
    uid = state.last_uid + 1
    when = when or timezone.now()
    item = store.prepare(FetchedMessage(uid=uid, raw=raw, flags=(), internal_date=when))
    store.store_batch(state, state.uidvalidity or 1, [item])
    return Message.objects.get(mailbox=box, server_folder=name, uid=uid)


def mime_message(
    *,
    subject: str = "Offerte",
    sender: str = "Jan Jansen <jan@klant.test>",
    to: str = "info@kantoor.test",
    text: str | None = "Beste kantoor,",
    html: str | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    inline: tuple[tuple[str, str, bytes], ...] = (),
    headers: str = "",
) -> bytes:
    """A MIME message built with the standard library (``attachments`` and ``inline``
    are (file name or Content-ID, content type, bytes))."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="klant.test")
    msg["Date"] = formatdate(localtime=True)
    for line in filter(None, headers.split("\n")):
        key, value = line.split(":", 1)
        msg[key.strip()] = value.strip()
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for cid, ctype, data in inline:
        main, sub = ctype.split("/")
        body = msg.get_payload()[-1] if msg.is_multipart() else msg
        body.add_related(data, maintype=main, subtype=sub, cid=f"<{cid}>")
    for filename, ctype, data in attachments:
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return msg.as_bytes()
