from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _search_triggers(**kwargs: object) -> None:
    from postkamer.messages.search import ensure_sqlite_triggers

    ensure_sqlite_triggers()


class MessagesConfig(AppConfig):
    name = "postkamer.messages"
    # "messages" is taken by django.contrib.messages.
    label = "mailmessages"
    verbose_name = "Messages"

    def ready(self) -> None:
        # After every migrate, not just ours: see search.ensure_sqlite_triggers.
        post_migrate.connect(_search_triggers, dispatch_uid="mailmessages-search-triggers")
        # PostgreSQL's search index is built after each stored batch, not during it.
        from postkamer.messages import tasks
        from postkamer.messages.signals import messages_stored
        from postkamer.shared import tasklogs

        messages_stored.connect(tasks.queue_index, dispatch_uid="mailmessages-search-index")
        # The indexer logs how many it indexed, when it indexed any; not every run.
        tasklogs.install("index_search_task")
        tasklogs.install("index_search_sweep")
