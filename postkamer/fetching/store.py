"""Committing fetched messages: raw bytes, parsed rows, attachments and the UID mark
in one transaction per batch (docs/product.md, Fetching).

Design: the raw bytes go to the raw store (``postkamer.messages.rawstore``),
content-addressed by SHA-256. With the ``pack`` store they are appended and
fsynced *before* the transaction opens, so no committed row can point at bytes
that are not on disk; with the ``database`` store they are written inside the
transaction. Either way the ``RawMessage`` and ``Message`` rows and the folder's
``last_uid`` commit together, and a crash leaves at most unreferenced bytes.
Parsing happens *before* the transaction opens (in the reader thread, see
``reader.BatchReader``), so the write lock (SQLite takes it at BEGIN IMMEDIATE)
is held only for the inserts. Raw rows, message rows and attachments go in with
one ``executemany`` each (on PostgreSQL binary parameters and binary COPY, see
``pgbulk``), and the duplicate and id lookups are single plain SELECTs with an
IN list: a batch of 200 messages costs a handful of statements.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from postkamer.fetching import pgbulk
from postkamer.fetching.models import FolderState
from postkamer.mail import mime
from postkamer.mail.html import html_to_text
from postkamer.mail.imapfetch import FetchedMessage
from postkamer.messages import rawstore, threads
from postkamer.messages.models import Attachment, Message, RawMessage
from postkamer.messages.signals import messages_stored

_MAX_ID = 998  # Message.message_id / in_reply_to max_length
# What a sender controls is capped where it is stored (the full header stays
# in the raw message): no screen shows more, and no row grows without bound.
_MAX_SUBJECT = 1000
_MAX_NAME = 200
_MAX_ADDRESS = 320


@dataclass
class Prepared:
    """A fetched message with its hash and parse result, ready to insert."""

    fetched: FetchedMessage
    sha256: str
    parsed: mime.ParsedMessage


@dataclass
class BatchResult:
    """What one committed batch did: ``stored`` new rows, ``skipped`` messages that
    were already stored (same UID, or same Message-ID and content), and the
    folder's ``last_uid`` after the commit."""

    stored: int
    skipped: int
    last_uid: int


def prepare(fetched: FetchedMessage) -> Prepared:
    """Hash and parse one message; never raises (a broken message is kept raw).

    HTML-only mail gets its plain text from ``html_to_text`` here, in the reader
    thread, so search (which indexes ``text`` inside the database) finds its words.
    """
    parsed = mime.parse_message(fetched.raw)
    if not parsed.text and parsed.html:
        parsed.text = html_to_text(parsed.html)
    return Prepared(fetched, hashlib.sha256(fetched.raw).hexdigest(), parsed)


def _clean(text: str | None, limit: int | None = None) -> str:
    # PostgreSQL refuses NUL in text and JSON; broken mail does contain it.
    if not text:
        return ""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text[:limit] if limit else text


def _addresses(items: Sequence[mime.Address]) -> list[dict[str, str]]:
    return [
        {"name": _clean(a.name, _MAX_NAME), "address": _clean(a.address, _MAX_ADDRESS)}
        for a in items
    ]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        return value.replace(tzinfo=dt.UTC)
    return value


_MESSAGE_COLUMNS = (
    "mailbox_id",
    "folder",
    "server_folder",
    "uidvalidity",
    "uid",
    "raw_id",
    "sha256",
    "size",
    "message_id",
    "in_reply_to",
    "references",
    "subject",
    "from_addresses",
    "to_addresses",
    "cc_addresses",
    "reply_to_addresses",
    "date",
    "internal_date",
    "received_at",
    "text",
    "html",
    "has_attachments",
    "is_auto",
    "seen_on_server",
    "problems",
    "repaired",
    "thread_key",
    "subject_key",
)
_JSON_COLUMNS = {"from_addresses", "to_addresses", "cc_addresses", "reply_to_addresses", "problems"}
_DATE_COLUMNS = {"date", "internal_date", "received_at"}


