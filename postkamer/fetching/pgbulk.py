"""The fetch's bulk writes on PostgreSQL: binary COPY for rows, binary parameters
for raw bytes.

Why not Django's cursor: Django's psycopg cursors bind parameters on the client
(``ClientCursor``, its default), so a statement and its values travel as one SQL
text. Every byte of raw mail went to the server as a hex literal twice its size,
to be parsed back there, and every message row as quoted literals, parsed and
planned one row at a time. On the 10,000-message bench corpus that cost the
server more CPU than the whole sync on SQLite (``bench/README.md``).

Here, on the very connection Django uses (so inside the batch's transaction):

* the raw bytes go as *binary parameters* of an ``INSERT … ON CONFLICT DO
  NOTHING``, every row of the batch in one pipeline (one round trip). COPY was
  no cheaper for rows this large (bench/README.md) and has no ``ON CONFLICT``:
  two mailboxes that store the same bytes at the same moment must both succeed;
* message and attachment rows go with ``COPY … FROM STDIN (FORMAT BINARY)``:
  no quoting, escaping or parsing on either side, one statement per batch.
  Conflicts there are bugs (the store checked the UIDs first) and fail the
  batch, like the ``INSERT`` on SQLite.

The duplicate and id lookups of ``store`` use the same cursor with one array
parameter (``= ANY(%s)``) instead of a list of 200 literals. Django turns
psycopg's prepared statements off (``prepare_threshold`` None, for connection
poolers), and so does this cursor on its connection: every statement is planned
when it runs (see :func:`execute_many` for the raw rows).
Statements sent here bypass Django's query log and ``execute_wrapper`` hooks.

Two Django attributes are used that its documentation does not describe:
``connection.connection`` (the psycopg connection behind Django's wrapper) and
``connection.wrap_database_errors`` (which turns psycopg's exceptions into
Django's, as Django's own cursors do). ``tests/fetching/test_pgbulk.py`` fails
when either changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import psycopg
from django.db import connection
from django.db.models import Model


@contextlib.contextmanager
def cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor with server-side binding on Django's current connection
    (PostgreSQL only); psycopg errors leave it as Django's database errors."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cur:
        yield cur


def execute_many(sql: str, rows: Sequence[Sequence[object]]) -> None:
    """Run ``sql`` (``%s`` placeholders) once for each of ``rows``, all in one
    pipeline, values as binary parameters; inside a transaction.

    Planned generically: a custom plan copies every parameter into the plan
    tree, each raw message several times over (10 % of the server's CPU in an
    initial sync), while the plan of an ``INSERT … VALUES`` is the same for
    every row. The setting is restored right after, and being ``SET LOCAL`` it
    ends with the transaction even on an error: no state stays on the
    connection, which keeps it safe behind a transaction-pooling proxy.
    """
    with cursor() as cur:
        cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cur.executemany(sql, rows)
        cur.execute("SET LOCAL plan_cache_mode = DEFAULT")


def column_types(model: type[Model], attnames: Sequence[str]) -> list[str]:
    """Return the PostgreSQL type names of ``model``'s fields ``attnames``, without
    modifiers (``varchar(255)`` → ``varchar``), as binary COPY needs them."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    return [str(fields[name].db_type(connection)).split("(")[0] for name in attnames]


def copy_rows(
    model: type[Model], attnames: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """COPY ``rows`` (values in the order of ``attnames``) into ``model``'s table in
    PostgreSQL's binary format."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    qn = connection.ops.quote_name
    columns = ", ".join(qn(fields[name].column) for name in attnames)
    # Only quoted identifiers from the model are interpolated; the values are data.
    sql = f"COPY {qn(model._meta.db_table)} ({columns}) FROM STDIN (FORMAT BINARY)"
    types = column_types(model, attnames)
    with cursor() as cur, cur.copy(sql) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)
