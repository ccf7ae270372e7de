"""Hardening headers: a Content-Security-Policy on every response (without inline
script), HSTS and the HTTPS redirect with an https base URL, X-Forwarded-Proto
believed only from a trusted proxy, and ``check --deploy`` clean."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory

from postkamer.core.middleware import ContentSecurityPolicyMiddleware

TEMPLATES = Path(__file__).resolve().parent.parent / "postkamer" / "templates"
POLICY_PARTS = [
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


@pytest.mark.django_db
def test_every_kind_of_response_carries_the_content_security_policy(client, office, settings):
    assert settings.CONTENT_SECURITY_POLICY.split("; ") == POLICY_PARTS
    anonymous = ["/account/login/", "/admin/login/", "/bestaat-niet/", "/static/postkamer/app.js"]
    for path in anonymous:
        assert client.get(path)["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY, path
    client.force_login(office.admin)
    for path in ["/account/settings/", "/beheer/e-mailmanager/", "/api/v1/me/", "/email/"]:
        assert client.get(path)["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY, path


def test_a_response_that_sets_its_own_policy_keeps_it(rf: RequestFactory, settings):
    def stricter(request):
        response = HttpResponse("body")
        response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
        return response

    response = ContentSecurityPolicyMiddleware(stricter)(rf.get("/"))
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'self'"


def test_no_template_has_inline_script_or_inline_event_handlers():
    """The policy would block them; this finds them before a browser does."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, flags=re.IGNORECASE):
            if "src=" not in tag:
                offenders.append(f"{path.relative_to(TEMPLATES)}: {tag}")
        for handler in re.findall(r"\son[a-z]+\s*=", text, flags=re.IGNORECASE):
            offenders.append(f"{path.relative_to(TEMPLATES)}: {handler.strip()}")
        if "javascript:" in text.lower():
            offenders.append(f"{path.relative_to(TEMPLATES)}: javascript: URL")
    assert offenders == []


def _settings_with(**env: str) -> dict:
    code = (
        "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k, None) "
        "for k in ['SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE']}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("POSTKAMER_BASE_URL")}
    base.pop("POSTKAMER_TRUSTED_PROXIES", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "postkamer.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    return json.loads(result.stdout)


def test_https_redirect_and_hsts_only_with_an_https_base_url():
    plain = _settings_with(POSTKAMER_BASE_URL="http://127.0.0.1:8000")
    assert plain["SECURE_SSL_REDIRECT"] is False and plain["SECURE_HSTS_SECONDS"] == 0
    assert plain["SECURE_PROXY_SSL_HEADER"] is None
    https = _settings_with(
        POSTKAMER_BASE_URL="https://post.kantoor.nl", POSTKAMER_TRUSTED_PROXIES="127.0.0.1"
    )
    assert https["SECURE_SSL_REDIRECT"] is True
    assert https["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert https["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert https["SESSION_COOKIE_SECURE"] and https["CSRF_COOKIE_SECURE"]
    assert https["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def _check_deploy(tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        # The suite's own DJANGO_ALLOW_ASYNC_UNSAFE (tests/conftest.py) is no deployment's.
        if k
        not in {
            "POSTKAMER_BASE_URL",
            "POSTKAMER_TRUSTED_PROXIES",
            "POSTKAMER_DEBUG",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    return subprocess.run(
        [sys.executable, "-m", "postkamer.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "postkamer.settings",
            "POSTKAMER_DATA_DIR": str(tmp_path / "data"),
            "POSTKAMER_SECRET_KEY": "k" * 20 + "-Zq8#x" + "v" * 40,
            **env,
        },
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_with_an_https_base_url_behind_a_trusted_proxy(tmp_path):
    result = _check_deploy(
        tmp_path,
        POSTKAMER_BASE_URL="https://post.kantoor.nl",
        POSTKAMER_TRUSTED_PROXIES="127.0.0.1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_warns_when_an_https_base_url_has_no_trusted_proxy(tmp_path):
    result = _check_deploy(tmp_path, POSTKAMER_BASE_URL="https://post.kantoor.nl")
    assert result.returncode == 1
    assert "postkamer.W002" in result.stderr


@pytest.fixture
def https_settings(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 365 * 24 * 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1")]
    return settings


@pytest.mark.django_db
def test_https_is_believed_from_the_trusted_proxy_and_gets_hsts(https_settings):
    proxy = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    response = proxy.get("/account/login/")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_a_client_claiming_https_itself_is_redirected_to_https(https_settings):
    liar = Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_PROTO="https")
    response = liar.get("/account/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/account/login/"
    assert "Strict-Transport-Security" not in response
    plain = Client(REMOTE_ADDR="127.0.0.1").get("/account/login/")
    assert plain.status_code == 301
