"""postkamer.mail.oauth2 against the local HTTPS identity platform (no Django)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from postkamer.mail import errors, oauth2
from postkamer.mail.net import make_ssl_context


def _endpoints(idp, tenant: str = "organizations", secret: str | None = None) -> oauth2.Endpoints:
    base = f"{idp.url}/{tenant}/oauth2/v2.0"
    return oauth2.Endpoints(
        provider="microsoft",
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        client_id=idp.client_id,
        client_secret=secret or idp.client_secret,
    )


@pytest.fixture
def http(idp, test_ca) -> oauth2.HttpOptions:
    idp.reset()
    return oauth2.HttpOptions(ssl_context=make_ssl_context(str(test_ca.ca_cert)), timeout=3)


def _signed_in(idp, http, account="jan@kantoor.test"):
    started = oauth2.authorization_request(
        _endpoints(idp), redirect_uri="https://post.example/cb", scopes=["openid", "offline_access"]
    )
    back = parse_qs(urlsplit(idp.sign_in(started.url, account)).query)
    return oauth2.exchange_code(
        _endpoints(idp),
        http,
        code=back["code"][0],
        redirect_uri="https://post.example/cb",
        code_verifier=started.code_verifier,
    )


def test_the_authorization_url_carries_a_s256_challenge_of_the_kept_verifier(idp):
    started = oauth2.authorization_request(
        _endpoints(idp),
        redirect_uri="https://post.example/cb",
        scopes=["openid", "email"],
        extra={"prompt": "select_account"},
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.url).query).items()}
    digest = hashlib.sha256(started.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query["code_challenge_method"] == "S256"
    assert query["state"] == started.state and len(started.state) >= 32
    assert query["scope"] == "openid email"
    assert query["prompt"] == "select_account"
    assert started.code_verifier not in started.url
    assert started.code_verifier not in repr(started)


def test_a_code_gives_tokens_and_the_signed_in_account(idp, http):
    tokens = _signed_in(idp, http)
    assert tokens.access_token.startswith("at-") and tokens.refresh_token.startswith("rt-")
    assert tokens.account == "jan@kantoor.test"
    assert tokens.expires_in == 3600
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)


def test_a_code_with_the_wrong_verifier_is_refused(idp, http):
    started = oauth2.authorization_request(
        _endpoints(idp), redirect_uri="https://post.example/cb", scopes=["openid"]
    )
    code = parse_qs(urlsplit(idp.sign_in(started.url, "jan@kantoor.test")).query)["code"][0]
    with pytest.raises(errors.OAuthReconnect) as caught:
        oauth2.exchange_code(
            _endpoints(idp),
            http,
            code=code,
            redirect_uri="https://post.example/cb",
            code_verifier="x" * 64,
        )
    assert code not in str(caught.value)


def test_a_refresh_rotates_the_refresh_token_and_the_old_one_stops_working(idp, http):
    first = _signed_in(idp, http)
    second = oauth2.refresh(_endpoints(idp), http, refresh_token=first.refresh_token)
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.access_token != first.access_token
    with pytest.raises(errors.OAuthReconnect) as caught:
        oauth2.refresh(_endpoints(idp), http, refresh_token=first.refresh_token)
    assert caught.value.code == "oauth_reconnect"
    assert first.refresh_token not in str(caught.value)


def test_a_revoked_sign_in_needs_a_reconnect(idp, http):
    tokens = _signed_in(idp, http, account="weg@kantoor.test")
    idp.revoke("weg@kantoor.test")
    with pytest.raises(errors.OAuthReconnect):
        oauth2.refresh(_endpoints(idp), http, refresh_token=tokens.refresh_token)


def test_a_platform_that_is_down_is_a_temporary_error(idp, http):
    tokens = _signed_in(idp, http)
    idp.down = True
    with pytest.raises(errors.OAuthUnavailable) as caught:
        oauth2.refresh(_endpoints(idp), http, refresh_token=tokens.refresh_token)
    assert isinstance(caught.value, errors.TemporaryFailure)


def test_an_unreachable_platform_is_a_temporary_error(http, closed_port):
    endpoints = oauth2.Endpoints(
        "microsoft",
        f"https://127.0.0.1:{closed_port}/a",
        f"https://127.0.0.1:{closed_port}/t",
        "cid",
        "secret",
    )
    with pytest.raises(errors.OAuthUnavailable):
        oauth2.refresh(endpoints, http, refresh_token="rt")


def test_client_credentials_work_in_a_known_tenant_and_name_an_unknown_one(idp, http):
    idp.add_tenant("proef.onmicrosoft.com", "info@kantoor.test")
    token = oauth2.client_credentials(
        _endpoints(idp, "proef.onmicrosoft.com"),
        http,
        scope="https://outlook.office365.com/.default",
    )
    assert token.refresh_token is None and idp.login_name(token.access_token) == "info@kantoor.test"
    with pytest.raises(errors.OAuthTenantUnknown) as caught:
        oauth2.client_credentials(
            _endpoints(idp, "elders.onmicrosoft.com"),
            http,
            scope="https://outlook.office365.com/.default",
            tenant="elders.onmicrosoft.com",
        )
    assert caught.value.params == {"provider": "microsoft", "tenant": "elders.onmicrosoft.com"}


def test_a_wrong_client_secret_is_the_apps_problem_and_is_never_repeated(idp, http):
    idp.add_tenant("proef.onmicrosoft.com", "info@kantoor.test")
    with pytest.raises(errors.OAuthClientRefused) as caught:
        oauth2.client_credentials(
            _endpoints(idp, "proef.onmicrosoft.com", secret="verkeerd-geheim"),
            http,
            scope="https://outlook.office365.com/.default",
        )
    assert "verkeerd-geheim" not in str(caught.value)


def test_the_ca_variables_of_the_environment_are_ignored(idp, http, test_ca, monkeypatch):
    # These machines set them; a library that honours them would trust this
    # unrelated certificate instead of the CA we pass, and fail.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, str(test_ca.untrusted_cert))
    monkeypatch.setenv("SSL_CERT_DIR", str(test_ca.directory / "nothing-here"))
    assert _signed_in(idp, http).access_token


def test_a_platform_certificate_we_do_not_trust_is_refused(idp):
    # The system's CAs (as the machine's environment names them) do not know the test CA.
    system_only = oauth2.HttpOptions(ssl_context=make_ssl_context(None), timeout=3)
    with pytest.raises(errors.CertificateUntrusted):
        oauth2.refresh(_endpoints(idp), system_only, refresh_token="rt")


def test_an_id_token_names_the_account_and_junk_names_nobody():
    payload = base64.urlsafe_b64encode(b'{"preferred_username": "a@b.test"}').rstrip(b"=")
    assert oauth2.account_from_id_token(f"x.{payload.decode()}.y") == "a@b.test"
    assert oauth2.account_from_id_token("not a token") == ""
    assert oauth2.account_from_id_token("x.!!!.y") == ""


def test_a_token_endpoint_that_drips_is_cut_off_at_the_total_deadline(idp, test_ca):
    import time

    # One byte of the answer every 0.2 s: every read is well within its 1 s time-out.
    idp.drip = 0.2
    http = oauth2.HttpOptions(
        ssl_context=make_ssl_context(str(test_ca.ca_cert)), timeout=1, deadline=2
    )
    started = time.monotonic()
    try:
        with pytest.raises(errors.OAuthUnavailable, match="did not finish within 2 s"):
            oauth2.client_credentials(
                _endpoints(idp, tenant="kantoor.test"),
                http,
                scope="https://outlook.office365.com/.default",
            )
    finally:
        idp.reset()
    assert 2 <= time.monotonic() - started < 3.5
