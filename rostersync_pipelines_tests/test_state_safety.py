"""The state database's safety concerns on SQLite and PostgreSQL: the sync lock, the write-ahead journal,
quarantine; and the apply engine's stop rule, pacing and quarantine as a sync sees them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from rostersync_pipelines.apply import Applier
from rostersync_pipelines.apply_pacing import TokenBucket
from rostersync_pipelines.config_targets import RateLimit
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.state.locks import SyncBusy
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines_tests.plan_rows import user_creates
from rostersync_pipelines_tests.roster import Roster, person


@pytest.fixture
def store(database_url):
    store = StateStore(database_url)
    yield store
    store.dispose()


def test_one_holder_per_sync_reentrant_and_named_when_busy(store):
    store.locks.acquire("hr", "run-1")
    store.locks.acquire("hr", "run-1")  # the same run again: its apply step after its plan step
    store.locks.acquire("other", "run-2")  # another sync is independent
    with pytest.raises(SyncBusy, match=r"sync hr is being run by Dagster run run-1 \(process \d+ on "):
        store.locks.acquire("hr", "run-2", wait_seconds=0.3, poll=0.1)
    store.locks.release("hr", "run-1")
    store.locks.acquire("hr", "run-2")
    assert store.locks.holder("hr")["holder"] == "run-2"


def test_a_dead_holder_is_taken_over(store, database_url):
    code = (
        "import sys; from rostersync_pipelines.state import StateStore; "
        f"StateStore({database_url!r}).locks.acquire('hr', 'killed-run')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ)
    assert store.locks.holder("hr")["holder"] == "killed-run"  # its process has exited
    store.locks.acquire("hr", "next-run")
    assert store.locks.holder("hr")["holder"] == "next-run"


def test_two_takers_at_once_never_both_win(store):
    winners, errors = [], []

    def take(name):
        try:
            store.locks.acquire("race", name)
            winners.append(name)
        except SyncBusy:
            errors.append(name)

    threads = [threading.Thread(target=take, args=(f"run-{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(errors) == 5


def test_journal_is_written_ahead_and_each_change_once(store):
    entries = [
        {"plan_id": "p", "seq": seq, "part": 0, "entity": "users", "action": "create", "key": f"u{seq}"}
        for seq in range(3)
    ]
    store.journal.start(entries)
    assert len(store.journal.unconfirmed("p")) == 3
    store.journal.finish(
        [{"plan_id": "p", "seq": 0, "part": 0, "outcome": "applied", "lms_id": "41"}],
        "hr",
        [{"entity": "users", "source_id": "E-0", "lms_id": "41"}],
    )
    store.journal.start(entries[1:])  # sent again after a crash: the same rows, one more attempt
    journal = store.journal.entries("p")
    assert len(journal) == 3
    assert journal.set_index("seq")["attempts"].to_dict() == {0: 1, 1: 2, 2: 2}
    assert store.journal.done("p") == {(0, 0): {"outcome": "applied", "lms_id": "41"}}
    assert store.links("hr", "users").to_dict() == {"E-0": "41"}  # written with the journal entry


def test_quarantine_counts_refusals_of_the_same_values_and_forgets_on_success(store):
    refused = {
        "entity": "users",
        "action": "create",
        "key": "ann",
        "values": {"email": "x"},
        "outcome": "failed",
    }
    for _ in range(2):
        store.quarantine.record("hr", [refused | {"message": "email taken"}])
    assert store.quarantine.held("hr").empty
    store.quarantine.record("hr", [refused | {"values": {"email": "y"}, "message": "email taken"}])
    assert store.quarantine.held("hr").empty  # new values: a new chance, counting from one
    for _ in range(2):
        store.quarantine.record("hr", [refused | {"values": {"email": "y"}, "message": "email taken"}])
    assert store.quarantine.held("hr")["failures"].tolist() == [3]
    store.quarantine.record("hr", [refused | {"outcome": "applied"}])
    assert store.quarantine.held("hr").empty


class _Refusing:
    """An LMS that refuses every other create, as one with a broken uniqueness index would."""

    def __init__(self):
        self.calls = 0

    def apply(self, operation: Operation):
        self.calls += 1
        if self.calls % 2:
            raise TargetError("the LMS refused it")
        return str(self.calls)

    def find(self, operation):
        return None


def test_the_run_stops_when_more_than_forty_percent_are_refused(store):
    target = _Refusing()
    result = Applier(target, store.journal, "p", "hr").run(user_creates([f"u{n}" for n in range(200)]))
    assert result.stopped and "more than 40%" in result.stopped
    assert target.calls == 64  # the first journaled batch, then the stop
    assert len(store.journal.entries("p")) == 64


def test_the_token_bucket_keeps_every_window_under_the_limit():
    clock = [0.0]
    stamps = []
    bucket = TokenBucket(
        RateLimit(calls=20, per_seconds=1),
        clock=lambda: clock[0],
        sleep=lambda s: clock.__setitem__(0, clock[0] + s),
    )
    for _ in range(200):
        bucket.take()
        stamps.append(clock[0])
    windows = [sum(1 for t in stamps if start <= t < start + 1) for start in stamps]
    assert max(windows) <= 20
    assert 200 / stamps[-1] >= 0.9 * 20  # and it runs close to the limit


def test_a_change_refused_three_times_is_set_aside_until_its_values_change(tmp_path):
    from rostersync_pipelines_tests.roster import one_row

    roster = Roster(tmp_path)
    roster.write_users([person("ann")])
    planned = one_row(roster.plan().plan, "users", "ann")
    store = StateStore(roster.state_url)
    refusal = {"entity": "users", "action": "create", "key": "ann", "values": planned["values"]}
    for _ in range(3):
        store.quarantine.record("people", [refusal | {"outcome": "failed", "message": "the LMS said no"}])
    store.dispose()
    outcome = roster.sync()
    row = one_row(outcome.plan, "users", "ann")
    assert row["error"].startswith("set aside after 3 refusals by the LMS: the LMS said no")
    assert "ann" not in set(roster.users()["login"])
    roster.write_users([person("ann", FirstName="Annie")])  # new values: tried again
    roster.sync()
    assert roster.users().loc["ann", "first_name"] == "Annie"
