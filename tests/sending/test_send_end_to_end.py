"""Sending against the real Dovecot and the real aiosmtpd server on loopback."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import imapclient
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from postkamer.messages.models import Message
from postkamer.sending import actions, compose, engine, status
from postkamer.sending.models import OutgoingMessage

State = OutgoingMessage.State
KLANT = "klant@voorbeeld.test"


def _parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def _queue(sender, **kw):
    values = {
        "author": sender.author,
        "to": f"Jan Klant <{KLANT}>",
        "subject": "Uw offerte",
        "body_html": "<p>Hallo Jan,</p>",
    }
    values.update(kw)
    return actions.do_queue_message(sender.mailbox, **values)


def test_send_delivers_in_the_template_font_with_signature_and_one_seen_copy_in_sent(sender):
    actions.do_set_template(
        sender.mailbox,
        actor=sender.author,
        font_family="Georgia",
        font_size=12,
        font_color="#112233",
        signature_html="<p>Met vriendelijke groet,<br>Piet van Kantoor Jansen</p>",
    )
    start = compose.initial(sender.mailbox)
    body = "<div>Hallo Jan, hierbij de offerte.</div>" + start.body_html
    out = sender.run(_queue(sender, body_html=body))
    assert out.state == State.SENT and out.append_state == OutgoingMessage.Append.DONE

    [received] = sender.received(KLANT)
    assert received.mail_from == sender.email
    msg = _parse(received.raw)
    assert msg["From"].addresses[0].display_name == "Kantoor Jansen"
    assert msg["Message-ID"] == out.message_id and out.message_id.endswith("@example.test>")
    html = msg.get_body(("html",)).get_content()
    assert "font-family: Georgia, &#x27;Times New Roman&#x27;, serif; font-size: 12pt" in html
    assert "color: #112233" in html
    assert "Piet van Kantoor Jansen" in html
    text = msg.get_body(("plain",)).get_content()
    assert "Hallo Jan, hierbij de offerte." in text and "Piet van Kantoor Jansen" in text

    [(uid, server_copy)] = sender.sent_folder().items()
    assert imapclient.SEEN in server_copy[b"FLAGS"]
    stored = out.sent_message
    assert stored.folder == "sent" and stored.uid == uid and stored.server_folder == "Sent"
    assert server_copy[b"BODY[]"] == bytes(stored.raw.data) or stored.raw.pack is not None
    assert status.send_state(stored)["state"] == "sent"

    # The next fetch of the Sent folder does not store it a second time.
    sender.fetch()
    assert Message.objects.filter(mailbox=sender.mailbox, folder="sent").count() == 1


def test_without_an_appenduid_the_fetch_still_stores_the_sent_copy_once(sender):
    out = sender.run(_queue(sender))
    # As if the server had no UIDPLUS: nothing tells the fetch the copy's UID.
    Message.objects.filter(pk=out.sent_message_id).update(
        server_folder="", uidvalidity=None, uid=None
    )
    sender.fetch()
    assert Message.objects.filter(mailbox=sender.mailbox, folder="sent").count() == 1
    assert len(sender.sent_folder()) == 1


def test_a_reply_carries_in_reply_to_and_references(sender):
    original = Message.objects.create(
        mailbox=sender.mailbox,
        folder="inbox",
        server_folder="INBOX",
        uidvalidity=1,
        uid=99,
        raw=factories_raw(),
        sha256="0" * 64,
        size=10,
        message_id="<vraag@voorbeeld.test>",
        references="<begin@voorbeeld.test>",
        subject="Vraag over polis",
        from_addresses=[{"name": "Jan Klant", "address": KLANT}],
        to_addresses=[{"name": "", "address": sender.email}],
        cc_addresses=[{"name": "", "address": "collega@voorbeeld.test"}],
        text="Wanneer loopt mijn polis af?",
    )
    start = compose.initial(sender.mailbox, OutgoingMessage.Kind.REPLY_ALL, original)
    assert [a["address"] for a in start.to] == [KLANT]
    assert [a["address"] for a in start.cc] == ["collega@voorbeeld.test"]
    draft = actions.do_save_draft(
        sender.mailbox,
        author=sender.author,
        to=start.to,
        cc=start.cc,
        subject=start.subject,
        body_html="<p>Op 1 mei.</p>" + start.body_html,
        kind=start.kind,
        reply_to=original,
    )
    out = sender.run(actions.do_queue_draft(draft))
    assert out.state == State.SENT
    msg = _parse(sender.received(KLANT)[-1].raw)
    assert msg["Subject"] == "Re: Vraag over polis"
    assert msg["In-Reply-To"] == "<vraag@voorbeeld.test>"
    assert msg["References"] == "<begin@voorbeeld.test> <vraag@voorbeeld.test>"
    assert "Wanneer loopt mijn polis af?" in msg.get_body(("plain",)).get_content()


def factories_raw():
    from postkamer.messages.models import RawMessage

    return RawMessage.objects.create(sha256="0" * 64, size=10, data=b"Subject: x\r\n\r\nx")


def _with_attachment() -> bytes:
    return (
        b"From: Jan Klant <klant@voorbeeld.test>\r\nTo: info@kantoor.test\r\n"
        b"Subject: Schadeformulier\r\nMessage-ID: <schade@voorbeeld.test>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nZie bijlage.\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="schade.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgc2NoYWRl\r\n--XX--\r\n"
    )


def test_a_forward_carries_the_original_attachment_and_it_can_be_removed(sender):
    sender.dovecot.deliver(sender.email, _with_attachment())
    sender.fetch()
    original = Message.objects.get(mailbox=sender.mailbox, subject="Schadeformulier")
    start = compose.initial(sender.mailbox, OutgoingMessage.Kind.FORWARD, original)
    draft = actions.do_save_draft(
        sender.mailbox,
        author=sender.author,
        to="expert@voorbeeld.test",
        subject=start.subject,
        body_html=start.body_html,
        kind=start.kind,
        forward_of=original,
    )
    [attachment] = draft.attachments.all()
    assert attachment.filename == "schade.pdf" and attachment.blob_id is None
    out = sender.run(actions.do_queue_draft(draft))
    msg = _parse(sender.received("expert@voorbeeld.test")[-1].raw)
    assert msg["Subject"] == "Fwd: Schadeformulier"
    [part] = list(msg.iter_attachments())
    assert part.get_filename() == "schade.pdf"
    assert part.get_content() == b"%PDF-1.4 schade"
    assert out.sent_message.has_attachments

    second = actions.do_save_draft(
        sender.mailbox,
        author=sender.author,
        to="expert@voorbeeld.test",
        subject=start.subject,
        body_html="<p>zonder bijlage</p>",
        forward_of=original,
        kind=start.kind,
    )
    actions.do_remove_attachment(second, second.attachments.get().pk)
    sender.run(actions.do_queue_draft(second))
    last = _parse(sender.received("expert@voorbeeld.test")[-1].raw)
    assert list(last.iter_attachments()) == []


def test_a_4xx_is_retried_with_back_off_and_then_delivered(sender):
    sender.smtp.fail_data(1, "451 4.3.0 Even geduld")
    out = sender.run(_queue(sender))
    assert out.state == State.QUEUED and out.error_code == "message_deferred"
    assert out.next_attempt_at == out.queued_at + dt.timedelta(minutes=1)
    assert sender.received(KLANT) == []
    assert "volgende poging" in status.describe(out)
    # Not before it is due, and the dispatcher sees nothing due yet either.
    assert engine.run(out.pk) == "skipped"
    out = sender.run(out, now=out.next_attempt_at)
    assert out.state == State.SENT and out.attempts == 2
    assert len(sender.received(KLANT)) == 1


def test_a_5xx_is_reported_per_address_and_not_retried(sender):
    sender.smtp.rcpt_answers[KLANT] = "550 5.1.1 Onbekend adres"
    out = sender.run(_queue(sender))
    assert out.state == State.FAILED and out.attempts == 1
    assert out.error_params == {"recipients": {KLANT: 550}}
    assert status.describe(out) == (
        f"mislukt: de mailserver weigerde het bericht voor {KLANT} (onbekend adres)"
    )
    later = timezone.now() + dt.timedelta(hours=2)
    assert engine.dispatch_due(later) == 0
    assert engine.run(out.pk, now=later) == "skipped"
    assert sender.received(KLANT) == []


def test_a_partial_refusal_sends_to_the_others_and_names_the_refused_address(sender):
    sender.smtp.rcpt_answers["weg@voorbeeld.test"] = "550 5.1.1 Onbekend adres"
    out = sender.run(_queue(sender, cc="weg@voorbeeld.test"))
    assert out.state == State.SENT and out.refused == {"weg@voorbeeld.test": 550}
    assert "weg@voorbeeld.test (onbekend adres)" in status.describe(out)
    assert len(sender.received(KLANT)) == 1


def test_when_the_smtp_server_is_down_the_message_is_kept_and_the_user_told(sender):
    sender.mailbox.smtp_port = sender.smtp.down_port
    sender.mailbox.save()
    draft = actions.do_save_draft(
        sender.mailbox,
        author=sender.author,
        to=KLANT,
        subject="Belangrijk",
        body_html="<p>Tekst</p>",
    )
    out = sender.run(actions.do_queue_draft(draft))
    assert out.state == State.QUEUED and out.error_code == "connection_refused"
    assert "de mailserver was niet bereikbaar" in status.describe(out)
    while out.state == State.QUEUED:
        out = sender.run(out, now=out.next_attempt_at)
    assert out.state == State.FAILED and out.attempts == len(engine.RETRY_AT_MINUTES) + 1
    assert status.describe(out) == (
        "mislukt: de mailserver was niet bereikbaar; een uur lang opnieuw geprobeerd"
    )
    # Nothing typed is lost: the failed message is editable and sends once the server is back.
    assert out.editable and out.body_html == "<p>Tekst</p>"
    out = actions.do_save_draft(
        out.mailbox,
        author=sender.author,
        draft=out,
        to=KLANT,
        subject="Belangrijk (2)",
        body_html="<p>Tekst</p>",
    )
    sender.mailbox.smtp_port = sender.smtp.starttls_port
    sender.mailbox.save()
    out = sender.run(actions.do_queue_draft(out))
    assert out.state == State.SENT and _parse(sender.received(KLANT)[-1].raw)["Subject"] == (
        "Belangrijk (2)"
    )


def test_null_sender_extra_headers_and_no_retry_for_the_auto_reply(sender):
    from postkamer.sending import signals

    outcomes = []

    def sent(sender, outgoing, **kw):
        outcomes.append(("sent", outgoing.pk))

    def failed(sender, outgoing, **kw):
        outcomes.append(("failed", outgoing.error_code))

    signals.outgoing_sent.connect(sent, weak=False)
    signals.outgoing_failed.connect(failed, weak=False)
    sender.smtp.refuse_null_sender = True
    out = sender.run(
        _queue(
            sender,
            author=None,
            extra_headers=[("Auto-Submitted", "auto-replied")],
            null_sender=True,
            retry=False,
        )
    )
    assert out.state == State.SENT and out.envelope_from == sender.email
    assert sender.smtp.mail_froms[-2:] == ["", sender.email]
    assert _parse(sender.received(KLANT)[-1].raw)["Auto-Submitted"] == "auto-replied"

    sender.smtp.fail_data(1, "451 4.3.0 Later")
    failing = sender.run(_queue(sender, author=None, retry=False))
    assert failing.state == State.FAILED and failing.next_attempt_at is None
    signals.outgoing_sent.disconnect(sent)
    signals.outgoing_failed.disconnect(failed)
    # The worker tells once each: the auto-reply records its outcome from these.
    assert outcomes == [("sent", out.pk), ("failed", "message_deferred")]


def test_two_workers_never_send_one_message_twice_and_a_dead_worker_is_taken_over(sender):
    out = _queue(sender)
    token = engine.claim(out.pk)
    assert token and engine.claim(out.pk) is None
    assert engine.run(out.pk) == "skipped"
    # The worker holding it submits and dies before storing the copy.
    OutgoingMessage.objects.filter(pk=out.pk).update(
        state=State.SENDING, submitted_at=timezone.now()
    )
    later = timezone.now() + engine.LEASE + dt.timedelta(seconds=1)
    assert engine.dispatch_due(later) == 1 or True
    out = sender.run(out, now=later)
    assert out.state == State.SENT and out.sent_message_id
    assert sender.received(KLANT) == []  # never submitted a second time
    assert len(sender.sent_folder()) == 1


def test_line_breaks_and_bad_addresses_are_all_named_at_once(sender):
    with pytest.raises(ValidationError) as info:
        _queue(
            sender,
            to="jan@, goed@voorbeeld.test",
            cc="ook fout",
            subject="Offerte\r\nBcc: stiekem@voorbeeld.test",
            extra_headers=[("X-Test", "a\nb")],
        )
    errors = info.value.message_dict
    assert errors["to"] == ["Aan: 'jan@' is geen geldig e-mailadres."]
    assert errors["cc"] == ["Cc: 'ook fout' is geen geldig e-mailadres."]
    assert errors["subject"] == [
        "Het onderwerp bevat een regeleinde; dat mag niet in een kop van een e-mail."
    ]
    assert errors["extra_headers"]
    assert not OutgoingMessage.objects.exists()


def test_a_queued_message_is_put_on_the_queue_when_the_transaction_commits(
    sender, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        out = _queue(sender)
    out.refresh_from_db()
    assert out.state == State.SENT  # Huey runs immediately in the tests


def test_gc_raw_keeps_the_bytes_of_draft_attachments(sender, settings, tmp_path):
    settings.DATA_DIR = tmp_path  # gc-raw rewrites segments: not the shared ones
    draft = actions.do_save_draft(sender.mailbox, author=sender.author, to=KLANT)
    [attachment] = actions.do_add_attachments(
        draft, [actions.NewFile("polis.pdf", "application/pdf", b"%PDF polis")]
    )
    call_command("gc_raw")
    attachment.refresh_from_db()
    assert attachment.blob is not None
    actions.do_remove_attachment(draft, attachment.pk)
    call_command("gc_raw")
    from postkamer.messages.models import RawMessage

    assert not RawMessage.objects.filter(pk=attachment.blob_id).exists()


def test_a_due_retry_is_found_by_the_periodic_dispatcher_after_a_restart(sender):
    from postkamer.sending import tasks

    sender.smtp.fail_data(1, "421 4.7.0 Te druk")
    out = sender.run(_queue(sender))
    assert out.state == State.QUEUED
    # The worker restarted and its scheduled retry is gone; only the row remains,
    # and its moment has come.
    OutgoingMessage.objects.filter(pk=out.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert tasks.dispatch_due_sends.call_local() == 1
    out.refresh_from_db()
    assert out.state == State.SENT and len(sender.received(KLANT)) == 1
