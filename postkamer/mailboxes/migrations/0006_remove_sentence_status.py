# The sentences moved to codes in 0005; a separate migration because PostgreSQL
# refuses to alter a table that the same transaction just updated.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('mailboxes', '0005_fetch_status_codes'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='mailbox',
            name='disabled_reason',
        ),
        migrations.RemoveField(
            model_name='mailbox',
            name='last_error',
        ),
    ]