def _message_values(
    mailbox_id: int,
    role: str,
    folder_name: str,
    uidvalidity: int,
    item: Prepared,
    raw_id: int,
    *,
    repaired: bool,
    fetched_at: dt.datetime,
) -> dict[str, object]:
    parsed, fetched = item.parsed, item.fetched
    # An unreadable message keeps an empty subject; the list says "(unreadable
    # message)" in the reader's language, from its problems.
    subject = _clean(parsed.subject, _MAX_SUBJECT)
    received_at = fetched_at if repaired else (fetched.internal_date or fetched_at)
    return {
        "mailbox_id": mailbox_id,
        "folder": role,
        "server_folder": folder_name,
        "uidvalidity": uidvalidity,
        "uid": fetched.uid,
        "raw_id": raw_id,
        "sha256": item.sha256,
        "size": len(fetched.raw),
        "message_id": _clean(parsed.message_id, _MAX_ID),
        "in_reply_to": _clean(parsed.in_reply_to, _MAX_ID),
        "references": _clean(" ".join(parsed.references)),
        "subject": subject,
        "from_addresses": _addresses(parsed.from_),
        "to_addresses": _addresses(parsed.to),
        "cc_addresses": _addresses(parsed.cc),
        "reply_to_addresses": _addresses(parsed.reply_to),
        "date": _aware(parsed.date),
        "internal_date": fetched.internal_date,
        "received_at": received_at,
        "text": _clean(parsed.text),
        "html": _clean(parsed.html),
        "has_attachments": bool(parsed.attachments),
        "is_auto": parsed.is_auto,
        "seen_on_server": fetched.seen,
        "problems": [_clean(p) for p in parsed.problems],
        "repaired": repaired,
        "thread_key": _clean(
            threads.thread_key(parsed.message_id, parsed.in_reply_to, parsed.references)
        ),
        "subject_key": threads.subject_key(subject),
    }


