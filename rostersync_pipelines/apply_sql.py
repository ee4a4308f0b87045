"""Many rows in one executemany, straight to the DB-API cursor: how the journal and the embedded LMS write
a batch of a few thousand changes.

SQLAlchemy's own executemany builds and type-processes a parameter dict per row, which cost more than the
database write itself (about 60 µs a row). The statement is still built and compiled by SQLAlchemy, for
whichever database the URL names; only the rows skip the per-row machinery, as plain tuples. Values must
already be what the driver takes: the one type that needs converting, a timestamp, goes through `bound`.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

EXPANDED = "__[POSTCOMPILE_values]"  # where SQLAlchemy leaves an expanding bind parameter named "values"


def executemany(
    connection: sa.Connection, statement, names: Sequence[str], rows: list[tuple], *, unprepared: bool = False
) -> None:
    """Run `statement` once per row; `names` are its bind parameters (column names for an insert).

    `unprepared`: have each row planned with its own values. psycopg prepares a statement run more than
    five times, and PostgreSQL's generic plan for it was chosen while the table was still small: for the
    journal's update by (plan_id, seq, part) it took the plan_id index, so every row scanned every entry of
    the plan (12 ms a row at 20,000 entries, quadratic in the plan's size)."""
    if not rows:
        return
    driver = connection.connection.driver_connection
    if unprepared and hasattr(driver, "prepare_threshold"):  # psycopg 3
        threshold, driver.prepare_threshold = driver.prepare_threshold, None
        try:
            executemany(connection, statement, names, rows)
        finally:
            driver.prepare_threshold = threshold
        return
    names = list(names)
    compiled = statement.compile(dialect=connection.dialect, column_keys=names)
    if compiled.positional:
        order = [names.index(name) for name in compiled.positiontup]
        if order != list(range(len(names))):
            pick = operator.itemgetter(*order)
            rows = [pick(row) for row in rows] if len(order) > 1 else [(pick(row),) for row in rows]
        params = rows
    else:
        params = [dict(zip(names, row, strict=True)) for row in rows]
    connection.exec_driver_sql(str(compiled), params)  # driver errors still arrive as SQLAlchemy's


def select_in(connection: sa.Connection, query, values: list, chunk: int = 500) -> list[tuple]:
    """The rows of `query`, whose one bind parameter is an expanding `values` (an IN list), for every
    value, `chunk` at a time (well under every database's parameter limit). The placeholders are written
    out here: SQLAlchemy's expansion of a few thousand literals cost more than the look-up."""
    if not values:
        return []
    sql = str(query.compile(dialect=connection.dialect))
    found: list[tuple] = []
    style = connection.dialect.paramstyle
    for start in range(0, len(values), chunk):
        part = list(values[start : start + chunk])
        if style in ("qmark", "format"):
            marks, params = ", ".join(("?" if style == "qmark" else "%s") for _ in part), tuple(part)
        else:  # pyformat: psycopg, psycopg2
            marks = ", ".join(f"%(v{n})s" for n in range(len(part)))
            params = {f"v{n}": value for n, value in enumerate(part)}
        result = connection.exec_driver_sql(sql.replace(EXPANDED, marks), params)
        try:  # the driver's own rows (tuples), one fetch per chunk: no Row object per row
            found.extend(tuple(row) for row in result.cursor.fetchall())
        finally:
            result.close()
    return found


def bound(connection: sa.Connection, column: sa.Column, value: Any) -> Any:
    """`value` as the column's type hands it to this driver (SQLite stores a datetime as text)."""
    process = column.type._cached_bind_processor(connection.dialect)
    return value if process is None or value is None else process(value)
