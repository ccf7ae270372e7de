"""aiosmtpd test servers on 127.0.0.1.

Three controllers share one user table and one message list:

* ``starttls``: STARTTLS required, AUTH only after TLS;
* ``implicit``: implicit TLS (SMTPS) with AUTH;
* ``plain``: no TLS at all (proves "server offers no STARTTLS").

AUTH PLAIN/LOGIN check ``users`` (login -> password); AUTH XOAUTH2 checks
``tokens`` (token -> login), then ``token_check(token, login)`` when set (the test
identity platform's: a token is accepted only while it is live there).  Received messages go to ``messages``.

Faults, for the sending tests (``reset_faults`` clears them all):

* ``rcpt_answers``: recipient -> the RCPT answer instead of 250 (e.g.
  ``"451 4.2.1 Mailbox busy"`` or ``"550 5.1.1 No such user"``);
* ``fail_data(n, answer)``: the next ``n`` messages get ``answer`` after DATA;
* ``refuse_null_sender``: ``MAIL FROM:<>`` is answered with 550;
* ``down_port``: a port where nothing listens, for "the server is down".
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers.silent import closed_port
from tests.servers.tls import TestCA

# aiosmtpd 1.4.6 itself reads its own deprecated Session.login_data.
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")


@dataclass(frozen=True)
class Received:
    """One accepted message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    auth_user: str | None


@dataclass
class SmtpServers:
    """The running controllers and their shared state."""

    starttls_port: int
    implicit_port: int
    plain_port: int
    ca_file: str
    users: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    token_check: Callable[[str, str], bool] | None = None
    messages: list[Received] = field(default_factory=list)
    refused_rcpts: set[str] = field(default_factory=set)
    rcpt_answers: dict[str, str] = field(default_factory=dict)
    data_answers: list[str] = field(default_factory=list)
    refuse_null_sender: bool = False
    #: Every MAIL FROM seen, accepted or not ("" is the null sender).
    mail_froms: list[str] = field(default_factory=list)
    down_port: int = 0
    controllers: list[Controller] = field(default_factory=list, repr=False)

    def fail_data(self, n: int, answer: str) -> None:
        """Answer the next ``n`` DATA commands with ``answer`` (e.g. "451 4.3.0 Later")."""
        self.data_answers.extend([answer] * n)

    def reset_faults(self) -> None:
        """Back to a server that accepts everything."""
        self.refused_rcpts.clear()
        self.rcpt_answers.clear()
        self.data_answers.clear()
        self.refuse_null_sender = False

    def stop(self) -> None:
        """Stop all controllers."""
        for c in self.controllers:
            c.stop()
        self.controllers.clear()

    def messages_for(self, rcpt: str) -> list[Received]:
        """Return the messages with ``rcpt`` among the recipients."""
        return [m for m in list(self.messages) if rcpt in m.rcpt_tos]


class _Handler:
    def __init__(self, state: SmtpServers) -> None:
        self.state = state
        self._lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # aiosmtpd hands the null sender over as "<>"; "" reads better in tests.
        address = "" if address in ("", "<>") else address
        self.state.mail_froms.append(address)
        if address == "" and self.state.refuse_null_sender:
            return "550 5.7.1 Null sender not accepted here"
        # aiosmtpd's RCPT wants a truthy mail_from; Received says "" again.
        envelope.mail_from = address or "<>"
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.state.refused_rcpts:
            return "550 5.1.1 No such user"
        answer = self.state.rcpt_answers.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            answer = self.state.data_answers.pop(0) if self.state.data_answers else None
        if answer:
            return answer
        raw = envelope.original_content or envelope.content
        with self._lock:
            self.state.messages.append(
                Received(
                    "" if envelope.mail_from == "<>" else envelope.mail_from,
                    tuple(envelope.rcpt_tos),
                    raw,
                    session.auth_data,
                )
            )
        return "250 2.0.0 Message accepted"

    async def auth_XOAUTH2(self, server, args):
        """XOAUTH2 (not built into aiosmtpd): initial response or challenge."""
        if len(args) > 1:
            blob = args[1]
        else:
            raw = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(raw, bytes):
                return AuthResult(success=False, handled=False)
            blob = raw.decode()
        try:
            text = base64.b64decode(blob, validate=True).decode()
            parts = dict(p.split("=", 1) for p in text.split("\x01") if p)
            user = parts["user"]
            token = parts["auth"].removeprefix("Bearer ")
        except (ValueError, KeyError):
            return AuthResult(success=False, handled=False)
        check = self.state.token_check
        if self.state.tokens.get(token) == user or (check is not None and check(token, user)):
            return AuthResult(success=True, auth_data=user)
        # XOAUTH2 failure: JSON error in a 334, client answers with an empty line.
        err = json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"})
        await server.challenge_auth(err)
        return AuthResult(success=False, handled=False)


def _authenticator(state: SmtpServers):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        ok = state.users.get(login) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    return authenticate


def start_smtp_servers(tls: TestCA, base_port: int) -> SmtpServers:
    """Start the three controllers on ``base_port + 25/26/27`` and return them.

    ``Controller.start()`` blocks until each answers (about 0.05 s total).
    """
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tls.server_cert, tls.server_key)
    state = SmtpServers(
        starttls_port=base_port + 25,
        implicit_port=base_port + 26,
        plain_port=base_port + 27,
        ca_file=str(tls.ca_cert),
        down_port=closed_port(),
    )
    handler = _Handler(state)
    auth = _authenticator(state)
    common = {"hostname": "127.0.0.1", "authenticator": auth, "server_hostname": "localhost"}
    controllers = [
        Controller(
            handler,
            port=state.starttls_port,
            tls_context=server_ctx,
            require_starttls=True,
            auth_require_tls=True,
            **common,
        ),
        # aiosmtpd does not know an implicit-TLS connection is TLS, so
        # auth_require_tls=True would hide AUTH here.
        Controller(
            handler,
            port=state.implicit_port,
            ssl_context=server_ctx,
            auth_require_tls=False,
            **common,
        ),
        Controller(handler, port=state.plain_port, auth_require_tls=False, **common),
    ]
    try:
        for c in controllers:
            c.start()
            state.controllers.append(c)
    except BaseException:
        state.stop()
        raise
    return state
