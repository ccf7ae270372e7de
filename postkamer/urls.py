from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from postkamer.accounts import notifications
from postkamer.accounts import views as account_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("account/", include("postkamer.accounts.urls")),
    path("email/", include("postkamer.messages.urls")),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("beheer/e-mailmanager/", include("postkamer.mailboxes.urls")),
    path("api/v1/", include("postkamer.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("admin/", admin.site.urls),
]
