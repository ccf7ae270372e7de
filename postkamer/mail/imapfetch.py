"""Read-only IMAP fetching by UID, with a fast bulk reader for message bodies.

Everything here works on an :class:`postkamer.mail.imap.ImapConnection` and never
changes the server: folders are opened with EXAMINE and bodies fetched with
``BODY.PEEK[]``, so no \\Seen flag is ever set.

Small commands (STATUS, EXAMINE, SEARCH) go through IMAPClient. The bulk
``UID FETCH (UID FLAGS INTERNALDATE BODY.PEEK[])`` is sent and read with imaplib's
documented ``send``/``readline``/``read`` on the connection's ``imap4``:
IMAPClient's generic response parser costs as much CPU as everything else in a
bulk download, while a body is just ``{n}`` followed by n bytes, which one
``read`` returns as one bytes object.

Every command runs under a deadline (:func:`postkamer.mail.imap.bounded`); a bulk
FETCH gets one more second for every ``min_rate`` bytes the server announces, and
the time the caller spends between two messages does not count.

Nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from imapclient import exceptions as imap_exc

from postkamer.mail import errors, net
from postkamer.mail.deadline import Deadline
from postkamer.mail.imap import ImapConnection, bounded

__all__ = [
    "FetchedMessage",
    "FolderStatus",
    "examine",
    "fetch_messages",
    "parse_internaldate",
    "status",
    "uid_set",
    "uids_after",
    "uids_since",
    "unselect",
]

#: UIDs per bulk FETCH command: short enough for any server's line limit.
FETCH_CHUNK = 500
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")
_UID = re.compile(rb"\bUID (\d+)", re.IGNORECASE)
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)", re.IGNORECASE)
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]+)"', re.IGNORECASE)
_tags = itertools.count(1)


@dataclass(frozen=True)
class FolderStatus:
    """What STATUS or EXAMINE says about a folder. ``highestmodseq`` is None
    without CONDSTORE."""

    uidvalidity: int
    uidnext: int | None
    messages: int | None
    highestmodseq: int | None = None


@dataclass
class FetchedMessage:
    """One message as read from the server."""

    uid: int
    raw: bytes
    flags: tuple[str, ...]
    internal_date: dt.datetime | None

    @property
    def seen(self) -> bool:
        """Return True when the server had the message flagged \\Seen."""
        return any(f.lower() == "\\seen" for f in self.flags)


@contextlib.contextmanager
def _guard(conn: ImapConnection, folder: str | None = None) -> Iterator[None]:
    """Run one command under its deadline, turning imaplib/IMAPClient/socket
    exceptions into :mod:`errors`; a NO about ``folder`` becomes ``FolderMissing``."""
    with net.translate_errors(conn.host, conn.port, conn.options.timeout), bounded(conn):
        try:
            yield
        except imaplib.IMAP4.abort as exc:
            raise errors.ProtocolError(f"{conn.host} dropped the connection: {exc}") from None
        except (imap_exc.IMAPClientError, imaplib.IMAP4.error) as exc:
            text = str(exc)
            if folder is not None:
                # A refused STATUS/EXAMINE means the folder cannot be read: Dovecot
                # says "Mailbox doesn't exist", others NO [NONEXISTENT] or similar.
                raise errors.FolderMissing(folder, f"{folder!r} on {conn.host}: {text}") from None
            raise errors.ProtocolError(f"{conn.host}: {text}") from None


def _int(value: object) -> int | None:
    return int(value) if value is not None else None  # type: ignore[arg-type]


def status(conn: ImapConnection, folder: str) -> FolderStatus:
    """One STATUS round trip: UIDVALIDITY, UIDNEXT, MESSAGES (and HIGHESTMODSEQ
    when the server offers CONDSTORE).

    Raises ``FolderMissing`` when the server says NO, otherwise ``Timeout`` or
    ``ProtocolError``.
    """
    what = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"]
    if conn.has_capability("CONDSTORE"):
        what.append("HIGHESTMODSEQ")
    with _guard(conn, folder):
        result = conn.folder_status(folder, what)
    return FolderStatus(
        uidvalidity=int(result[b"UIDVALIDITY"]),
        uidnext=_int(result.get(b"UIDNEXT")),
        messages=_int(result.get(b"MESSAGES")),
        highestmodseq=_int(result.get(b"HIGHESTMODSEQ")),
    )


def examine(conn: ImapConnection, folder: str) -> FolderStatus:
    """Open ``folder`` read-only (EXAMINE) and return its state.

    Raises ``FolderMissing``, ``Timeout`` or ``ProtocolError``.
    """
    with _guard(conn, folder):
        result = conn.select_folder(folder, readonly=True)
    return FolderStatus(
        uidvalidity=int(result[b"UIDVALIDITY"]),
        uidnext=_int(result.get(b"UIDNEXT")),
        messages=_int(result.get(b"EXISTS")),
        highestmodseq=_int(result.get(b"HIGHESTMODSEQ")),
    )


def unselect(conn: ImapConnection) -> None:
    """Leave the selected folder (UNSELECT, or CLOSE, which expunges nothing after
    EXAMINE). Raises ``Timeout`` or ``ProtocolError``."""
    with _guard(conn):
        if conn.has_capability("UNSELECT"):
            conn.unselect_folder()
        else:
            conn.close_folder()


def uids_after(conn: ImapConnection, last_uid: int) -> list[int]:
    """Return the UIDs above ``last_uid`` in the selected folder, ascending.

    ``UID SEARCH n:*`` also matches the highest message when its UID is below n
    (RFC 3501 §6.4.8), hence the filter. Raises ``Timeout`` or ``ProtocolError``.
    """
    with _guard(conn):
        found = conn.search(["UID", f"{last_uid + 1}:*"])
    return sorted(uid for uid in found if uid > last_uid)


def uids_since(conn: ImapConnection, since: dt.datetime) -> list[int]:
    """Return the UIDs in the selected folder whose INTERNALDATE is at or after
    ``since`` (aware), to the minute, ascending.

    SEARCH SINCE only knows dates and ignores time zones, so the search starts a
    day early and the messages of the boundary days are checked by INTERNALDATE.
    Raises ``Timeout`` or ``ProtocolError``.
    """
    if since.tzinfo is None:
        raise ValueError("since must be an aware datetime")
    since = since.replace(second=0, microsecond=0)
    day = since.astimezone(dt.UTC).date()
    with _guard(conn):
        candidates = conn.search(["SINCE", day - dt.timedelta(days=1)])
    if not candidates:
        return []
    with _guard(conn):
        sure = set(conn.search(["SINCE", day + dt.timedelta(days=2)]))
    boundary = sorted(set(candidates) - sure)
    keep = set(sure)
    # Our own reader: IMAPClient's parser costs ~0.1 ms per message here, and
    # for a recent sync date every message is on a boundary day.
    reader = _BulkReader(conn)
    for start in range(0, len(boundary), FETCH_CHUNK):
        chunk = boundary[start : start + FETCH_CHUNK]
        for message in reader.fetch(chunk, with_body=False):
            if message.internal_date is not None and message.internal_date >= since:
                keep.add(message.uid)
    return sorted(keep)


def uid_set(uids: Iterable[int]) -> str:
    """Return ``uids`` as a compact IMAP sequence set (``1:5,9,12:13``)."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        ranges.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(ranges)


