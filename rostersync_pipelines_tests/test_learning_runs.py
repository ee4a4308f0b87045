"""The learning job as people run it: the hourly sensor over ticks, and a three-day backfill through the
real CLI entry point into the Salesforce fake (config as DESIGN §1.4, DAGSTER_HOME in tmp_path)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from rostersync_pipelines import cli, http
from rostersync_pipelines.config import CONFIG_ENV, load_config
from rostersync_pipelines.defs.build import build_definitions
from rostersync_pipelines.defs.learning import range_tags
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.learning import salesforce_bulk
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets import embedded_schema as lms
from rostersync_pipelines_tests.learning_fixtures import (
    CLIENT_SECRET,
    add_learners,
    add_progress,
    execute,
    org_with_people,
    salesforce_destination,
    write_config,
)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    (tmp_path / "dagster_home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setattr(salesforce_bulk, "BULK_POLL_SECONDS", 0)


def at(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour))


def tick(defs, config_file, instance, cursor):
    sensor = defs.resolve_sensor_def("employees_learning_sensor")
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"rostersync": RosterSyncConfig(path=str(config_file))}
    )
    return sensor.evaluate_tick(context)


def test_the_sensor_over_two_ticks_then_a_change(tmp_path, monkeypatch):
    config_file = write_config(tmp_path, monkeypatch)  # the embedded destination
    monkeypatch.setenv(CONFIG_ENV, str(config_file))
    add_learners(config_file, 4)
    for day in ("2026-03-01", "2026-03-02", "2026-03-05"):
        add_progress(config_file, 4, 1, at(day)) if day == "2026-03-01" else execute(
            config_file,
            lambda c, day=day: c.execute(
                lms.badges.insert(), [{"user_id": 1, "name": day, "updated_at": at(day)}]
            ),
        )
    defs = build_definitions(load_config(config_file))
    sensor = defs.resolve_sensor_def("employees_learning_sensor")
    assert (sensor.minimum_interval_seconds, sensor.default_status) == (3600, dg.DefaultSensorStatus.RUNNING)
    job = defs.resolve_job_def("employees_learning_job")
    with DagsterInstance.get() as instance:
        first = tick(defs, config_file, instance, None)
        ranges = [tuple(request.tags[key] for key in range_tags("", "")) for request in first.run_requests]
        assert ranges == [("2026-03-01", "2026-03-02"), ("2026-03-05", "2026-03-05")]
        assert first.cursor == "2026-03-05T09:00:00"
        for request in first.run_requests:
            assert job.execute_in_process(instance=instance, tags=request.tags).success
        delivered = instance.get_materialized_partitions(dg.AssetKey(["employees", "learning_delivery"]))
        assert delivered == {"2026-03-01", "2026-03-02", "2026-03-05"}

        second = tick(defs, config_file, instance, first.cursor)
        assert not second.run_requests
        assert second.skip_message == "no learning record changed since 2026-03-05T09:00:00"

        table = lms.course_progress
        execute(config_file, lambda c: c.execute(
            table.update().where(table.c.user_id == 2).values(score=12.0, updated_at=at("2026-03-06", 8))
        ))  # fmt: skip
        third = tick(defs, config_file, instance, second.cursor)
        assert len(third.run_requests) == 1, "only the day of the changed record"
        assert dict(third.run_requests[0].tags).items() >= range_tags("2026-03-06", "2026-03-06").items()
        result = job.execute_in_process(instance=instance, tags=third.run_requests[0].tags)
        summary = result.asset_materializations_for_node("employees__learning_delivery")[0].metadata
        assert (summary["written"].value, summary["read"].value) == (1, 1)


def test_a_three_day_backfill_through_the_cli(tmp_path, monkeypatch, capsys):
    org = org_with_people(20)
    config_file = write_config(tmp_path, monkeypatch, salesforce_destination(bulk_above=50))
    add_learners(config_file, 20)
    counts = {}
    for n, day in enumerate(["2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]):
        rows = [
            {"user_id": user + 1, "course_id": f"{day}-C{course}", "course_name": "Safety", "status": "completed",
             "completion_percent": 100.0, "updated_at": at(day)}
            for user in range(20) for course in range(n + 1)
        ]  # fmt: skip
        execute(config_file, lambda c, rows=rows: c.execute(lms.course_progress.insert(), rows))
        counts[day] = len(rows)
    in_range = counts["2026-03-01"] + counts["2026-03-02"] + counts["2026-03-03"]

    with http.extra_transports(org.mounts()):
        code = cli.main(
            [
                "learning-sync",
                "--from",
                "2026-03-01",
                "--to",
                "2026-03-03",
                "--config",
                str(config_file),
                "--json",
            ]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["read"], summary["written"], summary["from"], summary["to"]) == (
        in_range,
        in_range,
        "2026-03-01",
        "2026-03-03",
    )
    assert len(org.store.records["LMS_Course_Progress__c"]) == in_range == 180
    assert len([c for c in org.calls if c["path"].endswith("/jobs/ingest")]) == 1, (
        "180 > bulk_above: one Bulk job"
    )
    assert CLIENT_SECRET not in out + err
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 1, "a range of days is one run"
        key = dg.AssetKey(["employees", "learning_delivery"])
        assert instance.get_materialized_partitions(key) == {"2026-03-01", "2026-03-02", "2026-03-03"}

    with http.extra_transports(org.mounts()):
        assert (
            cli.main(
                ["learning-sync", "--config", str(config_file), "--from", "2026-03-01", "--to", "2026-03-03"]
            )
            == 0
        )
    out, _ = capsys.readouterr()
    assert "delivered 0 records in 0 write calls" in out and "unchanged 180" in out

    assert (
        cli.main(
            ["learning-sync", "--config", str(config_file), "--from", "2026-03-09", "--to", "2026-03-01"]
        )
        == 1
    )
    assert capsys.readouterr().err.strip() == (
        "rostersync: --from 2026-03-09 is after --to 2026-03-01; give the earlier day first"
    )


def test_dagster_asset_materialize_with_a_partition_range(tmp_path, monkeypatch):
    config_file = write_config(tmp_path, monkeypatch)
    add_learners(config_file, 2)
    for day in ("2026-03-01", "2026-03-02", "2026-03-04"):
        add_progress(config_file, 2, 1, at(day)) if day == "2026-03-01" else execute(
            config_file,
            lambda c, day=day: c.execute(
                lms.badges.insert(), [{"user_id": 2, "name": day, "updated_at": at(day)}]
            ),
        )
    home = tmp_path / "dagster_home"
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [
            str(dagster),
            "asset",
            "materialize",
            "-m",
            "rostersync_pipelines.definitions",
            "--select",
            "employees/learning_records,employees/learning_delivery",
            "--partition-range",
            "2026-03-01...2026-03-03",
        ],  # fmt: skip
        cwd=tmp_path,
        env={**os.environ, CONFIG_ENV: str(config_file), "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    config = load_config(config_file)
    store = StateStore(config.resolve_url(config.state.url))
    try:
        with store.engine.connect() as connection:
            progress = connection.execute(sa.text("SELECT count(*) FROM learning_course_progress")).scalar()
            badges = connection.execute(sa.text("SELECT badge_name FROM learning_badges")).scalars().all()
    finally:
        store.dispose()
    assert (progress, badges) == (2, ["2026-03-02"]), "only the three days asked for, 03-04 left for later"
