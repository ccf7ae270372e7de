# The fetch status was stored as sentences in one language; it becomes a code and
# parameters, put into words when shown. Old sentences that are recognised (Dutch
# or English) get their code; any other text is kept as code "legacy".

from django.db import migrations, models


def to_codes(apps, schema_editor):
    from postkamer.fetching.problems import recognise

    Mailbox = apps.get_model("mailboxes", "Mailbox")
    rows = Mailbox.objects.exclude(last_error="", disabled_reason="").only(
        "pk", "last_error", "disabled_reason"
    )
    for box in rows.iterator():
        last_code, last_params = recognise(box.last_error)
        off_code, off_params = recognise(box.disabled_reason)
        Mailbox.objects.filter(pk=box.pk).update(
            last_error_code=last_code,
            last_error_params=last_params,
            disabled_code=off_code,
            disabled_params=off_params,
        )


def to_sentences(apps, schema_editor):
    from postkamer.fetching.problems import describe

    Mailbox = apps.get_model("mailboxes", "Mailbox")
    rows = Mailbox.objects.exclude(last_error_code="", disabled_code="")
    for box in rows.iterator():
        Mailbox.objects.filter(pk=box.pk).update(
            last_error=describe(box.last_error_code, box.last_error_params),
            disabled_reason=describe(box.disabled_code, box.disabled_params),
        )


class Migration(migrations.Migration):

    dependencies = [
        ('mailboxes', '0004_mailbox_dkim_selector'),
    ]

    operations = [
        migrations.AddField(
            model_name='mailbox',
            name='disabled_code',
            field=models.CharField(blank=True, editable=False, max_length=40),
        ),
        migrations.AddField(
            model_name='mailbox',
            name='disabled_params',
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name='mailbox',
            name='last_error_code',
            field=models.CharField(blank=True, editable=False, max_length=40),
        ),
        migrations.AddField(
            model_name='mailbox',
            name='last_error_params',
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(to_codes, to_sentences),
    ]
