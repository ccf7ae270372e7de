"""The data dir holds the database, the raw mail, the task queue and the keys: the
owner's alone.

Every ``postkamer`` process runs with umask 077 (``postkamer.cli`` and
``postkamer.wsgi`` set it before anything opens a file), so whatever it creates —
the SQLite database and its ``-wal``/``-shm`` files (SQLite gives those the
database's mode), pack segments, ``huey.sqlite3``, key files — is 0600 and every
directory 0700, without each writer having to remember. ``postkamer check`` (and
every command at start) warns about anything looser, e.g. files left by an older
version or copied in by hand.

No Django import at module level: ``postkamer.cli`` calls ``create`` before Django
is set up (Huey opens its SQLite file while the apps load).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Bits nobody but the owner may have on anything in the data dir.
OTHERS = 0o077
UMASK = 0o077


def create(directory: Path) -> bool:
    """Create ``directory`` with mode 0700 when it is missing; True when created."""
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return False
    # mkdir's mode is filtered by the umask; say it once more in case it was looser.
    os.chmod(directory, 0o700)
    return True


def make_private(directory: Path) -> bool:
    """Create ``directory`` (0700), or take group and other access away from it.

    Returns True when the mode of an existing directory was changed. A 0700 data
    dir keeps every other user out of everything in it, whatever the files' own
    modes say.
    """
    if create(directory):
        return False
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & OTHERS:
        os.chmod(directory, mode & ~OTHERS)
        return True
    return False


def loose_entries(directory: Path) -> list[tuple[Path, int]]:
    """Return the data dir and everything in it that group or others may use, with
    its mode (symbolic links are not followed)."""
    found = []
    try:
        top = directory.lstat()
    except FileNotFoundError:
        return []
    if stat.S_IMODE(top.st_mode) & OTHERS:
        found.append((directory, stat.S_IMODE(top.st_mode)))
    for root, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            path = Path(root) / name
            try:
                info = path.lstat()
            except FileNotFoundError:  # removed while we looked (a WAL checkpoint)
                continue
            if stat.S_ISLNK(info.st_mode):
                continue
            if stat.S_IMODE(info.st_mode) & OTHERS:
                found.append((path, stat.S_IMODE(info.st_mode)))
    return found
