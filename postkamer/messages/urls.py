from django.urls import path

from postkamer.messages import views

urlpatterns = [
    path("", views.email_module, name="email-module"),
    path("<int:pk>/fetch/", views.fetch_now, name="email-fetch"),
]
