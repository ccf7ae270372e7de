# "(unreadable message)" was stored as the subject, in one language; the subject of
# an unreadable message stays empty now and the list says so in the reader's.

from django.db import migrations

SENTENCES = ("(unreadable message)", "(onleesbaar bericht)")


def empty_subjects(apps, schema_editor):
    Message = apps.get_model("mailmessages", "Message")
    for message in Message.objects.filter(subject__in=SENTENCES).only("pk", "problems"):
        if "unparseable" in (message.problems or []):
            Message.objects.filter(pk=message.pk).update(subject="")


class Migration(migrations.Migration):

    dependencies = [
        ('mailmessages', '0003_fewer_message_indexes'),
    ]

    operations = [
        migrations.RunPython(empty_subjects, migrations.RunPython.noop),
    ]
