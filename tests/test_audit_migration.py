"""The migration that lets the audit log outlive its mailbox fills in the log that
already exists (tenant, mailbox ID and name) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("mailboxes", "0004_mailbox_dkim_selector")]
AFTER = [("mailboxes", "0006_audit_snapshot_required")]


@pytest.mark.django_db(transaction=True)
def test_existing_entries_get_their_tenant_id_and_name():
    executor = MigrationExecutor(connection)
    # Every app's newest, so migrations of other apps that depend on these come back too.
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        tenant = apps.get_model("accounts", "Tenant").objects.create(name="Oud kantoor")
        box = apps.get_model("mailboxes", "Mailbox").objects.create(
            tenant=tenant, name="Schade", sender_address="schade@oud.test"
        )
        entry = apps.get_model("mailboxes", "MailboxAuditEntry").objects.create(
            mailbox=box, actor_name="Jan", action="created"
        )
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        apps = executor.loader.project_state(AFTER).apps
        migrated = apps.get_model("mailboxes", "MailboxAuditEntry").objects.get(pk=entry.pk)
        assert (migrated.tenant_id, migrated.mailbox_ref, migrated.mailbox_name) == (
            tenant.pk,
            box.pk,
            "Schade",
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
