"""One apply engine for every LMS: ordering, references to new records, retries, rate limit, journal.

Order matters to a real LMS: a department must exist before a user joins it, and a department can only be
deleted once it is empty, so departments are created parents first and deleted children first, around
every user change. A refused change is journaled and the rest goes on: one bad record never blocks a sync.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import requests

from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.reconcile.references import NEW, is_pending
from rostersync_pipelines.state import dumps, now
from rostersync_pipelines.targets.base import Operation, Target

# (entity, actions) in the order they reach the LMS
PHASES = [
    ("departments", ("create",)),
    ("departments", ("update", "move")),
    ("groups", ("create",)),
    # renames first: a newcomer may take over the email someone else gives up in the same plan
    ("users", ("update", "move", "reactivate", "deactivate")),
    ("users", ("create",)),
    ("groups", ("add_member", "remove_member")),
    ("departments", ("delete",)),
]
USER_REFERENCES = ("manager_id", "functional_manager_id")
TRANSIENT = (requests.ConnectionError, requests.Timeout)


@dataclass
class ApplyResult:
    applied: Counter = field(default_factory=Counter)  # (entity, action) -> count
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (entity, key, message)
    created: dict[tuple[str, str], str] = field(default_factory=dict)  # (entity, key) -> new LMS id
    skipped: int = 0  # already applied by an earlier, interrupted run of the same plan


def applicable(changes: pd.DataFrame) -> pd.DataFrame:
    """Rows the engine may send: not held, not in conflict, not blocked by an error."""
    return changes[
        (changes["action"] != "none")
        & ~changes["held"]
        & changes["error"].isna()
        & (changes["situation"] != "conflict")
    ]


class Applier:
    def __init__(
        self,
        target: Target,
        record: Callable[[list[dict]], None],
        plan_id: str,
        already_applied: set[int] = frozenset(),
        calls_per_second: float | None = None,
        retries: int = 3,
        journal_batch: int = 500,
    ):
        self.target, self.record, self.plan_id = target, record, plan_id
        self.already_applied = already_applied
        self.min_interval = 1 / calls_per_second if calls_per_second else 0
        self.retries, self.journal_batch = retries, journal_batch
        self.result = ApplyResult()
        self.pending_journal: list[dict] = []
        self.last_call = 0.0

    def run(self, changes: pd.DataFrame) -> ApplyResult:
        rows = applicable(changes)
        deferred: list[tuple[int, dict, dict]] = []
        for entity, actions in PHASES:
            phase = rows[(rows["entity"] == entity) & rows["action"].isin(actions)].sort_values(
                "order", kind="stable"
            )
            for seq, row in zip(phase.index, phase.to_dict("records"), strict=True):
                if int(row.get("seq", seq)) in self.already_applied:
                    self.result.skipped += 1
                    continue
                values = dict(row["values"] or {})
                if entity == "users":
                    # a manager this plan creates later: set in a follow-up call once it exists
                    later = {
                        name: values.pop(name)
                        for name in USER_REFERENCES
                        if self._unresolved(values.get(name))
                    }
                    if later:
                        deferred.append((int(row.get("seq", seq)), row, later))
                    if later and not values and row["action"] != "create":
                        continue
                self._send(int(row.get("seq", seq)), row, values)
        for seq, row, later in deferred:
            lms_id = row["lms_id"] or self.result.created.get(("users", row["key"]))
            if lms_id:
                follow_up = {
                    "entity": "users",
                    "action": "update",
                    "key": row["key"],
                    "lms_id": lms_id,
                    "changes": None,
                }
                self._send(seq, follow_up, later, journal_action="update")
        self._flush()
        return self.result

    def _unresolved(self, value) -> bool:
        return is_pending(value) and ("users", value[len(NEW) :]) not in self.result.created

    def _resolve(self, entity: str, value):
        if not is_pending(value):
            return value
        key = value[len(NEW) :]
        created = self.result.created.get((entity, key))
        if created is None:
            raise TargetError(f"{entity[:-1]} '{key}' was to be created by this plan but was not")
        return created

    def _operation(self, row: dict, values: dict) -> Operation:
        entity, action = row["entity"], row["action"]
        values = dict(values)
        for name in ("department_id", "parent_id"):
            if name in values:
                values[name] = self._resolve("departments", values[name])
        for name in (*USER_REFERENCES, "user_id"):
            if name in values:
                values[name] = self._resolve("users", values[name])
        if entity == "groups" and action in ("add_member", "remove_member"):
            return Operation("group_members", action, self._resolve("groups", row["lms_id"]), values)
        lms_action = {"move": "update", "deactivate": "update", "reactivate": "update"}.get(action, action)
        return Operation(entity, lms_action, row["lms_id"], values)

    def _send(self, seq: int, row: dict, values: dict, journal_action: str | None = None) -> None:
        entry = {
            "plan_id": self.plan_id,
            "seq": seq,
            "entity": row["entity"],
            "action": journal_action or row["action"],
            "key": row["key"],
            "lms_id": row["lms_id"],
            "before": dumps({name: pair[0] for name, pair in (row.get("changes") or {}).items()} or None),
            "after": dumps(values or None),
        }
        try:
            operation = self._operation(row, values)
            new_id = self._call(operation)
            if row["action"] == "create":
                self.result.created[(row["entity"], row["key"])] = new_id
                entry["lms_id"] = new_id
            self.result.applied[(row["entity"], journal_action or row["action"])] += 1
            entry |= {"outcome": "applied", "message": None}
        except TargetError as error:
            self.result.failed.append((row["entity"], row["key"], str(error)))
            entry |= {"outcome": "failed", "message": str(error)}
        entry["applied_at"] = now()
        self.pending_journal.append(entry)
        if len(self.pending_journal) >= self.journal_batch:
            self._flush()

    def _call(self, operation: Operation) -> str | None:
        for attempt in range(self.retries + 1):
            wait = self.last_call + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.last_call = time.monotonic()
            try:
                return self.target.apply(operation)
            except TRANSIENT as error:
                if attempt == self.retries:
                    raise TargetError(
                        f"the LMS did not answer after {self.retries + 1} tries: {error}"
                    ) from None
                time.sleep(min(2**attempt, 30) * 0.5)
        return None

    def _flush(self) -> None:
        self.record(self.pending_journal)
        self.pending_journal = []
