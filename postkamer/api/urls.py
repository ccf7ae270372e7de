from django.urls import include, path
from rest_framework.routers import DefaultRouter

from postkamer.api import messages, views

router = DefaultRouter()
router.register("mailboxes", views.MailboxViewSet, basename="mailbox")

urlpatterns = [
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
    path("", include(router.urls)),
    path("me/", views.MeView.as_view(), name="api-me"),
]
