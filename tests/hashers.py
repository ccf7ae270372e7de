"""A password hasher that counts its checks, to see how many passwords were really tried."""

from __future__ import annotations

import threading
import time

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingMD5Hasher(MD5PasswordHasher):
    """MD5 (what the suite uses) that counts ``verify`` calls and takes ``delay``
    seconds for each, as a real hasher does, so parallel attempts overlap."""

    checks = 0
    delay = 0.0
    _lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with CountingMD5Hasher._lock:
            CountingMD5Hasher.checks += 1
        time.sleep(CountingMD5Hasher.delay)
        return super().verify(password, encoded)


class NewerMD5Hasher(MD5PasswordHasher):
    """MD5 under another name: listed first, it makes Django re-hash an "md5$" password
    at the next correct check, as a Django upgrade with a stronger default would."""

    algorithm = "md5-newer"
