"""Settling an apply that was killed: what it sent is found in the LMS or marked interrupted, never guessed.

A run killed between an LMS call and its journal entry leaves that entry `started`. Before the next plan of
the sync, each such create is looked up in the LMS by its natural key: found, it is journaled as applied
with its link (so a later rename of that person is an update, not a duplicate); not found, it is journaled
as interrupted. Other started changes are marked interrupted: the new plan, computed against the LMS as it
now is, sends whatever is still different. The killed plan is marked interrupted and superseded.
"""

from __future__ import annotations

import json

from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets.base import Operation, Target


def settle_interrupted(store: StateStore, target: Target, sync_name: str) -> list[str]:
    """Settle every plan of this sync left `applying` by a dead run; returns their ids."""
    settled = []
    for plan in store.plans_of(sync_name, ("applying",)):
        plan_id = plan["plan_id"]
        started = store.journal.unconfirmed(plan_id)
        changes = store.plan_changes(plan_id).set_index("seq", drop=False) if len(started) else None
        results, links = [], []
        for entry in started.to_dict("records"):
            outcome = {"plan_id": plan_id, "seq": int(entry["seq"]), "part": int(entry["part"])}
            values = json.loads(entry["after"]) if entry["after"] else {}
            lms_id = None
            if entry["action"] == "create":
                lms_id = target.find(Operation(entry["entity"], "create", None, values))
            if lms_id is not None:
                results.append(
                    outcome | {"outcome": "applied", "lms_id": lms_id, "message": "found after a crash"}
                )
                source_id = changes.at[int(entry["seq"]), "source_id"] if changes is not None else None
                if source_id and entry["entity"] in ("users", "departments"):
                    links.append({"entity": entry["entity"], "source_id": source_id, "lms_id": str(lms_id)})
            else:
                message = "the run was killed before the LMS confirmed this change; planned again"
                results.append(
                    outcome | {"outcome": "interrupted", "lms_id": entry["lms_id"], "message": message}
                )
        store.journal.finish(results, sync_name, links)
        store.set_plan_status(plan_id, "interrupted")
        settled.append(plan_id)
    return settled
