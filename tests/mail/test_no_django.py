"""postkamer.mail must work without Django."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import postkamer.mail

ROOT = Path(__file__).resolve().parents[2]


def test_every_mail_module_imports_with_django_unavailable():
    modules = sorted(
        m.name for m in pkgutil.iter_modules(postkamer.mail.__path__, "postkamer.mail.")
    )
    assert {"postkamer.mail.errors", "postkamer.mail.net", "postkamer.mail.imap"} <= set(modules)
    code = (
        "import importlib, sys\n"
        # None in sys.modules makes every 'import django' raise ImportError.
        "sys.modules['django'] = None\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules"
        " if sys.modules[m] is not None)\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
