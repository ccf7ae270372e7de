"""Synchronising a mailbox's folders (INBOX, junk, sent): which UIDs to fetch, and
committing them batch by batch before the folder's mark moves (docs/product.md, Fetching)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

from django.utils import timezone

from postkamer.fetching import hooks, lease, reader, store
from postkamer.fetching.models import FolderState
from postkamer.fetching.pool import close_quietly, pool, pool_key
from postkamer.fetching.pool import connect as pool_connect
from postkamer.mail import errors, imapfetch
from postkamer.mail.imap import ImapConnection
from postkamer.mailboxes.models import Mailbox
from postkamer.messages.models import Folder

#: progress(done_messages, total_messages, done_bytes)
Progress = Callable[[int, int, int], None]


class FolderSync:
    """Syncs the folders of one mailbox on one connection, counting progress."""

    def __init__(
        self,
        conn: ImapConnection,
        mailbox: Mailbox,
        token: str | None,
        progress: Progress | None,
    ) -> None:
        self.conn = conn
        self.mailbox = mailbox
        self.token = token
        self.progress = progress
        self.done = 0
        self.total = 0
        self.bytes = 0

    def run(
        self,
        role: str,
        name: str,
        known: imapfetch.FolderStatus | None = None,
        repair_since: dt.datetime | None = None,
    ) -> int:
        """Fetch what is new in folder ``name`` (``role``: inbox/junk/sent) and
        return how many messages were stored; ``known`` is its STATUS if read."""
        state, _created = FolderState.objects.get_or_create(
            mailbox=self.mailbox, role=role, defaults={"name": name}
        )
        if state.name != name:
            # The administrator chose another folder: it is a different UID space.
            state.name, state.uidvalidity, state.last_uid = name, None, 0
            state.save(update_fields=["name", "uidvalidity", "last_uid"])
        current = known or imapfetch.status(self.conn, name)
        unchanged = (
            repair_since is None
            and state.uidvalidity == current.uidvalidity
            and current.uidnext is not None
            and current.uidnext <= state.last_uid + 1
        )
        if unchanged:
            return 0
        opened = imapfetch.examine(self.conn, name)
        try:
            if state.uidvalidity != opened.uidvalidity:
                # New folder, or the server renumbered it: re-read from the
                # synchronisation date; the store skips what we already hold.
                since = self.mailbox.sync_since
                if repair_since is not None:
                    since = min(since, repair_since)
                uids = imapfetch.uids_since(self.conn, since)
            elif repair_since is not None:
                uids = imapfetch.uids_since(self.conn, repair_since)
            else:
                uids = imapfetch.uids_after(self.conn, state.last_uid)
            stored = self._fetch(state, opened.uidvalidity, uids, repaired=repair_since is not None)
            # Every UID below UIDNEXT that we wanted is committed now (or was
            # expunged), so the mark may move up to it.
            base = state.last_uid if state.uidvalidity == opened.uidvalidity else 0
            last_uid = max(base, (opened.uidnext or 1) - 1)
            FolderState.objects.filter(pk=state.pk).update(
                uidvalidity=opened.uidvalidity,
                last_uid=last_uid,
                uidnext=opened.uidnext,
                message_count=opened.messages,
                highestmodseq=current.highestmodseq,
                updated_at=timezone.now(),
            )
        finally:
            with contextlib.suppress(errors.MailError):
                imapfetch.unselect(self.conn)
        return stored

    def _fetch(self, state: FolderState, uidvalidity: int, uids: list[int], repaired: bool) -> int:
        self.total += len(uids)
        self._report()
        if not uids:
            return 0
        stored = 0
        fetched_at = timezone.now()
        with reader.background_checkpoints(len(uids)):
            batches = reader.BatchReader(self.conn, uids)
            try:
                for batch, size in batches:
                    stored += self._commit(state, uidvalidity, batch, size, repaired, fetched_at)
            finally:
                batches.stop()
        return stored

    def _commit(
        self,
        state: FolderState,
        uidvalidity: int,
        batch: list[store.Prepared],
        size: int,
        repaired: bool,
        fetched_at: dt.datetime,
    ) -> int:
        hooks.reached("after_batch")
        mailbox_id, token = self.mailbox.pk, self.token

        def keep() -> None:
            # In the batch's transaction: it commits only while the lease is ours.
            if token is not None:
                lease.renew(mailbox_id, token)

        result = store.store_batch(
            state, uidvalidity, batch, repaired=repaired, fetched_at=fetched_at, keep=keep
        )
        hooks.reached("after_commit")
        self.done += len(batch)
        self.bytes += size
        self._report()
        return result.stored

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, self.bytes)


def folders(mailbox: Mailbox, *, inbox: bool = True) -> list[tuple[str, str]]:
    """The (role, server folder) pairs to sync: INBOX (unless ``inbox`` is False:
    a watcher holds it in IDLE), then junk and sent if chosen."""
    chosen = [(Folder.INBOX.value, "INBOX")] if inbox else []
    if mailbox.junk_folder:
        chosen.append((Folder.JUNK.value, mailbox.junk_folder))
    if mailbox.sent_folder:
        chosen.append((Folder.SENT.value, mailbox.sent_folder))
    return chosen


def sync(
    mailbox: Mailbox,
    token: str | None = None,
    progress: Progress | None = None,
    *,
    inbox: bool = True,
) -> int:
    """Fetch the mailbox's folders (INBOX, junk, sent) and commit new messages;
    returns how many were stored. Does not claim: the caller holds ``token``.

    A missing junk/sent folder does not stop the others: the other folders are
    synced first and then ``FolderMissing`` is raised. Raises ``MailError`` (the
    connection is closed then), ``SecretUnreadable`` or ``LeaseLost``.
    """
    key = pool_key(mailbox)
    conn, inbox_status = pool_connect(mailbox, key)
    repair_since = mailbox.repair_since
    syncer = FolderSync(conn, mailbox, token, progress)
    stored = 0
    missing: list[errors.FolderMissing] = []
    try:
        for role, name in folders(mailbox, inbox=inbox):
            try:
                stored += syncer.run(
                    role,
                    name,
                    inbox_status if role == Folder.INBOX else None,
                    repair_since=repair_since,
                )
            except errors.FolderMissing as exc:
                missing.append(exc)
    except BaseException:
        close_quietly(conn)
        raise
    pool.give_back(mailbox.pk, key, conn)
    if repair_since is not None and not missing:
        # Only the repair we ran is finished; a newer one set meanwhile stays.
        Mailbox.objects.filter(pk=mailbox.pk, repair_since=repair_since).update(repair_since=None)
    if missing:
        raise missing[0]
    return stored
