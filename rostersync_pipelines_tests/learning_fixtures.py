"""What the learning tests share: a config as DESIGN §1.4 writes it, an embedded LMS with learners and their
learning records, and the writable Salesforce fake with the matching Users and Contacts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
import yaml

from rostersync_pipelines.config import load_config
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets import embedded_schema as lms
from rostersync_pipelines.targets.embedded import EmbeddedLms
from rostersync_pipelines_tests.fakes.salesforce_writes import WritableSalesforce

CLIENT_ID, CLIENT_SECRET = "3MVG9learningClientId", "learning-very-secret-value"
INSTANCE = "https://acme.my.salesforce.com"
DAY = dt.datetime(2026, 3, 1, 9, 0)


def salesforce_destination(bulk_above: int = 10_000) -> dict:
    return {
        "kind": "salesforce",
        "instance_url": INSTANCE,
        "auth": {"client_id": "${SF_CLIENT_ID}", "client_secret": "${SF_CLIENT_SECRET}"},
        "bulk_above": bulk_above,
    }


def write_config(
    tmp_path: Path, monkeypatch, destination: dict | None = None, users_from: str = "file"
) -> Path:
    monkeypatch.setenv("SF_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SF_CLIENT_SECRET", CLIENT_SECRET)
    (tmp_path / "users.csv").write_text("Login,Email\n", encoding="utf-8")
    if users_from == "salesforce":
        source = {"kind": "salesforce", "instance_url": INSTANCE, "object": "User",
                  "auth": {"client_id": "${SF_CLIENT_ID}", "client_secret": "${SF_CLIENT_SECRET}"}}  # fmt: skip
        fields = {"user_unique_key": "Id", "login": "Username", "email": "Email"}
    else:
        source, fields = {"kind": "file", "path": "users.csv"}, {"login": "Login", "email": "Email"}
    raw = {
        "state": {"url": "sqlite:///state.db"},
        "syncs": {
            "employees": {
                "sources": {"users": source},
                "fields": {"users": fields},
                "target": {"kind": "embedded", "url": "sqlite:///lms.db"},
                "learning": {"destination": destination or {"kind": "embedded"}},
            }
        },
    }
    path = tmp_path / "rostersync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def org_with_people(learners: int) -> WritableSalesforce:
    org = WritableSalesforce()
    org.logins.clients[CLIENT_ID] = CLIENT_SECRET
    org.org.insert(
        "User",
        [
            {"Username": f"l{n}@acme.com", "Email": f"l{n}@acme.com", "IsActive": True}
            for n in range(learners)
        ],
    )
    return org


def add_learners(config_file: Path, count: int, keys: list[str] | None = None) -> None:
    config = load_config(config_file)
    target = EmbeddedLms(config.resolve_url(config.syncs["employees"].target.url))
    rows = [
        {
            "id": n + 1,
            "login": f"l{n}",
            "email": f"L{n}@acme.com",
            "user_unique_key": keys[n] if keys else None,
        }
        for n in range(count)
    ]
    with target.engine.begin() as connection:
        connection.execute(lms.users.insert(), rows)
    target.dispose()


def add_progress(config_file: Path, learners: int, per_learner: int, day: dt.datetime = DAY) -> int:
    """`per_learner` courses for each learner, all updated on `day` (minutes apart)."""
    rows = [
        {
            "user_id": user + 1,
            "course_id": f"C{course}",
            "course_name": f"Course {course}",
            "status": "completed",
            "completion_percent": 100.0,
            "time_spent_seconds": 1800 + course,
            "enrolled_at": day - dt.timedelta(days=7),
            "completed_at": day,
            "score": 80.0 + course % 20,
            "updated_at": day + dt.timedelta(minutes=course),
        }  # fmt: skip
        for user in range(learners)
        for course in range(per_learner)
    ]
    execute(config_file, lambda connection: connection.execute(lms.course_progress.insert(), rows))
    return len(rows)


def execute(config_file: Path, action):
    config = load_config(config_file)
    target = EmbeddedLms(config.resolve_url(config.syncs["employees"].target.url))
    try:
        with target.engine.begin() as connection:
            return action(connection)
    finally:
        target.dispose()


def deliveries(config_file: Path) -> list[dict]:
    config = load_config(config_file)
    store = StateStore(config.resolve_url(config.state.url))
    try:
        with store.engine.connect() as connection:
            return [
                dict(row)
                for row in connection.execute(sa.text("SELECT * FROM learning_deliveries")).mappings()
            ]
    finally:
        store.dispose()
