"""Full-text search: FTS5 with triggers on SQLite, a generated tsvector with a GIN
index on PostgreSQL (see postkamer/messages/search.py for why each). Raw SQL the
model cannot describe, so it stays a migration of its own."""

from django.db import migrations

from postkamer.messages import search


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(search.SQLITE_CREATE_TABLE)
        for sql in search.SQLITE_TRIGGERS:
            schema_editor.execute(sql)
        schema_editor.execute(search.SQLITE_FILL)
    elif vendor == "postgresql":
        for sql in search.POSTGRES_ADD:
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": search.SQLITE_DROP, "postgresql": search.POSTGRES_DROP}
    for sql in statements.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("mailmessages", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
