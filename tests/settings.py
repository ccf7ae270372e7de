"""Settings for the test suite: the product's settings with a throwaway data dir."""

import os
import tempfile
from pathlib import Path

from postkamer import envconf

os.environ.setdefault("POSTKAMER_DATA_DIR", tempfile.mkdtemp(prefix="postkamer-test-"))
# What `postkamer bootstrap` does on a real data dir: the suite (and the worker and
# web processes some tests start) read these key files.
Path(os.environ["POSTKAMER_DATA_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
envconf.generate_keys(Path(os.environ["POSTKAMER_DATA_DIR"]))
os.environ["POSTKAMER_HUEY_IMMEDIATE"] = "1"
os.environ.setdefault("POSTKAMER_ALLOW_PRIVATE_HOSTS", "1")
os.environ.setdefault("POSTKAMER_MAIL_TIMEOUT", "3")

from postkamer.settings import *  # noqa: E402, F403

# Password hashing dominates test time otherwise; the product keeps Django's default.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory: the secrets test reads the database file itself.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
