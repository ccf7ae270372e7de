"""Settings for the test suite: the product's settings with a throwaway data dir."""

import os
import tempfile

os.environ.setdefault("POSTKAMER_DATA_DIR", tempfile.mkdtemp(prefix="postkamer-test-"))
os.environ["POSTKAMER_HUEY_IMMEDIATE"] = "1"
os.environ.setdefault("POSTKAMER_ALLOW_PRIVATE_HOSTS", "1")
os.environ.setdefault("POSTKAMER_MAIL_TIMEOUT", "3")

from postkamer.settings import *  # noqa: F403

# Password hashing dominates test time otherwise; the product keeps Django's default.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory: the secrets test reads the database file itself.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
