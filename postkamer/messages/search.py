"""Full-text search over sender, recipients, subject and body, in the database itself.

- SQLite: a contentless FTS5 table ``mailmessages_message_fts`` (rowid = message
  id), filled by triggers on the message table, so rows the fetch store inserts
  with a plain ``executemany`` are indexed in the same statement, and nothing is
  stored twice. Contentless rows can only be deleted by repeating the values they
  were indexed with; the delete trigger computes them from the old row with the
  same expressions.
- PostgreSQL: a ``tsvector`` column ``search`` (the ``dutch`` configuration for
  subject and body, ``simple`` for names and addresses, split at ``@`` and ``.`` so
  a part of an address is found) with a GIN index, computed by the SQL function
  ``postkamer_search_vector``. The fetch does not wait for it: rows are inserted
  with ``search`` NULL and :func:`index_pending` fills it afterwards, in batches
  (queued after every stored batch, and swept every minute). Until then a search
  computes the vector of those rows on the fly, so a message is found from the
  moment it is stored. The parser and stemmer cost about half a millisecond per
  message, more than the rest of storing it (bench/README.md). A change of
  subject, body or addresses sets ``search`` back to NULL (a trigger). Django's
  model does not know the column.

Both index at most the first :data:`BODY_LIMIT` characters of the body: a
PostgreSQL ``tsvector`` may not exceed 1 MB, and an oversized message must never
make the fetch fail. Text of HTML-only mail is made by ``html_to_text`` when it is
stored (``fetching/store.py``).

Search words are matched as prefixes ("offert" finds "offerte") and all must occur.
"""

from __future__ import annotations

import re

from django.db import connection, transaction
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


# One function computes a message's vector, for the index and for rows not yet indexed.
POSTGRES_VECTOR = "postkamer_search_vector"
_VECTOR_ARGS = "subject, text, from_addresses, to_addresses, cc_addresses"
_ROW_VECTOR = (
    f"{POSTGRES_VECTOR}({TABLE}.subject, {TABLE}.text, {TABLE}.from_addresses, "
    f"{TABLE}.to_addresses, {TABLE}.cc_addresses)"
)

POSTGRES_ADD = [
    f"CREATE FUNCTION {POSTGRES_VECTOR}(subject text, text text, from_addresses jsonb, "
    "to_addresses jsonb, cc_addresses jsonb) RETURNS tsvector "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN "
    f"setweight(to_tsvector('dutch'::regconfig, coalesce(subject, '')), 'A') || "
    f"{_pg_addresses('from_addresses')} || {_pg_addresses('to_addresses')} || "
    f"{_pg_addresses('cc_addresses')} || {_pg_whole_addresses()} || "
    f"to_tsvector('dutch'::regconfig, left(coalesce(text, ''), {BODY_LIMIT}))",
    f"ALTER TABLE {TABLE} ADD COLUMN search tsvector",
    # Partial: a row inserted without its vector costs the GIN index nothing (a
    # strict @@ implies IS NOT NULL, so searches still use it).
    f"CREATE INDEX message_search_idx ON {TABLE} USING GIN (search) WHERE search IS NOT NULL",
    # The rows the indexer still has to do: a small index, empty once it caught up.
    f"CREATE INDEX message_unindexed_idx ON {TABLE} (id) WHERE search IS NULL",
    # A changed subject, body or address list makes the row "not indexed" again.
    "CREATE FUNCTION postkamer_search_stale() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN NEW.search := NULL; RETURN NEW; END $$",
    f"CREATE TRIGGER message_search_stale BEFORE UPDATE OF {_VECTOR_ARGS} ON {TABLE} "
    "FOR EACH ROW WHEN (OLD.subject IS DISTINCT FROM NEW.subject "
    "OR OLD.text IS DISTINCT FROM NEW.text "
    "OR OLD.from_addresses IS DISTINCT FROM NEW.from_addresses "
    "OR OLD.to_addresses IS DISTINCT FROM NEW.to_addresses "
    "OR OLD.cc_addresses IS DISTINCT FROM NEW.cc_addresses) "
    "EXECUTE FUNCTION postkamer_search_stale()",
]
POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS message_search_stale ON {TABLE}",
    "DROP FUNCTION IF EXISTS postkamer_search_stale()",
    "DROP INDEX IF EXISTS message_unindexed_idx",
    "DROP INDEX IF EXISTS message_search_idx",
    f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS search",
    f"DROP FUNCTION IF EXISTS {POSTGRES_VECTOR}(text, text, jsonb, jsonb, jsonb)",
]
# A batch of rows not yet indexed, taken so that two indexers never do the same row
# and never wait for each other (or for a fetch still inserting).
_POSTGRES_INDEX = (
    f"UPDATE {TABLE} SET search = {_ROW_VECTOR} WHERE id IN ("  # noqa: S608
    f"SELECT id FROM {TABLE} WHERE search IS NULL ORDER BY id LIMIT %s "
    "FOR UPDATE SKIP LOCKED)"
)
INDEX_BATCH = 500


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
        # Rows not indexed yet are computed on the fly; the partial index finds them.
        where = (
            f"({TABLE}.search @@ ({tsquery}) OR "
            f"({TABLE}.search IS NULL AND {_ROW_VECTOR} @@ ({tsquery})))"
        )
        return messages.extra(  # noqa: S610 - only the fixed SQL above; words are parameters
            where=[where], params=params + params
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


def index_pending(limit: int | None = None) -> int:
    """Compute the search vector of stored messages that have none yet (PostgreSQL),
    :data:`INDEX_BATCH` rows per transaction, until none is left or ``limit`` rows
    are done; returns how many. Safe to run in any number of processes at once.
    On SQLite the index is kept by triggers, and this does nothing."""
    if connection.vendor != "postgresql":
        return 0
    done = 0
    while limit is None or done < limit:
        size = INDEX_BATCH if limit is None else min(INDEX_BATCH, limit - done)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_POSTGRES_INDEX, [size])
            count = cursor.rowcount
        done += count
        if count < size:
            break
    return done


def pending_count() -> int:
    """How many stored messages wait for their search vector (0 on SQLite)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE search IS NULL")  # noqa: S608
        return int(cursor.fetchone()[0])
