"""The domain apps are layered: accounts ← mailboxes ← fetching/dnschecks/messages/…,
with the pages that combine them (``postkamer.core``, ``postkamer.api``) above and the
shared helpers (``postkamer.shared``, ``crypto``, ``envconf``, the protocol code in
``postkamer.mail``) below. A lower app never imports a higher one, so a change in one
app never has to look upward. Read from the source, so an import inside a function
counts as much as one at the top; migrations are skipped (they name other apps'
models by string, as foreign keys do).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.template.loader import get_template

PACKAGE = Path(__file__).resolve().parent.parent / "postkamer"

_ABOVE_MAILBOXES = {"messages", "fetching", "dnschecks", "sending", "autoreply", "api", "core"}

#: app -> the postkamer packages it must not import.
FORBIDDEN = {
    "accounts": {"mailboxes", *_ABOVE_MAILBOXES},
    "mailboxes": _ABOVE_MAILBOXES,
    "shared": {"accounts", "mailboxes", *_ABOVE_MAILBOXES},
    # The automatic reply sits above sending and hears from it through its signals.
    "sending": {"autoreply", "api", "core"},
    # Stored mail sits below the fetch that stores it and the sending that writes it;
    # only the e-mail module's page (views.py, with the fetch button) uses fetching.
    "messages": {"fetching", "sending", "autoreply", "api", "core"},
    "fetching": {"sending", "autoreply", "api", "core"},
}
#: Pages that combine their own app with one above it (see docs/architecture.md).
PAGES = {PACKAGE / "messages" / "views.py"}


def _imports(path: Path) -> set[str]:
    """The ``postkamer.X`` packages and modules that ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from postkamer import crypto" imports postkamer.crypto.
            if node.module == "postkamer":
                names = [f"postkamer.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "postkamer" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_an_app_imports_nothing_from_the_layers_above_it(app):
    files = [
        p
        for p in sorted((PACKAGE / app).rglob("*.py"))
        if "migrations" not in p.parts and p not in PAGES
    ]
    assert files
    offences = [
        f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}"
        for path in files
        if (wrong := _imports(path) & FORBIDDEN[app])
    ]
    assert offences == []


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from postkamer import crypto\n"
        "def f():\n"
        "    from postkamer.fetching import repair\n"
        "    import postkamer.dnschecks.services\n"
    )
    assert _imports(module) == {"crypto", "fetching", "dnschecks"}


def test_the_parts_of_the_apps_above_are_registered_on_the_mailbox_pages():
    from postkamer.mailboxes import extensions

    assert {m.template for m in extensions.list_marks} >= {"dnschecks/_list_mark.html"}
    assert {s.template for s in extensions.page_sections} >= {"fetching/_repair_section.html"}
    for template in [m.template for m in extensions.list_marks] + [
        s.template for s in extensions.page_sections
    ]:
        get_template(template)
