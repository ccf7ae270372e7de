"""Named points in a fetch where tests may step in (e.g. to kill the worker there).

The product never acts at these points: :func:`reached` calls the functions in
:data:`listeners`, which is empty unless a test appends one. Points:

- ``after_batch``: a batch is read and parsed, nothing of it is committed yet;
- ``after_commit``: the batch and the folder's mark are committed.
"""

from __future__ import annotations

from collections.abc import Callable

#: Functions called with the point's name; tests add to it and remove again.
listeners: list[Callable[[str], None]] = []


def reached(point: str) -> None:
    """Tell the listeners (if any) that the fetch is at ``point``."""
    for listener in listeners:
        listener(point)
