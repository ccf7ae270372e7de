"""Sending at the protocol level: SMTP submission against aiosmtpd, APPEND against
Dovecot, and the MIME builder."""

from __future__ import annotations

import email
import email.policy
import secrets

import imapclient
import pytest

from postkamer.mail import errors, imap, outgoing, smtp
from tests.mail.conftest import settings


@pytest.fixture
def smtp_user(smtp_servers):
    email_ = f"s{secrets.token_hex(6)}@example.test"
    password = "pw-" + secrets.token_hex(8)
    smtp_servers.users[email_] = password
    yield email_, password
    smtp_servers.reset_faults()


def _raw(frm: str) -> bytes:
    return outgoing.build(
        outgoing.Spec(
            sender=("Kantoor", frm),
            to=[("", "bob@example.test")],
            subject=f"test {secrets.token_hex(4)}",
            body_html="<p>Hallo</p>",
        )
    ).raw


def _server(smtp_servers, user):
    return settings(smtp_servers.starttls_port, "starttls", *user)


def test_submit_delivers_and_reports_no_refusals(smtp_servers, smtp_user, options):
    raw = _raw(smtp_user[0])
    result = smtp.submit(
        _server(smtp_servers, smtp_user),
        options,
        envelope_from=smtp_user[0],
        recipients=["bob@example.test"],
        raw=raw,
    )
    assert result == smtp.Submitted(smtp_user[0], {}, False)
    assert any(m.raw == raw for m in smtp_servers.messages_for("bob@example.test"))


def test_a_4xx_after_data_is_a_temporary_failure(smtp_servers, smtp_user, options):
    smtp_servers.fail_data(1, "451 4.3.0 Try again later")
    with pytest.raises(errors.MessageDeferred) as info:
        smtp.submit(
            _server(smtp_servers, smtp_user),
            options,
            envelope_from=smtp_user[0],
            recipients=["bob@example.test"],
            raw=_raw(smtp_user[0]),
        )
    assert isinstance(info.value, errors.TemporaryFailure)
    assert "451" in info.value.detail


def test_a_5xx_for_the_only_recipient_is_a_permanent_failure(smtp_servers, smtp_user, options):
    smtp_servers.rcpt_answers["nobody@example.test"] = "550 5.1.1 No such user"
    with pytest.raises(errors.MessageRefused) as info:
        smtp.submit(
            _server(smtp_servers, smtp_user),
            options,
            envelope_from=smtp_user[0],
            recipients=["nobody@example.test"],
            raw=_raw(smtp_user[0]),
        )
    assert isinstance(info.value, errors.PermanentFailure)
    assert info.value.refused["nobody@example.test"][0] == 550


def test_a_partial_refusal_is_reported_per_address(smtp_servers, smtp_user, options):
    smtp_servers.rcpt_answers["gone@example.test"] = "550 5.1.1 No such user"
    smtp_servers.rcpt_answers["busy@example.test"] = "452 4.2.2 Mailbox full"
    result = smtp.submit(
        _server(smtp_servers, smtp_user),
        options,
        envelope_from=smtp_user[0],
        recipients=["bob@example.test", "gone@example.test", "busy@example.test"],
        raw=_raw(smtp_user[0]),
    )
    assert {k: v[0] for k, v in result.refused.items()} == {
        "gone@example.test": 550,
        "busy@example.test": 452,
    }


def test_the_null_sender_is_used_and_falls_back_when_refused(smtp_servers, smtp_user, options):
    server = _server(smtp_servers, smtp_user)
    sent = smtp.submit(
        server,
        options,
        envelope_from="",
        recipients=["bob@example.test"],
        raw=_raw(smtp_user[0]),
        fallback_from=smtp_user[0],
    )
    assert sent.envelope_from == "" and not sent.null_sender_refused
    assert smtp_servers.messages_for("bob@example.test")[-1].mail_from == ""

    smtp_servers.refuse_null_sender = True
    sent = smtp.submit(
        server,
        options,
        envelope_from="",
        recipients=["bob@example.test"],
        raw=_raw(smtp_user[0]),
        fallback_from=smtp_user[0],
    )
    assert sent.envelope_from == smtp_user[0] and sent.null_sender_refused
    assert smtp_servers.messages_for("bob@example.test")[-1].mail_from == smtp_user[0]


def test_a_server_that_is_down_is_a_temporary_failure(smtp_servers, options):
    with pytest.raises(errors.ConnectionRefused) as info:
        smtp.submit(
            settings(smtp_servers.down_port, "starttls", host="127.0.0.1"),
            options,
            envelope_from="a@example.test",
            recipients=["bob@example.test"],
            raw=b"Subject: x\r\n\r\nx\r\n",
        )
    assert isinstance(info.value, errors.TemporaryFailure)


