"""The columnar batch path (apply_batches.py) leaves exactly what the change-by-change path leaves: the same
answers, journal, links, quarantine outcomes and LMS, for a plan with new references, a deferred manager,
a refusal and a membership whose user was never created."""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.apply import Applier
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets.base import Operation
from rostersync_pipelines.targets.embedded import EmbeddedLms

CHANGES = [
    ("departments", "create", "HQ", None, "D1", {"code": "HQ", "name": "Head office", "parent_id": None}, 0),
    ("departments", "create", "OPS", None, "D2", {"code": "OPS", "name": "Ops", "parent_id": "new:HQ"}, 1),
    ("groups", "create", "Team", None, None, {"name": "Team"}, 0),
    ("users", "create", "boss", None, "E1", {"login": "boss", "department_id": "new:HQ"}, 0),
    ("users", "create", "early", None, "E4", {"login": "early", "manager_id": "new:late"}, 0),  # follow-up
    ("users", "create", "ann", None, "E2", {"login": "ann", "email": "ann@x.org", "department_id": "new:OPS",
                                            "manager_id": "new:boss", "custom_fields": {"title": "Writer"}}, 1),
    ("users", "create", "dup", None, "E3", {"login": "TAKEN"}, 1),  # refused: the login is held
    ("users", "create", "late", None, "E5", {"login": "late"}, 1),
    ("groups", "add_member", "Team: ann", "new:Team", None, {"user_id": "new:ann"}, 0),
    ("groups", "add_member", "Team: dup", "new:Team", None, {"user_id": "new:dup"}, 0),  # never created
]  # fmt: skip


class OneByOne:
    """The same LMS without apply_batch: the engine takes its change-by-change path."""

    def __init__(self, lms: EmbeddedLms):
        self.lms = lms

    def apply(self, operation: Operation):
        return self.lms.apply(operation)

    def find(self, operation: Operation):
        return self.lms.find(operation)


def _plan() -> pd.DataFrame:
    columns = ["entity", "action", "key", "lms_id", "source_id", "values", "order"]
    plan = pd.DataFrame([dict(zip(columns, change, strict=True)) for change in CHANGES])
    plan = plan.assign(seq=range(len(plan)), situation="unmatched", held=False, error=None, changes=None)
    for column in ("lms_id", "source_id", "error"):  # None where empty, as a saved plan holds it
        plan[column] = pd.Series(plan[column].astype(object).where(plan[column].notna(), None), dtype=object)
    return plan.set_index("seq", drop=False)


def _run(tmp_path, name: str, batched: bool):
    lms = EmbeddedLms(f"sqlite:///{tmp_path / f'{name}.db'}")
    lms.apply(Operation("users", "create", None, {"login": "taken"}))
    store = StateStore(f"sqlite:///{tmp_path / f'{name}-state.db'}")
    result = Applier(lms if batched else OneByOne(lms), store.journal, "plan-1", "hr").run(_plan())
    journal = store.journal.entries("plan-1").drop(columns=["id", "started_at", "applied_at"])
    links = {entity: store.links("hr", entity).to_dict() for entity in ("users", "departments")}
    state = lms.read_state()
    store.dispose(), lms.dispose()
    return result, journal.sort_values(["seq", "part"]).reset_index(drop=True), links, state


def test_the_batch_path_leaves_what_the_one_by_one_path_leaves(tmp_path):
    batched, journal, links, state = _run(tmp_path, "batched", batched=True)
    single, single_journal, single_links, single_state = _run(tmp_path, "single", batched=False)
    assert batched.applied == single.applied and batched.applied[("users", "update")] == 1  # the follow-up
    assert batched.failed == single.failed and [key for _, key, _ in batched.failed] == ["dup", "Team: dup"]
    assert batched.created == single.created and batched.stopped is single.stopped is None
    assert list(batched.outcomes) == list(single.outcomes) and len(batched.outcomes) == len(CHANGES) + 1
    pd.testing.assert_frame_equal(journal, single_journal)
    assert links == single_links and set(links["users"]) == {"E1", "E2", "E4", "E5"}
    for name in ("users", "departments", "groups", "group_members"):
        pd.testing.assert_frame_equal(getattr(state, name), getattr(single_state, name))


def test_a_saved_plan_is_journaled_with_the_text_it_was_saved_with(tmp_path):
    """Applied from the state database, a change's after is its saved text (no encoding again), which
    must be exactly what encoding its values gives, and a change that gave up a deferred manager is
    journaled without it: the same journal as the one-by-one path, which encodes every change."""
    journals = {}
    for name, batched in (("saved", True), ("single", False)):
        lms = EmbeddedLms(f"sqlite:///{tmp_path / f'{name}.db'}")
        lms.apply(Operation("users", "create", None, {"login": "taken"}))
        store = StateStore(f"sqlite:///{tmp_path / f'{name}-state.db'}")
        store.save_plan("plan-1", "hr", _plan().assign(reason="new"), {}, {}, "plan-1.csv")
        changes = store.plan_changes("plan-1", with_text=batched).set_index("seq", drop=False)
        assert ("after_text" in changes) is batched
        Applier(lms if batched else OneByOne(lms), store.journal, "plan-1", "hr").run(changes)
        journal = store.journal.entries("plan-1").drop(columns=["id", "started_at", "applied_at"])
        journals[name] = journal.sort_values(["seq", "part"]).reset_index(drop=True)
        store.dispose(), lms.dispose()
    pd.testing.assert_frame_equal(journals["saved"], journals["single"])
    early = journals["saved"].set_index(["key", "part"]).loc[("early", 0), "after"]
    assert early == '{"login": "early"}'  # the manager it waits for went to its follow-up
    ann = journals["saved"].set_index(["key", "part"]).loc[("ann", 0), "after"]
    assert ann == (
        '{"custom_fields": {"title": "Writer"}, "department_id": "new:OPS", "email": "ann@x.org", '
        '"login": "ann", "manager_id": "new:boss"}'
    )
