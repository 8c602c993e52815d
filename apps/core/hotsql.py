"""Hand-written SQL for the annotate loop's hot statements, planned once per connection.

Measured with ``bench/hotpath.py`` (``--profile``, ``--explain``): on the annotate loop the ORM
spent longer building and compiling each statement than PostgreSQL spent running it, and
PostgreSQL spent longer *planning* each statement than executing it. So the loop's few
statements are written once as SQL (the column lists come from the models, so they follow
migrations), their rows are turned into model instances directly, and on PostgreSQL they run on
a server-side-binding cursor: psycopg prepares a statement on its fifth execution on a
connection, and PostgreSQL then reuses its plan. ``DB_PREPARED_STATEMENTS=0`` turns preparing
off (settings), e.g. behind a connection pooler that cannot keep prepared statements.

The cursor goes through Django's cursor wrappers, so ``assertNumQueries``, query logging and
``connection.execute_wrapper`` see these statements like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


def cursor():
    """A cursor for the hot statements: server-side binding (preparable) on PostgreSQL."""
    # The connection looked up once: each attribute of ``django.db.connection`` (a proxy)
    # looks it up again in the thread's connections.
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        return conn.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    # What connection.cursor() does, with another cursor class (Django picks one per connection).
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    with conn.wrap_database_errors:
        return conn._prepare_cursor(ServerBindingCursor(conn.connection))


def lock_clause(sql: str) -> str:
    """``sql`` (a FOR UPDATE … clause) where the database has row locks, else nothing.

    SQLite has none: its IMMEDIATE transactions serialise writers instead.
    """
    return sql if connection.features.has_select_for_update else ""


def param(value: Any) -> Any:
    """A Python value as the database driver wants it (datetimes as SQLite stores them)."""
    if hasattr(value, "tzinfo"):
        return connection.ops.adapt_datetimefield_value(value)
    return value


class Columns:
    """A model's concrete columns under a table alias, and its rows back into instances.

    ``fields`` (names): only those columns, to refresh an instance already loaded (``update``).
    """

    def __init__(self, model: type[Model], alias: str, fields: Sequence[str] | None = None):
        self.model = model
        self.alias = alias
        if fields is None:
            self.fields = list(model._meta.concrete_fields)
        else:
            self.fields = [model._meta.get_field(name) for name in fields]
        self.attnames = [f.attname for f in self.fields]
        self.sql = ", ".join(f'{alias}."{f.column}"' for f in self.fields)
        self.bare = ", ".join(f'"{f.column}"' for f in self.fields)  # for RETURNING
        self.width = len(self.fields)
        self._converters: dict[str, list] = {}

    def converters(self, conn) -> list:
        """Per column, the converters the ORM would apply (JSON, SQLite datetimes, …)."""
        vendor = conn.vendor
        if vendor not in self._converters:
            per_field = []
            for f in self.fields:
                col = f.get_col(self.alias)
                chain = conn.ops.get_db_converters(col) + f.get_db_converters(conn)
                per_field.append((col, chain) if chain else None)
            self._converters[vendor] = per_field
        return self._converters[vendor]

    def values(self, row: Sequence[Any], start: int = 0) -> list:
        """``row[start:start + width]`` as the ORM would convert it (JSON, SQLite datetimes)."""
        conn = connections[DEFAULT_DB_ALIAS]
        values = list(row[start : start + self.width])
        for i, conv in enumerate(self.converters(conn)):
            if conv is not None:
                col, chain = conv
                for converter in chain:
                    values[i] = converter(values[i], col, conn)
        return values

    def build(self, row: Sequence[Any], start: int = 0) -> Model:
        """The instance held by ``row[start:start + width]``, as the ORM would load it."""
        return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, self.values(row, start))

    def update(self, instance: Model, row: Sequence[Any], start: int = 0) -> None:
        """Set these columns of ``instance`` (already loaded) from ``row[start:start + width]``."""
        for attname, value in zip(self.attnames, self.values(row, start), strict=True):
            setattr(instance, attname, value)