def test_append_stores_the_message_seen_and_returns_its_uid(dovecot, imap_user, options):
    user, password = imap_user
    raw = _raw(user)
    conn = imap.connect(settings(dovecot.imap_port, "starttls", user, password), options)
    try:
        appended = imap.append(conn, "Sent", raw)
        assert appended.uidvalidity == dovecot.uidvalidity(user, "Sent")
        assert appended.uid is not None
        message_id = email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"]
        assert imap.uids_with_message_id(conn, "Sent", message_id) == [appended.uid]
        assert imap.uids_with_message_id(conn, "Sent", "<nothing@here>") == []
        conn.select_folder("Sent", readonly=True)
        fetched = conn.fetch([appended.uid], ["FLAGS", "BODY.PEEK[]"])[appended.uid]
        assert imapclient.SEEN in fetched[b"FLAGS"]
        assert fetched[b"BODY[]"] == raw
    finally:
        conn.logout()


def test_append_to_a_missing_folder_raises_folder_missing(dovecot, imap_user, options):
    user, password = imap_user
    conn = imap.connect(settings(dovecot.imap_port, "starttls", user, password), options)
    try:
        with pytest.raises(errors.FolderMissing):
            imap.append(conn, "Bestaat-niet", _raw(user))
    finally:
        conn.logout()


# --- the MIME builder ---------------------------------------------------------------


def _parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_the_message_has_a_text_and_an_html_alternative_in_the_template_font():
    built = outgoing.build(
        outgoing.Spec(
            sender=("Kantoor Jansen", "info@kantoor.test"),
            to=[("Jan", "jan@klant.test")],
            subject="Uw offerte",
            body_html="<p>Beste Jan,</p><p>Zie <b>bijlage</b>.</p>",
            font=outgoing.Font("Georgia, serif", 12, "#112233"),
        )
    )
    msg = _parse(built.raw)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["From"].addresses[0].display_name == "Kantoor Jansen"
    assert msg["Message-ID"] == built.message_id and built.message_id.endswith("@kantoor.test>")
    assert msg["Date"]
    text = msg.get_body(("plain",)).get_content()
    assert "Beste Jan," in text and "Zie bijlage." in text and "<" not in text
    html = msg.get_body(("html",)).get_content()
    assert "font-family: Georgia, serif; font-size: 12pt; color: #112233;" in html
    assert b"\r\n" in built.raw and b"\n" not in built.raw.replace(b"\r\n", b"")


def test_a_reply_carries_in_reply_to_and_references():
    built = outgoing.build(
        outgoing.Spec(
            sender=("", "info@kantoor.test"),
            to=[("", "jan@klant.test")],
            subject="Re: Vraag",
            body_html="<p>Antwoord</p>",
            in_reply_to="<b@klant.test>",
            references=["<a@klant.test>"],
        )
    )
    msg = _parse(built.raw)
    assert msg["In-Reply-To"] == "<b@klant.test>"
    assert msg["References"] == "<a@klant.test> <b@klant.test>"


def test_bcc_is_only_in_the_copy_and_attachments_are_attached():
    built = outgoing.build(
        outgoing.Spec(
            sender=("", "info@kantoor.test"),
            to=[("", "jan@klant.test")],
            bcc=[("", "archief@kantoor.test")],
            subject="Polis",
            body_html="<p>Zie bijlage</p>",
            attachments=[outgoing.Attachment("polis é.pdf", "application/pdf", b"%PDF-1.4")],
        )
    )
    assert b"archief@kantoor.test" not in built.raw
    copy = _parse(built.copy)
    assert copy["Bcc"] == "archief@kantoor.test"
    assert copy.get_content_type() == "multipart/mixed"
    [part] = list(copy.iter_attachments())
    assert part.get_filename() == "polis é.pdf"
    assert part.get_content() == b"%PDF-1.4"


def test_a_line_break_in_a_header_value_is_refused_not_stripped():
    assert outgoing.has_line_break("Offerte\r\nBcc: x@y")
    assert outgoing.has_line_break("a\nb") and not outgoing.has_line_break("gewoon")
    with pytest.raises(ValueError):
        outgoing.build(
            outgoing.Spec(
                sender=("", "info@kantoor.test"),
                to=[("", "jan@klant.test")],
                subject="Offerte\r\nBcc: x@y.test",
                body_html="x",
            )
        )


def test_submit_logs_in_with_xoauth2_when_given_a_token(smtp_servers, options):
    user = f"o{secrets.token_hex(6)}@example.test"
    token = "tok-" + secrets.token_hex(8)
    smtp_servers.tokens[token] = user
    server = settings(
        smtp_servers.starttls_port, "starttls", user, password=None, oauth2_token=token
    )
    smtp.submit(
        server, options, envelope_from=user, recipients=["bob@example.test"], raw=_raw(user)
    )
    assert smtp_servers.messages_for("bob@example.test")[-1].auth_user == user
