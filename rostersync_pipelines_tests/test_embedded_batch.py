"""The embedded LMS's batch apply gives exactly the outcomes of one-by-one applies, and the engine journals
every change of a batch once, before and after, on SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from rostersync_pipelines.apply import Applier
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines.targets.embedded import EmbeddedLms
from rostersync_pipelines_tests.plan_rows import user_creates


def _seeded(url: str) -> EmbeddedLms:
    lms = EmbeddedLms(url)
    dept = lms.apply(Operation("departments", "create", None, {"code": "HQ", "name": "Head office"}))
    lms.apply(
        Operation("users", "create", None, {"login": "taken", "email": "taken@x.org", "department_id": dept})
    )
    lms.apply(Operation("groups", "create", None, {"name": "Team A"}))
    return lms


def _answers(answers) -> list:
    return [f"refused: {a}" if isinstance(a, TargetError) else a for a in answers]


CLEAN = [Operation("users", "create", None, {"login": f"u{n}", "email": f"u{n}@x.org", "department_id": "1",
                                              "custom_fields": {"job_title": "Writer"}}) for n in range(5)]  # fmt: skip
MIXED = [
    *CLEAN[:2],
    Operation("users", "create", None, {"login": "TAKEN", "email": "new@x.org"}),  # login held, other case
    Operation("users", "create", None, {"login": "ghost", "department_id": "99"}),  # no such department
    Operation("users", "update", "2", {"first_name": "Ann", "status": "inactive"}),
    CLEAN[2],
]


@pytest.mark.parametrize("operations", [CLEAN, MIXED], ids=["clean", "mixed"])
def test_a_batch_answers_exactly_as_one_by_one(tmp_path, operations):
    one, batch = _seeded(f"sqlite:///{tmp_path / 'one.db'}"), _seeded(f"sqlite:///{tmp_path / 'batch.db'}")
    expected = []
    for operation in operations:
        try:
            expected.append(one.apply(operation))
        except TargetError as error:
            expected.append(error)
    assert _answers(batch.apply_batch(operations)) == _answers(expected)
    assert any(isinstance(a, TargetError) for a in expected) == (operations is MIXED)
    for name in ("users", "departments", "groups", "group_members"):
        pd.testing.assert_frame_equal(getattr(one.read_state(), name), getattr(batch.read_state(), name))
    one.dispose(), batch.dispose()


def test_memberships_in_a_batch(database_url):
    lms = _seeded(database_url)
    users = lms.apply_batch([Operation("users", "create", None, {"login": f"m{n}"}) for n in range(3)])
    add = [Operation("group_members", "add_member", "1", {"user_id": user}) for user in users]
    assert lms.apply_batch(add) == ["1", "1", "1"]
    assert lms.apply_batch(add[:1]) == ["1"]  # already a member: nothing doubles
    lms.apply_batch([Operation("group_members", "remove_member", "1", {"user_id": users[0]})])
    assert sorted(lms.read_state().group_members["user_id"]) == sorted(users[1:])
    answer = lms.apply_batch([Operation("group_members", "add_member", "7", {"user_id": users[0]})])
    assert isinstance(answer[0], TargetError) and "group 7 does not exist" in str(answer[0])
    lms.dispose()


def test_the_engine_journals_every_change_of_a_batch_once(tmp_path, database_url):
    lms = _seeded(database_url)
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    count = 2_500  # more than one batch
    plan = user_creates(["taken" if n == 7 else f"p{n}" for n in range(count)], prefix="p")
    result = Applier(lms, store.journal, "plan-1", "hr").run(plan)
    assert result.applied[("users", "create")] == count - 1
    assert result.failed == [("users", "p7", 'login "taken" already belongs to user 1')]
    journal = store.journal.entries("plan-1")
    assert len(journal) == count and journal["seq"].is_unique
    assert set(journal["outcome"]) == {"applied", "failed"}
    assert journal.loc[journal["seq"] == 3, "after"].item() == '{"login": "p3"}'
    assert len(store.links("hr", "users")) == count - 1
    store.dispose(), lms.dispose()
