"""The changes sensor (DESIGN §1.5): `watch:` builds `<sync>_changes_sensor`, which asks each source whether
it changed since its cursor and requests a sync run only then; otherwise it skips, saying why.

The sensor is evaluated for real (`build_sensor_context` + `evaluate_tick`) over several ticks, each tick
continuing from the cursor the previous one left; URL files are served by an in-process HR export server.
"""

from __future__ import annotations

import json
import os
import types
from pathlib import Path

import dagster as dg
import pytest
import yaml
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import http, sources, steps
from rostersync_pipelines.config import load_config
from rostersync_pipelines.defs.resources import RosterSyncConfig
from rostersync_pipelines.defs.sensors import sync_sensors
from rostersync_pipelines.state import StateStore
from rostersync_pipelines_tests.fakes.file_server import FileServer

HOST = "https://hr.example.com"
ROSTER = b"Login,Email,FirstName\nann,ann@corp.example,Ann\nbob,bob@corp.example,Bob\n"


def write_config(tmp_path: Path, users: dict, **sync) -> Path:
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}", "plans_dir": str(tmp_path / "plans")},
        "syncs": {
            "employees": {
                "sources": {"users": users},
                "fields": {"users": {"login": "Login", "email": "Email", "first_name": "FirstName"}},
                "target": {"kind": "embedded", "url": f"sqlite:///{tmp_path / 'lms.db'}"},
                "watch": "40m",
                **sync,
            }
        },
    }
    file = tmp_path / "rostersync.yaml"
    file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return file


class Ticks:
    """The sensor of a config, ticked again and again as the daemon would: each tick gets the last cursor."""

    def __init__(self, file: Path):
        config = load_config(file)
        [self.sensor] = sync_sensors("employees", config.syncs["employees"])
        self.resources = {"rostersync": RosterSyncConfig(path=str(file))}
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def tick(self):
        context = dg.build_sensor_context(
            cursor=self.cursor, instance=self.instance, resources=self.resources
        )
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result


def run_keys(result) -> list[str]:
    return [request.run_key for request in result.run_requests]


@pytest.fixture
def local_file(tmp_path) -> tuple[Path, Path]:
    users = tmp_path / "users.csv"
    users.write_bytes(ROSTER)
    os.utime(users, ns=(1_770_000_000_000_000_000, 1_770_000_000_000_000_000))
    return users, write_config(tmp_path, {"kind": "file", "path": "users.csv"})


def test_the_sensor_is_declared_as_the_config_says(local_file):
    _, file = local_file
    sync = load_config(file).syncs["employees"]
    [sensor] = sync_sensors("employees", sync)
    assert sensor.name == "employees_changes_sensor"
    assert sensor.job_name == "employees_sync_job"
    assert sensor.minimum_interval_seconds == 40 * 60
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sync_sensors("employees", sync.model_copy(update={"watch": None})) == []


def test_a_touched_file_then_nothing(local_file):
    """The issue's test: over two ticks, a change (the file touched) -> a run; then none -> a skip."""
    users, file = local_file
    ticks = Ticks(file)
    first = ticks.tick()
    assert len(first.run_requests) == 1, "the first look has nothing to compare with: it syncs"

    os.utime(users, ns=(1_770_000_600_000_000_000, 1_770_000_600_000_000_000))  # touched, ten minutes on
    changed = ticks.tick()
    assert len(changed.run_requests) == 1 and changed.skip_message is None
    [request] = changed.run_requests
    assert request.run_key not in run_keys(first), "a new change is a new run"
    assert "users.csv changed" in request.tags["rostersync/changed"]
    assert json.loads(ticks.cursor)["users"] == json.dumps(
        {"mtime_ns": 1_770_000_600_000_000_000, "size": len(ROSTER)}, sort_keys=True
    )

    unchanged = ticks.tick()
    assert unchanged.run_requests == []
    assert unchanged.skip_message.startswith("no source changed (users: ")
    assert "users.csv unchanged since 2026-02-02 02:50:00 UTC" in unchanged.skip_message


def test_a_same_size_rewrite_is_a_change(local_file):
    users, file = local_file
    ticks = Ticks(file)
    ticks.tick()
    users.write_bytes(ROSTER.replace(b"Bob", b"Rob"))
    assert len(ticks.tick().run_requests) == 1


def test_a_missing_file_skips_with_the_reason_and_keeps_the_cursor(local_file):
    users, file = local_file
    ticks = Ticks(file)
    ticks.tick()
    before = ticks.cursor
    users.unlink()
    result = ticks.tick()
    assert result.run_requests == []
    assert "users: cannot check: cannot read " in result.skip_message
    assert "file not found" in result.skip_message
    assert ticks.cursor == before


