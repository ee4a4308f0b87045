"""The demo roster end to end: through Dagster in-process, the `rostersync` CLI and `dagster asset materialize`.

Every run here uses its own config in a temporary folder (the demo files by absolute path, the state and the
embedded LMS inside that folder or in a PostgreSQL schema) and its own DAGSTER_HOME, so the repo's own
.rostersync/ and .dagster_home/ are never touched. A CLI run starts Dagster (several seconds), so the CLI
tests share one synced workspace and copy it when they need to break something.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterInstance

from rostersync_pipelines import state as state_tables
from rostersync_pipelines.config import CONFIG_ENV, load_config
from rostersync_pipelines.targets import embedded_schema
from rostersync_pipelines.targets.embedded import EmbeddedLms

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "rostersync.yaml"
DEMO_DATA = REPO / "data" / "demo"
BIN = Path(sys.executable).parent
TIMEOUT = 300

# data/demo/README.md: the numbers the demo roster must give
CREATED_USERS = 269
DEPARTMENTS = 24
GROUPS = {"Onboarding 2026", "Safety Champions", "Mentors", "First Aiders", "Leadership Track", "Green Team"}
REJECTED_ROWS = 5
SKIPPED_ROWS = 12
REJECTED_PEOPLE = {"twierzbicki", "ghalvorsen", "mlopez"}  # + Pieter Van Dijk (E00373), who has no login
PAST_LEAVERS = {"olee", "cellis", "jfoster", "nfoster", "jyilmaz", "cvargas"}
FUTURE_LEAVERS = {"ssousa", "hnakamura", "zkim"}
PERSONAL_EMAIL_ONLY = {"apereira", "csousa", "ndubois", "ibaker2"}

STATE_TABLES = {
    "plans",
    "plan_changes",
    "journal",
    "links",
    "owned_groups",
    "source_sizes",
    "approvals",
    "source_cursors",
    "sync_locks",
    "quarantine",
    "learning_deliveries",
    "learning_course_progress",
    "learning_certificates",
    "learning_badges",
}
LMS_TABLES = {
    "departments",
    "users",
    "groups",
    "group_members",
    "course_progress",
    "certificates",
    "badges",
}


def demo_users() -> pd.DataFrame:
    return pd.read_csv(DEMO_DATA / "users.csv", dtype=str, keep_default_na=False)


def demo_config(state_url: str, lms_url: str, plans_dir: str, users_path: Path | None = None) -> dict:
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    sync = raw["syncs"]["employees"]
    sync["sources"]["users"]["path"] = str(users_path or DEMO_DATA / "users.csv")
    sync["sources"]["departments"]["path"] = str(DEMO_DATA / "departments.xlsx")
    sync["target"]["url"] = lms_url
    raw["state"] = {"url": state_url, "plans_dir": plans_dir}
    return raw


def read_lms(url: str):
    lms = EmbeddedLms(url)
    try:
        return lms.read_state()
    finally:
        lms.dispose()


def lms_tables(url: str) -> dict[str, list[tuple]]:
    """Every row of every LMS table, to prove a command wrote nothing."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                name: [
                    tuple(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key))
                ]
                for name, table in embedded_schema.metadata.tables.items()
            }
    finally:
        engine.dispose()


def department_depths(departments: pd.DataFrame) -> dict[str, int]:
    parent = dict(zip(departments["id"], departments["parent_id"], strict=True))
    depths = {}
    for department_id, code in zip(departments["id"], departments["code"], strict=True):
        depth, node = 0, parent[department_id]
        while node is not None:
            depth, node = depth + 1, parent[node]
            assert depth < 10, "a cycle in the department tree"
        depths[code] = depth
    return depths


