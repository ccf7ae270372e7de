from django.urls import path

from postkamer.mailboxes import oauth_views, views

urlpatterns = [
    path("", views.mailbox_list, name="mailbox-list"),
    path("new/", views.mailbox_create, name="mailbox-create"),
    path("<int:pk>/", views.mailbox_edit, name="mailbox-edit"),
    path("<int:pk>/test-connection/", views.mailbox_test_connection, name="mailbox-test"),
    path("<int:pk>/imap-folders/", views.mailbox_imap_folders, name="mailbox-imap-folders"),
    path("<int:pk>/delete/", views.mailbox_delete, name="mailbox-delete"),
    path("<int:pk>/owners/", views.mailbox_owners, name="mailbox-owners-tab"),
    path("<int:pk>/owners/add/", views.mailbox_owners_add, name="mailbox-owners-add"),
    path("<int:pk>/owners/remove/", views.mailbox_owners_remove, name="mailbox-owners-remove"),
    path("<int:pk>/log/", views.mailbox_log, name="mailbox-log"),
    path(
        "<int:pk>/microsoft/connect/",
        oauth_views.connect,
        {"provider": "microsoft"},
        name="mailbox-microsoft-connect",
    ),
    path(
        "<int:pk>/google/connect/",
        oauth_views.connect,
        {"provider": "google"},
        name="mailbox-google-connect",
    ),
    path("<int:pk>/oauth/disconnect/", oauth_views.disconnect, name="mailbox-oauth-disconnect"),
    path("deleted/", views.deleted_list, name="mailbox-deleted-list"),
    path("deleted/<int:pk>/", views.deleted_log, name="mailbox-deleted-log"),
]
