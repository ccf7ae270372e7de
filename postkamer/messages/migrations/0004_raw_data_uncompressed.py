"""PostgreSQL only: keep raw mail out of line and uncompressed (STORAGE EXTERNAL).

By default PostgreSQL tries to compress every value over 2 KB (pglz) before it
moves it to the TOAST table. Raw mail is mostly base64 attachments that do not
compress, so the server spent CPU on every byte of an initial sync to store it
as it came (bench/README.md). The setting applies to rows written from now on;
rows already stored stay readable as they are. SQLite has no such thing.
"""

from django.db import migrations


def _set_storage(storage: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = apps.get_model("mailmessages", "RawMessage")._meta.db_table
        qn = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {qn(table)} ALTER COLUMN {qn('data')} SET STORAGE {storage}"
        )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("mailmessages", "0003_fewer_message_indexes"),
    ]

    operations = [
        migrations.RunPython(_set_storage("EXTERNAL"), _set_storage("EXTENDED"), elidable=False),
    ]
