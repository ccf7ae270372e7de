import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0005_audit_outlives_the_mailbox"),
    ]

    operations = [
        migrations.AlterField(
            model_name="mailboxauditentry",
            name="tenant",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.tenant",
            ),
        ),
        migrations.AlterField(
            model_name="mailboxauditentry",
            name="mailbox_ref",
            field=models.PositiveBigIntegerField(db_index=True, verbose_name="mailbox ID"),
        ),
    ]