def assert_demo_lms(url: str) -> None:
    """The LMS holds exactly what data/demo/README.md says a sync of the demo roster creates."""
    lms = read_lms(url)
    users, source = lms.users, demo_users()
    assert len(users) == CREATED_USERS
    assert set(users["status"]) == {"active"}
    assert users["login"].is_unique and users["user_unique_key"].is_unique
    assert users["user_unique_key"].str.fullmatch(r"E\d{5}").all(), "leading zeros of EmployeeId must be kept"
    by_login = users.set_index("login")
    assert by_login.at["klovik", "user_unique_key"] == "E00001"
    assert by_login.at["hachterberg", "user_unique_key"] == "E00476", "a duplicated row is kept once"

    absent = set(source.loc[source["Company"].str.contains("Contractor"), "Login"])
    absent |= set(source.loc[source["Status"] == "Inactive", "Login"])
    absent |= REJECTED_PEOPLE | PAST_LEAVERS
    assert len(absent) == 12 + 9 + 3 + 6
    assert not absent & set(users["login"]), (
        "contractors, inactive, rejected people and leavers are not created"
    )
    assert "E00373" not in set(users["user_unique_key"]), "the person with no login is not created"
    assert FUTURE_LEAVERS <= set(users["login"]), "a future termination date is still employed"
    people = source.drop_duplicates("Login").set_index("Login").loc[by_login.index]
    personal = sorted(PERSONAL_EMAIL_ONLY)
    assert by_login.loc[personal, "email"].tolist() == people.loc[personal, "PersonalEmail"].tolist()
    assert (
        by_login["custom_fields"].map(lambda fields: fields["job_title"]).tolist() == people["Title"].tolist()
    )

    ids = by_login["id"]
    known = people["ManagerLogin"].isin(ids.index)
    assert known.sum() > 200
    assert by_login.loc[known, "manager_id"].tolist() == ids[people.loc[known, "ManagerLogin"]].tolist()
    assert by_login.at["klovik", "manager_id"] is None

    departments = lms.departments
    assert len(departments) == DEPARTMENTS
    depths = department_depths(departments)
    assert sorted(pd.Series(depths).value_counts().items()) == [(0, 1), (1, 6), (2, 17)]
    assert depths["HQ"] == 0 and depths["ENG"] == 1 and depths["ENG-PLAT"] == 2
    assert set(departments["department_unique_key"]) == {str(number) for number in range(1001, 1025)}
    codes = departments.set_index("id")["code"]
    assert by_login["department_id"].map(codes).tolist() == people["DepartmentCode"].tolist()

    assert set(lms.groups["name"]) == GROUPS
    members = lms.group_members.merge(lms.groups, left_on="group_id", right_on="id")
    members = members.merge(users[["id", "login"]], left_on="user_id", right_on="id")
    teams = people.loc[people["Team"] != "", "Team"]
    assert sorted(zip(members["login"], members["name"], strict=True)) == sorted(teams.items())


# -- in-process, on SQLite and PostgreSQL ---------------------------------------------------------------------


def run_sync_job(config_file: Path):
    from rostersync_pipelines.defs.build import build_definitions

    defs = build_definitions(load_config(config_file))
    with DagsterInstance.ephemeral() as instance:
        return defs.resolve_job_def("employees_sync_job").execute_in_process(instance=instance)


def materialization_metadata(result, name: str) -> dict:
    found = [
        event.event_specific_data.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.event_specific_data.materialization.asset_key.path == ["employees", name]
    ]
    assert len(found) == 1, f"expected one materialization of {name}"
    return {key: value.value for key, value in found[0].items()}


def check_outcomes(result) -> dict[tuple[str, str], bool]:
    return {
        (evaluation.asset_key.path[-1], evaluation.check_name): evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }


