from __future__ import annotations

import os

import pytest

from tests import factories

# Django's ORM refuses to run in a thread with an event loop; Playwright's sync API
# runs one in the test thread. The tests are single-threaded, so this is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytest_plugins = ["tests.servers.plugin", "tests.servers.dns_plugin", "tests.browser_plugin"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Name the PostgreSQL test databases after this run's port base as well, so two
    checkouts running the suite side by side never drop each other's databases."""
    from django.conf import settings

    from tests.servers.plugin import port_base

    db = settings.DATABASES["default"]
    if "postgresql" in db["ENGINE"]:
        test = db.setdefault("TEST", {})
        test["NAME"] = f"{test.get('NAME') or 'test_' + db['NAME']}_{port_base()}"


@pytest.fixture
def office(db):
    """Tenant A with an administrator (every right), a manager, an advisor and a mailbox
    the advisor owns; tenant B with its own administrator and mailbox."""

    class Office:
        pass

    o = Office()
    o.tenant = factories.tenant("Kantoor A")
    o.admin = factories.user(o.tenant, rights=("email_manager", "multi_user", "repair_sync"))
    o.manager = factories.user(o.tenant, rights=("email_manager",))
    o.advisor = factories.user(o.tenant)
    o.mailbox = factories.mailbox(o.tenant, owners=(o.advisor,))
    o.other_tenant = factories.tenant("Kantoor B")
    o.outsider = factories.user(o.other_tenant, rights=("email_manager", "multi_user"))
    o.other_mailbox = factories.mailbox(o.other_tenant, owners=(o.outsider,))
    return o


@pytest.fixture
def api():
    """A DRF test client; log in with ``api.force_authenticate(user)``."""
    from rest_framework.test import APIClient

    return APIClient()
