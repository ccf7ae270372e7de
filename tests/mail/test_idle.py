"""postkamer.mail.idle (IMAP IDLE on asyncio) against a real Dovecot."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import secrets

import pytest

from postkamer.mail import errors, idle
from postkamer.mail.net import ConnectOptions, make_ssl_context
from tests.mail.conftest import settings


def _run(coro, seconds: float = 20.0):
    async def bounded():
        async with asyncio.timeout(seconds):
            return await coro

    # A thread of its own: Playwright's sync API (browser tests in the same
    # process) leaves an event loop running in the test thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, bounded()).result()


async def _first(session: idle.IdleSession, kind: str, reissue: float = 60.0) -> idle.Event:
    async for event in session.idle(reissue=reissue):
        if event.kind == kind:
            return event
    raise AssertionError("idle ended")


def _message(subject: str) -> bytes:
    return f"Subject: {subject}\r\nMessage-ID: <{secrets.token_hex(6)}@x>\r\n\r\nhoi\r\n".encode()


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_message_delivered_while_idling_is_announced_as_exists(
    dovecot, imap_user, options, security
):
    email, password = imap_user
    dovecot.deliver(email, _message("eerste"))
    port = dovecot.imap_port if security == "starttls" else dovecot.imaps_port

    async def scenario():
        session = await idle.open_session(settings(port, security, email, password), options)
        try:
            assert session.inbox.exists == 1
            assert session.inbox.uidvalidity and session.inbox.uidnext == 2
            waiting = asyncio.create_task(_first(session, "exists"))
            await asyncio.sleep(0.3)  # the IDLE has started
            await asyncio.to_thread(dovecot.deliver_lmtp, email, _message("tweede"), "a@b.test")
            return await waiting
        finally:
            await session.close()

    event = _run(scenario())
    assert event == idle.Event("exists", 2)


def test_idle_is_issued_again_and_still_hears_new_mail(dovecot, imap_user, options):
    email, password = imap_user

    async def scenario():
        session = await idle.open_session(
            settings(dovecot.imap_port, "starttls", email, password), options
        )
        try:
            waiting = asyncio.create_task(_first(session, "exists", reissue=0.2))
            await asyncio.sleep(1.0)  # several DONE / IDLE rounds
            await asyncio.to_thread(dovecot.deliver, email, _message("na DONE"))
            return await waiting, session._tag
        finally:
            await session.close()

    event, tags = _run(scenario())
    assert event == idle.Event("exists", 1)
    assert tags >= 6  # login, EXAMINE and at least three IDLE commands


def test_a_session_the_server_drops_ends_with_a_protocol_error(dovecot, imap_user, options):
    email, password = imap_user

    async def scenario():
        session = await idle.open_session(
            settings(dovecot.imap_port, "starttls", email, password), options
        )
        try:
            waiting = asyncio.create_task(_first(session, "exists"))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(dovecot.kick, email)
            with pytest.raises(errors.ProtocolError):
                await waiting
        finally:
            await session.close()

    _run(scenario())


def test_a_server_without_idle_is_told_apart(dovecot_without_idle, options):
    email, password = dovecot_without_idle.new_user()
    server = settings(dovecot_without_idle.imap_port, "starttls", email, password)
    with pytest.raises(idle.IdleUnsupported) as info:
        _run(idle.open_session(server, options))
    assert info.value.code == "idle_unsupported"


def test_a_wrong_password_is_auth_failed_and_not_repeated(dovecot, imap_user, options):
    email, _ = imap_user
    wrong = "Wr0ng-" + secrets.token_hex(8)
    with pytest.raises(errors.AuthFailed) as info:
        _run(idle.open_session(settings(dovecot.imap_port, "starttls", email, wrong), options))
    assert wrong not in str(info.value)


def test_a_non_ascii_password_logs_in_with_sasl_plain(dovecot, options):
    email = f"u{secrets.token_hex(4)}@example.test"
    password = "wachtwoord-€-" + secrets.token_hex(4)
    dovecot.add_user(email, password)

    async def scenario():
        session = await idle.open_session(
            settings(dovecot.imaps_port, "ssl", email, password), options
        )
        await session.close()
        return "IDLE" in session.capabilities

    assert _run(scenario())


def test_an_oauth2_token_logs_in_with_xoauth2(dovecot, imap_user, options):
    email, _ = imap_user
    token = "tok-" + secrets.token_hex(8)
    dovecot.add_token(token, email)
    server = settings(dovecot.imaps_port, "ssl", email, None, oauth2_token=token)

    async def scenario():
        session = await idle.open_session(server, options)
        await session.close()

    _run(scenario())
    dovecot.revoke_token(token)
    with pytest.raises(errors.AuthFailed):
        _run(idle.open_session(server, options))


def test_an_untrusted_certificate_is_refused(dovecot, imap_user):
    email, password = imap_user
    system_only = ConnectOptions(ssl_context=make_ssl_context(), timeout=1.0, allow_private=True)
    with pytest.raises(errors.CertificateUntrusted):
        _run(idle.open_session(settings(dovecot.imaps_port, "ssl", email, password), system_only))


def test_a_private_address_is_refused_unless_allowed(dovecot, imap_user, options):
    email, password = imap_user
    strict = dataclasses.replace(options, allow_private=False)
    with pytest.raises(errors.PrivateHostRefused):
        _run(idle.open_session(settings(dovecot.imap_port, "starttls", email, password), strict))


def test_a_silent_server_times_out_within_the_deadline(silent_server, options):
    with pytest.raises(errors.Timeout):
        _run(idle.open_session(settings(silent_server.port, "starttls"), options), seconds=10)


def test_a_refused_connection_is_connection_refused(closed_port, options):
    with pytest.raises(errors.ConnectionRefused):
        _run(idle.open_session(settings(closed_port, "ssl"), options))
