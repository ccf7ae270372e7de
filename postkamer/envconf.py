"""Typed readers for the environment, and the keys of the data dir.

A bad value stops start-up with a message that names the variable: a typo in a
deployment should never silently fall back to a default.

Reading is all this module does when the settings are imported: no directory is
created and no key written. ``generate_keys`` is an explicit step that
``postkamer bootstrap`` and ``postkamer serve`` take; ``postkamer web`` and
``postkamer worker`` refuse to start without keys (``missing_keys``).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def boolean(name: str, *, default: bool) -> bool:
    """Return the environment variable ``name`` as a strict boolean."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false), not {raw!r}.")


def integer(name: str, *, default: int) -> int:
    """Return the environment variable ``name`` as an integer."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def number(name: str, *, default: float) -> float:
    """Return the environment variable ``name`` as a float."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None


def string_list(name: str, *, default: list[str]) -> list[str]:
    """Return a comma-separated environment variable as a list of non-empty strings."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Return a comma-separated list of IP addresses and networks (CIDR) as networks."""
    result = []
    for part in string_list(name, default=[]):
        try:
            result.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or networks (e.g. 127.0.0.1,10.0.0.0/8), "
                f"not {part!r}."
            ) from None
    return result


def host_port(name: str, *, default: str) -> tuple[str, int]:
    """Return ``HOST:PORT`` from the environment variable ``name`` as (host, port)."""
    raw = (os.environ.get(name) or default).strip()
    host, _, port = raw.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ImproperlyConfigured(f"{name} must be HOST:PORT (e.g. {default}), not {raw!r}.")
    return host, int(port)


def https_url(name: str, *, default: str) -> str:
    """Return the environment variable ``name`` as an https URL without a trailing slash."""
    raw = (os.environ.get(name) or default).strip().rstrip("/")
    if not raw.startswith("https://") or len(raw) <= len("https://"):
        raise ImproperlyConfigured(f"{name} must be an https:// URL, not {raw!r}.")
    return raw


def data_dir() -> Path:
    """Return ``POSTKAMER_DATA_DIR`` (default ``./data``); nothing is created here."""
    return Path(os.environ.get("POSTKAMER_DATA_DIR") or "data").resolve()


SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEYS_FILE = "encryption_keys"


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def secret_key(directory: Path) -> str:
    """Return ``POSTKAMER_SECRET_KEY`` or the data dir's ``secret_key`` file ("" when neither)."""
    return os.environ.get("POSTKAMER_SECRET_KEY") or _read_secret(directory / SECRET_KEY_FILE)


def encryption_keys(directory: Path) -> list[str]:
    """Return the Fernet keys, newest first ([] when none is configured).

    From ``POSTKAMER_ENCRYPTION_KEYS`` (comma-separated) or the file
    ``encryption_keys`` in the data dir (one key a line). Raises
    ImproperlyConfigured when a key is not a valid Fernet key.
    """
    raw = os.environ.get("POSTKAMER_ENCRYPTION_KEYS")
    if raw:
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        source = "POSTKAMER_ENCRYPTION_KEYS"
    else:
        text = _read_secret(directory / ENCRYPTION_KEYS_FILE)
        keys = [line.strip() for line in text.splitlines() if line.strip()]
        source = str(directory / ENCRYPTION_KEYS_FILE)
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"{source} holds a key that is not a valid Fernet key."
            ) from None
    return keys


def _write_new_secret(path: Path, value: str) -> bool:
    """Create ``path`` (mode 0600) holding ``value``; False when it already exists.

    ``O_EXCL`` makes creation atomic: two commands starting at the same moment
    end up with the same key.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True


def generate_keys(directory: Path) -> list[str]:
    """Write the keys the environment does not provide into ``directory``.

    Returns the names of the files created (none when every key already exists).
    """
    created = []
    if not os.environ.get("POSTKAMER_SECRET_KEY") and _write_new_secret(
        directory / SECRET_KEY_FILE, secrets.token_urlsafe(50)
    ):
        created.append(SECRET_KEY_FILE)
    if not os.environ.get("POSTKAMER_ENCRYPTION_KEYS") and _write_new_secret(
        directory / ENCRYPTION_KEYS_FILE, Fernet.generate_key().decode()
    ):
        created.append(ENCRYPTION_KEYS_FILE)
    return created


def missing_keys_message(directory: Path) -> str | None:
    """Return a one-line explanation when a key is missing, None when both are there."""
    missing = []
    if not secret_key(directory):
        missing.append("POSTKAMER_SECRET_KEY")
    if not encryption_keys(directory):
        missing.append("POSTKAMER_ENCRYPTION_KEYS")
    if not missing:
        return None
    return (
        f"No {' and no '.join(missing)} (nor the key files in {directory}): run "
        "'postkamer bootstrap' or 'postkamer serve' once to generate them, or set the "
        "variables."
    )


def database(directory: Path) -> dict[str, Any]:
    """Return Django's default database: ``DATABASE_URL`` or SQLite in the data dir."""
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        return config
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": directory / "postkamer.sqlite3",
        "OPTIONS": {
            # The web server and the worker write to one file: writers queue for
            # the lock instead of failing half-way, readers never block (WAL).
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            # 16 KiB pages (only effective when the file is created): raw mail is
            # stored as blobs, and with 4 KiB pages SQLite writes them at half the
            # speed; small updates barely notice the bigger pages.
            "init_command": (
                "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            ),
        },
    }


def raw_store() -> str:
    """Return ``POSTKAMER_RAW_STORE``: ``pack`` or ``database``.

    Default: ``pack`` on the embedded SQLite (one machine, and SQLite would
    write every byte twice through its WAL), ``database`` with ``DATABASE_URL``
    (web and worker processes on several machines must all read the bytes).
    """
    raw = (os.environ.get("POSTKAMER_RAW_STORE") or "").strip().lower()
    if not raw:
        return "database" if os.environ.get("DATABASE_URL") else "pack"
    if raw not in {"pack", "database"}:
        raise ImproperlyConfigured(
            f"POSTKAMER_RAW_STORE must be 'pack' or 'database', not {raw!r}."
        )
    return raw


def huey(directory: Path) -> dict[str, Any]:
    """Return the Huey settings: Redis with ``REDIS_URL``, SQLite in the data dir otherwise."""
    immediate = boolean("POSTKAMER_HUEY_IMMEDIATE", default=False)
    consumer = {
        "workers": integer("POSTKAMER_WORKERS", default=2),
        "worker_type": "thread",
        "periodic": True,
        "scheduler_interval": 1,
        "flush_locks": True,
        # An idle worker thread looks at a polled queue (SQLite) at least once a
        # second, so a fetch asked for by new mail waits at most that long; Redis
        # hands tasks over at once (a blocking pop).
        "max_delay": 1.0,
    }
    url = os.environ.get("REDIS_URL")
    if url:
        return {
            # The fetch button outranks the schedule: plain RedisHuey has no priorities.
            "huey_class": "huey.PriorityRedisHuey",
            "name": os.environ.get("POSTKAMER_QUEUE_NAME") or "postkamer",
            "url": url,
            "immediate": immediate,
            "consumer": consumer,
        }
    return {
        "huey_class": "huey.SqliteHuey",
        "name": os.environ.get("POSTKAMER_QUEUE_NAME") or "postkamer",
        "filename": str(directory / "huey.sqlite3"),
        "immediate": immediate,
        "consumer": consumer,
    }
