# A run's error was stored as a sentence in one language; it becomes its code (kept
# already) plus parameters, put into words when shown. Runs left open by a stopped
# worker are closed, so that at most one run per mailbox is open (0003).

from django.db import migrations, models
from django.utils import timezone


def to_params(apps, schema_editor):
    from postkamer.fetching.problems import recognise

    FetchRun = apps.get_model("fetching", "FetchRun")
    for run in FetchRun.objects.exclude(error="").only("pk", "error", "error_code").iterator():
        code, params = recognise(run.error)
        if run.error_code:
            # The code was stored all along; a folder's name is all the text adds.
            params = params if code == run.error_code else {}
            code = run.error_code
        FetchRun.objects.filter(pk=run.pk).update(error_code=code, error_params=params)
    open_runs = FetchRun.objects.filter(finished_at__isnull=True).order_by("mailbox_id", "-pk")
    newest = set()
    for run in open_runs.only("pk", "mailbox_id").iterator():
        if run.mailbox_id in newest:
            FetchRun.objects.filter(pk=run.pk).update(
                finished_at=timezone.now(), ok=False, error_code="abandoned"
            )
        newest.add(run.mailbox_id)


def to_sentences(apps, schema_editor):
    from postkamer.fetching.problems import describe

    FetchRun = apps.get_model("fetching", "FetchRun")
    for run in FetchRun.objects.exclude(error_code="").iterator():
        FetchRun.objects.filter(pk=run.pk).update(
            error=describe(run.error_code, run.error_params)
        )


class Migration(migrations.Migration):

    dependencies = [
        ('fetching', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='fetchrun',
            name='error_params',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(to_params, to_sentences),
    ]
