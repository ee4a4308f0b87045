"""One run per sync at a time, a run applies only its own plan, and a kill -9 loses nothing.

These start real `rostersync` processes on a generated roster of 10,000 people, as a user (or cron) would.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from rostersync_pipelines_tests.cli_processes import Workspace


@pytest.fixture(scope="module")
def roster(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("roster"))


def fresh(roster: Workspace, tmp_path) -> Workspace:
    """A new workspace on the same generated files (generating 10,000 people once is enough)."""
    workspace = Workspace.__new__(Workspace)
    tmp_path.mkdir(parents=True, exist_ok=True)
    workspace.folder, workspace.files = tmp_path, roster.files
    workspace.state_url = f"sqlite:///{tmp_path / 'state.db'}"
    workspace.lms_url = f"sqlite:///{tmp_path / 'lms.db'}"
    workspace.home, workspace.config_file = tmp_path / "dagster_home", tmp_path / "rostersync.yaml"
    workspace.write_config()
    return workspace


def test_two_syncs_at_once_one_waits_or_refuses_and_each_change_is_journaled_once(roster, tmp_path):
    workspace = fresh(roster, tmp_path)
    assert workspace.run("validate").returncode == 0  # prepares nothing racy: only the config and files
    first, second = workspace.start("sync", "--json"), workspace.start("sync", "--json")
    outcomes = [process.communicate(timeout=400) + (process.returncode,) for process in (first, second)]
    codes = sorted(code for _, _, code in outcomes)
    refused = [stderr for _, stderr, code in outcomes if code != 0]
    assert codes in ([0, 0], [0, 1]), outcomes
    for stderr in refused:
        lines = [line for line in stderr.splitlines() if line.startswith("rostersync:")]
        assert len(lines) == 1 and "is being run by Dagster run" in lines[0], stderr
        assert "Traceback" not in stderr
    # every change of every plan journaled exactly once, and the LMS holds each person once
    duplicates = workspace.state(
        "select plan_id, seq, part, count(*) from journal group by 1, 2, 3 having count(*) > 1"
    )
    assert duplicates == []
    statuses = workspace.state("select status, count(*) from plans group by status")
    assert dict(statuses).get("applied") in (1, 2), statuses
    assert not any(status in ("applying", "planned") for status, _ in statuses), statuses
    logins = workspace.lms("select lower(login), count(*) from users group by 1 having count(*) > 1")
    assert logins == []
    applied = workspace.state("select count(*) from journal where outcome = 'applied'")[0][0]
    failed = workspace.state("select count(*) from journal where outcome <> 'applied'")[0][0]
    people = workspace.lms("select count(*) from users")[0][0]
    assert failed == 0 and people > 9_000 and applied >= people


def test_a_preview_plan_is_never_applied(roster, tmp_path):
    from rostersync_pipelines import steps
    from rostersync_pipelines.config import load_config
    from rostersync_pipelines.errors import RosterSyncError

    workspace = fresh(roster, tmp_path)
    preview = json.loads(workspace.run("plan", "--json").stdout)
    assert preview["status"] == "preview"
    config = load_config(workspace.config_file)
    with pytest.raises(RosterSyncError, match="is a preview"):
        steps.apply_sync(config, "bench", preview["plan_id"], {})
    assert workspace.lms("select count(*) from users")[0][0] == 0


def test_two_first_runs_on_a_fresh_dagster_home(roster, tmp_path):
    """Two syncs (each with its own state) start together on a home nobody prepared: both succeed, and
    the home keeps working for every later command."""
    left, right = fresh(roster, tmp_path / "left"), fresh(roster, tmp_path / "right")
    right.home = left.home
    runs = [workspace.start("plan", "--json") for workspace in (left, right)]
    results = [process.communicate(timeout=300) + (process.returncode,) for process in runs]
    assert [code for _, _, code in results] == [0, 0], results
    later = left.run("plan", "--json")
    assert later.returncode == 0, later.stderr
    assert "alembic" not in later.stderr.lower() and "already exists" not in later.stderr


def test_kill_during_apply_then_resume_loses_nothing_and_renames_stay_renames(roster, tmp_path):
    workspace = fresh(roster, tmp_path)
    process = workspace.start("sync", "--json")
    deadline = time.monotonic() + 300
    applied = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            applied = workspace.state(
                "select count(*) from journal where outcome = 'applied' and entity = 'users'"
            )[0][0]
        except Exception:  # the state database is still being created
            continue
        if applied > 1_000:  # people, not only the 2,000 departments that go first
            break
    assert process.poll() is None, "the sync finished before it could be killed; the roster is too small"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert applied > 0
    killed_plan = workspace.state("select plan_id, status from plans")[0]
    assert killed_plan[1] == "applying"
    users_before = workspace.lms("select count(*) from users")[0][0]

    resumed = workspace.run("sync", "--json")
    assert resumed.returncode == 0, resumed.stderr
    statuses = dict(workspace.state("select plan_id, status from plans"))
    assert statuses[killed_plan[0]] == "interrupted"
    assert workspace.state(
        f"select count(*) from journal where plan_id = '{killed_plan[0]}' and outcome = 'started'"
    ) == [(0,)]
    # nobody twice, nobody lost: every person of the source is in the LMS once
    people = workspace.lms("select count(*) from users")[0][0]
    assert people >= users_before
    assert workspace.lms("select lower(login), count(*) from users group by 1 having count(*) > 1") == []
    in_source = len(roster.files.users.read_text(encoding="utf-8").splitlines()) - 1
    assert people == in_source
    # every LMS user is linked, so a person created before the kill who changes login and email is renamed
    linked = workspace.state("select count(*) from links where entity = 'users'")[0][0]
    assert linked == people
    first_id = workspace.state(
        f"select min(lms_id) from journal where plan_id = '{killed_plan[0]}' and entity = 'users' "
        "and action = 'create' and outcome = 'applied'"
    )[0][0]
    login, key = workspace.lms(f"select login, user_unique_key from users where id = {int(first_id)}")[0]
    text = roster.files.users.read_text(encoding="utf-8")
    renamed = text.replace(f'"{login}","{login}@example.com"', f'"{login}x","{login}x@example.org"')
    assert renamed != text
    workspace.files = type(roster.files)(tmp_path / "renamed")
    (tmp_path / "renamed").mkdir()
    workspace.files.users.write_text(renamed, encoding="utf-8")
    workspace.files.departments.write_bytes(roster.files.departments.read_bytes())
    workspace.write_config()
    again = json.loads(workspace.run("sync", "--json").stdout)
    assert again["users"] == {"update": 1}, again
    assert workspace.lms(f"select login from users where id = {int(first_id)}") == [(f"{login}x",)]
    assert workspace.lms("select count(*) from users")[0][0] == people
