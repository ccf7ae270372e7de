"""Searching a mailbox: the database's own full-text index (FTS5 on SQLite, a dutch
tsvector with a GIN index on PostgreSQL), kept current for mail the fetch stores."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from postkamer.messages import search
from postkamer.messages.models import Message
from tests import factories

pytestmark = pytest.mark.django_db


def _ids(api, mailbox, query: str) -> list[int]:
    response = api.get(f"/api/v1/mailboxes/{mailbox.pk}/messages/?{query}")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


@pytest.fixture
def mail(office):
    box = office.mailbox
    now = timezone.now()
    m = {
        "offerte": factories.stored(
            box,
            factories.mime_message(
                subject="Offerte woonhuisverzekering",
                sender="Jan de Vries <jan@devries.test>",
                text="Hierbij de gevraagde offerte.",
            ),
            when=now - dt.timedelta(days=3),
        ),
        "schade": factories.stored(
            box,
            factories.mime_message(
                subject="Schademelding",
                to="Schade <schade@kantoor.test>",
                text="Mijn auto is beschadigd bij een aanrijding.",
                attachments=(("foto.jpg", "image/jpeg", b"\xff\xd8\xff"),),
            ),
            when=now - dt.timedelta(days=1),
        ),
        "nieuwsbrief": factories.stored(
            box,
            factories.mime_message(
                subject="Nieuwsbrief december",
                text=None,
                html="<p>Lees over <b>hypotheekrente</b> en meer.</p>",
            ),
            when=now,
        ),
    }
    factories.stored(
        office.other_mailbox,
        factories.mime_message(subject="Offerte van een ander kantoor", text="offerte"),
    )
    return m


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=offerte", ["offerte"]),  # subject and body
        ("q=devries", ["offerte"]),  # part of the sender's address
        ("q=vries", ["offerte"]),  # the sender's name
        ("q=schade%40kantoor.test", ["schade"]),  # a recipient's whole address
        ("q=Jan%40DeVries.test", ["offerte"]),  # the sender's, in any case
        ("q=jan%40kantoor.test", []),  # an address is matched whole, not by its parts
        ("q=schade%40kantoor.test+aanrijding", ["schade"]),
        ("q=aanrijding", ["schade"]),  # body text
        ("q=hypotheekrente", ["nieuwsbrief"]),  # the text of an HTML-only message
        ("q=hypotheek", ["nieuwsbrief"]),  # a prefix
        ("q=offerte+aanrijding", []),  # every word must occur
        ("q=a&attachments=true", ["schade"]),
        ("attachments=true", ["schade"]),
    ],
)
def test_search_finds_sender_recipients_subject_and_body_in_this_mailbox_only(
    api, office, mail, query, expected
):
    api.force_authenticate(office.advisor)
    assert _ids(api, office.mailbox, query) == [mail[k].pk for k in expected]


def test_results_are_newest_first_and_a_date_range_narrows_them(api, office, mail):
    api.force_authenticate(office.advisor)
    everything = "q=kantoor"  # every test message is addressed to the office
    assert _ids(api, office.mailbox, everything) == [
        mail["nieuwsbrief"].pk,
        mail["schade"].pk,
        mail["offerte"].pk,
    ]
    today = timezone.localdate()
    since = (today - dt.timedelta(days=2)).isoformat()
    until = (today - dt.timedelta(days=1)).isoformat()
    assert _ids(api, office.mailbox, f"{everything}&since={since}&until={until}") == [
        mail["schade"].pk
    ]


def test_bad_search_input_names_every_mistake_at_once(api, office):
    api.force_authenticate(office.advisor)
    response = api.get(
        f"/api/v1/mailboxes/{office.mailbox.pk}/messages/"
        "?folder=prullenbak&since=gisteren&until=2026-01-01&q=" + "x" * 300
    )
    assert response.status_code == 400
    assert set(response.json()) == {"folder", "since", "q"}


def test_the_module_searches_and_keeps_the_query_across_pages_and_tabs(client, office):
    for i in range(55):
        factories.message(office.mailbox, subject=f"Polis {i}", text="polis")
    factories.message(office.mailbox, subject="Iets anders", text="niets")
    client.force_login(office.advisor)
    html = client.get(f"/email/?mailbox={office.mailbox.pk}&q=polis").content.decode()
    assert "55 berichten gevonden" in html and "Iets anders" not in html
    assert f'href="?mailbox={office.mailbox.pk}&amp;folder=inbox&amp;q=polis&amp;page=2"' in html
    assert f'href="?mailbox={office.mailbox.pk}&amp;q=polis&amp;folder=junk"' in html
    page2 = client.get(f"/email/?mailbox={office.mailbox.pk}&q=polis&page=2").content.decode()
    assert "Pagina 2 van 2" in page2 and page2.count('class="subject"') == 5


def test_an_end_date_before_the_start_date_is_explained_on_the_page(client, office):
    client.force_login(office.advisor)
    html = client.get(
        f"/email/?mailbox={office.mailbox.pk}&since=2026-03-10&until=2026-03-01"
    ).content.decode()
    assert "De einddatum ligt voor de begindatum." in html


def test_the_index_follows_deleted_and_changed_messages(office):
    message = factories.stored(office.mailbox, factories.mime_message(subject="Verhuizing"))
    box = Message.objects.filter(mailbox=office.mailbox)
    assert list(search.matching(box, "verhuizing")) == [message]
    Message.objects.filter(pk=message.pk).update(subject="Adreswijziging")
    assert not search.matching(box, "verhuizing").exists()
    assert list(search.matching(box, "adreswijziging")) == [message]
    message.delete()
    assert not search.matching(box, "adreswijziging").exists()


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite rebuilds tables; PostgreSQL alters"
)
def test_the_search_triggers_come_back_after_a_migration_rebuilds_the_table(office):
    with connection.cursor() as cursor:
        for name in ("ai", "ad", "au"):
            cursor.execute(f"DROP TRIGGER {search.FTS_TABLE}_{name}")
    search.ensure_sqlite_triggers()
    message = factories.stored(office.mailbox, factories.mime_message(subject="Herstel"))
    assert list(search.matching(Message.objects.all(), "herstel")) == [message]


def test_a_query_without_words_finds_nothing_rather_than_everything(office, mail):
    assert not search.matching(Message.objects.all(), " !!! ").exists()
    # Quotes and operators are words to us, never query syntax.
    assert list(search.matching(Message.objects.all(), '"offerte" OR * NEAR(')) == []


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url",
    [
        "/email/?mailbox={box}",
        "/email/?mailbox={box}&q=polis&attachments=on",
        "/api/v1/mailboxes/{box}/messages/",
        "/api/v1/mailboxes/{box}/messages/?q=polis",
    ],
)
def test_the_list_search_and_api_list_take_as_many_queries_for_one_message_as_for_many(
    client, office, django_assert_num_queries, url
):
    url = url.format(box=office.mailbox.pk)
    second = factories.mailbox(office.tenant, owners=(office.advisor,))
    client.force_login(office.advisor)
    attachment = (("polis.pdf", "application/pdf", 10),)
    factories.message(office.mailbox, subject="Polis", text="polis", attachments=attachment)
    one = _count(client, url)
    for i in range(60):
        factories.message(
            office.mailbox, subject=f"Polis {i}", text="polis", attachments=attachment
        )
        factories.message(second, subject=f"Polis {i}")
    factories.mailbox(office.tenant, owners=(office.advisor,))
    with django_assert_num_queries(one):
        client.get(url)


def test_a_search_with_very_many_results_says_so_instead_of_counting_them_all(
    client, office, monkeypatch
):
    from postkamer.messages import views

    monkeypatch.setattr(views, "SEARCH_COUNT_CAP", 3)
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for i in range(5):
        factories.message(office.mailbox, subject=f"Premie {i}", text="premie")
    client.force_login(office.advisor)
    html = client.get(f"/email/?mailbox={office.mailbox.pk}&q=premie").content.decode()
    assert "Meer dan 3 berichten gevonden." in html
    assert "Premie 4" in html and "Premie 3" in html and "Pagina 1 van 2" in html
    html = client.get(f"/email/?mailbox={office.mailbox.pk}&q=premie+4").content.decode()
    assert "1 bericht gevonden" in html


# -- PostgreSQL: the index is built after the fetch ----------------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite indexes in the same statement"
)


def _vector_is_set(message: Message) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT search IS NOT NULL FROM {search.TABLE} WHERE id = %s", [message.pk])
        return cursor.fetchone()[0]


@postgres_only
def test_postgres_finds_new_mail_before_and_after_its_search_index_is_built(office):
    box = Message.objects.filter(mailbox=office.mailbox)
    message = factories.stored(
        office.mailbox,
        factories.mime_message(subject="Hypotheekofferte", text="De rente staat vast."),
    )
    assert not _vector_is_set(message) and search.pending_count() == 1
    out = io.StringIO()
    call_command("status", stdout=out)
    assert "Messages waiting for the search index: 1" in out.getvalue()
    assert list(search.matching(box, "hypotheekofferte")) == [message]
    assert list(search.matching(box, "rente vast")) == [message]

    assert search.index_pending() == 1
    assert _vector_is_set(message) and search.pending_count() == 0
    assert list(search.matching(box, "hypotheekofferte")) == [message]
    assert list(search.matching(box, "jan@klant.test")) == [message]
    assert not search.matching(box, "hypotheekoffertes").exists()
    assert search.index_pending() == 0


@postgres_only
def test_postgres_indexes_again_after_a_changed_subject_and_never_finds_the_old_one(office):
    box = Message.objects.filter(mailbox=office.mailbox)
    message = factories.stored(office.mailbox, factories.mime_message(subject="Verhuizing"))
    search.index_pending()
    Message.objects.filter(pk=message.pk).update(subject="Adreswijziging")
    assert not _vector_is_set(message)
    assert not search.matching(box, "verhuizing").exists()
    assert list(search.matching(box, "adreswijziging")) == [message]
    # Changing anything else keeps the vector.
    search.index_pending()
    Message.objects.filter(pk=message.pk).update(seen_on_server=True)
    assert _vector_is_set(message)


@postgres_only
def test_postgres_indexes_in_batches_up_to_a_limit(office, monkeypatch):
    monkeypatch.setattr(search, "INDEX_BATCH", 2)
    for i in range(5):
        factories.stored(office.mailbox, factories.mime_message(subject=f"Polis {i}"))
    assert search.index_pending(limit=3) == 3
    assert search.pending_count() == 2
    assert search.index_pending() == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_indexes_a_stored_batch_once_it_commits(office):
    # The batch's commit queues the index task (inline in the tests' Huey).
    message = factories.stored(office.mailbox, factories.mime_message(subject="Schade"))
    assert _vector_is_set(message)
    assert search.pending_count() == 0


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_postgres_indexers_skip_each_others_rows_instead_of_waiting(office):
    import psycopg

    from postkamer.messages import signals

    signals.messages_stored.disconnect(dispatch_uid="mailmessages-search-index")
    try:
        first = factories.stored(office.mailbox, factories.mime_message(subject="Eerste"))
        factories.stored(office.mailbox, factories.mime_message(subject="Tweede"))
    finally:
        from postkamer.messages import tasks

        signals.messages_stored.connect(tasks.queue_index, dispatch_uid="mailmessages-search-index")
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
    )
    try:
        # Another indexer holds the first row.
        other.execute(f"SELECT id FROM {search.TABLE} WHERE id = %s FOR UPDATE", [first.pk])
        assert search.index_pending() == 1
        assert not _vector_is_set(first)
        other.rollback()
        assert search.index_pending() == 1
        assert _vector_is_set(first)
    finally:
        other.close()
