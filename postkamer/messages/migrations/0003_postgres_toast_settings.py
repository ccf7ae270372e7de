"""PostgreSQL only: how large values are kept (TOAST), chosen for the fetch.

By default PostgreSQL compresses every value over about 2 KB with pglz before
it moves it out of line. An initial sync spent most of the server's CPU there
(bench/README.md):

* raw mail (``RawMessage.data``) is mostly base64 attachments that hardly
  compress: kept out of line and uncompressed (``STORAGE EXTERNAL``);
* the parsed text and HTML (and the search vector, ``messages/search.py``)
  compress well, but pglz is slow: lz4 instead, about
  ten times faster for a similar size, where the server was built with it
  (Debian's and the official images are; ``default_toast_compression`` lists
  it then).

Both apply to values written from now on; what is stored stays readable as it
is. SQLite has no such thing, so nothing happens there.
"""

from django.db import migrations

_LZ4_COLUMNS = ("text", "html", "search")


def _lz4_available(schema_editor) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _apply(raw_storage: str, compression: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        qn = schema_editor.quote_name
        raw = apps.get_model("mailmessages", "RawMessage")._meta.db_table
        schema_editor.execute(
            f"ALTER TABLE {qn(raw)} ALTER COLUMN {qn('data')} SET STORAGE {raw_storage}"
        )
        if compression == "lz4" and not _lz4_available(schema_editor):
            return
        message = apps.get_model("mailmessages", "Message")._meta.db_table
        columns = ", ".join(
            f"ALTER COLUMN {qn(column)} SET COMPRESSION {compression}" for column in _LZ4_COLUMNS
        )
        schema_editor.execute(f"ALTER TABLE {qn(message)} {columns}")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("mailmessages", "0002_search"),
    ]

    operations = [
        migrations.RunPython(
            _apply("EXTERNAL", "lz4"), _apply("EXTENDED", "DEFAULT"), elidable=False
        ),
    ]
