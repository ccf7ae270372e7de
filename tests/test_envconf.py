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


def test_keys_are_generated_once_into_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTKAMER_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("POSTKAMER_SECRET_KEY", raising=False)
    first = envconf.encryption_keys(tmp_path)
    assert envconf.encryption_keys(tmp_path) == first and len(first) == 1
    assert envconf.secret_key(tmp_path) == envconf.secret_key(tmp_path)


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
