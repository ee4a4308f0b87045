"""Many new rows into one table of the state database: COPY on PostgreSQL with psycopg 3, else executemany.

A first sync saves a plan of two million changes; executemany sends them as one statement per row (psycopg
pipelines them, but still parses and plans each), where COPY streams them as one. Other drivers and SQLite
take the rows as tuples through `apply_sql.executemany`. Values must be what the driver takes (str, int,
bool, None; timestamps through `apply_sql.bound`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from rostersync_pipelines.apply_sql import executemany


def insert_rows(connection: sa.Connection, table: sa.Table, names: Sequence[str], rows: list[tuple]) -> None:
    if not rows:
        return
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        quote = connection.dialect.identifier_preparer
        columns = ", ".join(quote.quote(name) for name in names)
        statement = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
        cursor = connection.connection.driver_connection.cursor()  # inside SQLAlchemy's transaction
        try:
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()
        return
    executemany(connection, table.insert(), names, rows)
