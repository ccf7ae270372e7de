"""The data dir: private (0700, files 0600) after bootstrap and serve, warned about by
``postkamer check`` when looser, untouched by importing the settings, and keys made
only by bootstrap/serve. Runs the README's set-up and logs in over HTTP."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from postkamer.core import checks

EMBEDDED_ONLY = pytest.mark.skipif(
    os.environ.get("DATABASE_URL") is not None, reason="the embedded default (SQLite)"
)
PASSWORD = "Kies-een-sterk-wachtwoord"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"POSTKAMER_SECRET_KEY", "POSTKAMER_ENCRYPTION_KEYS", "DATABASE_URL"}
        and not key.startswith("PYTEST_")
    }
    env.pop("POSTKAMER_HUEY_IMMEDIATE", None)
    env.update(
        {"POSTKAMER_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "postkamer.settings"}
    )
    env.update(extra)
    return env


def _loose_umask() -> None:
    os.umask(0o022)  # what a shell usually has: files 0644 unless the process says otherwise


def _postkamer(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "postkamer.cli", *args],
        env=_env(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_loose_umask,
    )


def _modes(data_dir: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(data_dir.stat().st_mode))}
    for path in data_dir.rglob("*"):
        found[str(path.relative_to(data_dir))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def _assert_private(data_dir: Path) -> dict[str, str]:
    modes = _modes(data_dir)
    for name, mode in modes.items():
        path = data_dir / name
        expected = "0o700" if path.is_dir() else "0o600"
        assert mode == expected, (name, mode, modes)
    return modes


def test_importing_the_settings_creates_no_directory_and_writes_no_key(tmp_path):
    missing = tmp_path / "nog-niet"
    code = (
        "from django.conf import settings; "
        "print(settings.DATA_DIR, settings.ENCRYPTION_KEYS, len(settings.INSTALLED_APPS))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=_env(missing), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert f"{missing} []" in result.stdout
    assert not missing.exists()


@pytest.mark.parametrize("command", ["web", "worker"])
def test_web_and_worker_refuse_to_start_without_keys_in_one_line(tmp_path, command):
    result = _postkamer(tmp_path, command)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "POSTKAMER_SECRET_KEY" in lines[0] and "postkamer bootstrap" in lines[0]
    assert not (tmp_path / "secret_key").exists()


@EMBEDDED_ONLY
def test_bootstrap_makes_a_loose_data_dir_private_and_every_file_it_writes_0600(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    result = _postkamer(
        data_dir,
        "bootstrap",
        "--tenant",
        "Kantoor",
        "--edition",
        "compleet",
        "--admin",
        "beheer@example.nl",
        POSTKAMER_ADMIN_PASSWORD=PASSWORD,
    )
    assert result.returncode == 0, result.stderr
    assert "now the owner's alone" in result.stdout and "Generated secret_key" in result.stdout
    modes = _assert_private(data_dir)
    assert {"postkamer.sqlite3", "huey.sqlite3", "secret_key", "encryption_keys"} <= set(modes)

    # Pack segments and their directories, written by a postkamer process.
    code = (
        "from postkamer.messages import rawstore; import hashlib; b = b'Subject: x\\r\\n\\r\\n'; "
        "rawstore.put_batch([(hashlib.sha256(b).hexdigest(), b)], kind='pack')"
    )
    result = _postkamer(data_dir, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    modes = _assert_private(data_dir)
    assert "mail/packs/000001.pack" in modes


def test_check_warns_about_anything_in_the_data_dir_open_to_others(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    os.chmod(tmp_path, 0o700)
    (tmp_path / "secret_key").write_text("x")
    os.chmod(tmp_path / "secret_key", 0o600)
    assert checks.data_dir_is_private() == []
    (tmp_path / "postkamer.sqlite3").write_bytes(b"")
    os.chmod(tmp_path / "postkamer.sqlite3", 0o644)
    (tmp_path / "mail").mkdir()
    os.chmod(tmp_path / "mail", 0o755)
    os.chmod(tmp_path, 0o755)
    [warning] = checks.data_dir_is_private()
    assert warning.id == "postkamer.W001"
    assert f"{tmp_path} (0755)" in warning.msg
    assert "postkamer.sqlite3 (0644)" in warning.msg and "mail (0755)" in warning.msg
    assert "secret_key" not in warning.msg
    assert f"chmod -R go-rwx {tmp_path}" in warning.hint


def test_postkamer_check_reports_the_loose_modes(tmp_path):
    (tmp_path / "encryption_keys").write_text("")
    os.chmod(tmp_path / "encryption_keys", 0o644)
    result = _postkamer(tmp_path, "check")
    assert "postkamer.W001" in result.stderr + result.stdout
    assert "encryption_keys (0644)" in result.stderr + result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_in_over_http(base: str, email: str, password: str) -> str:
    """Log in through the form like a browser (cookie, CSRF token); return the final URL."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/account/login/") as response:
        form = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": email, "password": password}
    ).encode()
    with opener.open(f"{base}/account/login/", data=data) as response:
        return response.geturl()


@EMBEDDED_ONLY
def test_the_readme_set_up_bootstrap_then_serve_lets_the_admin_log_in_with_private_files(
    tmp_path,
):
    data_dir = tmp_path / "data"
    bootstrap = _postkamer(
        data_dir,
        "bootstrap",
        "--tenant",
        "Mijn kantoor",
        "--edition",
        "compleet",
        "--admin",
        "beheer@example.nl",
        POSTKAMER_ADMIN_PASSWORD=PASSWORD,
    )
    assert bootstrap.returncode == 0, bootstrap.stderr
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "postkamer.cli", "serve", "--bind", f"127.0.0.1:{port}"],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_loose_umask,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                landed = _log_in_over_http(base, "beheer@example.nl", PASSWORD)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert landed == f"{base}/beheer/e-mailmanager/"
        modes = _assert_private(data_dir)  # while running: -wal, -shm, the control socket
        assert "postkamer.sqlite3-wal" in modes and "postkamer.sqlite3-shm" in modes
    finally:
        serve.terminate()
        out, _ = serve.communicate(timeout=30)
    assert serve.returncode == 0, out
    assert "Generated" not in out  # bootstrap made the keys; serve found them


@pytest.mark.django_db
def test_a_database_from_a_pre_release_is_refused_before_migrating():
    from django.core import checks as django_checks
    from django.db import connection
    from django.utils import timezone

    tags = [django_checks.Tags.database]
    assert not django_checks.run_checks(databases=["default"], tags=tags)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, %s)",
            ["mailboxes", "0002_audit_entries", timezone.now()],
        )
    found = django_checks.run_checks(databases=["default"], tags=tags)
    assert [c.id for c in found] == ["postkamer.E001"]
    assert "mailboxes.0002_audit_entries" in found[0].msg
