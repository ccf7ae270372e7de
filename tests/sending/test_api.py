"""The sending API: POST mailboxes/{id}/send/, GET/PUT mailboxes/{id}/template/,
GET outgoing/{id}/, with real SMTP and Dovecot behind it."""

from __future__ import annotations

import email
import email.policy

from postkamer.sending.models import OutgoingMessage
from tests import factories


def _send(api, sender, **body):
    data = {"to": ["klant@voorbeeld.test"], "subject": "Via de API", "body_html": "<p>Hoi</p>"}
    data.update(body)
    return api.post(f"/api/v1/mailboxes/{sender.mailbox.pk}/send/", data, format="json")


def test_post_send_queues_sends_and_reports_the_state(
    api, sender, django_capture_on_commit_callbacks
):
    api.force_authenticate(sender.author)
    with django_capture_on_commit_callbacks(execute=True):
        response = _send(api, sender, cc="collega@voorbeeld.test")
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "queued"
    state = api.get(response.json()["status_url"]).json()
    assert state["state"] == "sent" and state["label"] == "verzonden"
    assert state["in_sent_folder"] is True and state["sent_message"]
    [received] = sender.received("klant@voorbeeld.test")
    assert "collega@voorbeeld.test" in received.rcpt_tos


def test_post_send_names_every_mistake_and_stores_nothing(api, sender):
    api.force_authenticate(sender.author)
    response = _send(api, sender, to=["goed@voorbeeld.test", "fout"], subject="a\r\nBcc: x@y.z")
    assert response.status_code == 400
    errors = response.json()
    assert errors["to"] == ["Aan: 'fout' is geen geldig e-mailadres."]
    assert "regeleinde" in errors["subject"][0]
    assert not OutgoingMessage.objects.exists()


def test_a_reply_through_the_api_threads_and_another_mailboxes_message_is_refused(api, sender):
    api.force_authenticate(sender.author)
    original = factories.message(sender.mailbox, subject="Vraag", message_id="<v@klant.test>")
    other = factories.message(factories.mailbox(sender.mailbox.tenant))
    refused = _send(api, sender, reply_to_message=other.pk)
    assert refused.status_code == 400 and "reply_to_message" in refused.json()
    response = _send(api, sender, reply_to_message=original.pk, subject="Re: Vraag")
    assert response.status_code == 202
    out = OutgoingMessage.objects.get(pk=response.json()["id"])
    sender.run(out)
    msg = email.message_from_bytes(
        sender.received("klant@voorbeeld.test")[-1].raw, policy=email.policy.default
    )
    assert msg["In-Reply-To"] == "<v@klant.test>"


def test_the_template_api_validates_everything_at_once_and_audits(api, office):
    api.force_authenticate(office.manager)
    url = f"/api/v1/mailboxes/{office.mailbox.pk}/template/"
    assert api.get(url).json() == {
        "font_family": "Arial",
        "font_size": 11,
        "font_color": "#000000",
        "signature_html": "",
    }
    bad = api.put(
        url, {"font_family": "Papyrus", "font_size": 99, "font_color": "blauw"}, format="json"
    )
    assert bad.status_code == 400 and set(bad.json()) == {"font_family", "font_size", "font_color"}
    good = api.put(
        url,
        {
            "font_family": "Tahoma",
            "font_size": 10,
            "font_color": "#0000FF",
            "signature_html": '<p>Groet<img src="https://kantoor.test/logo.png" onerror="alert(1)"></p>',
        },
        format="json",
    )
    assert good.status_code == 200
    assert good.json()["signature_html"] == '<p>Groet<img src="https://kantoor.test/logo.png"></p>'
    assert good.json()["font_color"] == "#0000ff"
    assert office.mailbox.audit_entries.filter(action="template_changed").count() == 1