def _insert_messages(rows: list[dict[str, object]]) -> None:
    """INSERT the rows with one executemany.

    ``bulk_create`` spent more time preparing 30 fields per row than SQLite spent
    writing them; here only dates and JSON go through the backend's adapters.
    """
    fields = {f.attname: f for f in Message._meta.concrete_fields}
    ops = connection.ops
    qn = ops.quote_name
    columns = [fields[name].column for name in _MESSAGE_COLUMNS]
    # Only quoted identifiers from the model are interpolated; values are parameters.
    sql = (
        f"INSERT INTO {qn(Message._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    encoder = fields["problems"].encoder
    # Adapt only the columns that need it, by position: this loop runs for every
    # row of the initial sync, in the thread that holds the write lock.
    json_at = [i for i, name in enumerate(_MESSAGE_COLUMNS) if name in _JSON_COLUMNS]
    dates_at = [i for i, name in enumerate(_MESSAGE_COLUMNS) if name in _DATE_COLUMNS]
    adapt_json, adapt_date = ops.adapt_json_value, ops.adapt_datetimefield_value
    params = []
    for row in rows:
        values = [row[name] for name in _MESSAGE_COLUMNS]
        for i in json_at:
            values[i] = adapt_json(values[i], encoder)
        for i in dates_at:
            if values[i] is not None:
                values[i] = adapt_date(values[i])
        params.append(values)
    if connection.vendor == "postgresql":
        pgbulk.copy_rows(Message, _MESSAGE_COLUMNS, params)
        return
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _insert_raws(raws: dict[str, tuple[int, rawstore.Location]]) -> None:
    """INSERT the raw messages not stored yet (sha256 -> (size, location)); another
    mailbox may store the same bytes at the same moment, hence ON CONFLICT DO
    NOTHING (SQLite and PostgreSQL): the loser's packed copy is an unreferenced
    tail that ``gc-raw`` reclaims."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(c) for c in ("sha256", "size", "data", "pack", "offset"))
    sql = (
        f"INSERT INTO {qn(RawMessage._meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES (%s, %s, %s, %s, %s) ON CONFLICT ({qn('sha256')}) DO NOTHING"
    )
    params = [(sha, size, loc.data, loc.pack, loc.offset) for sha, (size, loc) in raws.items()]
    if connection.vendor == "postgresql":
        # The bytes go as binary parameters, not as SQL text (pgbulk).
        pgbulk.execute_many(sql, params)
        return
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


# The lookups below run twice per batch of the initial sync. Written as plain
# parameterised SQL: the ORM prepared every value of the 200-item IN lists one by
# one, which cost more than the queries (0.4 s per 10,000 messages).


def _lookup(
    model: type[Model],
    columns: Sequence[str],
    equal: dict[str, object],
    in_column: str,
    values: Sequence[object],
) -> list[tuple[Any, ...]]:
    """SELECT ``columns`` of ``model``'s table WHERE each ``equal`` column matches
    and ``in_column`` IN ``values``; no query for no values. Only the model's own
    column names are interpolated; every value is a parameter."""
    if not values:
        return []
    qn = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    where = [f"{qn(column)} = %s" for column in equal]
    if postgres:
        # One array parameter instead of a list of 200 literals, which PostgreSQL
        # parsed and estimated one by one.
        where.append(f"{qn(in_column)} = ANY(%s)")
        params = [*equal.values(), list(values)]
        if all(isinstance(value, int) for value in values):
            # Without statistics (a new table, a first sync before autovacuum
            # analysed it) the planner read every row of the mailbox and
            # filtered the list; bounds keep the index scan to the batch's range.
            where.append(f"{qn(in_column)} BETWEEN %s AND %s")
            params += [min(values), max(values)]
    else:
        where.append(f"{qn(in_column)} IN ({', '.join(['%s'] * len(values))})")
        params = [*equal.values(), *values]
    sql = (
        f"SELECT {', '.join(qn(c) for c in columns)} "  # noqa: S608
        f"FROM {qn(model._meta.db_table)} WHERE {' AND '.join(where)}"
    )
    with pgbulk.cursor() if postgres else connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _stored_uids(state: FolderState, uidvalidity: int, uids: Sequence[int]) -> dict[int, int]:
    """Return {uid: message id} for the ``uids`` already stored from this folder."""
    equal = {
        "mailbox_id": state.mailbox_id,
        "server_folder": state.name,
        "uidvalidity": uidvalidity,
    }
    rows = _lookup(Message, ("uid", "id"), equal, "uid", uids)
    return {int(uid): int(pk) for uid, pk in rows}


def _known_pairs(state: FolderState, hashes: Sequence[str]) -> set[tuple[str, str]]:
    """Return the (Message-ID, SHA-256) pairs among ``hashes`` stored in this
    mailbox under this folder role (uses the dedupe index)."""
    equal = {"mailbox_id": state.mailbox_id, "folder": state.role}
    rows = _lookup(Message, ("message_id", "sha256"), equal, "sha256", hashes)
    return {(str(mid), str(sha)) for mid, sha in rows}


def _raw_ids(hashes: Sequence[str]) -> dict[str, int]:
    """Return {sha256: RawMessage id} for the ``hashes`` the raw store holds."""
    rows = _lookup(RawMessage, ("sha256", "id"), {}, "sha256", hashes)
    return {str(sha): int(pk) for sha, pk in rows}


def _to_store(
    state: FolderState, uidvalidity: int, items: Sequence[Prepared]
) -> tuple[set[int], set[tuple[str, str]], list[Prepared], dict[str, int]]:
    """Decide which ``items`` to store: returns the UIDs already present, the known
    (Message-ID, SHA-256) pairs, the items to store and the ids of the raw rows
    that already exist for the items' hashes."""
    present_uids = set(_stored_uids(state, uidvalidity, [item.fetched.uid for item in items]))
    hashes = sorted({item.sha256 for item in items})
    # A stored message's bytes are always in the raw store (its raw row is
    # protected), so only hashes the raw store holds can form known pairs: an
    # initial sync, whose bytes are all new, needs no look through the mailbox.
    raw_ids = _raw_ids(hashes)
    known = _known_pairs(state, [sha for sha in hashes if sha in raw_ids])
    todo: list[Prepared] = []
    for item in items:
        key = (_clean(item.parsed.message_id, _MAX_ID), item.sha256)
        if item.fetched.uid in present_uids or key in known:
            continue
        known.add(key)
        todo.append(item)
    return present_uids, known, todo, raw_ids


def _insert_attachments(state: FolderState, uidvalidity: int, todo: list[Prepared]) -> None:
    with_attachments = [item for item in todo if item.parsed.attachments]
    if not with_attachments:
        return
    ids = _stored_uids(state, uidvalidity, [item.fetched.uid for item in with_attachments])
    # One executemany, like the messages: bulk_create spent more time building
    # model instances and per-field SQL than SQLite spent inserting the rows.
    qn = connection.ops.quote_name
    columns = ("message_id", "filename", "content_type", "size", "part", "content_id", "inline")
    sql = (
        f"INSERT INTO {qn(Attachment._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    params = [
        (
            ids[item.fetched.uid],
            _clean(a.filename, 500),
            _clean(a.content_type, 200) or "application/octet-stream",
            a.size,
            _clean(a.part, 100),
            _clean(a.content_id, 500),
            bool(a.inline),
        )
        for item in with_attachments
        for a in item.parsed.attachments
    ]
    if connection.vendor == "postgresql":
        pgbulk.copy_rows(Attachment, columns, params)
        return
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _announce(state: FolderState, uidvalidity: int, todo: list[Prepared], repaired: bool) -> None:
    """Send ``messages_stored`` for the rows just inserted, once they commit. A
    receiver's error is logged (``robust``), never turned into a failed fetch: the
    messages are stored by then."""
    if not messages_stored.has_listeners(Message):
        return
    ids = sorted(_stored_uids(state, uidvalidity, [item.fetched.uid for item in todo]).values())
    mailbox_id, folder = state.mailbox_id, state.role

    # A named function, not a partial: Django logs a robust hook's failure by name.
    def announce_stored_messages() -> None:
        messages_stored.send(
            sender=Message,
            mailbox_id=mailbox_id,
            folder=folder,
            message_ids=ids,
            repaired=repaired,
        )

    transaction.on_commit(announce_stored_messages, robust=True)


def store_batch(
    state: FolderState,
    uidvalidity: int,
    items: Sequence[Prepared],
    *,
    repaired: bool = False,
    fetched_at: dt.datetime | None = None,
    keep: Callable[[], None] | None = None,
) -> BatchResult:
    """Commit ``items`` (fetched from ``state``'s folder under ``uidvalidity``) and
    move the folder's mark to the highest UID among them, all in one transaction.
    ``keep`` is called first inside that transaction (the fetch renews its claim
    there); whatever it raises rolls the batch back.

    A message is skipped when this (folder, UIDVALIDITY, UID) is already stored, or
    when the mailbox already holds a message of the same role with the same
    Message-ID and SHA-256 (a UIDVALIDITY change or a repair re-reads old mail).
    When ``uidvalidity`` differs from the stored one the mark restarts from this
    batch. ``state`` is updated in place. Once the batch has committed,
    ``postkamer.messages.signals.messages_stored`` announces the new rows.
    Returns a :class:`BatchResult`; raises only database errors, after which
    nothing of the batch is stored.
    """
    fetched_at = fetched_at or timezone.now()
    mailbox_id = state.mailbox_id
    uids = [item.fetched.uid for item in items]
    same_validity = state.uidvalidity == uidvalidity
    new_last = max([*uids, state.last_uid if same_validity else 0])
    with rawstore.session() as raws:
        # Bytes first, outside the transaction (SQLite holds its write lock from
        # BEGIN): only what is neither stored nor skipped, and durable before any
        # row can point at it.
        _present, _known, todo, raw_ids = _to_store(state, uidvalidity, items)
        locations, durable = raws.begin_batch(
            [(item.sha256, item.fetched.raw) for item in todo if item.sha256 not in raw_ids]
        )
        with transaction.atomic():
            if keep is not None:
                keep()
            # Decide again inside the transaction: another process may have stored
            # some of these (or gc-raw removed a raw row) since the first look.
            _present, _known, todo, raw_ids = _to_store(state, uidvalidity, items)
            if todo:
                missing = [
                    (item.sha256, item.fetched.raw)
                    for item in todo
                    if item.sha256 not in raw_ids and item.sha256 not in locations
                ]
                if missing:
                    locations.update(raws.put_batch(missing))
                new_raws = {
                    item.sha256: (len(item.fetched.raw), locations[item.sha256])
                    for item in todo
                    if item.sha256 not in raw_ids
                }
                if new_raws:
                    _insert_raws(new_raws)
                    raw_ids.update(_raw_ids(list(new_raws)))
                # The UIDs were checked under the mailbox's claim: a conflict here
                # is a bug and must fail the batch, not be ignored.
                _insert_messages(
                    [
                        _message_values(
                            mailbox_id,
                            state.role,
                            state.name,
                            uidvalidity,
                            item,
                            raw_ids[item.sha256],
                            repaired=repaired,
                            fetched_at=fetched_at,
                        )
                        for item in todo
                    ]
                )
                _insert_attachments(state, uidvalidity, todo)
                _announce(state, uidvalidity, todo, repaired)
            FolderState.objects.filter(pk=state.pk).update(
                uidvalidity=uidvalidity, last_uid=new_last, updated_at=fetched_at
            )
            # Lose nothing: the bytes must be on disk before any row pointing at
            # them commits (a failure here rolls the batch back).
            durable()
    state.uidvalidity = uidvalidity
    state.last_uid = new_last
    return BatchResult(stored=len(todo), skipped=len(items) - len(todo), last_uid=new_last)


# -- mail Postkamer wrote itself -----------------------------------------------------


def save_raws(
    writer: rawstore.PackSession | rawstore.DatabaseSession, blobs: Sequence[bytes]
) -> dict[str, int]:
    """Store ``blobs`` in the raw store (each content once) and return
    {sha256: RawMessage id}.

    Call inside ``rawstore.session()`` and a transaction: with the pack store the
    bytes are durable before this returns, and the segment stays pinned against
    ``gc-raw`` until the caller's rows are committed.
    """
    by_hash = {hashlib.sha256(blob).hexdigest(): blob for blob in blobs}
    ids = _raw_ids(sorted(by_hash))
    missing = [(sha, data) for sha, data in by_hash.items() if sha not in ids]
    if missing:
        locations = writer.put_batch(missing)
        _insert_raws({sha: (len(data), locations[sha]) for sha, data in missing})
        ids.update(_raw_ids([sha for sha, _ in missing]))
    return ids


def store_own_message(
    writer: rawstore.PackSession | rawstore.DatabaseSession,
    mailbox_id: int,
    role: str,
    raw: bytes,
    *,
    received_at: dt.datetime,
) -> Message:
    """Store a message Postkamer sent itself (raw bytes, parsed row, attachments)
    under ``role`` and return it; the row is not on a server yet (no UIDVALIDITY
    or UID). Call inside ``rawstore.session()`` and the caller's transaction.

    A later fetch of the server folder skips the message: by its UID once the
    caller records the APPENDUID, otherwise by the (Message-ID, SHA-256) check.
    """
    item = prepare(FetchedMessage(0, raw, ("\\Seen",), received_at))
    raw_id = save_raws(writer, [raw])[item.sha256]
    values = _message_values(
        mailbox_id, role, "", 0, item, raw_id, repaired=False, fetched_at=received_at
    )
    values.update(uidvalidity=None, uid=None)
    message = Message.objects.create(**values)
    Attachment.objects.bulk_create(
        [
            Attachment(
                message=message,
                filename=_clean(a.filename, 500),
                content_type=_clean(a.content_type, 200) or "application/octet-stream",
                size=a.size,
                part=_clean(a.part, 100),
                content_id=_clean(a.content_id, 500),
                inline=bool(a.inline),
            )
            for a in item.parsed.attachments
        ]
    )
    return message
