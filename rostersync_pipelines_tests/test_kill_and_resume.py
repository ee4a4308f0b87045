"""A real `rostersync sync` killed with SIGKILL mid-apply against each API LMS, then resumed (issue 8).

The fake runs in this process behind FakeInternet, so the CLI subprocess reaches it under its real host
name through HTTPS_PROXY; each call takes LATENCY, so the apply lasts seconds and is killed while a
journaled batch is in flight: some of its creates have landed in the LMS, none is journaled as answered.
The resumed run must settle them (found: applied and linked; not found: interrupted), plan the rest
against the LMS as it now is, and leave every person in the LMS once, linked, with every change of every
plan journaled exactly once. A third run then has nothing to do and writes nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from wsgiadapter import WSGIAdapter

from rostersync_pipelines import http
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines.targets.scim import ScimLms
from rostersync_pipelines.targets.scim_client import ScimClient
from rostersync_pipelines.targets.scim_departments import Departments
from rostersync_pipelines_tests.fakes.https_proxy import FakeInternet
from rostersync_pipelines_tests.fakes.scim import ScimPeer
from rostersync_pipelines_tests.kill_resume import TARGETS, write_config, write_roster

PEOPLE = 500
ROSTERSYNC = str(Path(sys.executable).parent / "rostersync")


class State:
    """Short-lived reads of the state database, which the CLI may be writing meanwhile."""

    def __init__(self, path: Path):
        self.url = f"sqlite:///{path}"

    def rows(self, sql: str) -> list[tuple]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(sql))]
        finally:
            engine.dispose()

    def creates(self, plan_id: str | None = None) -> Counter:
        """outcome -> user creates journaled (of one plan, or of all)."""
        where = f" and plan_id = '{plan_id}'" if plan_id else ""
        sql = "select outcome, count(*) from journal where entity = 'users' and action = 'create'"
        return Counter(dict(self.rows(f"{sql}{where} group by 1")))


def sync(config: Path, env: dict, output=subprocess.PIPE) -> subprocess.Popen:
    command = [ROSTERSYNC, "sync", "--json", "--config", str(config)]
    return subprocess.Popen(command, env=env, stdout=output, stderr=output, text=True)


def finished(config: Path, env: dict) -> dict:
    process = sync(config, env)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    return json.loads(out)


def kill_mid_apply(process: subprocess.Popen, state: State, landed) -> Counter:
    """SIGKILL once a good share has landed and the batch in flight holds creates the LMS has made but the
    journal has not heard back about; returns the killed run's journal of user creates."""
    deadline, killed = time.monotonic() + 150, False
    while not killed and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        try:
            journaled = state.creates()
        except sa.exc.SQLAlchemyError:  # not created yet, or locked by a commit: look again
            continue
        if landed() >= 0.4 * PEOPLE and journaled["started"] and landed() > journaled["applied"]:
            process.send_signal(signal.SIGKILL)
            killed = True
    if not killed and process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    assert killed, f"the sync ended (code {process.returncode}) before it could be killed half way"
    return state.creates()


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_kill_9_mid_apply_then_resume_loses_nothing_and_duplicates_nothing(kind, tmp_path):
    lms = TARGETS[kind]()
    users, departments = write_roster(tmp_path, PEOPLE)
    config = write_config(tmp_path, users, departments, lms.target)
    state = State(tmp_path / "state.db")
    with FakeInternet({lms.host: lms.fake}) as net:
        env = {**os.environ, **net.env, **lms.secrets, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
        env["PYTHONUNBUFFERED"] = "1"

        with (tmp_path / "killed.log").open("w") as log:
            at_kill = kill_mid_apply(sync(config, env, log), state, lms.landed)
        (killed_plan, status), = state.rows("select plan_id, status from plans")  # fmt: skip
        assert status == "applying"
        assert at_kill["started"] > 0 and 0 < at_kill["applied"] < PEOPLE, at_kill
        time.sleep(0.5)  # the calls in flight when the client died still land, as on a real server
        assert at_kill["applied"] < lms.landed() < PEOPLE

        resumed = finished(config, env)
        assert resumed["failed"] == [], resumed["failed"][:3]
        statuses = dict(state.rows("select plan_id, status from plans"))
        assert statuses[killed_plan] == "interrupted"
        assert statuses[resumed["plan_id"]] == "applied"
        assert state.rows("select count(*) from journal where outcome = 'started'") == [(0,)]
        assert state.rows("select plan_id, seq, part from journal group by 1, 2, 3 having count(*) > 1") == []
        settled = state.creates(killed_plan)
        adopted = state.rows(
            f"select count(*) from journal where plan_id = '{killed_plan}' and entity = 'users' "
            "and action = 'create' and message = 'found after a crash'"
        )[0][0]
        assert adopted > 0, "no create of the batch in flight had landed: the kill came too early to test"
        assert settled["applied"] == at_kill["applied"] + adopted
        assert adopted + settled["interrupted"] == at_kill["started"], "every create in flight is settled"
        assert settled["applied"] + state.creates(resumed["plan_id"])["applied"] == PEOPLE

        # each person of the source once in the LMS, and linked: a later rename stays a rename
        people = lms.people()
        logins = Counter(login.lower() for _, login, _ in people)
        emails = Counter(email.lower() for _, _, email in people)
        assert [login for login, count in logins.items() if count > 1] == []
        assert [email for email, count in emails.items() if count > 1] == []
        assert set(logins) == {f"k{n:05d}" for n in range(PEOPLE)}
        ids = sorted(str(lms_id) for lms_id, _, _ in people)
        journaled = state.rows(
            "select lms_id from journal where entity = 'users' and action = 'create' and outcome = 'applied'"
        )
        assert sorted(lms_id for (lms_id,) in journaled) == ids, "each person's create journaled once"
        linked = state.rows("select lms_id from links where entity = 'users'")
        assert sorted(lms_id for (lms_id,) in linked) == ids

        writes = lms.writes()
        again = finished(config, env)
        assert again["users"] == {} and again["departments"] == {} and again["groups"] == {}, again
        assert lms.writes() == writes, "a sync with nothing to change made write calls"


def test_scim_memberships_of_one_group_sent_concurrently_all_land():
    """What the resumed SCIM run exposed: concurrent PATCHes of one group all sent the same If-Match, and
    all but the first were refused with 412. The target now writes one resource one call at a time."""
    base = "https://lms.example.com/scim/v2"
    peer = ScimPeer(token="t", latency=0.01)
    with http.extra_transports({"https://lms.example.com": WSGIAdapter(peer)}):
        target = ScimLms(ScimClient(base, "t"), Departments("sqlite://", base))
        group = target.apply(Operation("groups", "create", None, {"name": "Team Alpha"}))
        people = [
            target.apply(Operation("users", "create", None, {"login": f"m{n}", "status": "active"}))
            for n in range(12)
        ]
        joins = [Operation("group_members", "add_member", group, {"user_id": user}) for user in people]
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(target.apply, joins)) == [group] * len(people)
        target.dispose()
    (stored,) = peer.resources("Group")
    assert sorted(member["value"] for member in stored["members"]) == sorted(people)
