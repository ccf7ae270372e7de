"""Every message has a Dutch translation, and the compiled catalogue is current."""

from __future__ import annotations

from pathlib import Path

import polib

PO = Path(__file__).resolve().parent.parent / "postkamer/locale/nl/LC_MESSAGES/django.po"


def test_every_message_is_translated_to_dutch():
    po = polib.pofile(str(PO))
    assert not po.untranslated_entries(), [e.msgid for e in po.untranslated_entries()][:10]
    assert not po.fuzzy_entries(), [e.msgid for e in po.fuzzy_entries()][:10]


def test_compiled_catalogue_matches_the_po_file():
    po = polib.pofile(str(PO))
    mo = polib.mofile(str(PO.with_suffix(".mo")))
    compiled = {
        (e.msgctxt, e.msgid): (e.msgstr, tuple(sorted(e.msgstr_plural.items()))) for e in mo
    }
    for entry in po.translated_entries():
        key = (entry.msgctxt, entry.msgid)
        assert key in compiled, f"run compilemessages: {entry.msgid!r} missing from django.mo"
        assert compiled[key][0] == entry.msgstr or entry.msgid_plural
