"""System checks of the deployment (``postkamer check``; every command runs them at start)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connections
from django.db.migrations.loader import MigrationLoader

from postkamer.core import datadir

#: How many loose paths a warning names before it only counts the rest.
SHOWN = 5


@register(Tags.security)
def data_dir_is_private(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Warn when the data dir or anything in it is open to group or others."""
    directory = settings.DATA_DIR
    loose = datadir.loose_entries(directory)
    if not loose:
        return []
    names = [
        f"{path.relative_to(directory) if path != directory else path} ({mode:04o})"
        for path, mode in loose[:SHOWN]
    ]
    if len(loose) > SHOWN:
        names.append(f"and {len(loose) - SHOWN} more")
    return [
        Warning(
            "Other users of this machine may read the data dir, which holds the database "
            "(with API tokens, sessions and mail), the raw mail and the keys: "
            + ", ".join(names)
            + ".",
            hint=f"Run: chmod -R go-rwx {directory}  (postkamer creates everything 0600/0700 "
            "itself; these modes come from elsewhere).",
            id="postkamer.W001",
        )
    ]


@register(Tags.security)
def https_needs_a_trusted_proxy(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """An https base URL behind a proxy that is not trusted redirects every request."""
    if not settings.BASE_URL.startswith("https://") or settings.TRUSTED_PROXIES:
        return []
    return [
        Warning(
            "POSTKAMER_BASE_URL is https, but no proxy is trusted to say that a request "
            "came in over HTTPS: every request looks like plain HTTP and is redirected.",
            hint="Set POSTKAMER_TRUSTED_PROXIES to the address of the proxy that ends TLS "
            "(e.g. 127.0.0.1 for one on this machine).",
            id="postkamer.W002",
        )
    ]


@register(Tags.security)
def oauth_apps_are_complete(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """An OAuth2 app (Office 365, Google) needs its secret, and a redirect URI the
    platform accepts: https, or plain http on the machine itself only."""
    from urllib.parse import urlsplit

    found = []
    base = urlsplit(settings.BASE_URL)
    local = base.hostname in ("localhost", "127.0.0.1", "::1")
    for name, client_id, secret in (
        ("POSTKAMER_MS", settings.POSTKAMER_MS_CLIENT_ID, settings.POSTKAMER_MS_CLIENT_SECRET),
        (
            "POSTKAMER_GOOGLE",
            settings.POSTKAMER_GOOGLE_CLIENT_ID,
            settings.POSTKAMER_GOOGLE_CLIENT_SECRET,
        ),
    ):
        if not client_id:
            continue
        if not secret:
            found.append(
                Warning(
                    f"{name}_CLIENT_ID is set without {name}_CLIENT_SECRET: every sign-in "
                    "and token request will be refused.",
                    hint=f"Set {name}_CLIENT_SECRET to the app's client secret.",
                    id="postkamer.W003",
                )
            )
        if base.scheme != "https" and not local:
            found.append(
                Warning(
                    f"{name}_CLIENT_ID is set, but POSTKAMER_BASE_URL is not https: Microsoft "
                    "and Google accept a plain-http redirect URI only for localhost.",
                    hint="Serve Postkamer over HTTPS (see README, 'Behind a reverse proxy').",
                    id="postkamer.W004",
                )
            )
    return found


#: The apps whose migrations were folded into one initial migration each before the
#: first release (labels as Django knows them).
OUR_APPS = (
    "accounts",
    "mailboxes",
    "mailmessages",
    "fetching",
    "dnschecks",
    "sending",
    "autoreply",
)


@register(Tags.database)
def database_is_not_from_a_pre_release(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[Error]:
    """Refuse a database whose applied migrations no longer exist: one made by a
    pre-release version, before each app's migrations became a single initial one.
    Migrating it would mark the new initial migrations applied on the old tables."""
    problems = []
    for alias in databases or ():
        try:
            loader = MigrationLoader(connections[alias], ignore_no_migrations=True)
        except DatabaseError:
            continue
        unknown = sorted(
            f"{app}.{name}"
            for app, name in loader.applied_migrations
            if app in OUR_APPS and (app, name) not in loader.disk_migrations
        )
        if unknown:
            problems.append(
                Error(
                    "This database was made by a pre-release version of Postkamer, whose "
                    "migrations no longer exist: " + ", ".join(unknown[:SHOWN]) + ".",
                    hint="Start from a new data dir (or an empty database) and run "
                    "'postkamer bootstrap' again.",
                    id="postkamer.E001",
                )
            )
    return problems
