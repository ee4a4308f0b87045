"""Real HR and roster exports (../shared/realworld) synced through the product's steps into the embedded LMS.

The expected numbers are worked out from each file with plain pandas here, never typed in: the point is
that the product's rules (import rules first, then one identity per person or nobody) hold on data nobody
on this team wrote. The files are read where they are and never copied into the repo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rostersync_pipelines import steps
from rostersync_pipelines.config import load_config
from rostersync_pipelines.schema import OUT_OF_SCOPE, REJECTED
from rostersync_pipelines.targets.embedded import EmbeddedLms

ENTRA = "hr/entra-inbound-provisioning"
SYNC = "people"


@dataclass
class Outcome:
    plan: pd.DataFrame
    summary: dict
    rejects: pd.DataFrame
    applied: dict
    failed: list


class Folder:
    """A config in tmp_path whose users source is a file outside the repo; the state and LMS beside it."""

    def __init__(self, folder: Path, users_file: Path, fields: dict, **sync):
        self.folder = folder
        self.lms_url = f"sqlite:///{folder / 'lms.db'}"
        self.config_file = folder / "rostersync.yaml"
        self.raw = {
            "state": {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")},
            "syncs": {
                SYNC: {
                    "sources": {"users": {"kind": "file", "path": str(users_file)}},
                    "fields": {"users": fields},
                    "safety": {"max_deactivations": "100%"},
                    "target": {"kind": "embedded", "url": self.lms_url},
                    **sync,
                }
            },
        }
        self.write()

    def write(self) -> None:
        self.config_file.write_text(yaml.safe_dump(self.raw, sort_keys=False), encoding="utf-8")

    def sync(self) -> Outcome:
        config = load_config(self.config_file)
        sources = steps.read_sources(config, SYNC)
        assert not any(table.error for table in sources.values()), {n: t.error for n, t in sources.items()}
        canonical = steps.canonicalize(sources, config.syncs[SYNC])
        planned = steps.plan_sync(config, SYNC, sources, canonical)
        result = steps.apply_sync(config, SYNC, planned.plan_id, sources)
        applied = {f"{entity} {action}": count for (entity, action), count in result.applied.items()}
        return Outcome(planned.plan, planned.summary, canonical.rejects, applied, result.failed)

    def lms(self):
        lms = EmbeddedLms(self.lms_url)
        try:
            return lms.read_state()
        finally:
            lms.dispose()


# -- Entra inbound provisioning: a Workday-style worker export --------------------------------------------------

WORKER_FIELDS = {
    "user_unique_key": "WorkerID",
    "login": "UserID",
    "first_name": "FirstName",
    "last_name": "LastName",
    "status": "WorkerStatus",
    "groups": "Division",
    "custom": {"job_title": "JobTitle"},
}
SKIP_CONTRACTORS = [{"skip": {"field": "WorkerType", "equals": "Contractor"}}]


@dataclass
class Expected:
    """What the product should do with a worker file, worked out with pandas."""

    skipped: pd.DataFrame  # contractors
    colliding: pd.DataFrame  # in-scope rows whose WorkerID another in-scope row also has: all rejected
    created: pd.DataFrame  # in-scope, an id of their own, Active
    inactive: pd.DataFrame  # in-scope, an id of their own, Inactive: not created

    @classmethod
    def of(cls, file: Path) -> Expected:
        rows = pd.read_csv(file, dtype=str, keep_default_na=False)
        rows["row"] = rows.index + 2  # the header is row 1
        assert (rows["UserID"] == "EMP" + rows["WorkerID"]).all(), "UserID repeats whenever WorkerID does"
        contractor = rows["WorkerType"].str.casefold() == "contractor"
        # import rules come first: a WorkerID shared only with skipped contractor rows is not a collision
        in_scope = rows[~contractor]
        copies = in_scope["WorkerID"].map(in_scope["WorkerID"].value_counts())
        own = in_scope[copies == 1]
        return cls(
            skipped=rows[contractor],
            colliding=in_scope[copies > 1],
            created=own[own["WorkerStatus"] == "Active"],
            inactive=own[own["WorkerStatus"] == "Inactive"],
        )


@pytest.mark.parametrize("name", ["csv-with-1000-records.csv", "employeeData.csv"])
def test_worker_export_with_colliding_ids(realworld, tmp_path, name):
    file = realworld / ENTRA / name
    expected = Expected.of(file)
    assert len(expected.colliding) and len(expected.created) and len(expected.inactive)
    folder = Folder(tmp_path, file, WORKER_FIELDS, rules=SKIP_CONTRACTORS)

    first = folder.sync()
    assert first.failed == []
    assert first.summary["skipped_rows"] == len(expected.skipped)
    assert first.summary["rejected_rows"] == len(expected.colliding)
    assert first.summary["conflicts"] == 0
    assert first.summary["users"] == {"create": len(expected.created)}

    skipped = first.rejects[first.rejects["outcome"] == OUT_OF_SCOPE]
    assert sorted(skipped["row"]) == sorted(expected.skipped["row"])
    assert set(skipped["reason"]) <= {"skipped by import rule: WorkerType is 'Contractor'"}

    rejected = first.rejects[first.rejects["outcome"] == REJECTED].set_index("row")
    assert sorted(rejected.index) == sorted(expected.colliding["row"]), "every copy of a colliding id"
    rows_of = expected.colliding.groupby("WorkerID")["row"].agg(
        lambda rows: ", ".join(map(str, sorted(rows)))
    )
    for worker_id, row in zip(expected.colliding["WorkerID"], expected.colliding["row"], strict=True):
        reason = rejected.at[row, "reason"]
        assert f'"{worker_id}" is on rows {rows_of[worker_id]}' in reason, reason

    lms = folder.lms()
    users = lms.users
    assert len(users) == len(expected.created)
    assert users["user_unique_key"].is_unique and users["login"].is_unique, "nobody is created twice"
    assert set(users["user_unique_key"]) == set(expected.created["WorkerID"])
    assert set(users["status"]) == {"active"}
    assert not set(users["user_unique_key"]) & set(expected.colliding["WorkerID"])
    assert not set(users["user_unique_key"]) & set(expected.inactive["WorkerID"]), "Inactive: not created"

    people = expected.created.set_index("WorkerID")
    users = users.set_index("user_unique_key")
    assert (users["login"] == "EMP" + users.index).all()
    assert users["first_name"].tolist() == people.loc[users.index, "FirstName"].tolist()
    assert users["last_name"].tolist() == people.loc[users.index, "LastName"].tolist()
    assert users["custom_fields"].map(lambda fields: fields["job_title"]).tolist() == (
        people.loc[users.index, "JobTitle"].tolist()
    )
    not_created = first.plan[
        (first.plan["entity"] == "users") & first.plan["reason"].str.startswith("not created")
    ]
    assert sorted(not_created["row"]) == sorted(expected.inactive["row"])

    assert set(lms.groups["name"]) == set(expected.created["Division"])
    members = lms.group_members.merge(lms.groups, left_on="group_id", right_on="id")
    members = members.merge(lms.users[["id", "user_unique_key"]], left_on="user_id", right_on="id")
    assert sorted(zip(members["user_unique_key"], members["name"], strict=True)) == sorted(
        zip(expected.created["WorkerID"], expected.created["Division"], strict=True)
    )

    second = folder.sync()
    assert second.summary["users"] == {} and second.summary["groups"] == {}
    assert second.applied == {} and second.failed == []
    assert (second.plan["situation"] == "conflict").sum() == 0
    assert len(folder.lms().users) == len(expected.created)


# -- OneRoster (Microsoft School Data Sync v2): usernames are e-mails in mixed case -----------------------------

ONEROSTER_FIELDS = {
    "user_unique_key": "sourcedId",
    "login": "username",
    "email": "username",
    "first_name": "givenName",
    "last_name": "familyName",
}


def lower_cased(source: Path, target: Path) -> pd.DataFrame:
    rows = pd.read_csv(source, dtype=str, keep_default_na=False)
    rows["username"] = rows["username"].str.lower()
    rows.to_csv(target, index=False)
    return rows


def assert_only_case_changes(plan: pd.DataFrame) -> None:
    updates = plan[(plan["entity"] == "users") & (plan["action"] != "none")]
    assert set(updates["action"]) == {"update"}
    for changes in updates["changes"]:
        assert set(changes) <= {"login", "email"} and "login" in changes
        for old, new in changes.values():
            assert old != new and old.casefold() == new.casefold(), (old, new)


def test_oneroster_usernames_match_case_insensitively(realworld, tmp_path):
    file = realworld / "oneroster/ms-sds-v2/users.csv"
    rows = pd.read_csv(file, dtype=str, keep_default_na=False)
    mixed = rows["username"] != rows["username"].str.lower()
    assert mixed.any()
    folder = Folder(tmp_path, file, ONEROSTER_FIELDS)

    first = folder.sync()
    assert first.summary["users"] == {"create": len(rows)} and first.failed == []
    before = folder.lms().users.set_index("user_unique_key")
    assert before.loc[rows["sourcedId"], "login"].tolist() == rows["username"].tolist(), "stored as given"

    lower_cased(file, tmp_path / "lower.csv")
    folder.raw["syncs"][SYNC]["sources"]["users"]["path"] = str(tmp_path / "lower.csv")
    folder.write()
    second = folder.sync()
    assert "create" not in second.summary["users"]
    assert second.summary["users"] == {"update": int(mixed.sum())}
    assert_only_case_changes(second.plan)
    after = folder.lms().users.set_index("user_unique_key")
    assert after["id"].equals(before["id"]), "the same accounts, not new ones"
    assert (after["login"] == after["login"].str.lower()).all()
    assert folder.sync().summary["users"] == {}


def test_oneroster_login_only_matching_ignores_case(realworld, tmp_path):
    """With no link yet (a new state database) and matching on login alone, case never makes a new user."""
    file = realworld / "oneroster/ms-sds-v2/users.csv"
    folder = Folder(tmp_path, file, ONEROSTER_FIELDS, matching={"users": ["login"]})
    folder.sync()
    ids = folder.lms().users.set_index("login")["id"]

    lower = lower_cased(file, tmp_path / "lower.csv")
    folder.raw["syncs"][SYNC]["sources"]["users"]["path"] = str(tmp_path / "lower.csv")
    folder.raw["state"]["url"] = f"sqlite:///{tmp_path / 'fresh-state.db'}"
    folder.write()
    second = folder.sync()
    users = second.plan[second.plan["entity"] == "users"]
    assert set(users["situation"]) == {"matched"}
    assert users["reason"].map(lambda reason: bool(re.search(r"matched LMS user \d+ by login", reason))).all()
    assert "create" not in second.summary["users"]
    assert_only_case_changes(second.plan)
    after = folder.lms().users
    assert sorted(after["id"]) == sorted(ids), "no account was added"
    assert sorted(after["login"]) == sorted(lower["username"])
