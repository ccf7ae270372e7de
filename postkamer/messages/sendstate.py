"""The send state shown with a message (``send_state`` in the API and on the page).

Fetched mail has none. Mail written in Postkamer has one, which the sending app
knows; it sits above this app, so it registers how to read the state from its
``AppConfig.ready`` (``register``), and everything that shows a message asks here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from postkamer.messages.models import Message

_provider: Callable[[Message], dict[str, Any] | None] | None = None


def register(provider: Callable[[Message], dict[str, Any] | None]) -> None:
    """Let ``provider(message)`` answer :func:`send_state` (the sending app's)."""
    global _provider
    _provider = provider


def send_state(message: Message) -> dict[str, Any] | None:
    """The state of sending ``message`` (None for mail that was fetched)."""
    if _provider is None or message.folder != "sent":
        return None
    return _provider(message)
