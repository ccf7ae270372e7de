"""The domain apps are layered: accounts <- mailboxes <- fetching/dnschecks/messages/….

``mailboxes`` imports nothing above it; the apps above add their parts to its pages
through ``mailboxes.extensions``. Read from the source, so an import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.template.loader import get_template

import postkamer.mailboxes

#: What ``postkamer.mailboxes`` may import from the project: itself, the layer below
#: (accounts), the Django-free protocol code and the shared helpers.
ALLOWED = ("postkamer.mailboxes", "postkamer.accounts", "postkamer.mail", "postkamer.core")
ALLOWED_MODULES = ("postkamer.crypto", "postkamer.envconf")


def _project_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # "from postkamer import crypto" imports postkamer.crypto.
            base = node.module
            names = [f"{base}.{a.name}" for a in node.names] if base == "postkamer" else [base]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] == "postkamer"]
    return found


def _allowed(name: str) -> bool:
    return name in ALLOWED_MODULES or any(
        name == top or name.startswith(top + ".") for top in ALLOWED
    )


def test_mailboxes_imports_nothing_from_the_apps_above_it():
    root = Path(postkamer.mailboxes.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert root / "views.py" in files and root / "actions.py" in files
    upward = [
        f"{path.relative_to(root)}:{line} imports {name}"
        for path in files
        for line, name in _project_imports(path)
        if not _allowed(name)
    ]
    assert not upward, upward


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from postkamer import crypto\n"
        "def f():\n"
        "    from postkamer.fetching import repair\n"
        "    import postkamer.dnschecks.services\n"
    )
    names = [name for _, name in _project_imports(sample)]
    assert names == ["postkamer.crypto", "postkamer.fetching", "postkamer.dnschecks.services"]
    assert [_allowed(n) for n in names] == [True, False, False]


def test_the_parts_of_the_apps_above_are_registered_on_the_mailbox_pages():
    from postkamer.mailboxes import extensions

    assert {m.template for m in extensions.list_marks} >= {"dnschecks/_list_mark.html"}
    assert {s.template for s in extensions.page_sections} >= {"fetching/_repair_section.html"}
    for template in [m.template for m in extensions.list_marks] + [
        s.template for s in extensions.page_sections
    ]:
        get_template(template)
