from django.urls import include, path
from rest_framework.routers import DefaultRouter

from postkamer.api import views
from postkamer.dnschecks.api import MailboxSecurityView

router = DefaultRouter()
# "api-" keeps the router's URL names apart from the manager pages' ("mailbox-list").
router.register("mailboxes", views.MailboxViewSet, basename="api-mailbox")

urlpatterns = [
    path(
        "mailboxes/<int:pk>/security/",
        MailboxSecurityView.as_view(),
        name="api-mailbox-security",
    ),
    path("", include(router.urls)),
    path("me/", views.MeView.as_view(), name="api-me"),
]
