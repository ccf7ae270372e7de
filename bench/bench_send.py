"""Sending: time from "send" to the copy in the IMAP Sent folder, against a bare peer.

Starts a throwaway Dovecot and aiosmtpd (``--port-base``: Dovecot +1..3, SMTP
+25..27) and sends ``--count`` messages two ways, both over plain loopback with a
new connection per message, as Postkamer's worker does:

(a) peer: ``smtplib`` login + ``sendmail`` of prebuilt bytes, then ``imaplib``
    login + APPEND of the same bytes to Sent (the protocol work alone);
(b) Postkamer: ``actions.do_queue_message`` (validate, build the MIME, store the
    bytes) and ``engine.run`` (submit, store the copy under Verzonden, APPEND with
    ``\\Seen``, record the APPENDUID): the path from the send button to the copy
    in Dovecot's Sent folder, minus the HTTP request and the queue hop.

Prints the median and 90th percentile per message and (b) as a multiple of (a).
"""

from __future__ import annotations

import argparse
import imaplib
import shutil
import smtplib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import setup_django  # noqa: E402
from tests.servers.dovecot import Dovecot, make_workdir, remove_workdir  # noqa: E402
from tests.servers.smtp import start_smtp_servers  # noqa: E402
from tests.servers.tls import make_test_ca  # noqa: E402

BODY = "<p>Beste klant,</p><p>Hierbij de offerte voor uw inboedelverzekering.</p>" * 5


def _stats(label: str, seconds: list[float]) -> float:
    median = statistics.median(seconds)
    p90 = sorted(seconds)[max(0, int(len(seconds) * 0.9) - 1)]
    print(
        f"{label}: median {median * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms "
        f"per message ({len(seconds)} messages, {sum(seconds):.2f} s)",
        flush=True,
    )
    return median


def peer(dovecot: Dovecot, smtp_port: int, user: str, password: str, raw: bytes, n: int):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", smtp_port, local_hostname="localhost") as s:
            s.login(user, password)
            s.sendmail(user, ["klant@voorbeeld.test"], raw)
        imap = imaplib.IMAP4("127.0.0.1", dovecot.imap_port)
        imap.login(user, password)
        imap.append("Sent", "(\\Seen)", None, raw)
        imap.logout()
        times.append(time.perf_counter() - start)
    return times


def postkamer(mailbox, author, n: int) -> tuple[list[float], list[float]]:
    from postkamer.sending import actions, engine

    total, queue_part = [], []
    for i in range(n):
        start = time.perf_counter()
        out = actions.do_queue_message(
            mailbox,
            author=author,
            to="Jan Klant <klant@voorbeeld.test>",
            subject=f"Offerte {i}",
            body_html=BODY,
        )
        queued = time.perf_counter()
        state = engine.run(out.pk)
        assert state == "sent", state
        done = time.perf_counter()
        total.append(done - start)
        queue_part.append(queued - start)
    return total, queue_part


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--port-base", type=int, default=29600)
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="postkamer-bench-send-"))
    workdir = make_workdir("postkamer-bench-send-dovecot-")
    ca = make_test_ca(tmp / "tls")
    dovecot = Dovecot(workdir, args.port_base, ca)
    dovecot.start()
    smtp = start_smtp_servers(ca, args.port_base)
    try:
        user, password = dovecot.new_user()
        smtp.users[user] = password
        setup_django(tmp / "data", "pack")
        from huey.contrib.djhuey import HUEY

        # Queue without running inline: (b) calls the worker's engine itself.
        HUEY.immediate = False
        from postkamer.accounts.models import Tenant, User
        from postkamer.mail import outgoing
        from postkamer.mailboxes.models import Mailbox

        tenant = Tenant.objects.create(name="Bench", edition="compleet")
        author = User.objects.create(email="advisor@bench.test", tenant=tenant)
        mailbox = Mailbox(
            tenant=tenant,
            name="Info",
            sender_address=user,
            display_name="Kantoor",
            imap_host="127.0.0.1",
            imap_port=dovecot.imap_port,
            imap_security="none",
            smtp_host="127.0.0.1",
            smtp_port=smtp.plain_port,
            smtp_security="none",
            allow_insecure=True,
            imap_username=user,
            sent_folder="Sent",
        )
        mailbox.imap_password = password
        mailbox.save()
        raw = outgoing.build(
            outgoing.Spec(
                sender=("Kantoor", user),
                to=[("Jan Klant", "klant@voorbeeld.test")],
                subject="Offerte",
                body_html=BODY,
            )
        ).raw
        # One of each first, so neither side pays for imports and first connections.
        peer(dovecot, smtp.plain_port, user, password, raw, 1)
        postkamer(mailbox, author, 1)
        a = _stats(
            "(a) peer: smtplib + imaplib APPEND",
            peer(dovecot, smtp.plain_port, user, password, raw, args.count),
        )
        total, queue_part = postkamer(mailbox, author, args.count)
        q = _stats("    of which queueing (validate, build, store)", queue_part)
        b = _stats("(b) Postkamer: send to Sent copy", total)
        print(f"    {b / a:.2f}x the peer (queueing {q / a:.2f}x)", flush=True)
    finally:
        smtp.stop()
        dovecot.close()
        remove_workdir(workdir)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
