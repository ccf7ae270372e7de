"""Signals about stored messages, for features that act on new mail.

``messages_stored`` is sent once a batch of fetched messages has committed
(``transaction.on_commit``), never for a batch that rolled back. Arguments:

- ``mailbox_id``: the mailbox;
- ``folder``: the folder role (``inbox``, ``junk`` or ``sent``);
- ``message_ids``: the ids of the messages this batch newly stored;
- ``repaired``: True when they came in through "repair synchronisation".

Receivers run in the fetching process, right after the commit: queue work, do not
do it there.
"""

from __future__ import annotations

from django.dispatch import Signal

messages_stored = Signal()
