from __future__ import annotations

from postkamer.messages.models import Message
from tests.fetching.conftest import make_message


def test_a_new_mailbox_fetches_its_inbox_once(box):
    box.deliver(make_message("Eerste"))
    box.deliver(make_message("Tweede"), flags=["\\Seen"])
    outcome = box.fetch()
    assert outcome.ok, outcome.error
    assert outcome.new_messages == 2
    assert box.subjects() == ["Eerste", "Tweede"]
    assert box.fetch().new_messages == 0
    box.deliver(make_message("Derde"))
    assert box.fetch().new_messages == 1
    assert Message.objects.filter(mailbox=box.mailbox).count() == 3
    assert Message.objects.get(subject="Tweede").seen_on_server
