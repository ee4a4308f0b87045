"""The Dagster definitions built from a config: the asset graph a person sees in the UI, as a snapshot.

The snapshot lives in snapshots/asset_graph.txt. When it is missing the test writes it and fails, saying so;
set UPDATE_SNAPSHOTS=1 to rewrite it after an intended change, then review the diff like any other code.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from rostersync_pipelines.config import CONFIG_ENV, load_config

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "rostersync.yaml"
DEMO_DATA = REPO / "data" / "demo"
SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "asset_graph.txt"
ASSET_NAMES = {
    "source_users",
    "source_departments",
    "users",
    "departments",
    "groups",
    "rejects",
    "sync_plan",
    "applied_lms_state",
}


def demo_config(folder: Path) -> dict:
    """The demo config with the demo files by absolute path and the state and LMS inside `folder`."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    sync = raw["syncs"]["employees"]
    sync["sources"]["users"]["path"] = str(DEMO_DATA / "users.csv")
    sync["sources"]["departments"]["path"] = str(DEMO_DATA / "departments.xlsx")
    sync["target"]["url"] = f"sqlite:///{folder / 'lms.db'}"
    raw["state"] = {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")}
    return raw


def write_config(folder: Path, raw: dict) -> Path:
    file = folder / "rostersync.yaml"
    file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return file


def build(file: Path, monkeypatch) -> dg.Definitions:
    # the resource records the config path named by ROSTERSYNC_CONFIG when the definitions are built
    monkeypatch.setenv(CONFIG_ENV, str(file))
    from rostersync_pipelines.defs.build import build_definitions

    return build_definitions(load_config(file))


@pytest.fixture
def demo_file(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return write_config(tmp_path, demo_config(tmp_path))


def render(defs: dg.Definitions) -> str:
    """Everything structural about the definitions, sorted, with no paths or other run-specific values."""
    graph = defs.resolve_asset_graph()
    lines = ["# assets: key | group | kinds | upstream"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parents = ", ".join(sorted(parent.to_user_string() for parent in node.parent_keys)) or "-"
        kinds = ", ".join(sorted(node.kinds)) or "-"
        lines.append(f"{key.to_user_string()} | group={node.group_name} | kinds={kinds} | upstream={parents}")
    lines.append("")
    lines.append("# asset checks: asset:name | blocking | description")
    for check_key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        spec = graph.get_check_spec(check_key)
        lines.append(
            f"{check_key.asset_key.to_user_string()}:{check_key.name} | blocking={spec.blocking}"
            f" | {spec.description}"
        )
    lines.append("")
    lines.append("# jobs: name | assets | checks")
    for job in sorted(defs.resolve_all_job_defs(), key=lambda job: job.name):
        if job.name.startswith("__"):
            continue  # Dagster's implicit asset job
        layer = job.asset_layer
        assets = ", ".join(sorted(key.to_user_string() for key in layer.selected_asset_keys))
        checks = ", ".join(
            sorted(
                f"{key.asset_key.to_user_string()}:{key.name}" for key in layer.asset_graph.asset_check_keys
            )
        )
        lines.append(f"{job.name} | assets={assets} | checks={checks}")
    lines.append("")
    lines.append("# schedules: name | cron | job | default status | timezone")
    for schedule in sorted(defs.schedules or [], key=lambda schedule: schedule.name):
        cron = schedule.cron_schedule
        cron = [cron] if isinstance(cron, str) else list(cron)
        lines.append(
            f"{schedule.name} | cron={cron} | job={schedule.job_name}"
            f" | default_status={schedule.default_status.value} | timezone={schedule.execution_timezone}"
        )
    lines.append("")
    lines.append("# sensors")
    sensors = sorted(sensor.name for sensor in defs.sensors or [])
    lines += sensors or ["(none)"]
    lines.append("")
    lines.append("# resources")
    lines += sorted(defs.resources or {})
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_the_snapshot(demo_file, monkeypatch):
    rendered = render(build(demo_file, monkeypatch))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        existed = SNAPSHOT.exists()
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(rendered, encoding="utf-8")
        if not existed:
            pytest.fail(f"snapshot {SNAPSHOT} did not exist and was created: review it, commit it, re-run")
        return
    expected = SNAPSHOT.read_text(encoding="utf-8")
    assert rendered == expected, (
        f"the asset graph differs from {SNAPSHOT.name}; if the change is intended, "
        "re-run with UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_asset_graph_shape(demo_file, monkeypatch):
    """The parts of the snapshot other code relies on, spelled out so a bad snapshot update is caught."""
    defs = build(demo_file, monkeypatch)
    graph = defs.resolve_asset_graph()
    roster = set(graph.asset_keys_for_group("employees"))
    assert {tuple(key.path) for key in roster} == {("employees", name) for name in ASSET_NAMES}
    assert "employees" in graph.all_group_names
    checks = {
        (check.asset_key.path[-1], check.name): graph.get_check_spec(check).blocking
        for check in graph.asset_check_keys
        if check.asset_key in roster
    }
    # no check blocks: held changes, conflicts and errors never stop the rest of a sync, so none says it does
    assert checks == {
        ("source_users", "source_read"): False,
        ("source_departments", "source_read"): False,
        ("sync_plan", "held_changes"): False,
        ("sync_plan", "conflicts"): False,
        ("sync_plan", "plan_errors"): False,
        ("applied_lms_state", "converged"): False,
    }
    plan_job = defs.resolve_job_def("employees_plan_job")
    sync_job = defs.resolve_job_def("employees_sync_job")
    applied = dg.AssetKey(["employees", "applied_lms_state"])
    assert applied not in plan_job.asset_layer.selected_asset_keys, "the plan job must never write the LMS"
    assert set(sync_job.asset_layer.selected_asset_keys) == roster
    for job in (plan_job, sync_job, defs.resolve_job_def("employees_approve_job")):
        assert job.executor_def is dg.in_process_executor, f"{job.name} must run in one process"
    # "Materialize all" in the UI runs Dagster's implicit asset job: one process too
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor
    schedule = defs.resolve_schedule_def("employees_schedule")
    assert schedule.job_name == "employees_sync_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert list(schedule.cron_schedule) == load_config(demo_file).syncs["employees"].schedule


def test_dagster_definitions_validate(demo_file, tmp_path):
    env = {**os.environ, CONFIG_ENV: str(demo_file), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    (tmp_path / "dagster_home" / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n", encoding="utf-8"
    )
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "rostersync_pipelines.definitions"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_two_syncs_give_two_groups_with_distinct_keys(tmp_path, monkeypatch):
    raw = demo_config(tmp_path)
    contractors = copy.deepcopy(raw["syncs"]["employees"])
    contractors["rules"] = [{"skip": {"field": "Company", "contains": "Northwind"}}]
    contractors["schedule"] = ["30 7 * * 1-5"]
    raw["syncs"]["contractors"] = contractors
    defs = build(write_config(tmp_path, raw), monkeypatch)
    graph = defs.resolve_asset_graph()

    assert graph.all_group_names >= {"employees", "contractors"}
    by_group = {group: set(graph.asset_keys_for_group(group)) for group in ("employees", "contractors")}
    assert by_group["employees"].isdisjoint(by_group["contractors"])
    for group, keys in by_group.items():
        assert {tuple(key.path) for key in keys} == {(group, name) for name in ASSET_NAMES}
    roster_checks = [
        key for key in graph.asset_check_keys if key.asset_key in set().union(*by_group.values())
    ]
    assert len(roster_checks) == 12
    jobs = {job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert jobs >= {
        f"{group}_{kind}_job"
        for group in ("employees", "contractors")
        for kind in ("plan", "sync", "approve")
    }
    for group in by_group:
        selected = set(defs.resolve_job_def(f"{group}_sync_job").asset_layer.selected_asset_keys)
        assert selected == by_group[group], f"the {group} sync job must only run its own group"
    assert {schedule.name for schedule in defs.schedules} == {"employees_schedule", "contractors_schedule"}
    assert defs.resolve_schedule_def("contractors_schedule").cron_schedule == "30 7 * * 1-5"
    assert defs.resolve_schedule_def("contractors_schedule").job_name == "contractors_sync_job"


def test_a_sync_without_schedule_has_no_schedule(tmp_path, monkeypatch):
    raw = demo_config(tmp_path)
    raw["syncs"]["employees"]["schedule"] = []
    defs = build(write_config(tmp_path, raw), monkeypatch)
    assert not list(defs.schedules or [])
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"employees_plan_job", "employees_sync_job"}


def test_lineage_reads_like_the_pipeline(demo_file, monkeypatch):
    """sources -> canonical -> plan -> applied: each asset depends on what it reads, nothing more."""
    graph = build(demo_file, monkeypatch).resolve_asset_graph()
    sources = {"source_users", "source_departments"}
    canonical = {"users", "departments", "groups", "rejects"}
    expected = {name: sources for name in canonical} | {
        "source_users": set(),
        "source_departments": set(),
        "sync_plan": canonical,
        "applied_lms_state": {"sync_plan"},
    }
    parents = {
        key.path[-1]: {parent.path[-1] for parent in graph.get(key).parent_keys}
        for key in graph.asset_keys_for_group("employees")
    }
    assert parents == expected
    assert sum(len(found) for found in parents.values()) == 13


def test_every_asset_says_what_it_is_who_owns_it_and_when_it_is_late(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    raw = demo_config(tmp_path)
    raw["syncs"]["employees"]["owners"] = ["team:hr-data", "ada@example.com"]
    raw["syncs"]["employees"]["apply"] = "approved_only"
    defs = build(write_config(tmp_path, raw), monkeypatch)
    graph = defs.resolve_asset_graph()
    kinds = {}
    for key in graph.asset_keys_for_group("employees"):
        node = graph.get(key)
        kinds[key.path[-1]] = node.kinds
        assert node.owners == ["team:hr-data", "ada@example.com"], key
        assert node.tags["rostersync/sync"] == "employees"
        assert node.tags["rostersync/apply"] == "approved_only"
        assert node.code_version and node.code_version.startswith("0.1.0+"), key
        policy = node.freshness_policy
        # schedule 06:00, 12:00, 18:00: the longest gap is 18:00 -> 06:00, plus an hour to run
        assert policy is not None and policy.fail_window.to_timedelta().total_seconds() == 13 * 3600, key
    assert kinds["source_users"] == {"csv"}
    assert kinds["source_departments"] == {"xlsx"}
    assert kinds["applied_lms_state"] == {"sqlite"}
    assert all(
        kinds[name] == {"pandas"} for name in ("users", "departments", "groups", "rejects", "sync_plan")
    )


def test_the_approve_job_asks_for_the_plan_id(demo_file, monkeypatch):
    job = build(demo_file, monkeypatch).resolve_job_def("employees_approve_job")
    fields = job.run_config_schema.config_type.fields["ops"].config_type.fields
    plan_id = fields["employees_approve_plan"].config_type.fields["config"].config_type.fields["plan_id"]
    assert plan_id.is_required
    assert "held_changes" in plan_id.description
    assert job.tags["rostersync/sync"] == "employees"