def parse_internaldate(value: bytes | str) -> dt.datetime:
    """Return the aware datetime of an INTERNALDATE such as
    ``" 6-Nov-2026 21:00:00 +0100"``, with its own offset (never today's).

    Raises ValueError when it is malformed.
    """
    text = value.decode("ascii") if isinstance(value, bytes) else value
    date_part, time_part, zone = text.strip().split(" ")
    day, month, year = date_part.split("-")
    hour, minute, second = (int(x) for x in time_part.split(":"))
    sign = -1 if zone[0] == "-" else 1
    offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
    return dt.datetime(
        int(year),
        _MONTHS[month.lower()],
        int(day),
        hour,
        minute,
        second,
        tzinfo=dt.timezone(offset),
    )


class _BulkReader:
    """Sends one UID FETCH at a time and reads its responses (see the module
    docstring); each FETCH runs under its own deadline."""

    def __init__(self, conn: ImapConnection) -> None:
        self.conn = conn
        self.imap4 = conn.imap4
        self.with_body = True
        self.deadline: Deadline | None = None

    def readline(self) -> bytes:
        try:
            line = self.imap4.readline()
        except imaplib.IMAP4.error:
            # imaplib refuses lines over its limit (1,000,000 bytes).
            raise errors.ProtocolError(f"{self.conn.host} sent an overlong line") from None
        if not line.endswith(b"\r\n"):
            if not line:
                raise errors.ProtocolError(f"{self.conn.host} closed the connection")
            raise errors.ProtocolError(f"{self.conn.host} sent a broken line")
        return line

    def read_literal(self, size: int) -> bytes:
        if self.deadline is not None:
            # An honest server needs time for what it sends; a dripping one does
            # not get more than the bytes it announced are worth.
            self.deadline.extend(size / self.conn.options.min_rate)
        # imaplib's read(n) is BufferedReader.read(n): what is buffered, then the
        # rest read from the socket straight into the new bytes object: one copy,
        # and no temporary buffer of the message's size (the batch's bytes are
        # copied once more only by the kernel, when the raw store writes them).
        data = self.imap4.read(size)
        if len(data) != size:
            raise errors.ProtocolError(
                f"{self.conn.host} closed the connection in the middle of a message"
            )
        return data

    def fetch(self, uids: list[int], with_body: bool = True) -> Iterator[FetchedMessage]:
        """Yield the messages of one UID FETCH; raises ``Timeout`` when the server
        is too slow, ``ProtocolError`` when it breaks the protocol."""
        conn = self.conn
        self.deadline = conn.options.new_deadline(f"{conn.host}:{conn.port}")
        with (
            net.translate_errors(conn.host, conn.port, conn.options.timeout),
            bounded(conn, self.deadline),
        ):
            try:
                yield from self._fetch(uids, with_body)
            except imaplib.IMAP4.error as exc:
                raise errors.ProtocolError(f"{conn.host}: {exc}") from None
            finally:
                self.deadline = None

    def _fetch(self, uids: list[int], with_body: bool) -> Iterator[FetchedMessage]:
        wanted = set(uids)
        tag = f"PKF{next(_tags)}".encode()
        items = b" (UID FLAGS INTERNALDATE BODY.PEEK[])" if with_body else b" (UID INTERNALDATE)"
        command = tag + b" UID FETCH " + uid_set(uids).encode() + items
        self.with_body = with_body
        self.imap4.send(command + b"\r\n")
        deadline = self.deadline
        assert deadline is not None
        while True:
            line = self.readline()
            if line.startswith(tag + b" "):
                result = line[len(tag) + 1 :].split(b" ", 1)[0].upper()
                if result == b"OK":
                    return
                if result == b"NO":
                    # Dovecot says NO when some messages vanished mid-fetch; the
                    # others were delivered and the missing ones are just gone.
                    return
                raise errors.ProtocolError(
                    f"{self.conn.host} refused FETCH: {line.decode(errors='replace').strip()}"
                )
            if not line.startswith(b"* "):
                raise errors.ProtocolError(
                    f"{self.conn.host} sent an unexpected line: {line[:80]!r}"
                )
            if line[2:6].upper() == b"BYE ":
                raise errors.ProtocolError(
                    f"{self.conn.host} ended the session: {line.decode(errors='replace').strip()}"
                )
            message = self._fetch_response(line)
            if message is not None and message.uid in wanted:
                wanted.discard(message.uid)
                # What the caller does with the message (parse it, wait for the
                # database) is not the server's time.
                with deadline.hold():
                    yield message

    def _fetch_response(self, line: bytes) -> FetchedMessage | None:
        # Untagged EXPUNGE/EXISTS/FLAGS-only FETCH responses carry no body and
        # are skipped; a message expunged meanwhile simply never shows up.
        text = [line]
        body: bytes | None = None
        while True:
            m = _LITERAL.search(line)
            if m is None:
                break
            literal = self.read_literal(int(m.group(1)))
            before = line[: m.start()].rstrip().upper()
            if before.endswith(b"BODY[]"):
                body = literal
            text[-1] = line[: m.start()]
            line = self.readline()
            text.append(line)
        if body is None:
            if self.with_body:
                return None
            body = b""
        if b" FETCH " not in text[0].upper():
            return None
        joined = b"".join(text)
        uid_match = _UID.search(joined)
        if uid_match is None:
            return None
        flags_match = _FLAGS.search(joined)
        flags = tuple(flags_match.group(1).decode(errors="replace").split()) if flags_match else ()
        date_match = _INTERNALDATE.search(joined)
        internal_date = None
        if date_match is not None:
            with contextlib.suppress(ValueError, KeyError, IndexError):
                internal_date = parse_internaldate(date_match.group(1))
        return FetchedMessage(int(uid_match.group(1)), body, flags, internal_date)


def fetch_messages(
    conn: ImapConnection, uids: Iterable[int], chunk: int = FETCH_CHUNK
) -> Iterator[FetchedMessage]:
    """Yield the messages ``uids`` of the selected folder in server order, with
    UID, flags, INTERNALDATE and the exact raw bytes, without setting \\Seen.

    UIDs the server no longer has are skipped silently. Raises ``Timeout`` or
    ``ProtocolError`` (connection lost, even in the middle of a message, BYE,
    BAD); messages yielded before that are complete.
    """
    ordered = sorted(set(uids))
    reader = _BulkReader(conn)
    for start in range(0, len(ordered), chunk):
        yield from reader.fetch(ordered[start : start + chunk])
