"""Dagster's SQLite storage as the CLI opens it: the same files, tables and rows, each database opened once.

Dagster's SQLite storages make a new SQLAlchemy engine and connection for every read and write. A plan
run stores ~70 events; each paid for a new engine, dialect and statement compile (~8 ms of CPU) and, as
each connection closed, a WAL checkpoint that waits for the disk three to four times (~15 ms on a
shared disk). Here each database keeps one engine and one open connection for the process, and commits
sync at checkpoints only (`synchronous=NORMAL`: SQLite documents it as safe in WAL mode, where a power
cut may lose the last commits but never corrupts the file; a killed process loses nothing).

The webserver streams a run's logs by watching the run's `.db` file for changes (watchdog): Dagster's
close-time checkpoint changed it after every event. With the connection kept, new events wait in the
WAL (other connections read them there), so after a write to a run's shard its file's mtime is touched,
which the watcher sees as the same change. The last connection's close checkpoints the WAL as before.

The CLI uses this only for a home whose dagster.yaml leaves storage to Dagster's default; the webserver
and the daemon read the same files with Dagster's own classes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

MODULE = __name__
STORAGE_CLASS = "RosterSyncSqliteStorage"
KEPT_DATABASES = 8  # a CLI run uses runs.db, schedules.db, the index shard and its own run's shard


def _sync_at_checkpoints(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _wal_from_the_start(dbapi_connection, record) -> None:
    """A new run's shard is WAL from its first table on (Dagster switches it after creating ~20 tables and
    indexes, each then a rollback-journal commit that syncs the disk three times)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
    _sync_at_checkpoints(dbapi_connection, record)


class _Engines:
    """One engine per database URL holding one connection; past KEPT_DATABASES the oldest is closed."""

    def __init__(self, **connect_args):
        self._connect_args = connect_args
        self._engines: OrderedDict[str, Engine] = OrderedDict()

    def get(self, url: str) -> Engine:
        engine = self._engines.pop(url, None)
        if engine is None:
            # pool_size 1: the connection is kept between uses; a second use at once (another thread)
            # opens its own and closes it after
            engine = db.create_engine(
                url, pool_size=1, max_overflow=-1, connect_args=dict(self._connect_args)
            )
            db.event.listen(engine, "connect", _sync_at_checkpoints)
        self._engines[url] = engine
        while len(self._engines) > KEPT_DATABASES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def transaction(self, url: str) -> Iterator[tuple[Connection, list[bool]]]:
        """A connection in a transaction, and a flag set after the commit if the transaction wrote."""
        wrote = [False]
        with self.get(url).connect() as conn:
            raw = conn.connection.dbapi_connection
            before = raw.total_changes
            with conn.begin():
                yield conn, wrote
            wrote[0] = raw.total_changes != before

    def dispose(self) -> None:
        while self._engines:
            self._engines.popitem()[1].dispose()


class RosterSyncSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None):
        self._engines = _Engines(timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        super().__init__(base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            url = self.conn_string_for_shard(shard)
            if shard not in self._initialized_dbs:
                # created, checked and stamped as Dagster does it, on a connection of its own
                engine = db.create_engine(
                    url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
                )
                db.event.listen(engine, "connect", _wal_from_the_start)
                self._initdb(engine)
                engine.dispose()
                self._initialized_dbs.add(shard)
            with self._engines.transaction(url) as (conn, wrote):
                yield conn
            if wrote[0] and shard != INDEX_SHARD_NAME:
                os.utime(self.path_for_shard(shard))  # tells the webserver's watcher of the new events

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class _KeptConnection:
    """Run and schedule storage: one database each, its connection kept for the process."""

    def __init__(self, conn_string: str, inst_data=None):
        self._engines = _Engines()
        super().__init__(conn_string, inst_data=inst_data)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engines.transaction(self._conn_string) as (conn, _):
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class RosterSyncSqliteRunStorage(_KeptConnection, SqliteRunStorage):
    pass


class RosterSyncSqliteScheduleStorage(_KeptConnection, SqliteScheduleStorage):
    pass


class RosterSyncSqliteStorage(DagsterSqliteStorage):
    """Dagster's default storage (`storage: sqlite`), the same layout under base_dir, with the classes above."""

    def __init__(self, base_dir: str, inst_data=None):
        self.base_dir = base_dir
        self._run_storage = RosterSyncSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = RosterSyncSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = RosterSyncSqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> RosterSyncSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def storage_override(base_dir: str) -> dict:
    """Instance config that opens base_dir as Dagster's default SQLite storage would, with these classes."""
    return {
        "storage": {"custom": {"module": MODULE, "class": STORAGE_CLASS, "config": {"base_dir": base_dir}}}
    }