def test_a_kind_that_cannot_tell_always_asks_for_a_new_run(local_file, monkeypatch):
    _, file = local_file
    ticks = Ticks(file)
    monkeypatch.setattr(sources, "source_module", lambda kind: types.SimpleNamespace())
    first, second = ticks.tick(), ticks.tick()
    assert "cannot tell whether a file source changed" in first.run_requests[0].tags["rostersync/changed"]
    assert run_keys(first) != run_keys(second), "the same run key would be started only once"


# --- a file behind a URL: ETag / Last-Modified ------------------------------------------------------------


@pytest.fixture
def hr_server(monkeypatch) -> FileServer:
    server = FileServer()
    server.put("/exports/users.csv", ROSTER)
    monkeypatch.setenv("HR_FILE_USER", server.username)
    monkeypatch.setenv("HR_FILE_PASSWORD", server.password)
    with http.extra_transports({HOST: WSGIAdapter(server)}):
        yield server


def url_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        {
            "kind": "file",
            "path": f"{HOST}/exports/users.csv",
            "username": "${HR_FILE_USER}",
            "password": "${HR_FILE_PASSWORD}",
        },
    )


def test_a_sync_read_keeps_the_validators_and_the_sensor_asks_with_them(hr_server, tmp_path):
    file = url_config(tmp_path)
    table = steps.read_one_source(load_config(file), "employees", "users")
    assert table.error is None and table.rows == 2
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        kept = store.cursors("employees", "users")
        export = hr_server.files["/exports/users.csv"]
        assert kept.get("etag") == export.etag
        assert kept.get("last_modified") == "Mon, 04 May 2026 08:01:00 GMT"
    finally:
        store.dispose()

    ticks = Ticks(file)
    unchanged = ticks.tick()
    assert unchanged.run_requests == [], "what the last sync read has not changed"
    assert "(HTTP 304 Not Modified)" in unchanged.skip_message
    ask = hr_server.requests[-1]
    assert (ask["if_none_match"], ask["status"]) == (export.etag, 304)

    hr_server.put("/exports/users.csv", ROSTER + b"cat,cat@corp.example,Cat\n")
    changed = ticks.tick()
    assert len(changed.run_requests) == 1
    assert "users.csv changed (new ETag)" in changed.run_requests[0].tags["rostersync/changed"]
    assert hr_server.requests[-1]["status"] == 200

    again = ticks.tick()
    assert again.run_requests == [] and "304" in again.skip_message
    assert hr_server.requests[-1]["if_none_match"] == hr_server.files["/exports/users.csv"].etag


def test_last_modified_alone_is_enough(hr_server, tmp_path):
    hr_server.send_etag = False
    ticks = Ticks(url_config(tmp_path))
    assert len(ticks.tick().run_requests) == 1  # first look
    assert ticks.tick().run_requests == []
    assert hr_server.requests[-1]["if_modified_since"] == "Mon, 04 May 2026 08:01:00 GMT"
    hr_server.put("/exports/users.csv", ROSTER)
    assert len(ticks.tick().run_requests) == 1


def test_a_server_that_ignores_conditionals_is_judged_by_its_validators(hr_server, tmp_path):
    hr_server.honour_conditionals = False
    ticks = Ticks(url_config(tmp_path))
    ticks.tick()
    result = ticks.tick()
    assert hr_server.requests[-1]["status"] == 200
    assert result.run_requests == [] and "unchanged (same ETag and Last-Modified)" in result.skip_message


def test_a_server_without_validators_cannot_tell(hr_server, tmp_path):
    hr_server.send_etag = hr_server.send_last_modified = False
    ticks = Ticks(url_config(tmp_path))
    first, second = ticks.tick(), ticks.tick()
    assert (
        "cannot tell (the server sends no ETag or Last-Modified)"
        in second.run_requests[0].tags["rostersync/changed"]
    )
    assert run_keys(first) != run_keys(second)


def test_refused_credentials_skip_with_a_reason_and_no_secret(hr_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HR_FILE_PASSWORD", "wrong-Pa55word")
    result = Ticks(url_config(tmp_path)).tick()
    assert result.run_requests == []
    assert (
        "cannot check https://hr.example.com/exports/users.csv: HTTP 401 Unauthorized" in result.skip_message
    )
    assert "(check the username and password)" in result.skip_message
    assert "wrong-Pa55word" not in result.skip_message and hr_server.password not in result.skip_message


def test_the_sensor_is_in_the_definitions(local_file, monkeypatch, tmp_path):
    _, file = local_file
    monkeypatch.setenv("ROSTERSYNC_CONFIG", str(file))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    from rostersync_pipelines.defs.build import build_definitions

    defs = build_definitions(load_config(file))
    sensor = defs.resolve_sensor_def("employees_changes_sensor")
    assert sensor.job_name == "employees_sync_job"
    assert "employees_sync_job" in {job.name for job in defs.resolve_all_job_defs()}
    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=defs.resources)
    assert len(sensor.evaluate_tick(context).run_requests) == 1
