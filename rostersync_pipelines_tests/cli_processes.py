"""A workspace of real `rostersync` processes on a generated roster: for races, kills and fresh homes.

Each workspace has its own config, state database, embedded LMS and DAGSTER_HOME in a temporary folder, so
processes started here behave as a user's would, and nothing of the repo's own .rostersync is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
import yaml

from benchmarks.dataset import Files, generate

BIN = Path(sys.executable).parent
FIELDS = {
    "users": {
        "user_unique_key": "EmployeeId",
        "login": "Login",
        "email": ["WorkEmail", "PersonalEmail"],
        "first_name": "FirstName",
        "last_name": "LastName",
        "department": "DepartmentCode",
        "status": "Status",
        "groups": "Team",
    },
    "departments": {
        "department_unique_key": "DepartmentId",
        "code": "Code",
        "name": "Name",
        "parent": "ParentCode",
    },
}


class Workspace:
    def __init__(self, folder: Path, users: int = 10_000, state_url: str | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.files = Files(folder)
        generate(users, self.files)
        self.state_url = state_url or f"sqlite:///{folder / 'state.db'}"
        self.lms_url = f"sqlite:///{folder / 'lms.db'}"
        self.home = folder / "dagster_home"
        self.config_file = folder / "rostersync.yaml"
        self.write_config()

    def write_config(self, **sync_overrides) -> None:
        sync = {
            "sources": {
                "users": {"kind": "file", "path": str(self.files.users)},
                "departments": {"kind": "file", "path": str(self.files.departments)},
            },
            "fields": FIELDS,
            "safety": {"max_deactivations": "100%", "max_department_deletions": 10_000},
            "target": {"kind": "embedded", "url": self.lms_url},
            **sync_overrides,
        }
        config = {
            "state": {"url": self.state_url, "plans_dir": str(self.folder / "plans")},
            "syncs": {"bench": sync},
        }
        self.config_file.write_text(yaml.safe_dump(config), encoding="utf-8")

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "DAGSTER_HOME": str(self.home), "PYTHONUNBUFFERED": "1", **extra}

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(BIN / "rostersync"), *args, "--config", str(self.config_file)],
            cwd=self.folder,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        process = self.start(*args, **env)
        stdout, stderr = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def query(self, url: str, sql: str) -> list[tuple]:
        return query(url, sql)

    def state(self, sql: str) -> list[tuple]:
        return self.query(self.state_url, sql)

    def lms(self, sql: str) -> list[tuple]:
        return self.query(self.lms_url, sql)


def query(url: str, sql: str) -> list[tuple]:
    """Rows of one statement, through an engine of its own (the processes under test hold theirs)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()
