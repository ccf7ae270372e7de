"""WSGI entry point for gunicorn (``postkamer web``)."""

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

# The process entry point when gunicorn is started directly: files it creates (the
# task queue's SQLite file, SQLite's -wal/-shm) are the owner's alone, as with
# every postkamer command (postkamer.core.datadir).
os.umask(0o077)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postkamer.settings")
application = get_wsgi_application()


def _require_keys() -> None:
    from django.conf import settings

    from postkamer import envconf

    problem = envconf.missing_keys_message(settings.DATA_DIR)
    if problem:
        raise ImproperlyConfigured(problem)


_require_keys()
