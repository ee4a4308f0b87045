"""The CLI opens a default SQLite home through instance_sqlite.py; what it writes is what Dagster reads.

The webserver and the daemon open the home with Dagster's own classes: a CLI run must read back from
them whole (status, job, events, asset records), a run's events must reach a webserver watching it while
the run goes on, a new run's shard must be the tables Dagster makes, and a home whose dagster.yaml
names its storage is opened as Dagster opens it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from rostersync_pipelines.cli import main
from rostersync_pipelines.dagster_home import open_instance, prepare_home
from rostersync_pipelines.instance_sqlite import RosterSyncSqliteEventLogStorage, RosterSyncSqliteRunStorage
from rostersync_pipelines_tests.test_daemon import SYNC, demo_workspace


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


def _engine_event(run_id: str, text: str) -> EventLogEntry:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ENGINE_EVENT.value,
        job_name="a_job",
        message=text,
        event_specific_data=EngineEventData(),
    )
    return EventLogEntry(
        error_info=None,
        level="INFO",
        user_message=text,
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=event,
        job_name="a_job",
    )


def test_a_cli_plan_reads_back_through_dagsters_own_storage(tmp_path, home, capsys):
    config = demo_workspace(tmp_path)
    assert main(["plan", "--config", str(config), "--json"]) == 0
    with open_instance(prepare_home()) as instance:
        assert type(instance.event_log_storage) is RosterSyncSqliteEventLogStorage
        assert type(instance.run_storage) is RosterSyncSqliteRunStorage

    with dg.DagsterInstance.get() as instance:  # as the webserver opens the home
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == f"{SYNC}_plan_job"
        assert run.tags["rostersync/started_by"] == "cli"
        types = [entry.dagster_event_type for entry in instance.all_logs(run.run_id)]
        assert types[-1] == DagsterEventType.RUN_SUCCESS and types.count(DagsterEventType.STEP_SUCCESS) == 4
        plan = instance.get_latest_materialization_event(dg.AssetKey([SYNC, "sync_plan"]))
        assert plan is not None and plan.run_id == run.run_id
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey([SYNC, "sync_plan"]), "held_changes"), limit=5
        )
        assert [check.run_id for check in checks] == [run.run_id]


def test_a_run_shard_is_the_tables_dagster_makes(tmp_path):
    ours = RosterSyncSqliteEventLogStorage(str(tmp_path / "ours"))
    theirs = SqliteEventLogStorage(str(tmp_path / "theirs"))
    for storage in (ours, theirs):
        storage.store_event(_engine_event("a-run", "hello"))
        storage.dispose()

    def shape(path: Path) -> list:
        with sqlite3.connect(path) as connection:
            return [
                connection.execute("pragma journal_mode").fetchall(),
                connection.execute("select * from alembic_version").fetchall(),
                connection.execute("select type, name, sql from sqlite_master order by name").fetchall(),
                connection.execute("select run_id, dagster_event_type from event_logs").fetchall(),
            ]

    for shard in ("a-run.db", "index.db"):
        assert shape(tmp_path / "ours" / shard) == shape(tmp_path / "theirs" / shard)
    assert shape(tmp_path / "ours" / "a-run.db")[0] == [("wal",)]


def test_a_watching_webserver_gets_each_event_while_the_run_goes_on(tmp_path):
    writer = RosterSyncSqliteEventLogStorage(str(tmp_path))
    writer.store_event(_engine_event("a-run", "first"))  # the shard exists before anyone watches it
    reader = SqliteEventLogStorage(str(tmp_path))  # the webserver's storage
    seen, arrived = [], threading.Event()

    def on_event(entry, _cursor):
        seen.append(entry.user_message)
        if entry.user_message == "second":
            arrived.set()

    reader.watch("a-run", None, on_event)
    try:
        time.sleep(0.5)  # the observer's inotify watch is in place
        writer.store_event(_engine_event("a-run", "second"))  # the writer keeps its connection open
        assert arrived.wait(10), seen
        assert "second" in seen
    finally:
        reader.end_watch("a-run", on_event)
        reader.dispose()
        writer.dispose()


def test_a_home_that_names_its_storage_is_opened_as_dagster_opens_it(tmp_path, home):
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"storage:\n  sqlite:\n    base_dir: {tmp_path / 'elsewhere'}\n", encoding="utf-8"
    )
    with open_instance(prepare_home()) as instance:
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        assert instance.get_runs_count() == 0
    assert (tmp_path / "elsewhere" / "history" / "runs.db").exists()
    assert not (home / "history").exists()
