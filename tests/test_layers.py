"""The domain apps are layered: accounts ← mailboxes ← fetching/dnschecks/messages,
with the pages that combine them (postkamer.core, postkamer.api) above. A lower app
never imports a higher one, so a change in one app never has to look upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "postkamer"

# app -> the postkamer packages it must not import (at module level or inside a function).
FORBIDDEN = {
    "accounts": {
        "mailboxes",
        "messages",
        "fetching",
        "dnschecks",
        "sending",
        "api",
        "core",
        "web",
    },
}


def _imports(path: Path) -> set[str]:
    """The ``postkamer.X`` packages that ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "postkamer" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_an_app_imports_nothing_from_the_layers_above_it(app):
    offences = []
    for path in sorted((PACKAGE / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue  # migrations name other apps' models by string, as foreign keys do
        wrong = _imports(path) & FORBIDDEN[app]
        if wrong:
            offences.append(f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}")
    assert offences == []


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from postkamer.mailboxes.access import x\n")
    assert _imports(module) == {"mailboxes"}
