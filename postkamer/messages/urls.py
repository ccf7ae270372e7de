from django.urls import path

from postkamer.messages import views

urlpatterns = [
    path("", views.email_module, name="email-module"),
    path("<int:pk>/fetch/", views.fetch_now, name="email-fetch"),
    path("messages/<int:pk>/", views.message_view, name="email-message"),
    path("messages/<int:pk>/body/", views.message_body, name="email-message-body"),
    path("messages/<int:pk>/inline/<int:n>/", views.message_inline, name="email-message-inline"),
    path(
        "messages/<int:pk>/attachments/<int:n>/",
        views.message_attachment,
        name="email-message-attachment",
    ),
    path("messages/<int:pk>/raw/", views.message_raw, name="email-message-raw"),
    path("messages/<int:pk>/unread/", views.message_unread, name="email-message-unread"),
]
