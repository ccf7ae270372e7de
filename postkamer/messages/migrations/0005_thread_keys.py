"""Fill the conversation keys of messages stored before they existed."""

from django.db import migrations


def fill(apps, schema_editor):
    from postkamer.messages.threads import subject_key, thread_key

    Message = apps.get_model("mailmessages", "Message")
    rows = Message.objects.filter(thread_key="").only(
        "pk", "message_id", "in_reply_to", "references", "subject"
    )
    batch = []
    for m in rows.iterator(chunk_size=2000):
        m.thread_key = thread_key(m.message_id, m.in_reply_to, m.references.split())
        m.subject_key = subject_key(m.subject)
        batch.append(m)
        if len(batch) >= 2000:
            Message.objects.bulk_update(batch, ["thread_key", "subject_key"])
            batch = []
    if batch:
        Message.objects.bulk_update(batch, ["thread_key", "subject_key"])


class Migration(migrations.Migration):
    dependencies = [("mailmessages", "0004_reading")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
