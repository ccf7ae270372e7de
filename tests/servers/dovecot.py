"""A throwaway Dovecot (IMAP, IMAPS, LMTP, XOAUTH2) for tests and benchmarks.

Self-contained config in ``workdir`` (never includes /etc/dovecot), run as
``dovecot -F -c conf`` in the foreground so the Popen process is the master.
Ports: ``base_port + 1`` IMAP (STARTTLS-capable), ``+ 2`` IMAPS, ``+ 3`` LMTP.
The OAuth2 introspection HTTP server binds an ephemeral port.

Isolation between tests is one fresh user per test (:meth:`Dovecot.new_user`).

"Certificate not trusted" tests do not need a second instance: this server's
certificate is signed by the throwaway test CA, so a client context WITHOUT
that CA (system CAs only) sees a certificate from an unknown CA.  Pass
``untrusted=True`` to serve the unrelated self-signed certificate instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import json
import os
import re
import secrets
import shutil
import smtplib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import imapclient

from tests.servers.tls import TestCA

ADMIN_USER = "admin"
_APPENDUID = re.compile(rb"APPENDUID \d+ ([\d:,]+)")


class _Introspection(ThreadingHTTPServer):
    """RFC 7662 token introspection: ``tokens`` maps token -> username; ``lookup``
    (e.g. the test identity platform's) answers for the tokens not listed there."""

    daemon_threads = True

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.lookup: Callable[[str], str | None] | None = None
        super().__init__(("127.0.0.1", 0), _IntrospectionHandler)


class _IntrospectionHandler(BaseHTTPRequestHandler):
    server: _Introspection

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        token = (form.get("token") or [""])[0]
        username = self.server.tokens.get(token)
        if username is None and self.server.lookup is not None:
            username = self.server.lookup(token)
        body = {"active": True, "username": username} if username else {"active": False}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


class Dovecot:
    """One Dovecot instance.  See the module docstring for ports and TLS."""

    def __init__(
        self,
        workdir: Path,
        base_port: int,
        tls: TestCA,
        *,
        untrusted: bool = False,
        imap_capability: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.base_port = base_port
        self.tls = tls
        self.untrusted = untrusted
        #: Replaces the capabilities announced after login (e.g. a server without IDLE).
        self.imap_capability = imap_capability
        self.conf_path = self.workdir / "dovecot.conf"
        self._proc: subprocess.Popen | None = None
        self._introspection: _Introspection | None = None
        self._users: dict[str, str] = {}
        self._admin_password = secrets.token_urlsafe(16)
        self._admin_sessions: dict[str, imapclient.IMAPClient] = {}
        self._lock = threading.Lock()

    # -- ports and paths ---------------------------------------------------
    @property
    def imap_port(self) -> int:
        """Plain IMAP port (offers STARTTLS)."""
        return self.base_port + 1

    @property
    def imaps_port(self) -> int:
        """Implicit-TLS IMAP port."""
        return self.base_port + 2

    @property
    def lmtp_port(self) -> int:
        """LMTP port (no auth)."""
        return self.base_port + 3

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that clients must trust to accept this server."""
        return str(self.tls.ca_cert)

    @property
    def log_path(self) -> Path:
        """Dovecot's log file (info and errors)."""
        return self.workdir / "log" / "dovecot.log"

    # -- life cycle ----------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Write the config, start Dovecot and wait for the IMAP and LMTP
        greetings.  Raises RuntimeError when it does not come up."""
        if self._introspection is None:
            self._introspection = _Introspection()
            threading.Thread(
                target=self._introspection.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="dovecot-oauth2",
                daemon=True,
            ).start()
        self._write_config()
        self._proc = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        for port, greeting in ((self.imap_port, b"* OK"), (self.lmtp_port, b"220 ")):
            while not self._greets(port, greeting):
                if self._proc.poll() is not None:
                    err = (
                        self._proc.stderr.read().decode(errors="replace")
                        if self._proc.stderr
                        else ""
                    )
                    raise RuntimeError(f"dovecot exited: {err}\n{self._log_tail()}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"dovecot did not greet on {port}\n{self._log_tail()}")
                time.sleep(0.01)

    def stop(self) -> None:
        """Stop Dovecot (about 1 s: the master waits for its children)."""
        self._drop_admin_sessions()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None

    def close(self) -> None:
        """Stop Dovecot and the introspection server."""
        self.stop()
        if self._introspection is not None:
            self._introspection.shutdown()
            self._introspection.server_close()
            self._introspection = None

    def restart(self) -> None:
        """Stop and start again; users, tokens and mail are kept."""
        self.stop()
        self.start()

    def _greets(self, port: int, greeting: bytes) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                return s.recv(100).startswith(greeting)
        except OSError:
            return False

    def _log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- config -------------------------------------------------------------
    def _write_config(self) -> None:
        d = self.workdir
        for sub in ("run", "state", "log", "auth", "mail"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        root = os.geteuid() == 0
        if root:
            login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
            mail_uid, mail_gid = "nobody", "nogroup"
            uid_num, gid_num = 65534, 65534
            chroots = ""
            # auth (user dovecot) must read the passwd-files; imap (nobody)
            # must create Maildirs.  Parents must be traversable too: the
            # fixture puts workdir under /tmp, not under pytest's 0700 dirs.
            d.chmod(0o711)
            (d / "auth").chmod(0o711)
            os.chown(d / "mail", uid_num, gid_num)
        else:
            import grp
            import pwd

            uid_num, gid_num = os.getuid(), os.getgid()
            login_user = internal_user = pwd.getpwuid(uid_num).pw_name
            internal_group = grp.getgrgid(gid_num).gr_name
            mail_uid, mail_gid = str(uid_num), str(gid_num)
            # Without these chroot()s fail as non-root, and anvil's failure
            # makes every login wait seconds.
            chroots = "service imap-login {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\n"
        cert = self.tls.untrusted_cert if self.untrusted else self.tls.server_cert
        key = self.tls.untrusted_key if self.untrusted else self.tls.server_key
        self._write_passwd()
        self._write_file(
            d / "auth" / "masters", f"{ADMIN_USER}:{{PLAIN}}{self._admin_password}::::::\n"
        )
        assert self._introspection is not None
        introspection_port = self._introspection.server_address[1]
        self._write_file(
            d / "auth" / "oauth2.conf.ext",
            f"introspection_mode = post\n"
            f"introspection_url = http://127.0.0.1:{introspection_port}/introspect\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
            "force_introspection = yes\n",
        )
        capability = f"imap_capability = {self.imap_capability}\n" if self.imap_capability else ""
        conf = f"""# Generated by tests/servers/dovecot.py; self-contained on purpose.
instance_name = postkamer-test-{self.base_port}
{capability}# The process title shows each session's user and command (e.g. IDLE):
# tests read it to count the IDLE connections per user.
verbose_proctitle = yes
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log/dovecot.log
info_log_path = {d}/log/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
mail_uid = {mail_uid}
mail_gid = {mail_gid}
first_valid_uid = {uid_num}
first_valid_gid = {gid_num}
mail_location = maildir:~/Maildir:LAYOUT=fs
auth_mechanisms = plain login xoauth2 oauthbearer
auth_master_user_separator = *
auth_failure_delay = 0
auth_cache_size = 0
auth_verbose = yes
passdb {{
  driver = passwd-file
  master = yes
  args = scheme=PLAIN {d}/auth/masters
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/auth/oauth2.conf.ext
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {d}/auth/users
}}
userdb {{
  driver = static
  args = home={d}/mail/%u allow_all_users=yes
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
# No 2^n s penalty after failed logins: tests fail logins on purpose.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{chroots}"""
        self._write_file(self.conf_path, conf)

    def _write_file(self, path: Path, text: str) -> None:
        # Atomic: Dovecot may read the file at any moment.
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, path)

    def _write_passwd(self) -> None:
        lines = "".join(f"{user}:{{PLAIN}}{pw}::::::\n" for user, pw in self._users.items())
        self._write_file(self.workdir / "auth" / "users", lines)

    # -- users and tokens ----------------------------------------------------
    def add_user(self, email: str, password: str) -> None:
        """Add (or replace) a password user; effective immediately."""
        self.set_password(email, password)

    def set_password(self, email: str, password: str) -> None:
        """Set a user's password: atomic rewrite of the passwd-file, then
        ``doveadm reload`` (without it a login in the same second may still
        see the old file, which is only re-stat()ed once per second), then a
        login with the new password until it works: the reload only signals
        the master, and a login that comes before the master has acted may
        still reach the old auth process and its stale view of the file."""
        if ":" in email or ":" in password or "\n" in email + password:
            raise ValueError("':' and newlines are not allowed in passwd-file fields")
        with self._lock:
            self._users[email] = password
            self._write_passwd()
        if self._proc is not None:
            self.doveadm("reload")
            self._wait_for_login(email, password)

    def _wait_for_login(self, email: str, password: str, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                client = imapclient.IMAPClient(
                    "127.0.0.1", port=self.imap_port, ssl=False, timeout=5
                )
            except (OSError, imaplib.IMAP4.error):
                # The master is restarting its listeners, or a login process that
                # is shutting down greets with "* BYE Shutting down".
                client = None
            if client is not None:
                try:
                    # SASL PLAIN is UTF-8: fine for non-ASCII passwords, too.
                    client.plain_login(email, password)
                    return
                except (OSError, imaplib.IMAP4.error):
                    pass  # refused (LoginError is one) or cut off by the reload
                finally:
                    with contextlib.suppress(Exception):
                        client.logout()
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot: {email} cannot log in after the password change")
            time.sleep(0.02)

    def new_user(self, domain: str = "example.test") -> tuple[str, str]:
        """Create a user with a random name and password; return (email, password)."""
        email = f"u{secrets.token_hex(6)}@{domain}"
        password = secrets.token_urlsafe(12)
        self.add_user(email, password)
        return email, password

    def add_token(self, token: str, username: str) -> None:
        """Make ``token`` a valid OAuth2 access token for ``username``."""
        assert self._introspection is not None, "start() first"
        self._introspection.tokens[token] = username

    def set_token_lookup(self, lookup: Callable[[str], str | None] | None) -> None:
        """Ask ``lookup(token)`` (the user it logs in as, or None) for tokens that
        :meth:`add_token` did not list: an identity platform decides what is live."""
        assert self._introspection is not None, "start() first"
        self._introspection.lookup = lookup

    def revoke_token(self, token: str) -> None:
        """Make ``token`` invalid from the next login on (no auth cache)."""
        assert self._introspection is not None, "start() first"
        self._introspection.tokens.pop(token, None)

    # -- doveadm ---------------------------------------------------------------
    def doveadm(self, *args: str, input: bytes | None = None) -> str:
        """Run ``doveadm -c conf ARGS`` against this instance; return stdout.
        Raises RuntimeError with stderr when it fails."""
        res = subprocess.run(
            ["doveadm", "-c", str(self.conf_path), *args],
            input=input,
            capture_output=True,
            timeout=30,
        )
        if res.returncode != 0:
            raise RuntimeError(
                f"doveadm {' '.join(args)} failed ({res.returncode}): "
                f"{res.stderr.decode(errors='replace')}"
            )
        return res.stdout.decode(errors="replace")

    def create_folder(self, user: str, name: str) -> None:
        """Create (and subscribe) folder ``name``; "/" is the separator."""
        self.doveadm("mailbox", "create", "-u", user, "-s", name)

    def delete_folder(self, user: str, name: str) -> None:
        """Delete folder ``name`` recursively and unsubscribe it."""
        self.doveadm("mailbox", "delete", "-u", user, "-r", "-s", name)

    def rename_folder(self, user: str, name: str, new_name: str) -> None:
        """Rename folder ``name`` to ``new_name`` (keeps subscriptions)."""
        self.doveadm("mailbox", "rename", "-u", user, "-s", name, new_name)

    def set_uidvalidity(self, user: str, folder: str, value: int) -> None:
        """Force a new UIDVALIDITY (must differ from the current one).
        Sessions that have ``folder`` selected get disconnected."""
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(value), folder)

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Return the folder's current UIDVALIDITY."""
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", user, "uidvalidity", folder)
        return int(out.split("=", 1)[1])

    def expunge(self, user: str, folder: str, uids: Iterable[int]) -> None:
        """Expunge messages by UID."""
        self.doveadm("expunge", "-u", user, "mailbox", folder, "uid", _uid_set(uids))

    def move(self, user: str, folder: str, uids: Iterable[int], dest: str) -> None:
        """Move messages by UID from ``folder`` to ``dest``."""
        self.doveadm("move", "-u", user, dest, "mailbox", folder, "uid", _uid_set(uids))

    def idle_sessions(self, user: str) -> int:
        """How many of ``user``'s IMAP sessions are in IDLE right now, as the
        server's process titles say (one process per session here)."""
        res = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
        # e.g. "dovecot-postkamer-test-31301/imap [u1@example.test 127.0.0.1 IDLE]"
        prefix = f"postkamer-test-{self.base_port}/imap [{user} "
        return sum(
            1 for line in res.stdout.splitlines() if prefix in line and line.endswith(" IDLE]")
        )

    def kick(self, user: str) -> None:
        """Disconnect every IMAP session of ``user`` (the server drops them)."""
        self.doveadm("kick", user)

    # -- delivery via an admin IMAP session --------------------------------------
    def _admin(self, user: str) -> imapclient.IMAPClient:
        # Master-user login ("user*admin") works for every user, including
        # OAuth2-only ones, and survives password changes.
        client = self._admin_sessions.get(user)
        if client is None:
            client = imapclient.IMAPClient("127.0.0.1", self.imap_port, ssl=False, timeout=30)
            client.login(f"{user}*{ADMIN_USER}", self._admin_password)
            self._admin_sessions[user] = client
        return client

    def _drop_admin_sessions(self) -> None:
        for client in self._admin_sessions.values():
            with contextlib.suppress(Exception):
                client.shutdown()
        self._admin_sessions.clear()

    def _with_admin(self, user: str, action):
        try:
            return action(self._admin(user))
        except (imapclient.exceptions.IMAPClientAbortError, OSError):
            # Stale cached session (e.g. after a restart): one retry.
            self._admin_sessions.pop(user, None)
            return action(self._admin(user))

    def deliver(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Sequence[str] = (),
        internaldate: dt.datetime | None = None,
    ) -> int:
        """APPEND one message; return its UID.  ``flags`` like ``"\\\\Seen"``."""
        resp = self._with_admin(user, lambda c: c.append(folder, raw, flags, internaldate))
        return _uids_from_appenduid(resp)[0]

    def deliver_lmtp(self, recipient: str, raw: bytes, envelope_from: str) -> None:
        """Deliver ``raw`` to ``recipient``'s INBOX over LMTP, as a mail server
        does: Dovecot adds ``Return-Path: <envelope_from>`` ("" gives ``<>``),
        ``Delivered-To`` and ``Received``, and the INTERNALDATE is now."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            lmtp.sendmail(envelope_from, [recipient], raw)

    def deliver_many(
        self, user: str, raws: Sequence[bytes], folder: str = "INBOX", batch: int = 500
    ) -> list[int]:
        """APPEND many messages with MULTIAPPEND (one command per ``batch``);
        return their UIDs in order.  Thousands of messages take about a second."""
        uids: list[int] = []
        for start in range(0, len(raws), batch):
            chunk = list(raws[start : start + batch])
            resp = self._with_admin(user, lambda c, chunk=chunk: c.multiappend(folder, chunk))
            uids.extend(_uids_from_appenduid(resp))
        return uids


def _uid_set(uids: Iterable[int]) -> str:
    text = ",".join(str(int(u)) for u in uids)
    if not text:
        raise ValueError("no UIDs given")
    return text


def _uids_from_appenduid(resp: object) -> list[int]:
    text = (
        resp
        if isinstance(resp, bytes)
        else b" ".join(r if isinstance(r, bytes) else str(r).encode() for r in (resp or []))
    )
    m = _APPENDUID.search(text)
    if not m:
        raise RuntimeError(f"no APPENDUID in {resp!r}")
    uids: list[int] = []
    for part in m.group(1).split(b","):
        lo, _, hi = part.partition(b":")
        uids.extend(range(int(lo), int(hi or lo) + 1))
    return uids


def make_workdir(prefix: str = "postkamer-dovecot-") -> Path:
    """Return a fresh directory under /tmp that Dovecot's unprivileged
    processes can traverse (pytest's tmp dirs are 0700 and root-owned)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o711)
    return path


def remove_workdir(path: Path) -> None:
    """Delete a directory made by :func:`make_workdir`."""
    shutil.rmtree(path, ignore_errors=True)
