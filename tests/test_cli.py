"""The postkamer command: verbs, bootstrap, user add, token, rotate-keys, serve."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from postkamer.accounts.models import Organisation, Tenant, User, WorkflowGroup
from postkamer.cli import translate_argv
from tests import factories


def test_friendly_verbs_map_to_django_commands():
    assert translate_argv(["postkamer", "user", "add", "a@b.nl"]) == [
        "postkamer",
        "user_add",
        "a@b.nl",
    ]
    assert translate_argv(["postkamer", "check-dns", "x.nl"]) == ["postkamer", "check_dns", "x.nl"]
    assert translate_argv(["postkamer", "migrate"]) == ["postkamer", "migrate"]
    assert translate_argv(["postkamer", "gc-raw"]) == ["postkamer", "gc_raw"]


@pytest.mark.django_db
def test_bootstrap_creates_tenant_root_and_admin_with_every_right_and_is_idempotent(monkeypatch):
    monkeypatch.setenv("POSTKAMER_ADMIN_PASSWORD", "Start-wachtwoord-1")
    for _ in range(2):
        call_command("bootstrap", tenant="Advies BV", edition="compleet", admin="Beheer@Advies.nl")
    tenant = Tenant.objects.get(name="Advies BV")
    admin = User.objects.get(email="beheer@advies.nl")
    assert admin.tenant == tenant and admin.organisation.parent is None
    assert admin.rights == ["email_manager", "multi_user", "repair_sync"]
    assert admin.check_password("Start-wachtwoord-1")
    assert Organisation.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db
def test_user_add_creates_organisation_and_groups_and_is_idempotent(monkeypatch):
    monkeypatch.setenv("POSTKAMER_USER_PASSWORD", "Gebruiker-ww-1")
    tenant = factories.tenant("Advies BV")
    for _ in range(2):
        call_command(
            "user_add",
            "jan@advies.nl",
            tenant="Advies BV",
            organisation="Filiaal Zwolle",
            rights="repair_sync",
            groups="Schade,Hypotheken",
        )
    jan = User.objects.get(email="jan@advies.nl")
    assert jan.organisation.name == "Filiaal Zwolle" and jan.organisation.parent.parent is None
    assert jan.rights == ["repair_sync"]
    assert set(WorkflowGroup.objects.filter(tenant=tenant).values_list("name", flat=True)) == {
        "Schade",
        "Hypotheken",
    }
    assert set(jan.workflow_groups.values_list("name", flat=True)) == {"Schade", "Hypotheken"}


@pytest.mark.django_db
def test_user_add_refuses_unknown_rights_and_tenants(monkeypatch):
    monkeypatch.setenv("POSTKAMER_USER_PASSWORD", "x-Geheim-12")
    factories.tenant("Advies BV")
    with pytest.raises(CommandError, match="unknown right"):
        call_command("user_add", "a@advies.nl", tenant="Advies BV", rights="superpowers")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("user_add", "a@advies.nl", tenant="Bestaat niet")


@pytest.mark.django_db
def test_token_prints_the_same_token_twice(capsys, office):
    call_command("token", office.admin.email)
    call_command("token", office.admin.email)
    first, second = capsys.readouterr().out.split()
    assert first == second and len(first) == 40


@pytest.mark.django_db
def test_rotate_keys_reencrypts_secrets_with_the_newest_key(settings, office, capsys):
    from cryptography.fernet import Fernet

    from postkamer import crypto
    from postkamer.mailboxes.models import Mailbox, OAuthGrant

    grant = OAuthGrant.objects.create(
        mailbox=office.mailbox,
        provider="microsoft",
        flow="delegated",
        refresh_token_enc=crypto.encrypt("rt-oud"),
        access_token_enc=crypto.encrypt("at-oud"),
    )
    old_key = settings.ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_keys")
    settings.ENCRYPTION_KEYS = [new_key]
    box = Mailbox.objects.get(pk=office.mailbox.pk)
    assert box.imap_password == "secret"
    grant.refresh_from_db()
    assert crypto.decrypt(grant.refresh_token_enc) == "rt-oud"
    assert crypto.decrypt(grant.access_token_enc) == "at-oud"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.environ.get("DATABASE_URL") is not None, reason="embedded default only")
def test_serve_runs_migrations_web_server_and_worker_in_the_data_dir(tmp_path: Path):
    port = _free_port()
    env = {
        **os.environ,
        "POSTKAMER_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "postkamer.settings",
    }
    env.pop("POSTKAMER_HUEY_IMMEDIATE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "postkamer.cli", "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/account/login/") as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.3)
        assert "Inloggen" in body
        # The access log names the path only: a query may carry an OAuth2 code.
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/account/login/?code=geheime-code-123&state=st"
        ) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/postkamer/app.css") as r:
            assert r.status == 200 and b"--brand" in r.read()
        for name in ("postkamer.sqlite3", "huey.sqlite3", "secret_key", "encryption_keys"):
            assert (tmp_path / name).exists(), name
        assert oct((tmp_path / "encryption_keys").stat().st_mode & 0o777) == "0o600"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Postkamer draait op" in out
    assert '"GET /account/login/ HTTP/1.1" 200' in out
    assert "geheime-code-123" not in out
    assert proc.returncode == 0, out


@pytest.mark.skipif(os.environ.get("DATABASE_URL") is not None, reason="embedded default only")
def test_bootstrap_works_on_a_fresh_data_dir(tmp_path: Path):
    env = {
        **os.environ,
        "POSTKAMER_DATA_DIR": str(tmp_path),
        "POSTKAMER_ADMIN_PASSWORD": "Sterk-ww-123",
    }
    env["DJANGO_SETTINGS_MODULE"] = "postkamer.settings"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "postkamer.cli",
            "bootstrap",
            "--tenant",
            "Vers",
            "--edition",
            "compleet",
            "--admin",
            "beheer@vers.nl",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "beheer@vers.nl created" in result.stdout


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("a", "too short"),
        ("beheer@advies.nl", "too similar to the e-mail address"),
        ("password123", "too common"),
    ],
)
def test_bootstrap_refuses_a_weak_password_and_says_why(monkeypatch, password, reason):
    monkeypatch.setenv("POSTKAMER_ADMIN_PASSWORD", password)
    with translation.override("en"), pytest.raises(CommandError, match=reason):
        call_command("bootstrap", tenant="Advies BV", edition="compleet", admin="beheer@advies.nl")
    assert not User.objects.filter(email="beheer@advies.nl").exists()


@pytest.mark.django_db
def test_user_add_refuses_a_weak_password_naming_every_reason(monkeypatch):
    factories.tenant("Advies BV")
    monkeypatch.setenv("POSTKAMER_USER_PASSWORD", "jan")
    with translation.override("en"), pytest.raises(CommandError) as refused:
        call_command("user_add", "jan@advies.nl", tenant="Advies BV", name="Jan")
    message = str(refused.value)
    assert "The password for jan@advies.nl is not accepted" in message
    assert "too short" in message and "too similar" in message
    assert not User.objects.filter(email="jan@advies.nl").exists()
