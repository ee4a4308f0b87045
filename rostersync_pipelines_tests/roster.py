"""A tiny HR department for scenario tests: write a users (and departments) file, sync, look at the LMS.

Syncs run through `rostersync_pipelines.steps`, the same functions the Dagster assets call, without Dagster
itself, so a scenario of five syncs in a row stays fast.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from rostersync_pipelines import steps
from rostersync_pipelines.config import load_config
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines.targets.embedded import EmbeddedLms

USER_HEADER = [
    "EmployeeId",
    "Login",
    "Email",
    "FirstName",
    "LastName",
    "Dept",
    "Manager",
    "Status",
    "TerminationDate",
    "Team",
    "Company",
    "Title",
]
DEPARTMENT_HEADER = ["DeptId", "Code", "Name", "Parent"]
TODAY = dt.date(2026, 11, 22)
SOURCES = {
    "users": {"kind": "file", "path": "users.csv"},
    "departments": {"kind": "file", "path": "departments.csv"},
}
USER_FIELDS = {
    "user_unique_key": "EmployeeId",
    "login": "Login",
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "department": "Dept",
    "manager": "Manager",
    "status": "Status",
    "termination_date": "TerminationDate",
    "groups": "Team",
}


def person(login: str, **values) -> dict:
    """A user row with sensible defaults: id E-<login>, email <login>@corp.example, department ENG."""
    row = {
        "EmployeeId": f"E-{login}",
        "Login": login,
        "Email": f"{login}@corp.example",
        "FirstName": login.capitalize(),
        "LastName": "Tester",
        "Dept": "ENG",
        "Manager": "",
        "Status": "Active",
        "TerminationDate": "",
        "Team": "",
        "Company": "Corp",
        "Title": "Engineer",
    }
    row.update(values)
    return row


DEFAULT_DEPARTMENTS = [
    {"DeptId": "1", "Code": "HQ", "Name": "Head office", "Parent": ""},
    {"DeptId": "2", "Code": "ENG", "Name": "Engineering", "Parent": "HQ"},
    {"DeptId": "3", "Code": "OPS", "Name": "Operations", "Parent": "HQ"},
]


@dataclass
class Outcome:
    plan: pd.DataFrame
    summary: dict
    plan_id: str
    applied: dict


class Roster:
    def __init__(
        self, folder: Path, lms_url: str | None = None, state_url: str | None = None, **sync_overrides
    ):
        self.folder = folder
        self.lms_url = lms_url or f"sqlite:///{folder / 'lms.db'}"
        self.state_url = state_url or f"sqlite:///{folder / 'state.db'}"
        self.config_file = folder / "rostersync.yaml"
        sync = {
            "sources": copy.deepcopy(SOURCES),
            "fields": {
                "users": {**USER_FIELDS, "custom": {"job_title": "Title"}},
                "departments": {
                    "department_unique_key": "DeptId",
                    "code": "Code",
                    "name": "Name",
                    "parent": "Parent",
                },
            },
            "rules": [{"skip": {"field": "Company", "contains": "Contractor"}}],
            "safety": {
                "max_deactivations": "50%",
                "max_department_deletions": 5,
                "min_source_rows_ratio": 0.5,
            },
            "target": {"kind": "embedded", "url": self.lms_url},
        }
        for key, value in sync_overrides.items():
            sync[key] = value
        config = {
            "state": {"url": self.state_url, "plans_dir": str(folder / "plans")},
            "syncs": {"people": sync},
        }
        self.config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.write_departments(DEFAULT_DEPARTMENTS)

    @property
    def config(self):
        return load_config(self.config_file)

    def write_users(self, rows: list[dict]) -> None:
        _write_csv(self.folder / "users.csv", USER_HEADER, rows)

    def write_departments(self, rows: list[dict]) -> None:
        _write_csv(self.folder / "departments.csv", DEPARTMENT_HEADER, rows)

    def plan(self, today: dt.date = TODAY) -> Outcome:
        config = self.config
        sources = steps.read_sources(config, "people")
        canonical = steps.canonicalize(sources, config.syncs["people"])
        planned = steps.plan_sync(config, "people", sources, canonical, today=today)
        self._last = (sources, canonical)
        return Outcome(planned.plan, planned.summary, planned.plan_id, {})

    def sync(self, today: dt.date = TODAY) -> Outcome:
        outcome = self.plan(today)
        result = steps.apply_sync(self.config, "people", outcome.plan_id, self._last[0], plan=outcome.plan)
        outcome.applied = {f"{entity} {action}": n for (entity, action), n in result.applied.items()}
        outcome.failed = result.failed
        return outcome

    def approve(self, plan_id: str) -> None:
        store = StateStore(self.state_url)
        store.approve(plan_id)
        store.dispose()

    # the LMS, as a person would look at it --------------------------------------------------------------
    def lms(self) -> EmbeddedLms:
        return EmbeddedLms(self.lms_url)

    def state(self):
        lms = self.lms()
        try:
            return lms.read_state()
        finally:
            lms.dispose()

    def users(self) -> pd.DataFrame:
        return self.state().users.set_index("login", drop=False)

    def departments(self) -> pd.DataFrame:
        return self.state().departments.set_index("code", drop=False)

    def members(self, group: str) -> set[str]:
        state = self.state()
        group_ids = state.groups.loc[state.groups["name"] == group, "id"]
        user_ids = state.group_members.loc[state.group_members["group_id"].isin(group_ids), "user_id"]
        return set(state.users.loc[state.users["id"].isin(user_ids), "login"])

    def seed(self, entity: str, **values) -> str:
        """Put a record straight into the LMS, as an administrator would by hand."""
        lms = self.lms()
        try:
            return lms.apply(Operation(entity, "create", None, values))
        finally:
            lms.dispose()


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def rows_for(plan: pd.DataFrame, entity: str, key: str) -> pd.DataFrame:
    return plan[(plan["entity"] == entity) & (plan["key"] == key)]


def one_row(plan: pd.DataFrame, entity: str, key: str) -> dict:
    rows = rows_for(plan, entity, key)
    assert len(rows) == 1, f"expected one {entity} row for {key}, got:\n{rows.to_string()}"
    return rows.iloc[0].to_dict()
