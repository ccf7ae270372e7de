"""Full-text search over sender, recipients, subject and body, in the database itself.

- SQLite: a contentless FTS5 table ``mailmessages_message_fts`` (rowid = message
  id), filled by triggers on the message table, so rows the fetch store inserts
  with a plain ``executemany`` are indexed in the same statement, and nothing is
  stored twice. Contentless rows can only be deleted by repeating the values they
  were indexed with; the delete trigger computes them from the old row with the
  same expressions.
- PostgreSQL: a stored generated ``tsvector`` column ``search`` (the ``dutch``
  configuration for subject and body, ``simple`` for names and addresses, split
  at ``@`` and ``.`` so a part of an address is found) with a GIN index. The
  database computes it on every INSERT; Django's model does not know the column.

Both index at most the first :data:`BODY_LIMIT` characters of the body: a
PostgreSQL ``tsvector`` may not exceed 1 MB, and an oversized message must never
make the fetch fail. Text of HTML-only mail is made by ``html_to_text`` when it is
stored (``fetching/store.py``).

Search words are matched as prefixes ("offert" finds "offerte") and all must occur.
"""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import QuerySet

from postkamer.messages.models import Message

BODY_LIMIT = 100_000
FTS_TABLE = "mailmessages_message_fts"
TABLE = "mailmessages_message"
_WORD_RE = re.compile(r"[^\W_]+")
_ADDRESS_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MAX_WORDS = 12

# -- SQLite -------------------------------------------------------------------------
# The statements below are built from this module's constants only (no input), hence
# the S608 exemptions.

# The leaf strings of an address list (names and addresses, not the JSON keys).
_SQLITE_ADDRESSES = (
    "(SELECT group_concat(value, ' ') FROM json_tree({row}.{column}) WHERE type = 'text')"
)


def _sqlite_values(row: str) -> str:
    sender = _SQLITE_ADDRESSES.format(row=row, column="from_addresses")
    recipients = " || ' ' || ".join(
        f"coalesce({_SQLITE_ADDRESSES.format(row=row, column=c)}, '')"
        for c in ("to_addresses", "cc_addresses")
    )
    return (
        f"{row}.id, coalesce({sender}, ''), {recipients}, {row}.subject, "
        f"substr({row}.text, 1, {BODY_LIMIT})"
    )


SQLITE_CREATE_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "sender, recipients, subject, body, content='', "
    "tokenize='unicode61 remove_diacritics 2')"
)
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON {TABLE} BEGIN "  # noqa: S608
    f"INSERT INTO {FTS_TABLE}(rowid, sender, recipients, subject, body) "
    f"VALUES ({_sqlite_values('new')}); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON {TABLE} BEGIN "  # noqa: S608
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, sender, recipients, subject, body) "
    f"VALUES ('delete', {_sqlite_values('old')}); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF "  # noqa: S608
    f"subject, text, from_addresses, to_addresses, cc_addresses ON {TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, sender, recipients, subject, body) "
    f"VALUES ('delete', {_sqlite_values('old')}); "
    f"INSERT INTO {FTS_TABLE}(rowid, sender, recipients, subject, body) "
    f"VALUES ({_sqlite_values('new')}); END",
]
SQLITE_FILL = (
    f"INSERT INTO {FTS_TABLE}(rowid, sender, recipients, subject, body) "  # noqa: S608
    f"SELECT {_sqlite_values(TABLE)} FROM {TABLE}"
)
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ad",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
]

# -- PostgreSQL ---------------------------------------------------------------------


def _pg_addresses(column: str) -> str:
    return (
        f"to_tsvector('simple'::regconfig, translate("
        f"jsonb_path_query_array({column}, '$[*].*')::text, '@.\"[],', '      '))"
    )


def _pg_whole_addresses() -> str:
    # Each address also as one 'email' lexeme, so a search for a whole address is one
    # exact lookup instead of an AND of its parts ("nl" is in every Dutch address).
    columns = " || ' ' || ".join(
        f"jsonb_path_query_array({c}, '$[*].address')::text"
        for c in ("from_addresses", "to_addresses", "cc_addresses")
    )
    return f"to_tsvector('simple'::regconfig, {columns})"


POSTGRES_ADD = [
    f"ALTER TABLE {TABLE} ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    f"setweight(to_tsvector('dutch'::regconfig, coalesce(subject, '')), 'A') || "
    f"{_pg_addresses('from_addresses')} || {_pg_addresses('to_addresses')} || "
    f"{_pg_addresses('cc_addresses')} || {_pg_whole_addresses()} || "
    f"to_tsvector('dutch'::regconfig, left(coalesce(text, ''), {BODY_LIMIT}))"
    ") STORED",
    f"CREATE INDEX message_search_idx ON {TABLE} USING GIN (search)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS message_search_idx",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS search",
]


def words(query: str) -> list[str]:
    """The search words of ``query`` (letters and digits; at most :data:`MAX_WORDS`)."""
    return _WORD_RE.findall(query.lower())[:MAX_WORDS]


def terms(query: str) -> tuple[list[str], list[str]]:
    """(whole e-mail addresses, other words) of ``query``: an address is looked up as a
    whole, the rest word by word as prefixes."""
    addresses = [a.lower().strip(".") for a in _ADDRESS_RE.findall(query)][:MAX_WORDS]
    return addresses, words(_ADDRESS_RE.sub(" ", query))


def ensure_sqlite_triggers() -> None:
    """Create the FTS triggers when they are missing.

    Django's SQLite schema editor rebuilds a table (new table, copy, rename) for
    many field changes, and triggers go with the old table; this runs after every
    ``migrate`` so a later migration of ``Message`` cannot silently stop indexing.
    """
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE]
        )
        if not cursor.fetchone()[0]:
            return
        for sql in SQLITE_TRIGGERS:
            cursor.execute(sql)


def matching(messages: QuerySet[Message], query: str) -> QuerySet[Message]:
    """``messages`` restricted to those matching every word of ``query`` as a prefix.

    A query without words matches nothing (it is not a way to list everything).
    """
    addresses, prefixes = terms(query)
    if not addresses and not prefixes:
        return messages.none()
    if connection.vendor == "postgresql":
        # Each word as a prefix, stemmed (subject, body) or as written (names and
        # addresses, indexed with 'simple'); an address as its one lexeme; all must
        # match.
        one = "(to_tsquery('dutch'::regconfig, %s) || to_tsquery('simple'::regconfig, %s))"
        whole = "to_tsquery('simple'::regconfig, %s)"
        tsquery = " && ".join([whole] * len(addresses) + [one] * len(prefixes))
        params = [*addresses, *(p for t in prefixes for p in (f"{t}:*", f"{t}:*"))]
        return messages.extra(  # noqa: S610 - only the fixed SQL above; words are parameters
            where=[f"{TABLE}.search @@ ({tsquery})"], params=params
        )
    # FTS5: each word quoted (no operators from the user) and made a prefix. The
    # unary "+" keeps SQLite from driving the query by the matches (a lookup and a
    # sort per hit: 50 ms for a word in most of 100,000 messages); it walks the
    # mailbox's list index newest first instead, testing each against the matches,
    # and stops at the page's end (4-13 ms, bench/bench_reading.py).
    # An address is a phrase of its parts (FTS5 splits it at "@" and ".").
    phrases = [f'"{" ".join(words(a))}"' for a in addresses]
    match = " ".join([*phrases, *(f'"{t}"*' for t in prefixes)])
    return messages.extra(  # noqa: S610 - as above
        where=[f"+{TABLE}.id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)"],  # noqa: S608
        params=[match],
    )
