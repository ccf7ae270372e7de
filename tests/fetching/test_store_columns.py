"""The fetch store's hand-written INSERT names every column the Message model needs."""

from __future__ import annotations

from django.db.models import NOT_PROVIDED, GeneratedField

from postkamer.fetching import store
from postkamer.messages.models import Message


def test_the_raw_insert_lists_exactly_the_message_columns_without_a_database_default():
    # A column missing here would be inserted as NULL (or fail NOT NULL) by the fetch;
    # a name here that is no field would fail every fetch. Columns the database fills
    # itself (db_default, generated) may stay out.
    needed = {
        f.attname
        for f in Message._meta.concrete_fields
        if not f.primary_key and not isinstance(f, GeneratedField) and f.db_default is NOT_PROVIDED
    }
    assert set(store._MESSAGE_COLUMNS) == needed
    assert len(store._MESSAGE_COLUMNS) == len(set(store._MESSAGE_COLUMNS))
