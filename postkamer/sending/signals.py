"""What the sending worker tells others (e.g. the automatic reply, to record its outcome).

Both are sent once per outgoing message, after the state change has committed,
with ``outgoing`` (the :class:`~postkamer.sending.models.OutgoingMessage`):

- ``outgoing_sent``: the server took the message; the copy is under Verzonden
  (``outgoing.sent_message``); ``outgoing.refused`` lists addresses it refused;
- ``outgoing_failed``: it will not be sent (``outgoing.error_code`` and
  ``error_params`` say why; a failed message the author sends again may fail again).
"""

from __future__ import annotations

from django.dispatch import Signal

outgoing_sent = Signal()
outgoing_failed = Signal()
