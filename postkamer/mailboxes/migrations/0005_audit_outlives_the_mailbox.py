"""The audit log outlives its mailbox: entries carry the tenant, the mailbox's ID
and name, and the link to the mailbox becomes NULL when it is deleted.

The new columns are filled from the linked mailbox here and made NOT NULL in the
next migration: PostgreSQL refuses to ALTER a table in the transaction that
updated its rows while foreign-key checks are still pending.
"""

import django.db.models.deletion
from django.db import migrations, models


def fill_snapshot(apps, schema_editor):
    Entry = apps.get_model("mailboxes", "MailboxAuditEntry")
    for entry in Entry.objects.select_related("mailbox").iterator():
        Entry.objects.filter(pk=entry.pk).update(
            tenant_id=entry.mailbox.tenant_id,
            mailbox_ref=entry.mailbox_id,
            mailbox_name=entry.mailbox.name,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_notification"),
        ("mailboxes", "0004_mailbox_dkim_selector"),
    ]

    operations = [
        migrations.AddField(
            model_name="mailboxauditentry",
            name="tenant",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.tenant",
            ),
        ),
        migrations.AddField(
            model_name="mailboxauditentry",
            name="mailbox_ref",
            field=models.PositiveBigIntegerField(
                db_index=True, null=True, verbose_name="mailbox ID"
            ),
        ),
        migrations.AddField(
            model_name="mailboxauditentry",
            name="mailbox_name",
            field=models.CharField(default="", max_length=200, verbose_name="mailbox"),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="mailboxauditentry",
            name="mailbox",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="audit_entries",
                to="mailboxes.mailbox",
            ),
        ),
        migrations.AlterField(
            model_name="mailboxauditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("created", "created"),
                    ("settings_changed", "settings changed"),
                    ("owner_added", "owner added"),
                    ("owner_removed", "owner removed"),
                    ("group_linked", "workflow group linked"),
                    ("group_unlinked", "workflow group unlinked"),
                    ("sync_repaired", "synchronisation repaired"),
                    ("oauth_connected", "connected with Microsoft"),
                    ("auto_disabled", "fetching switched off after errors"),
                    ("deleted", "deleted"),
                ],
                max_length=40,
                verbose_name="action",
            ),
        ),
        migrations.RunPython(fill_snapshot, migrations.RunPython.noop),
    ]
