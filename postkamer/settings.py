"""Django settings for Postkamer, read from the environment only.

Everything a deployment changes is an environment variable (README, "Configuration").
The embedded default needs none of them: SQLite, the mail store, the keys and the task
queue all live in ``POSTKAMER_DATA_DIR``.

Importing this module only reads: it creates no directory and writes no key.
``postkamer bootstrap``/``serve`` create the data dir and generate the keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

from postkamer import envconf

BASE_DIR = Path(__file__).resolve().parent

DATA_DIR = envconf.data_dir()
# Empty when not generated yet: Django refuses an empty SECRET_KEY the moment it is
# used, and `postkamer web`/`worker` say beforehand what to do.
SECRET_KEY = envconf.secret_key(DATA_DIR)
ENCRYPTION_KEYS = envconf.encryption_keys(DATA_DIR)

DEBUG = envconf.boolean("POSTKAMER_DEBUG", default=False)
BASE_URL = os.environ.get("POSTKAMER_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_base_host = urlsplit(BASE_URL).hostname or "localhost"
ALLOWED_HOSTS = envconf.string_list(
    "POSTKAMER_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", _base_host]
)
CSRF_TRUSTED_ORIGINS = [BASE_URL]
# Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto we believe
# (postkamer.core.middleware.TrustedProxyMiddleware). Empty: nobody's.
TRUSTED_PROXIES = envconf.networks("POSTKAMER_TRUSTED_PROXIES")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "huey.contrib.djhuey",
    "postkamer.core",
    "postkamer.accounts",
    "postkamer.mailboxes",
    "postkamer.messages",
    "postkamer.fetching",
    "postkamer.dnschecks",
    "postkamer.autoreply",
    "postkamer.sending",
    "postkamer.api",
]

MIDDLEWARE = [
    "postkamer.core.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "postkamer.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "postkamer.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "postkamer.urls"
WSGI_APPLICATION = "postkamer.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "postkamer.core.context.topbar",
            ],
        },
    },
]

DATABASES = {"default": envconf.database(DATA_DIR)}
# Where raw message bytes go: "pack" (segment files in DATA_DIR/mail/packs) or
# "database"; see postkamer.messages.rawstore.
POSTKAMER_RAW_STORE = envconf.raw_store()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# Every password login (the login page, the admin's) is counted by the login throttle.
AUTHENTICATION_BACKENDS = ["postkamer.accounts.backends.ThrottledModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        # Our users have an e-mail address and a name, not Django's username/first/last.
        "OPTIONS": {"user_attributes": ("email", "name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Failed password checks per account in the window below before further attempts
# are refused until the window ends; a client address may fail four times as often
# (postkamer.accounts.throttle).
LOGIN_FAILURE_LIMIT = envconf.integer("POSTKAMER_LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = BASE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if SESSION_COOKIE_SECURE:
    # An https base URL means Postkamer is only meant to be reached over HTTPS:
    # redirect plain HTTP and tell browsers never to try it again (a year).
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is the domain owner's decision (hstspreload.org), not a setting's.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
if TRUSTED_PROXIES:
    # The TLS proxy says "https" in this header. TrustedProxyMiddleware removes it
    # from every request that does not come from a trusted proxy, so a client
    # cannot claim HTTPS itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Every response that sets no policy of its own gets this one
# (postkamer.core.middleware.ContentSecurityPolicyMiddleware). No inline script and
# no inline event handlers: JavaScript lives in static/postkamer/*.js. Inline style
# attributes are allowed (templates set indentation with them). frame-src 'self'
# lets the e-mail module show a message body in its own sandboxed frame.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", _("Dutch")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves straight from the app folders: no collectstatic step to forget,
# so there is no STATIC_ROOT either.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "postkamer.accounts.authentication.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "postkamer.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Postkamer API",
    "DESCRIPTION": "Mailboxes, messages and their settings.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # IMAP and SMTP share one set of security choices: name it once.
    "ENUM_NAME_OVERRIDES": {"SecurityEnum": "postkamer.mailboxes.models.Security.choices"},
}

HUEY = envconf.huey(DATA_DIR)
# Fetches of one office running at once, across all workers: one office's slow
# mailboxes must not take every worker thread (default: half this worker's threads).
POSTKAMER_TENANT_FETCHES = max(
    1, envconf.integer("POSTKAMER_TENANT_FETCHES", default=HUEY["consumer"]["workers"] // 2)
)

# Push: every worker process watches inboxes with IMAP IDLE (postkamer.fetching.push).
# A watch lease not renewed for this many seconds passes to another worker.
POSTKAMER_PUSH = envconf.boolean("POSTKAMER_PUSH", default=True)
POSTKAMER_WATCH_LEASE = max(3.0, envconf.number("POSTKAMER_WATCH_LEASE", default=30.0))
# Watched mailboxes per worker process at most (each is one connection).
POSTKAMER_WATCHERS = envconf.integer("POSTKAMER_WATCHERS", default=10000)

# Mail connections (the variables are in README.md).
POSTKAMER_CA_FILE = os.environ.get("POSTKAMER_CA_FILE") or None
POSTKAMER_ALLOW_PRIVATE_HOSTS = envconf.boolean("POSTKAMER_ALLOW_PRIVATE_HOSTS", default=False)
POSTKAMER_DNS_RESOLVERS = os.environ.get("POSTKAMER_DNS_RESOLVERS") or None
POSTKAMER_MAIL_TIMEOUT = envconf.number("POSTKAMER_MAIL_TIMEOUT", default=15.0)
# OAuth2 mailboxes (docs/office365.md, docs/google.md): the installation's app at
# Microsoft Entra ID and Google, and the servers their mailboxes use. Port 993 or
# 465 means implicit TLS, any other port STARTTLS.
POSTKAMER_MS_CLIENT_ID = os.environ.get("POSTKAMER_MS_CLIENT_ID", "").strip()
POSTKAMER_MS_CLIENT_SECRET = os.environ.get("POSTKAMER_MS_CLIENT_SECRET", "").strip()
POSTKAMER_MS_LOGIN_URL = envconf.https_url(
    "POSTKAMER_MS_LOGIN_URL", default="https://login.microsoftonline.com"
)
POSTKAMER_MS_IMAP = envconf.host_port("POSTKAMER_MS_IMAP", default="outlook.office365.com:993")
POSTKAMER_MS_SMTP = envconf.host_port("POSTKAMER_MS_SMTP", default="smtp.office365.com:587")
POSTKAMER_GOOGLE_CLIENT_ID = os.environ.get("POSTKAMER_GOOGLE_CLIENT_ID", "").strip()
POSTKAMER_GOOGLE_CLIENT_SECRET = os.environ.get("POSTKAMER_GOOGLE_CLIENT_SECRET", "").strip()
POSTKAMER_GOOGLE_AUTH_URL = envconf.https_url(
    "POSTKAMER_GOOGLE_AUTH_URL", default="https://accounts.google.com/o/oauth2/v2/auth"
)
POSTKAMER_GOOGLE_TOKEN_URL = envconf.https_url(
    "POSTKAMER_GOOGLE_TOKEN_URL", default="https://oauth2.googleapis.com/token"
)
POSTKAMER_GOOGLE_IMAP = envconf.host_port("POSTKAMER_GOOGLE_IMAP", default="imap.gmail.com:993")
POSTKAMER_GOOGLE_SMTP = envconf.host_port("POSTKAMER_GOOGLE_SMTP", default="smtp.gmail.com:587")
# Attachments of one outgoing message together, in MB (told before uploading).
POSTKAMER_MAX_ATTACHMENTS_MB = envconf.number("POSTKAMER_MAX_ATTACHMENTS_MB", default=25.0)
# Uploads stream to temporary files; a whole message's attachments may be one request.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # run_huey installs its own handler; do not print every line twice.
        "huey": {"handlers": [], "propagate": False},
    },
}
