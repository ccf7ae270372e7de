from django.urls import include, path
from rest_framework.routers import DefaultRouter

from postkamer.api import messages, sending, views
from postkamer.autoreply.api import AutoReplyRepliesView, AutoReplyView
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
    path("mailboxes/<int:pk>/auto-reply/", AutoReplyView.as_view(), name="api-auto-reply"),
    path(
        "mailboxes/<int:pk>/auto-reply/replies/",
        AutoReplyRepliesView.as_view(),
        name="api-auto-reply-replies",
    ),
    path(
        "mailboxes/<int:pk>/messages/",
        messages.MailboxMessagesView.as_view(),
        name="api-mailbox-messages",
    ),
    path("mailboxes/<int:pk>/fetch/", messages.MailboxFetchView.as_view(), name="api-fetch"),
    path("mailboxes/<int:pk>/send/", sending.SendView.as_view(), name="api-send"),
    path("mailboxes/<int:pk>/template/", sending.TemplateView.as_view(), name="api-template"),
    path("outgoing/<int:pk>/", sending.OutgoingView.as_view(), name="api-outgoing"),
    path("fetch-runs/<int:pk>/", messages.FetchRunView.as_view(), name="api-fetch-run"),
    path("messages/<int:pk>/", messages.MessageDetailView.as_view(), name="api-message"),
    path("messages/<int:pk>/raw/", messages.MessageRawView.as_view(), name="api-message-raw"),
    path(
        "messages/<int:pk>/attachments/<int:n>/",
        messages.MessageAttachmentView.as_view(),
        name="api-message-attachment",
    ),
    path("", include(router.urls)),
    path(
        "deleted-mailboxes/", views.DeletedMailboxListView.as_view(), name="api-deleted-mailboxes"
    ),
    path(
        "deleted-mailboxes/<int:pk>/audit/",
        views.DeletedMailboxAuditView.as_view(),
        name="api-deleted-mailbox-audit",
    ),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("organisations/", views.OrganisationListView.as_view(), name="api-organisations"),
    path(
        "organisations/<int:pk>/users/",
        views.OrganisationUsersView.as_view(),
        name="api-organisation-users",
    ),
    path("workflow-groups/", views.WorkflowGroupListView.as_view(), name="api-workflow-groups"),
]
