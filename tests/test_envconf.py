from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from postkamer import envconf


def test_booleans_are_strict(monkeypatch):
    monkeypatch.setenv("X_FLAG", "1")
    assert envconf.boolean("X_FLAG", default=False) is True
    monkeypatch.setenv("X_FLAG", "off")
    assert envconf.boolean("X_FLAG", default=True) is False
    monkeypatch.setenv("X_FLAG", "misschien")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        envconf.boolean("X_FLAG", default=False)


def test_reading_the_keys_writes_nothing_and_generating_them_happens_once(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTKAMER_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("POSTKAMER_SECRET_KEY", raising=False)
    assert envconf.encryption_keys(tmp_path) == [] and envconf.secret_key(tmp_path) == ""
    assert list(tmp_path.iterdir()) == []
    assert "postkamer bootstrap" in envconf.missing_keys_message(tmp_path)
    assert envconf.generate_keys(tmp_path) == ["secret_key", "encryption_keys"]
    first = envconf.encryption_keys(tmp_path)
    assert envconf.generate_keys(tmp_path) == []
    assert envconf.encryption_keys(tmp_path) == first and len(first) == 1
    assert len(envconf.secret_key(tmp_path)) > 50
    assert envconf.missing_keys_message(tmp_path) is None
    for name in ("secret_key", "encryption_keys"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_keys_given_by_the_environment_are_not_generated(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTKAMER_SECRET_KEY", "x" * 60)
    monkeypatch.delenv("POSTKAMER_ENCRYPTION_KEYS", raising=False)
    assert envconf.generate_keys(tmp_path) == ["encryption_keys"]
    assert not (tmp_path / "secret_key").exists()


def test_trusted_proxies_are_addresses_or_networks(monkeypatch):
    monkeypatch.setenv("POSTKAMER_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1")
    assert [str(n) for n in envconf.networks("POSTKAMER_TRUSTED_PROXIES")] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    monkeypatch.setenv("POSTKAMER_TRUSTED_PROXIES", "proxy.local")
    with pytest.raises(ImproperlyConfigured, match="POSTKAMER_TRUSTED_PROXIES"):
        envconf.networks("POSTKAMER_TRUSTED_PROXIES")


def test_keys_from_the_environment_win_and_are_validated(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTKAMER_ENCRYPTION_KEYS", "geen-sleutel")
    with pytest.raises(ImproperlyConfigured, match="not a valid Fernet key"):
        envconf.encryption_keys(tmp_path)


def test_database_url_switches_to_postgresql(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@127.0.0.1:5432/pk")
    assert envconf.database(tmp_path)["ENGINE"] == "django.db.backends.postgresql"
    monkeypatch.delenv("DATABASE_URL")
    assert envconf.database(tmp_path)["ENGINE"] == "django.db.backends.sqlite3"


def test_redis_url_switches_huey_to_redis(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert envconf.huey(tmp_path)["huey_class"] == "huey.PriorityRedisHuey"
    monkeypatch.delenv("REDIS_URL")
    assert envconf.huey(tmp_path)["huey_class"] == "huey.SqliteHuey"
