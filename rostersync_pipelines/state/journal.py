"""The write-ahead journal: every change recorded as started before its LMS call and as done after it.

A run killed at any instant (kill -9 included) leaves each change either unrecorded (never sent), started
(sent, answer unknown) or finished; the next run settles the started ones against the LMS instead of
guessing. A create is finished in the same transaction as the link it makes, so an account the LMS
created is never left unlinked (which would turn a later rename into a duplicate). Batches keep the cost at
two commits per few dozen changes rather than two per change.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.state.tables import journal, links

FINISHED = ("applied", "failed", "interrupted")
FINISH = journal.update().where(
    journal.c.plan_id == sa.bindparam("k_plan"),
    journal.c.seq == sa.bindparam("k_seq"),
    journal.c.part == sa.bindparam("k_part"),
)
UNLINK = links.delete().where(
    links.c.sync == sa.bindparam("k_sync"),
    links.c.entity == sa.bindparam("k_entity"),
    links.c.source_id == sa.bindparam("k_source"),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Journal:
    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def start(self, entries: list[dict]) -> None:
        """Record a batch as started, before any of it is sent. Re-starting a started entry counts a try."""
        if not entries:
            return
        stamp = _now()
        with self.engine.begin() as connection:
            known = self._existing(connection, entries)
            fresh = [
                {**entry, "started_at": stamp, "outcome": "started", "attempts": 1}
                for entry in entries
                if (entry["seq"], entry["part"]) not in known
            ]
            if fresh:
                connection.execute(journal.insert(), fresh)
            for entry in entries:
                if (entry["seq"], entry["part"]) in known:
                    connection.execute(
                        journal.update()
                        .where(*self._key(entry))
                        .values(started_at=stamp, outcome="started", attempts=journal.c.attempts + 1)
                    )

    def finish(self, results: list[dict], sync: str, new_links: list[dict]) -> None:
        """Record each answer (outcome, lms_id, message) and, in the same transaction, the links it made."""
        if not results and not new_links:
            return
        stamp = _now()
        with self.engine.begin() as connection:
            if results:  # one executemany per batch: a statement built per row cost more than the write
                connection.execute(
                    FINISH,
                    [
                        {
                            "k_plan": result["plan_id"],
                            "k_seq": result["seq"],
                            "k_part": result["part"],
                            "outcome": result["outcome"],
                            "lms_id": result.get("lms_id"),
                            "message": result.get("message"),
                            "applied_at": stamp,
                        }
                        for result in results
                    ],
                )
            if new_links:
                connection.execute(
                    UNLINK,
                    [
                        {"k_sync": sync, "k_entity": link["entity"], "k_source": link["source_id"]}
                        for link in new_links
                    ],
                )
                connection.execute(
                    links.insert(), [{"sync": sync, **link, "updated_at": stamp} for link in new_links]
                )

    def entries(self, plan_id: str) -> pd.DataFrame:
        with self.engine.connect() as connection:
            return pd.read_sql(
                sa.select(journal).where(journal.c.plan_id == plan_id).order_by(journal.c.id),
                connection,
                dtype=object,
            )

    def done(self, plan_id: str) -> dict[tuple[int, int], dict]:
        """(seq, part) -> {outcome, lms_id} of every entry the LMS answered (applied or failed)."""
        query = sa.select(journal.c.seq, journal.c.part, journal.c.outcome, journal.c.lms_id).where(
            journal.c.plan_id == plan_id, journal.c.outcome.in_(FINISHED)
        )
        with self.engine.connect() as connection:
            return {
                (seq, part): {"outcome": outcome, "lms_id": lms_id}
                for seq, part, outcome, lms_id in connection.execute(query)
            }

    def unconfirmed(self, plan_id: str) -> pd.DataFrame:
        with self.engine.connect() as connection:
            return pd.read_sql(
                sa.select(journal).where(journal.c.plan_id == plan_id, journal.c.outcome == "started"),
                connection,
                dtype=object,
            )

    def _existing(self, connection, entries: list[dict]) -> set[tuple[int, int]]:
        plan_id = entries[0]["plan_id"]
        seqs = sorted({entry["seq"] for entry in entries})
        query = sa.select(journal.c.seq, journal.c.part).where(
            journal.c.plan_id == plan_id, journal.c.seq.in_(seqs)
        )
        return {(seq, part) for seq, part in connection.execute(query)}

    @staticmethod
    def _key(entry: dict):
        return (
            journal.c.plan_id == entry["plan_id"],
            journal.c.seq == entry["seq"],
            journal.c.part == entry["part"],
        )
