# Separate from 0002: PostgreSQL refuses to alter a table that the same
# transaction just updated.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('fetching', '0002_fetchrun_error_params'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='fetchrun',
            name='error',
        ),
        migrations.AddConstraint(
            model_name='fetchrun',
            constraint=models.UniqueConstraint(condition=models.Q(('finished_at__isnull', True)), fields=('mailbox',), name='fetchrun_one_open_per_mailbox'),
        ),
    ]
