from django.contrib.auth import views as auth_views
from django.urls import path

from postkamer.accounts import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("settings/", views.my_settings, name="my-settings"),
    path("language/", views.set_language, name="set-language"),
]
