"""The writing half of the e-mail module, under /email/ (names start with "sending-")."""

from django.urls import path

from postkamer.sending import views

urlpatterns = [
    path("compose/", views.compose_view, name="sending-compose"),
    path("outgoing/", views.outbox_view, name="sending-outbox"),
    path("outgoing/<int:pk>/", views.edit_view, name="sending-edit"),
    path("outgoing/<int:pk>/status/", views.status_view, name="sending-status"),
    path("outgoing/<int:pk>/attachments/", views.attachments_view, name="sending-attachments"),
    path(
        "outgoing/<int:pk>/attachments/<int:attachment_id>/delete/",
        views.attachment_delete_view,
        name="sending-attachment-delete",
    ),
    path("outgoing/<int:pk>/delete/", views.delete_view, name="sending-delete"),
    path("outgoing/<int:pk>/cancel/", views.cancel_view, name="sending-cancel"),
    path("<int:pk>/addresses/", views.address_suggestions_view, name="sending-addresses"),
]
