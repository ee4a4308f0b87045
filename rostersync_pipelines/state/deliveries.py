"""What every learning record last was when it reached a destination, so a record is written once per change.

One row per (sync, destination, kind, External ID): the fingerprint of the content last written, the
record's day, and the outcome of the last attempt (`delivered`, `failed` with Salesforce's words, or
`unsent` when the org's request limit stopped the delivery first). A failed or unsent record keeps the
fingerprint of its last good write, so it still differs next time and is sent again: nothing is lost.
Reads and writes are whole tables (a million rows in seconds), never a statement per record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.state.tables import learning_deliveries as table

CHUNK = 5000  # rows per executemany, and External IDs per DELETE … IN


class Deliveries:
    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def fingerprints(self, sync: str, destination: str, kind: str) -> pd.Series:
        """External ID -> last delivered fingerprint (<NA> when it was never written), in one query."""
        query = sa.select(
            table.c.external_id, sa.func.coalesce(table.c.content_hash, 0), table.c.content_hash.is_(None)
        ).where(table.c.sync == sync, table.c.destination == destination, table.c.kind == kind)
        with self.engine.connect() as connection:
            rows = _fetch_all(connection, query)
        ids = pd.Index([row[0] for row in rows], dtype=object)
        hashes = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
        never = np.fromiter((bool(row[2]) for row in rows), dtype=bool, count=len(rows))
        # Int64, not float: 64-bit fingerprints do not survive a float64 round trip
        return pd.Series(pd.arrays.IntegerArray(hashes, never), index=ids)

    def record(
        self, sync: str, destination: str, kind: str, outcomes: pd.DataFrame, known: pd.Series
    ) -> None:
        """Store the outcome of one batch. `outcomes`: external_id, content_hash (what was sent), day,
        status, record_id, error; `known` is `fingerprints()` from before the delivery."""
        if outcomes.empty:
            return
        frame = outcomes[["external_id", "day", "status", "record_id", "error"]].astype(object)
        frame = frame.where(frame.notna(), None)
        sent = outcomes["content_hash"].to_numpy(dtype=np.int64)
        previous = (
            known.reindex(outcomes["external_id"]).astype("Int64").to_numpy(dtype=object, na_value=None)
        )
        delivered = (outcomes["status"] == "delivered").to_numpy()
        # plain ints, never a float column: 64-bit fingerprints do not survive float64
        hashes = [
            int(new) if ok else (None if old is None else int(old))
            for new, ok, old in zip(sent, delivered, previous, strict=True)
        ]
        frame["content_hash"] = pd.Series(hashes, index=frame.index, dtype=object)
        frame["sync"], frame["destination"], frame["kind"] = sync, destination, kind
        frame["attempted_at"] = pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime()
        existing = frame.loc[frame["external_id"].isin(known.index), "external_id"].tolist()
        records = frame.to_dict("records")
        with self.engine.begin() as connection:
            for start in range(0, len(existing), CHUNK):
                connection.execute(
                    table.delete().where(
                        table.c.sync == sync,
                        table.c.destination == destination,
                        table.c.kind == kind,
                        table.c.external_id.in_(existing[start : start + CHUNK]),
                    )
                )
            for start in range(0, len(records), CHUNK):
                connection.execute(table.insert(), records[start : start + CHUNK])

    def pending_days(self, sync: str, destination: str) -> list[str]:
        """Days holding a record that failed or was never sent: the sensor asks for them again."""
        query = (
            sa.select(table.c.day)
            .distinct()
            .where(table.c.sync == sync, table.c.destination == destination, table.c.status != "delivered")
        )
        with self.engine.connect() as connection:
            return sorted(connection.execute(query).scalars())

    def problems(self, sync: str, destination: str, limit: int = 20) -> pd.DataFrame:
        query = (
            sa.select(table.c.kind, table.c.external_id, table.c.day, table.c.status, table.c.error)
            .where(table.c.sync == sync, table.c.destination == destination, table.c.status != "delivered")
            .order_by(table.c.day, table.c.external_id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return pd.DataFrame(
                connection.execute(query).all(), columns=["kind", "external_id", "day", "status", "error"]
            )


def _fetch_all(connection: sa.Connection, query) -> list[tuple]:
    """Plain DBAPI tuples: SQLAlchemy's Row objects cost more than the query for a million rows."""
    compiled = query.compile(dialect=connection.dialect)
    params = compiled.construct_params()
    args = [params[name] for name in compiled.positiontup] if compiled.positional else params
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(compiled.string, args)
        return cursor.fetchall()
    finally:
        cursor.close()
