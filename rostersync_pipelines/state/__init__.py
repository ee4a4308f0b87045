"""The state database: plans, the journal of applied changes, links, owned groups, source sizes, approvals.

It is what makes a sync explainable and safe to repeat: every applied change is journaled with its
before/after values, links turn a changed email into a rename, and the last good source size lets a
shrunken file be recognised. Secrets never reach it: inputs are recorded as row counts and hashes only.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from rostersync_pipelines.apply_sql import bound, executemany
from rostersync_pipelines.json_cells import encoder
from rostersync_pipelines.state.bulk import insert_rows
from rostersync_pipelines.state.cursors import SourceCursors
from rostersync_pipelines.state.journal import Journal
from rostersync_pipelines.state.locks import SyncLocks, create_tables
from rostersync_pipelines.state.quarantine import Quarantine
from rostersync_pipelines.state.tables import (
    approvals,
    links,
    metadata,
    owned_groups,
    plan_changes,
    plans,
    source_sizes,
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


_ENCODE = encoder(sort_keys=True)  # json.dumps(value, sort_keys=True, default=str)
PLAN_CHANGE_COLUMNS = ("entity", "action", "situation", "key", "lms_id", "source_id", "reason", "error")
ROWS_PER_STATEMENT = 20_000  # one executemany per this many rows: big enough that statements don't count
LINK_NAMES = ("sync", "entity", "source_id", "lms_id", "updated_at")
UNLINK_NAMES = ("k_sync", "k_entity", "k_source")
UNLINK = links.delete().where(
    links.c.sync == sa.bindparam("k_sync"),
    links.c.entity == sa.bindparam("k_entity"),
    links.c.source_id == sa.bindparam("k_source"),
)


def dumps(value) -> str | None:
    # one encoder for every call: json.dumps with options builds a new one each time, which cost more than
    # the encoding itself on a million-row plan
    return None if value is None else _ENCODE(value)


def loads(text: str | None):
    return json.loads(text) if isinstance(text, str) else None


def _encoded(values) -> list[str | None]:
    """`dumps` of every value, without a Python call per value beyond the encoder's own."""
    encode = _ENCODE
    return [None if value is None else encode(value) for value in values]


def _decoded(texts) -> list:
    """`loads` of every text, without a Python call per text beyond the decoder's own."""
    decode = _DECODE
    return [decode(text) if isinstance(text, str) else None for text in texts]


