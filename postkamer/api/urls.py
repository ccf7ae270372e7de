from django.urls import include, path
from rest_framework.routers import DefaultRouter

from postkamer.api import messages, views
from postkamer.dnschecks.api import MailboxSecurityView

router = DefaultRouter()
# "api-" keeps these URL names apart from the pages' ("mailbox-list" is a page).
router.register("mailboxes", views.MailboxViewSet, basename="api-mailbox")

urlpatterns = [
    path(
        "mailboxes/<int:pk>/security/",
        MailboxSecurityView.as_view(),
        name="api-mailbox-security",
    ),
    path(
        "mailboxes/<int:pk>/messages/",
        messages.MailboxMessagesView.as_view(),
        name="api-mailbox-messages",
    ),
    path("mailboxes/<int:pk>/fetch/", messages.MailboxFetchView.as_view(), name="api-fetch"),
    path(
        "mailboxes/<int:pk>/imap-folders/",
        messages.ImapFoldersView.as_view(),
        name="api-imap-folders",
    ),
    path(
        "mailboxes/<int:pk>/repair-sync/",
        messages.RepairSyncView.as_view(),
        name="api-repair-sync",
    ),
    path("fetch-runs/<int:pk>/", messages.FetchRunView.as_view(), name="api-fetch-run"),
    path("messages/<int:pk>/", messages.MessageDetailView.as_view(), name="api-message"),
    path("messages/<int:pk>/raw/", messages.MessageRawView.as_view(), name="api-message-raw"),
    path(
        "messages/<int:pk>/attachments/<int:n>/",
        messages.MessageAttachmentView.as_view(),
        name="api-message-attachment",
    ),
    path("", include(router.urls)),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("organisations/", views.OrganisationListView.as_view(), name="api-organisations"),
    path(
        "organisations/<int:pk>/users/",
        views.OrganisationUsersView.as_view(),
        name="api-organisation-users",
    ),
    path("workflow-groups/", views.WorkflowGroupListView.as_view(), name="api-workflow-groups"),
]