def test_sync_job_in_process(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    raw = demo_config(database_url, database_url, str(tmp_path / "plans"))
    config_file = tmp_path / "rostersync.yaml"
    config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(config_file))

    result = run_sync_job(config_file)
    assert result.success
    plan = materialization_metadata(result, "sync_plan")
    assert re.fullmatch(r"employees-\d{8}-\d{6}-[0-9a-f]{6}", plan["plan_id"])
    assert plan["users create"] == CREATED_USERS
    assert plan["departments create"] == DEPARTMENTS
    assert plan["groups create"] == len(GROUPS)
    assert (plan["held"], plan["conflicts"], plan["rejected_rows"]) == (0, 0, REJECTED_ROWS)
    assert plan["summary"]["skipped_rows"] == SKIPPED_ROWS
    applied = materialization_metadata(result, "applied_lms_state")
    assert applied["plan_id"] == plan["plan_id"]
    assert applied["failed"] == 0
    by_action = applied["applied by action"]
    assert by_action["users create"] == CREATED_USERS
    assert (by_action["departments create"], by_action["groups create"]) == (DEPARTMENTS, len(GROUPS))
    # every planned change is applied; a new user whose manager is created later gets a follow-up update
    assert applied["applied"] == plan["changes"] + by_action.get("users update", 0)
    assert check_outcomes(result) == {
        ("source_users", "source_read"): True,
        ("source_departments", "source_read"): True,
        ("sync_plan", "held_changes"): True,
        ("sync_plan", "conflicts"): True,
        ("sync_plan", "plan_errors"): True,
        ("applied_lms_state", "converged"): True,
    }
    assert_demo_lms(database_url)

    engine = sa.create_engine(database_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(state_tables.metadata.tables) == STATE_TABLES
    assert set(embedded_schema.metadata.tables) == LMS_TABLES
    assert STATE_TABLES.isdisjoint(LMS_TABLES), "the state and the LMS can share one database"
    assert tables == STATE_TABLES | LMS_TABLES

    again = run_sync_job(config_file)
    assert again.success
    second_plan = materialization_metadata(again, "sync_plan")
    assert second_plan["plan_id"] != plan["plan_id"]
    assert (second_plan["changes"], second_plan["held"]) == (0, 0)
    assert materialization_metadata(again, "applied_lms_state")["applied"] == 0
    assert all(check_outcomes(again).values())
    assert_demo_lms(database_url)


# -- the CLI and the dagster CLI, as subprocesses --------------------------------------------------------------


@dataclass
class Workspace:
    """A folder with rostersync.yaml; the state and the LMS in its .rostersync/, as the demo config has it."""

    folder: Path

    @classmethod
    def create(cls, folder: Path, users_path: Path | None = None) -> Workspace:
        folder.mkdir(parents=True, exist_ok=True)
        workspace = cls(folder)
        # relative: the config resolves them against its own folder
        raw = demo_config(
            "sqlite:///.rostersync/state.db", "sqlite:///.rostersync/lms.db", ".rostersync/plans", users_path
        )
        workspace.config_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return workspace

    @property
    def config_file(self) -> Path:
        return self.folder / "rostersync.yaml"

    @property
    def lms_url(self) -> str:
        return f"sqlite:///{self.folder / '.rostersync' / 'lms.db'}"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != CONFIG_ENV}
        env["DAGSTER_HOME"] = str(self.folder / "dagster_home")
        return env

    def rostersync(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run from the workspace (its rostersync.yaml is the default config), or from `cwd` with --config."""
        command = [str(BIN / "rostersync"), *args]
        if cwd is not None:
            command[1:1] = ["--config", str(self.config_file)]
        return subprocess.run(
            command, cwd=cwd or self.folder, env=self.env(), capture_output=True, text=True, timeout=TIMEOUT
        )

    def copy_to(self, folder: Path) -> Workspace:
        """The same LMS and state in another folder, to break without spoiling the original."""
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.config_file, folder / "rostersync.yaml")
        shutil.copytree(self.folder / ".rostersync", folder / ".rostersync")
        return Workspace(folder)

    def point_users_at(self, path: Path) -> None:
        raw = yaml.safe_load(self.config_file.read_text(encoding="utf-8"))
        raw["syncs"]["employees"]["sources"]["users"]["path"] = str(path)
        self.config_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")

    def users(self) -> pd.DataFrame:
        return read_lms(self.lms_url).users


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("rostersync: ")
    return lines[0]


@dataclass
class Synced:
    workspace: Workspace
    first: subprocess.CompletedProcess
    second: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Synced:
    """The demo roster synced once by `rostersync sync`, then again by `rostersync sync --json`."""
    workspace = Workspace.create(tmp_path_factory.mktemp("synced"))
    first = workspace.rostersync("sync")
    second = workspace.rostersync("sync", "--json")
    return Synced(workspace, first, second)


def test_cli_sync_prints_the_counts(synced):
    output = ok(synced.first).stdout
    assert "users        create 269" in output
    assert "departments  create 24" in output
    assert "create 6" in output.split("groups", 1)[1].splitlines()[0]
    assert "held 0, conflicts 0, errors 0, rejected rows 5, skipped rows 12" in output
    assert re.search(r"applied \d+ changes, 0 refused by the LMS", output)
    assert_demo_lms(synced.workspace.lms_url)
    plans = list((synced.workspace.folder / ".rostersync" / "plans").glob("employees-*.csv"))
    assert len(plans) == 2, "relative state paths resolve against the config's folder"


def test_cli_second_sync_changes_nothing(synced):
    summary = json.loads(ok(synced.second).stdout)
    assert summary["sync"] == "employees"
    assert summary["users"] == {} and summary["departments"] == {} and summary["groups"] == {}
    assert summary["applied"] == {} and summary["failed"] == [] and summary["held"] == {}
    assert (summary["rejected_rows"], summary["skipped_rows"]) == (REJECTED_ROWS, SKIPPED_ROWS)


def test_cli_validate(synced):
    result = ok(synced.workspace.rostersync("validate"))
    assert "OK (employees)" in result.stdout


def test_dagster_asset_materialize_then_plan_writes_nothing(tmp_path):
    users_file = tmp_path / "users.csv"
    shutil.copy2(DEMO_DATA / "users.csv", users_file)
    workspace = Workspace.create(tmp_path / "workspace", users_file)
    home = tmp_path / "workspace" / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = workspace.env() | {CONFIG_ENV: str(workspace.config_file)}
    command = [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "rostersync_pipelines.definitions",
        "--select",
        "group:employees",
    ]
    # run from the parent folder: the relative state and LMS URLs resolve beside the config all the same
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RUN_SUCCESS" in result.stdout + result.stderr
    assert not (tmp_path / ".rostersync").exists()
    assert_demo_lms(workspace.lms_url)

    with users_file.open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(
            ["E09999", "newperson", "new.person@northwind.example", "", "New", "Person", "ENG-PLAT"]
            + ["", "", "Active", "", "Mentors", "Engineer", "Northwind"]
        )
    before = lms_tables(workspace.lms_url)
    plan = json.loads(ok(workspace.rostersync("plan", "--json")).stdout)
    assert plan["users"] == {"create": 1}
    assert plan["groups"] == {"add_member": 1}
    assert plan["status"] == "preview", "a plan-only run makes a preview, which no run may apply"
    assert lms_tables(workspace.lms_url) == before, "`rostersync plan` must never write to the LMS"
    assert "newperson" not in set(workspace.users()["login"])


def test_unknown_config_key_is_one_line(tmp_path):
    workspace = Workspace.create(tmp_path)
    raw = yaml.safe_load(workspace.config_file.read_text(encoding="utf-8"))
    raw["syncs"]["employees"]["policies"]["missing_user"] = "deactivate"
    workspace.config_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    for command in (["validate"], ["sync"]):
        line = one_error_line(workspace.rostersync(*command))
        assert "rostersync.yaml" in line
        assert "syncs.employees.policies.missing_user" in line
    assert not (tmp_path / ".rostersync").exists(), "a refused config must not create the state or the LMS"


def test_missing_mapped_column_is_one_line_and_deactivates_nobody(synced, tmp_path):
    workspace = synced.workspace.copy_to(tmp_path / "workspace")
    users = demo_users().drop(columns=["Title"])
    users.to_csv(tmp_path / "users.csv", index=False)
    workspace.point_users_at(tmp_path / "users.csv")

    line = one_error_line(workspace.rostersync("sync"))
    assert "'Title'" in line
    assert "columns present: " + ", ".join(users.columns) in line
    lms_users = workspace.users()
    assert len(lms_users) == CREATED_USERS and set(lms_users["status"]) == {"active"}


@pytest.fixture(scope="module")
def missing_users_file(synced, tmp_path_factory) -> tuple[Workspace, Path, subprocess.CompletedProcess]:
    """A good sync, then the users file is gone: `rostersync sync` (text output)."""
    folder = tmp_path_factory.mktemp("missing")
    workspace = synced.workspace.copy_to(folder / "workspace")
    missing = folder / "exports" / "users-today.csv"
    workspace.point_users_at(missing)
    return workspace, missing, workspace.rostersync("sync")


def test_missing_users_file_names_the_path_and_deactivates_nobody(missing_users_file):
    workspace, missing, result = missing_users_file
    line = one_error_line(result)
    assert str(missing) in line
    lms_users = workspace.users()
    assert len(lms_users) == CREATED_USERS and set(lms_users["status"]) == {"active"}
    assert "held 269" in result.stdout


def test_a_sync_that_held_changes_does_not_say_the_lms_matches_the_source(missing_users_file):
    _, _, result = missing_users_file
    assert "held 269" in result.stdout
    assert "already matches the source" not in result.stdout


def test_held_deactivations_wait_for_approval(synced, tmp_path):
    workspace = synced.workspace.copy_to(tmp_path / "workspace")
    header_only = tmp_path / "users.csv"
    header_only.write_text(",".join(demo_users().columns) + "\n", encoding="utf-8")
    workspace.point_users_at(header_only)

    held = json.loads(ok(workspace.rostersync("sync", "--json")).stdout)
    assert held["held"] == {"users deactivate": CREATED_USERS}
    assert held["applied"] == {}
    assert set(workspace.users()["status"]) == {"active"}, "held deactivations are not applied"

    # from another folder: the state database is found beside the config, not in the working directory
    approved = ok(workspace.rostersync("approve", held["plan_id"], cwd=tmp_path))
    assert held["plan_id"] in approved.stdout and f"{CREATED_USERS} held changes" in approved.stdout
    assert not (tmp_path / ".rostersync").exists()

    released = json.loads(ok(workspace.rostersync("sync", "--json")).stdout)
    assert released["held"] == {}
    assert released["applied"] == {"users deactivate": CREATED_USERS}
    lms_users = workspace.users()
    assert len(lms_users) == CREATED_USERS and set(lms_users["status"]) == {"inactive"}


def test_approve_unknown_plan_is_one_line(synced):
    line = one_error_line(synced.workspace.rostersync("approve", "no-such-plan"))
    assert "no-such-plan" in line
