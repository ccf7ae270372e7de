"""Fail when `makemessages` would add or drop a message: the Dutch catalogue must
match the source strings. The catalogue itself is left as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "postkamer/locale/nl/LC_MESSAGES/django.po"


def keys(path: Path) -> set[tuple[str | None, str, str]]:
    return {(e.msgctxt, e.msgid, e.msgid_plural) for e in polib.pofile(str(path)) if e.msgid}


def main() -> int:
    saved = PO.with_suffix(".po.saved")
    shutil.copy2(PO, saved)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "django",
                "makemessages",
                "-l",
                "nl",
                "--no-obsolete",
                "--no-location",
                "-v",
                "0",
            ],
            cwd=ROOT / "postkamer",
            env=env,
            check=True,
        )
        before, after = keys(saved), keys(PO)
    finally:
        shutil.move(saved, PO)
    added, dropped = sorted(after - before, key=str), sorted(before - after, key=str)
    for label, items in (("not in the catalogue", added), ("no longer in the code", dropped)):
        for ctxt, msgid, _plural in items[:20]:
            print(f"  {label}: {msgid[:90]!r}" + (f" (context {ctxt})" if ctxt else ""))
    if added or dropped:
        print(
            "makemessages would change the catalogue: run it, translate, compilemessages "
            "(see docs/architecture.md, Translations)"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
