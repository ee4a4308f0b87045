"""TalentLMS end to end: `rostersync sync` against the in-process portal (fakes/talentlms.py).

Each test writes a config as DESIGN §1.4 shows (the real host name, the key from ${TALENTLMS_API_KEY}),
runs the CLI in-process and asserts what landed in the portal and how many calls it took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import cli, http
from rostersync_pipelines_tests.fakes.talentlms import FakeTalentLms
from rostersync_pipelines_tests.test_end_to_end import CREATED_USERS, DEMO_CONFIG, DEMO_DATA, GROUPS

URL = "https://acme.talentlms.com"
KEY = "s3cret-talentlms-key"
DEPARTMENTS = 24
FIELDS = [("job_title", False), ("cost_center", True)]  # (registration field name, mandatory)


def write_config(tmp_path: Path, users_csv: Path | None = None, rate_limit: dict | None = None) -> Path:
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    sync = raw["syncs"]["employees"]
    sync["sources"]["users"]["path"] = str(users_csv or DEMO_DATA / "users.csv")
    sync["sources"]["departments"]["path"] = str(DEMO_DATA / "departments.xlsx")
    # a portal where a fresh sync may delete all 24 departments is not this test's subject
    sync["target"] = {"kind": "talentlms", "url": URL, "api_key": "${TALENTLMS_API_KEY}"}
    sync["target"]["rate_limit"] = rate_limit or {"calls": 2000, "per_seconds": 5}
    sync["policies"]["custom_field_defaults"] = {"cost_center": "CC-000"}
    raw["state"] = {"url": f"sqlite:///{tmp_path / 'state.db'}", "plans_dir": str(tmp_path / "plans")}
    path = tmp_path / "rostersync.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture
def portal() -> FakeTalentLms:
    # job_title is mapped by the demo config; cost_center is mandatory and filled from the policy default
    return FakeTalentLms(
        api_key=KEY, rate_limit=(2000, 5.0), custom_fields=[("job_title", False), ("cost_center", True)]
    )


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("TALENTLMS_API_KEY", KEY)
    return tmp_path


def sync(config: Path, portal: FakeTalentLms, capsys) -> tuple[int, dict | None, str]:
    with http.extra_transports({URL: WSGIAdapter(portal)}):
        code = cli.main(["--config", str(config), "sync", "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_full_sync_then_a_second_sync_writes_nothing(env, portal, capsys):
    config = write_config(env)
    code, summary, err = sync(config, portal, capsys)
    assert code == 0, err
    assert summary["failed"] == []
    learners = [u for u in portal.users.values() if u["user_type"] != "SuperAdmin"]
    assert len(learners) == CREATED_USERS
    assert {u["status"] for u in learners} == {"active"}
    source = pd.read_csv(DEMO_DATA / "users.csv", dtype=str, keep_default_na=False).drop_duplicates("Login")
    people = source.set_index("Login")
    klovik = portal.user_by_login("klovik")
    assert klovik["email"] == people.at["klovik", "WorkEmail"]
    assert klovik["custom_field_1"] == people.at["klovik", "Title"]
    assert klovik["custom_field_2"] == "CC-000", "a mandatory field gets its policy default"
    assert portal.branch_of(klovik["id"]) == [people.at["klovik", "DepartmentCode"]]
    assert len(portal.branches) == DEPARTMENTS
    names = {b["name"]: b["description"] for b in portal.branches.values()}
    assert names["ENG-PLAT"] and names["ENG-PLAT"] != "ENG-PLAT", "the department name is the description"
    assert {g["name"] for g in portal.groups.values()} == GROUPS
    members = sorted(
        (portal.users[u]["login"], g["name"]) for g in portal.groups.values() for u in g["users"]
    )
    teams = people.loc[people.index.isin([u["login"] for u in learners]) & (people["Team"] != ""), "Team"]
    assert members == sorted(teams.items())
    assert portal.calls["deleteuser"] == 0
    plan = pd.read_csv(summary["plan_file"])
    departments = plan[plan["entity"] == "departments"]
    assert departments["reason"].str.contains("parent ignored").sum() == DEPARTMENTS - 1, "HQ has no parent"

    writes = portal.write_calls()
    code, summary, err = sync(config, portal, capsys)
    assert code == 0, err
    assert portal.write_calls() == writes, f"a second sync wrote: {portal.calls}"
    assert all(not summary[entity] for entity in ("users", "departments", "groups")), summary


def test_superadmin_is_left_alone_and_leavers_are_deactivated(env, portal, capsys):
    config = write_config(env)
    assert sync(config, portal, capsys)[0] == 0
    admin = portal.user_by_login("admin")
    before = dict(admin)
    # the admin disappears from no source (it never was in one); a learner leaves the file
    users = pd.read_csv(DEMO_DATA / "users.csv", dtype=str, keep_default_na=False)
    smaller = env / "users.csv"
    users[users["Login"] != "klovik"].to_csv(smaller, index=False)
    code, summary, err = sync(write_config(env, smaller), portal, capsys)
    assert code == 0, err
    assert portal.user_by_login("klovik")["status"] == "inactive"
    assert portal.calls["deleteuser"] == 0, "deactivation never deletes"
    assert portal.user_by_login("admin") == before, "a SuperAdmin is never touched"


def test_a_429_burst_and_a_500_burst_are_ridden_out(env, portal, capsys):
    config = write_config(env)
    portal.throttle_next, portal.fail_next = 3, 2
    code, summary, err = sync(config, portal, capsys)
    assert code == 0, err
    assert summary["failed"] == []
    assert portal.throttled >= 3
    assert len(portal.users) == CREATED_USERS + 1


def test_the_rate_limit_answers_429_and_the_sync_still_lands(env, capsys):
    # the engine paces operations at the limit, but a create with a department costs two calls
    portal = FakeTalentLms(api_key=KEY, rate_limit=(100, 1.0), custom_fields=FIELDS)
    config = write_config(env, rate_limit={"calls": 100, "per_seconds": 1})
    code, summary, err = sync(config, portal, capsys)
    assert code == 0, err
    assert summary["failed"] == [], summary["failed"][:3]
    assert portal.throttled > 0, "the fake's limit was never reached: the test proves nothing"
    assert len(portal.users) == CREATED_USERS + 1


def test_bad_credentials_are_one_line_and_nothing_is_applied(env, portal, capsys, monkeypatch):
    monkeypatch.setenv("TALENTLMS_API_KEY", "wrong-key")
    code, summary, err = sync(write_config(env), portal, capsys)
    assert code != 0
    lines = [line for line in err.splitlines() if line.startswith("rostersync:")]
    assert len(lines) == 1 and "refused the API key" in lines[0] and "api_key" in lines[0], err
    assert "wrong-key" not in err and KEY not in err
    assert portal.write_calls() == 0 and len(portal.users) == 1
