"""Which inbound messages get an automatic reply, end to end, and what it looks like.

Every case is delivered into the real Dovecot (over LMTP, so Dovecot records the
envelope sender as Return-Path, as a real mail server does; IMAP APPEND where a
case needs another folder or no Return-Path), fetched by the real fetcher, judged
by the hook the fetch's commit sets off, and the replies are sent by the real
sending worker to the real SMTP server on loopback, which keeps what it took. The
table says, per rule, which messages get a reply and which reason the others get;
the test then reads the replies as the SMTP server received them.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address

import pytest

from postkamer.autoreply.models import ReplyDecision, State
from postkamer.autoreply.views import preview_document
from postkamer.messages.models import Message
from postkamer.sending import actions as sending
from postkamer.sending.actions import font_of
from postkamer.sending.models import OutgoingMessage
from tests.autoreply.conftest import BODY, mail, parse

REPLY = "reply"
NEVER_JUDGED = "never judged"
LMTP, INBOX_APPEND, JUNK_APPEND, SENT_APPEND = "lmtp", "INBOX", "Junk", "Sent"

REPORT_BODY = (
    "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.klant.test\r\n\r\nFinal-Recipient: rfc822; weg@klant.test\r\n"
    "Action: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
)
ATTACHMENT_BODY = (
    "--m\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n"
    "--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    'filename="polis.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n'
)


@dataclass(frozen=True)
class Case:
    name: str
    expect: str  # REPLY, a reason code, or NEVER_JUDGED
    envelope: str = "klant@voorbeeld.test"
    sender: str = ""  # From; defaults to the envelope sender
    to: str | None = "{box}"
    headers: str = ""
    delivery: str = LMTP
    message_id: bool = True
    content_type: str = "text/plain; charset=utf-8"
    body: str = "Beste kantoor,\r\n\r\nIk heb een vraag.\r\n"


def _sender(n: int) -> str:
    return f"klant{n}@voorbeeld.test"


CASES = [
    # -- answered ------------------------------------------------------------------
    Case("a customer writing to the mailbox gets a reply", REPLY, envelope="jan@klant.test"),
    Case(
        "the reply goes to the return path, not to reply-to or from",
        REPLY,
        envelope="piet.envelop@klant.test",
        sender="Piet <piet@klant.test>",
        headers="Reply-To: secretariaat@klant.test\r\n",
    ),
    Case("a plus address of the mailbox counts as addressed to it", REPLY, _sender(1), to="{plus}"),
    Case(
        "a copy in cc counts as addressed",
        REPLY,
        _sender(2),
        to="iemand@elders.test",
        headers="Cc: Kantoor <{box}>\r\n",
    ),
    Case(
        "a resent message to the mailbox counts as addressed",
        REPLY,
        _sender(3),
        to="oud-adres@elders.test",
        headers="Resent-To: {box}\r\n",
    ),
    Case("the login address counts as the mailbox's own", REPLY, _sender(4), to="{user}"),
    Case("auto-submitted no is a person", REPLY, _sender(5), headers="Auto-Submitted: no\r\n"),
    Case(
        "hidden recipients cannot be known and are answered",
        REPLY,
        _sender(6),
        to="undisclosed-recipients:;",
    ),
    Case("no recipient field at all cannot be known and is answered", REPLY, _sender(7), to=None),
    Case(
        "a suppress header for receipts only still gets the reply",
        REPLY,
        _sender(8),
        headers="X-Auto-Response-Suppress: DR, RN, NRN\r\n",
    ),
    Case("a message without message-id gets a reply", REPLY, _sender(9), message_id=False),
    Case(
        "a message with an attachment gets a reply without it",
        REPLY,
        _sender(10),
        content_type='multipart/mixed; boundary="m"',
        body=ATTACHMENT_BODY,
    ),
    # -- the once per N days memory --------------------------------------------------
    Case("a second message of an answered sender", "recently_replied", envelope="jan@klant.test"),
    # -- automatic mail (RFC 3834 §2, RFC 5230 §4.6) -------------------------------
    Case(
        "auto-submitted auto-generated",
        "auto_submitted",
        _sender(20),
        headers="Auto-Submitted: auto-generated\r\n",
    ),
    Case(
        "auto-submitted auto-replied",
        "auto_submitted",
        _sender(21),
        headers="Auto-Submitted: auto-replied\r\n",
    ),
    Case("another responder's reply", "autoresponder", _sender(22), headers="X-Autoreply: yes\r\n"),
    Case(
        "a delivery report",
        "delivery_report",
        _sender(23),
        content_type='multipart/report; report-type=delivery-status; boundary="b"',
        body=REPORT_BODY,
    ),
    Case("precedence bulk", "precedence", _sender(24), headers="Precedence: bulk\r\n"),
    Case("precedence list", "precedence", _sender(25), headers="Precedence: list\r\n"),
    Case("precedence junk", "precedence", _sender(26), headers="Precedence: junk\r\n"),
    Case(
        "a list-id", "mailing_list", _sender(27), headers="List-Id: Nieuws <nieuws.klant.test>\r\n"
    ),
    Case(
        "a list-unsubscribe",
        "mailing_list",
        _sender(28),
        headers="List-Unsubscribe: <mailto:uit@klant.test>\r\n",
    ),
    Case(
        "another list field",
        "mailing_list",
        _sender(29),
        headers="List-Help: <mailto:help@klant.test>\r\n",
    ),
    Case(
        "x-auto-response-suppress oof",
        "suppressed",
        _sender(30),
        headers="X-Auto-Response-Suppress: OOF\r\n",
    ),
    Case(
        "x-auto-response-suppress all",
        "suppressed",
        _sender(31),
        headers="X-Auto-Response-Suppress: DR, All\r\n",
    ),
    # -- where a reply would go ----------------------------------------------------
    Case("an empty return path", "null_return_path", envelope="", sender="klant@voorbeeld.test"),
    Case("no return path at all", "no_return_path", _sender(32), delivery=INBOX_APPEND),
    Case(
        "mailer-daemon",
        "system_sender",
        envelope="MAILER-DAEMON@mx.klant.test",
        sender="Mail Delivery System <MAILER-DAEMON@mx.klant.test>",
    ),
    Case("postmaster", "system_sender", envelope="postmaster@klant.test"),
    Case("a list request address", "system_sender", envelope="nieuws-request@lists.klant.test"),
    Case("a list owner address", "system_sender", envelope="owner-nieuws@lists.klant.test"),
    Case("noreply", "system_sender", envelope="noreply@bank.test"),
    Case("no-reply", "system_sender", envelope="no-reply@verzekeraar.test"),
    Case("donotreply", "system_sender", envelope="donotreply@gemeente.test"),
    Case(
        "a no-reply from behind a bounce address",
        "system_sender",
        envelope="b.4711@mailer.winkel.test",
        sender="Webwinkel <noreply@winkel.test>",
    ),
    # -- ourselves and personal mail (RFC 5230 §4.5) -------------------------------
    Case("the mailbox itself as envelope sender", "own_address", envelope="{box}", sender="{box}"),
    Case(
        "the mailbox in from only", "own_address", envelope="doorstuur@elders.test", sender="{box}"
    ),
    Case("not addressed to the mailbox", "not_addressed", _sender(33), to="iemand@elders.test"),
    # -- never judged at all -------------------------------------------------------
    Case(
        "junk is never judged",
        NEVER_JUDGED,
        _sender(34),
        headers="Return-Path: <klant34@voorbeeld.test>\r\n",
        delivery=JUNK_APPEND,
    ),
    Case(
        "sent mail is never judged",
        NEVER_JUDGED,
        "{box}",
        headers="Return-Path: <{box}>\r\n",
        to="klant35@voorbeeld.test",
        delivery=SENT_APPEND,
    ),
]


def test_the_table_has_at_least_twenty_cases_and_unique_names():
    assert len(CASES) >= 20
    assert len({case.name for case in CASES}) == len(CASES)


SIGNATURE = "<p>Met vriendelijke groet,<br>Kantoor Jansen</p>"


def _ids(raw: bytes) -> str | None:
    return parse(raw)["Message-ID"]


def test_exactly_the_expected_messages_get_a_reply_with_the_right_headers(reply_box):
    box = reply_box
    sending.do_set_template(
        box.mailbox,
        actor=None,
        font_family="Georgia",
        font_size=12,
        font_color="#112233",
        signature_html=SIGNATURE,
    )
    box.switch_on()
    local, _, domain = box.address.partition("@")
    fill = {"{box}": box.address, "{plus}": f"{local}+offerte@{domain}", "{user}": box.email}

    def filled(text: str | None) -> str | None:
        if text is None:
            return None
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    message_ids = {}
    for case in CASES:
        envelope = filled(case.envelope)
        raw = mail(
            case.name,
            sender=filled(case.sender) or envelope or "onbekend@voorbeeld.test",
            to=filled(case.to),
            headers=filled(case.headers),
            message_id=case.message_id,
            content_type=case.content_type,
            body=case.body,
        )
        message_ids[case.name] = _ids(raw)
        if case.delivery == LMTP:
            box.send(raw, envelope)
        else:
            box.append(raw, folder=case.delivery)

    box.fetch()
    decisions = box.decisions()
    outcome = {}
    for case in CASES:
        decision = decisions.get(case.name)
        if decision is None:
            outcome[case.name] = NEVER_JUDGED
        elif decision.state == State.SENT:
            outcome[case.name] = REPLY
        else:
            assert decision.state == State.SKIPPED, (case.name, decision.state)
            outcome[case.name] = decision.reason
    assert outcome == {case.name: case.expect for case in CASES}

    # Exactly these replies reached the SMTP server, one per answered message.
    replies = [case for case in CASES if case.expect == REPLY]
    received = box.received()
    assert sorted(m.rcpt_tos for m in received) == sorted(
        (filled(case.envelope),) for case in replies
    )
    font = "font-family: Georgia, &#x27;Times New Roman&#x27;, serif; font-size: 12pt"
    for case in replies:
        recipient = filled(case.envelope)
        decision = decisions[case.name]
        [reply] = box.replies_to(recipient)
        # The null envelope sender: bounces of an automatic reply go nowhere.
        assert reply.mail_from == "", case.name
        msg = parse(reply.raw)
        # To the envelope sender (Return-Path), never to Reply-To or From.
        assert [str(a.addr_spec) for a in msg["To"].addresses] == [recipient], case.name
        assert msg["From"].addresses == (Address("Kantoor Jansen", addr_spec=box.address),)
        subject = f"Automatisch antwoord: {case.name}"
        # A long subject is folded right after "Subject:"; unfolding leaves a space.
        assert msg["Subject"].lstrip() == subject
        assert msg["Auto-Submitted"] == "auto-replied"
        assert msg["X-Auto-Response-Suppress"] == "All"
        original = message_ids[case.name]
        if original is None:
            assert "In-Reply-To" not in msg and "References" not in msg, case.name
        else:
            assert (msg["In-Reply-To"], msg["References"]) == (original, original), case.name
        # No attachments: just the text and the HTML alternative.
        assert msg.get_content_type() == "multipart/alternative", case.name
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        html = msg.get_body(("html",)).get_content()
        assert font in html and "color: #112233" in html
        assert "Ons kantoor is gesloten" in html and "Kantoor Jansen</p>" in html
        assert "Met vriendelijke groet" in msg.get_body(("plain",)).get_content()
        # The tab's preview is this very HTML (the mail has CRLF line ends).
        assert html.replace("\r\n", "\n") == preview_document(
            box.mailbox, BODY, font_of(box.mailbox)
        )
        # Stored under Verzonden like any sent mail, and recorded as sent.
        outgoing = decision.outgoing
        assert outgoing.kind == OutgoingMessage.Kind.AUTO_REPLY and outgoing.author is None
        assert (outgoing.null_sender, outgoing.retry) == (True, False)
        copy = outgoing.sent_message
        assert copy.folder == "sent" and copy.subject == subject
        assert copy.message_id.strip("<>") == msg["Message-ID"].strip("<>")
        assert decision.body_html == f"{BODY}<br><div>{SIGNATURE}</div>"
        assert decision.sent_at is not None and decision.error_code == ""
    assert decisions["a message with an attachment gets a reply without it"].message.has_attachments
    # Verzonden: the replies, and the one message of the table delivered there.
    sent = Message.objects.filter(mailbox=box.mailbox, folder="sent")
    assert sent.count() == len(replies) + 1
    in_sent = [parse(raw) for raw in box.sent_folder()]
    assert sorted(m["Subject"].lstrip() for m in in_sent if m["Auto-Submitted"]) == sorted(
        f"Automatisch antwoord: {case.name}" for case in replies
    )
    assert ReplyDecision.objects.filter(mailbox=box.mailbox, state=State.SENT).count() == len(
        replies
    )
    # Fetching again (the Sent folder included) changes nothing and sends nothing.
    box.fetch()
    assert sent.count() == len(replies) + 1
    assert len(box.received()) == len(replies)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_case_is_named_for_a_rule_the_product_knows(case):
    from postkamer.autoreply.models import Reason

    assert case.expect in (REPLY, NEVER_JUDGED, *Reason.values)
