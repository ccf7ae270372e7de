from django.contrib.auth import views as auth_views
from django.urls import path

from postkamer.accounts import views

# "My settings" (account/settings/) combines accounts and mailboxes, so it lives a
# layer above: postkamer.core.views, routed in postkamer/urls.py.
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("token/", views.rotate_token, name="token-rotate"),
    path("language/", views.set_language, name="set-language"),
]
