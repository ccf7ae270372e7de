from django.urls import include, path
from rest_framework.routers import DefaultRouter

from postkamer.api import views

router = DefaultRouter()
router.register("mailboxes", views.MailboxViewSet, basename="mailbox")

urlpatterns = [
    path("", include(router.urls)),
    path("me/", views.MeView.as_view(), name="api-me"),
]