_DECODE = json.JSONDecoder().decode  # what json.loads(text) uses


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection, _record) -> None:
    """WAL with synchronous=NORMAL: a commit appends to the log instead of syncing the database file twice
    (a first sync commits hundreds of journal batches), and readers no longer wait for the writer. A
    commit survives the process being killed at any instant, which is what the journal relies on; only
    the last commits before a power cut could be lost, as with PostgreSQL's synchronous_commit=off."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _objects(connection: sa.Connection, query, columns: list[str]) -> pd.DataFrame:
    """Rows straight from the cursor into an object frame: NULL stays None, ints stay ints, and no
    pandas type inference runs over a million rows (pd.read_sql did, and was then undone)."""
    compiled = query.compile(dialect=connection.dialect)
    params = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = connection.connection.cursor()  # the DBAPI cursor: plain tuples, no Row object per row
    try:
        cursor.execute(str(compiled), params)
        return pd.DataFrame(cursor.fetchall(), columns=columns, dtype=object)
    finally:
        cursor.close()


def _change_records(plan_id: str, changes: pd.DataFrame, names: list[str], texts: dict | None) -> list[tuple]:
    """Plan rows as tuples in the table's column order, the dicts as JSON text (`texts`: already encoded,
    one list per dict column, aligned with `changes`)."""
    columns = {name: changes[name].tolist() for name in PLAN_CHANGE_COLUMNS}
    columns["seq"] = [int(seq) for seq in changes.index]
    columns["held"] = changes["held"].to_numpy(dtype=bool).tolist()
    columns["order"] = [int(order) for order in changes["order"].tolist()]
    for name in ("changes", "values"):
        columns[name] = texts[name] if texts is not None else _encoded(changes[name])
    return list(zip([plan_id] * len(changes), *(columns[name] for name in names), strict=True))


class StateStore:
    """The state database; journal, locks, quarantine and cursors each live in their own module."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        create_tables(self.engine, metadata)  # one process at a time (locks.py)
        self.journal = Journal(self.engine)
        self.locks = SyncLocks(self.engine)
        self.quarantine = Quarantine(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def cursors(self, sync: str, source: str) -> SourceCursors:
        return SourceCursors(self.engine, sync, source)

    # plans ---------------------------------------------------------------------------------------------
    def save_plan(
        self,
        plan_id: str,
        sync: str,
        plan: pd.DataFrame,
        inputs: dict,
        summary: dict,
        plan_file: str,
        run_id: str | None = None,
        status: str = "planned",
        texts: dict[str, list] | None = None,
    ) -> None:
        """`texts`: the plan's dicts as `dumps` encodes them, a list per column for every row of `plan`
        (plan_files.plan_texts), when the caller encoded them already for the plan files."""
        changing = (plan["action"] != "none").to_numpy()
        changes = plan[changing]
        at = np.flatnonzero(changing)
        names = [name for name in plan_changes.c.keys() if name != "plan_id"]  # the table's order
        with self.engine.begin() as connection:
            connection.execute(
                plans.insert().values(
                    plan_id=plan_id,
                    sync=sync,
                    created_at=now(),
                    status=status,
                    run_id=run_id,
                    inputs=dumps(inputs),
                    summary=dumps(summary),
                    plan_file=plan_file,
                )
            )
            # encoded a statement's worth at a time: two million rows of JSON text and tuples at once
            # were gigabytes held beside the plan itself
            for start in range(0, len(changes), ROWS_PER_STATEMENT):
                part = at[start : start + ROWS_PER_STATEMENT]
                encoded = None if texts is None else {name: [texts[name][n] for n in part] for name in texts}
                records = _change_records(
                    plan_id, changes.iloc[start : start + ROWS_PER_STATEMENT], names, encoded
                )
                insert_rows(connection, plan_changes, ["plan_id", *names], records)

    def plan_changes(self, plan_id: str, with_text: bool = False) -> pd.DataFrame:
        """The saved changes, their dicts decoded. `with_text` keeps each change's values as saved in an
        `after_text` column too: `dumps` of the decoded dict is that very text, which the journal records
        as a change's after, so applying a plan encodes no values again (2M encodes at a million people)."""
        query = sa.select(plan_changes).where(plan_changes.c.plan_id == plan_id).order_by(plan_changes.c.seq)
        with self.engine.connect() as connection:
            frame = _objects(connection, query, list(plan_changes.c.keys()))
        if with_text:
            frame["after_text"] = frame["values"]
        for column in ("changes", "values"):
            frame[column] = pd.Series(_decoded(frame[column]), index=frame.index, dtype=object)
        frame["held"] = frame["held"].astype(bool)
        return frame

    def plan(self, plan_id: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(plans).where(plans.c.plan_id == plan_id)).mappings().first()
        if row is None:
            return None
        return {**row, "inputs": loads(row["inputs"]), "summary": loads(row["summary"])}

    def set_plan_status(self, plan_id: str, status: str, summary: dict | None = None) -> None:
        values = {"status": status} | ({"summary": dumps(summary)} if summary is not None else {})
        with self.engine.begin() as connection:
            connection.execute(plans.update().where(plans.c.plan_id == plan_id).values(**values))

    def plans_of(self, sync: str, statuses: tuple[str, ...]) -> list[dict]:
        query = sa.select(plans.c.plan_id, plans.c.status, plans.c.run_id).where(
            plans.c.sync == sync, plans.c.status.in_(statuses)
        )
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    # links ---------------------------------------------------------------------------------------------
    def links(self, sync: str, entity: str) -> pd.Series:
        query = sa.select(links.c.source_id, links.c.lms_id).where(
            links.c.sync == sync, links.c.entity == entity
        )
        with self.engine.connect() as connection:
            frame = _objects(connection, query, ["source_id", "lms_id"])
        return pd.Series(frame["lms_id"].to_numpy(), index=frame["source_id"].to_numpy(), dtype=object)

    def write_links(self, sync: str, entity: str, wanted: pd.Series) -> int:
        """Upsert only the links that changed: a million-user sync rewrites a handful, not a million."""
        wanted = wanted[wanted.notna() & wanted.index.notna()]
        wanted = wanted[~wanted.index.duplicated(keep="last")]
        existing = self.links(sync, entity)
        known = existing.reindex(wanted.index)
        changed = wanted[known.isna() | (known != wanted)]
        if changed.empty:
            return 0
        with self.engine.begin() as connection:  # rows as tuples straight to the driver (apply_sql.py)
            stamp = bound(connection, links.c.updated_at, now())
            keys = changed.index.tolist()
            for start in range(0, len(keys), ROWS_PER_STATEMENT):
                part = keys[start : start + ROWS_PER_STATEMENT]
                executemany(connection, UNLINK, UNLINK_NAMES, [(sync, entity, key) for key in part])
            records = [
                (sync, entity, key, value, stamp) for key, value in zip(keys, changed.tolist(), strict=True)
            ]
            for start in range(0, len(records), ROWS_PER_STATEMENT):
                part = records[start : start + ROWS_PER_STATEMENT]
                insert_rows(connection, links, LINK_NAMES, part)
        return len(changed)

    # owned groups --------------------------------------------------------------------------------------
    def owned_groups(self, sync: str) -> set[str]:
        with self.engine.connect() as connection:
            return {
                row[0]
                for row in connection.execute(
                    sa.select(owned_groups.c.group_id).where(owned_groups.c.sync == sync)
                )
            }

    def add_owned_groups(self, sync: str, groups: dict[str, str]) -> None:
        new = {group_id: name for group_id, name in groups.items() if group_id not in self.owned_groups(sync)}
        if new:
            with self.engine.begin() as connection:
                connection.execute(
                    owned_groups.insert(),
                    [{"sync": sync, "group_id": key, "name": name} for key, name in new.items()],
                )

    # source sizes --------------------------------------------------------------------------------------
    def last_good_rows(self, sync: str, source: str) -> int | None:
        query = sa.select(source_sizes.c.last_good_rows).where(
            source_sizes.c.sync == sync, source_sizes.c.source == source
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def record_source_size(self, sync: str, source: str, rows: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                source_sizes.delete().where(source_sizes.c.sync == sync, source_sizes.c.source == source)
            )
            connection.execute(
                source_sizes.insert().values(sync=sync, source=source, last_good_rows=rows, updated_at=now())
            )

    # approvals -----------------------------------------------------------------------------------------
    def approve(self, plan_id: str) -> dict:
        plan = self.plan(plan_id)
        if plan is None:
            raise KeyError(plan_id)
        with self.engine.begin() as connection:
            connection.execute(approvals.delete().where(approvals.c.plan_id == plan_id))
            connection.execute(
                approvals.insert().values(plan_id=plan_id, sync=plan["sync"], approved_at=now())
            )
        return plan

    def approved_changes(self, sync: str) -> dict[tuple, str]:
        """(entity, action, lms_id) -> approving plan id, for approvals not yet used by an apply."""
        query = (
            sa.select(
                plan_changes.c.entity, plan_changes.c.action, plan_changes.c.lms_id, plan_changes.c.plan_id
            )
            .join(approvals, approvals.c.plan_id == plan_changes.c.plan_id)
            .where(
                approvals.c.sync == sync, approvals.c.used_by_plan.is_(None), plan_changes.c.held.is_(True)
            )
        )
        with self.engine.connect() as connection:
            return {
                (entity, action, lms_id): plan_id
                for entity, action, lms_id, plan_id in connection.execute(query)
            }

    def use_approvals(self, sync: str, plan_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                approvals.update()
                .where(approvals.c.sync == sync, approvals.c.used_by_plan.is_(None))
                .values(used_by_plan=plan_id)
            )
