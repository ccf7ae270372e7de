"""The send state shown with a message (``send_state`` in the API and on the page).

Fetched mail has none. Mail written here gets one once sending exists; this
function is the only place that has to learn about it.
"""

from __future__ import annotations

from postkamer.messages.models import Message


def send_state(message: Message) -> dict[str, object] | None:
    """The state of sending ``message`` (None for mail that was fetched)."""
    return None
