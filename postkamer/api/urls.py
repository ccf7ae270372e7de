from django.urls import include, path
from rest_framework.routers import DefaultRouter

from postkamer.api import views
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
