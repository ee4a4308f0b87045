"""The write-ahead journal: every change recorded as started before its LMS call and as done after it.

A run killed at any instant (kill -9 included) leaves each change either unrecorded (never sent), started
(sent, answer unknown) or finished; the next run settles the started ones against the LMS instead of
guessing. A create is finished in the same transaction as the link it makes, so an account the LMS
created is never left unlinked (which would turn a later rename into a duplicate). Batches keep the cost at
two commits per few dozen changes rather than two per change.
"""

from __future__ import annotations

import datetime as dt
from itertools import repeat

import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.apply_sql import bound, executemany
from rostersync_pipelines.state.tables import journal, links

FINISHED = ("applied", "failed", "interrupted")
ENTRY_COLUMNS = ("seq", "part", "entity", "action", "key", "lms_id", "before", "after")
START_NAMES = ("plan_id", *ENTRY_COLUMNS, "started_at", "outcome", "attempts")
RESULT_COLUMNS = ("plan_id", "seq", "part", "outcome", "lms_id", "message")
LINK_COLUMNS = ("entity", "source_id", "lms_id")
# in the order SQLAlchemy compiles FINISH (SET in table order, then WHERE): rows need no reordering
FINISH_NAMES = ("lms_id", "applied_at", "outcome", "message", "k_plan", "k_seq", "k_part")
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
        self.start_columns(
            entries[0]["plan_id"],
            {name: [entry.get(name) for entry in entries] for name in ENTRY_COLUMNS},
        )

    def start_columns(self, plan_id: str, columns: dict[str, list]) -> None:
        """`start` for a batch held as columns (ENTRY_COLUMNS, one list each): no dict per entry.

        A batch is first inserted as it is: a plan's changes are journaled once each, so only a resumed
        plan meets an entry already there. The unique index then refuses the insert, the transaction rolls
        back, and the batch is journaled again knowing which entries to count a try on instead: a look-up
        per batch that a first run of a plan never needs."""
        seqs, parts = columns["seq"], columns["part"]
        if not seqs:
            return
        stamp = _now()
        try:
            with self.engine.begin() as connection:
                self._insert(connection, plan_id, columns, stamp)
            return
        except sa.exc.IntegrityError:
            pass  # some of the batch was journaled before: nothing of it was written
        with self.engine.begin() as connection:
            known = self._existing(connection, plan_id, seqs, parts)
            fresh = [n for n, key in enumerate(zip(seqs, parts, strict=True)) if key not in known]
            self._insert(
                connection, plan_id, {name: [columns[name][n] for n in fresh] for name in columns}, stamp
            )
            for seq, part in zip(seqs, parts, strict=True):
                if (seq, part) in known:
                    connection.execute(
                        journal.update()
                        .where(*self._key({"plan_id": plan_id, "seq": seq, "part": part}))
                        .values(started_at=stamp, outcome="started", attempts=journal.c.attempts + 1)
                    )

    @staticmethod
    def _insert(connection, plan_id: str, columns: dict[str, list], stamp: dt.datetime) -> None:
        started = bound(connection, journal.c.started_at, stamp)
        values = [columns[name] for name in ENTRY_COLUMNS]
        rows = list(
            zip(repeat(plan_id), *values, repeat(started), repeat("started"), repeat(1), strict=False)
        )
        executemany(connection, journal.insert(), START_NAMES, rows)

    def finish(self, results: list[dict], sync: str, new_links: list[dict]) -> None:
        """Record each answer (outcome, lms_id, message) and, in the same transaction, the links it made."""
        self.finish_columns(
            {name: [result.get(name) for result in results] for name in RESULT_COLUMNS},
            sync,
            {name: [link[name] for link in new_links] for name in LINK_COLUMNS},
        )

    def finish_columns(self, results: dict[str, list], sync: str, new_links: dict[str, list]) -> None:
        """`finish` for answers and links held as columns (RESULT_COLUMNS, LINK_COLUMNS)."""
        count, linked = len(results["seq"]), len(new_links["entity"])
        if not count and not linked:
            return
        stamp = _now()
        with self.engine.begin() as connection:
            applied = bound(connection, journal.c.applied_at, stamp)
            # one executemany per batch: a statement built per row cost more than the write
            pick = [results[name] for name in ("lms_id", "outcome", "message", "plan_id", "seq", "part")]
            lms_ids, outcomes, messages, plan_ids, seqs, parts = pick
            rows = list(
                zip(lms_ids, repeat(applied), outcomes, messages, plan_ids, seqs, parts, strict=False)
            )
            executemany(connection, FINISH, FINISH_NAMES, rows, unprepared=True)
            if linked:
                keys = list(zip([sync] * linked, new_links["entity"], new_links["source_id"], strict=True))
                executemany(connection, UNLINK, ("k_sync", "k_entity", "k_source"), keys)
                updated = bound(connection, links.c.updated_at, stamp)
                rows = [
                    (*key, lms_id, updated) for key, lms_id in zip(keys, new_links["lms_id"], strict=True)
                ]
                executemany(
                    connection, links.insert(), ("sync", "entity", "source_id", "lms_id", "updated_at"), rows
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

    @staticmethod
    def _existing(connection, plan_id: str, seqs: list[int], parts: list[int]) -> set[tuple[int, int]]:
        """The batch's (seq, part) already journaled: one range look-up on the journal's unique index,
        not an IN list of a few thousand literals."""
        query = sa.select(journal.c.seq, journal.c.part).where(
            journal.c.plan_id == plan_id, journal.c.seq.between(min(seqs), max(seqs))
        )
        wanted = set(zip(seqs, parts, strict=True))
        return {(seq, part) for seq, part in connection.execute(query) if (seq, part) in wanted}

    @staticmethod
    def _key(entry: dict):
        return (
            journal.c.plan_id == entry["plan_id"],
            journal.c.seq == entry["seq"],
            journal.c.part == entry["part"],
        )
