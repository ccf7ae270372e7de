from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from postkamer.accounts import notifications
from postkamer.accounts import views as account_views
from postkamer.autoreply import views as autoreply_views
from postkamer.dnschecks import views as dnscheck_views
from postkamer.fetching import views as fetching_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("account/", include("postkamer.accounts.urls")),
    path("email/", include("postkamer.messages.urls")),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("beheer/e-mailmanager/", include("postkamer.mailboxes.urls")),
    path(
        "beheer/e-mailmanager/<int:pk>/automatisch-antwoord/",
        autoreply_views.mailbox_auto_reply,
        name="mailbox-auto-reply",
    ),
    path(
        "beheer/e-mailmanager/<int:pk>/beveiliging/",
        dnscheck_views.mailbox_security,
        name="mailbox-security",
    ),
    path(
        "beheer/e-mailmanager/<int:pk>/repair-sync/",
        fetching_views.mailbox_repair_sync,
        name="mailbox-repair-sync",
    ),
    path("api/v1/", include("postkamer.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("admin/", admin.site.urls),
]
