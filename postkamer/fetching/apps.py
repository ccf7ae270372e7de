from django.apps import AppConfig


class FetchingConfig(AppConfig):
    name = "postkamer.fetching"
    label = "fetching"
    verbose_name = "Fetching"

    def ready(self) -> None:
        from postkamer.fetching.views import push_section, repair_section
        from postkamer.mailboxes import extensions
        from postkamer.shared import tasklogs

        # How new mail is noticed, and the repair section, on the mailbox page
        # (mailboxes must not import fetching).
        extensions.add_page_section(
            extensions.PageSection("fetching/_push_section.html", push_section)
        )
        extensions.add_page_section(
            extensions.PageSection("fetching/_repair_section.html", repair_section)
        )
        tasklogs.install("dispatch_due_fetches")
