"""One run per sync at a time, whoever starts it (CLI, schedule, sensor, UI), held in the state database.

Two runs of one sync planning and applying at once would apply each other's plans and journal changes twice.
A lock row per sync names its holder (the Dagster run), the host and the process; a holder whose process
is gone (same host) or whose heartbeat stopped is dead, and its lock is taken over. The row is written with
an INSERT that the primary key makes atomic on SQLite and PostgreSQL alike, so two takers never both win.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time

import sqlalchemy as sa

from rostersync_pipelines.errors import RosterSyncError
from rostersync_pipelines.state.tables import sync_locks

STALE_AFTER = dt.timedelta(minutes=10)  # no heartbeat for this long: the holder is presumed dead
HOST = socket.gethostname()


class SyncBusy(RosterSyncError):
    """Another run holds the sync; names it so a person can find it in the UI."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SyncLocks:
    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def holder(self, sync: str) -> dict | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(sa.select(sync_locks).where(sync_locks.c.sync == sync)).mappings().first()
            )
        return dict(row) if row else None

    def acquire(self, sync: str, holder: str, wait_seconds: float = 0.0, poll: float = 0.5) -> None:
        """Take the sync for `holder` (re-entrant for the same holder), waiting up to `wait_seconds`."""
        give_up = time.monotonic() + wait_seconds
        while True:
            current = self.holder(sync)
            if current is not None and (current["holder"] == holder or self._dead(current)):
                self._delete(sync, current["holder"])
                current = None
            if current is None and self._insert(sync, holder):
                return
            if time.monotonic() >= give_up:
                current = self.holder(sync) or {}
                since = current.get("acquired_at")
                raise SyncBusy(
                    f"sync {sync} is being run by Dagster run {current.get('holder', '?')} "
                    f"(process {current.get('pid', '?')} on {current.get('host', '?')}, "
                    f"since {since:%Y-%m-%d %H:%M:%S} UTC); wait for it to finish"
                    if since
                    else f"sync {sync} is being run by another process; wait for it to finish"
                )
            time.sleep(poll)

    def heartbeat(self, sync: str, holder: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sync_locks.update()
                .where(sync_locks.c.sync == sync, sync_locks.c.holder == holder)
                .values(heartbeat_at=_now())
            )

    def release(self, sync: str, holder: str) -> None:
        self._delete(sync, holder)

    def release_all(self, holder: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sync_locks.delete().where(sync_locks.c.holder == holder))

    def _dead(self, lock: dict) -> bool:
        if lock["host"] == HOST and not process_alive(lock["pid"]):
            return True
        return _now() - lock["heartbeat_at"] > STALE_AFTER

    def _insert(self, sync: str, holder: str) -> bool:
        stamp = _now()
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    sync_locks.insert().values(
                        sync=sync,
                        holder=holder,
                        host=HOST,
                        pid=os.getpid(),
                        acquired_at=stamp,
                        heartbeat_at=stamp,
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def _delete(self, sync: str, holder: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sync_locks.delete().where(sync_locks.c.sync == sync, sync_locks.c.holder == holder)
            )


def create_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Create the missing tables one process at a time: two first runs on a fresh PostgreSQL database both
    found no tables and collided on CREATE TABLE (duplicate key in pg_type_typname_nsp_index). A
    transaction-scoped advisory lock per schema makes the second wait, then find the tables there."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text(
                    "select pg_advisory_xact_lock(hashtext('rostersync.tables.' || coalesce(current_schema(), '')))"
                )
            )
        metadata.create_all(connection)
