from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from postkamer.accounts import notifications
from postkamer.accounts import views as account_views
from postkamer.autoreply import views as autoreply_views
from postkamer.core import views as core_views
from postkamer.dnschecks import views as dnscheck_views
from postkamer.fetching import views as fetching_views
from postkamer.mailboxes import oauth_views
from postkamer.sending import views as sending_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("account/settings/", core_views.my_settings, name="my-settings"),
    path("account/", include("postkamer.accounts.urls")),
    path("email/", include("postkamer.messages.urls")),
    path("email/", include("postkamer.sending.urls")),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("beheer/e-mailmanager/", include("postkamer.mailboxes.urls")),
    # The redirect URIs registered with Microsoft and Google (docs/office365.md).
    path(
        "oauth/microsoft/callback/",
        oauth_views.callback,
        {"provider": "microsoft"},
        name="oauth-microsoft-callback",
    ),
    path(
        "oauth/google/callback/",
        oauth_views.callback,
        {"provider": "google"},
        name="oauth-google-callback",
    ),
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
    path(
        "beheer/e-mailmanager/<int:pk>/template/",
        sending_views.template_tab,
        name="mailbox-template",
    ),
    path("api/v1/", include("postkamer.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # One password-change page for everyone: its old-password check is throttled.
    path("admin/password_change/", RedirectView.as_view(pattern_name="password-change")),
    path("admin/", admin.site.urls),
]
