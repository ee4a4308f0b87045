"""One apply engine for every LMS: ordering, references to new records, pacing, retries, write-ahead journal.

Order matters to a real LMS: a department must exist before a user joins it, and a department can only be
deleted once it is empty, so departments are created parents first and deleted children first, around
every user change. Inside a phase, changes of the same `order` (a manager's depth, a rename's place in a
chain) are independent and go out `concurrency` at a time under one rate limit. Every change is journaled
as started before its call and as done after it (state/journal.py), so a killed run is settled, not
repeated. A refused change is journaled and the rest goes on; when refusals pass `STOP_SHARE` of what was
tried (Entra's rule) the run stops, since something is wrong with the LMS or the plan, not with one record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import requests

from rostersync_pipelines.apply_batches import send_wave, wave_of
from rostersync_pipelines.apply_operations import USER_REFERENCES, Task, operation
from rostersync_pipelines.apply_outcomes import ApplyResult, Outcomes
from rostersync_pipelines.apply_pacing import TokenBucket, pace_session
from rostersync_pipelines.config_targets import RateLimit
from rostersync_pipelines.errors import TargetError, TransientTargetError
from rostersync_pipelines.http import backoff
from rostersync_pipelines.reconcile.references import NEW, is_pending
from rostersync_pipelines.state import dumps
from rostersync_pipelines.state.journal import Journal
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
TRANSIENT = (requests.ConnectionError, requests.Timeout, TransientTargetError)
STOP_SHARE, STOP_MINIMUM = 0.4, 10
BATCH = 64
BULK_BATCH = 10000  # a target with apply_batch takes a journaled batch in one call (one transaction)
__all__ = ["PHASES", "Applier", "ApplyResult", "Outcomes", "Task", "applicable"]


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
        journal: Journal,
        plan_id: str,
        sync: str = "",
        *,
        rate_limit: RateLimit | None = None,
        concurrency: int = 1,
        retries: int = 3,
        on_batch: Callable[[int, int], None] | None = None,
        sleep=time.sleep,
    ):
        self.target, self.journal, self.plan_id, self.sync = target, journal, plan_id, sync
        self.bucket = TokenBucket(rate_limit, sleep=sleep)
        session = getattr(target, "http_session", None)  # an API target: pace each HTTP call it makes
        self.per_call = session is not None and rate_limit is not None
        if self.per_call:
            pace_session(session, self.bucket.take)
        self.concurrency, self.retries, self.sleep = concurrency, retries, sleep
        self.on_batch = on_batch or (lambda done, total: None)
        self.result = ApplyResult()
        self.done = journal.done(plan_id)
        self.unconfirmed = {(int(r.seq), int(r.part)) for r in journal.unconfirmed(plan_id).itertuples()}
        self.attempted = self.finished = self.total = 0
        self.batched = hasattr(target, "apply_batch")

    def run(self, changes: pd.DataFrame) -> ApplyResult:
        rows = applicable(changes)
        self.total = len(rows)
        deferred: list[Task] = []
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for entity, actions in PHASES:
                phase = rows[(rows["entity"] == entity) & rows["action"].isin(actions)]
                for _, wave in phase.groupby("order", sort=True):
                    if self.batched:  # columns through the batch, no dict per change (apply_batches.py)
                        sent = send_wave(self, wave_of(self, wave, deferred))
                    else:
                        tasks = [self._task(int(seq), row, deferred) for seq, row in self._records(wave)]
                        sent = self._send_all([task for task in tasks if task], pool)
                    if not sent:
                        return self.result
            follow_ups = [self._follow_up(task) for task in deferred]
            self._send_all([task for task in follow_ups if task], pool)
        return self.result

    @staticmethod
    def _records(frame: pd.DataFrame):
        # the rows as dicts built from column lists: to_dict("records") boxed every cell one by one
        names = list(frame.columns)
        rows = [
            dict(zip(names, cells, strict=True))
            for cells in zip(*(frame[n].tolist() for n in names), strict=True)
        ]
        return zip(frame["seq"] if "seq" in frame else frame.index, rows, strict=True)

    def _task(self, seq: int, row: dict, deferred: list[Task]) -> Task | None:
        values = dict(row["values"] or {})
        task = Task(seq, 0, row, values, row["action"], recheck=(seq, 0) in self.unconfirmed)
        if row["entity"] == "users":
            # a manager this plan creates later: set in a follow-up call once it exists
            later = {name: values.pop(name) for name in USER_REFERENCES if self._unresolved(values.get(name))}
            if later:
                deferred.append(Task(seq, 1, row, later, "update", recheck=(seq, 1) in self.unconfirmed))
            if later and not values and row["action"] != "create":
                return None
        return task

    def _follow_up(self, task: Task) -> Task | None:
        lms_id = task.row["lms_id"] or self.result.created.get(("users", task.row["key"]))
        if not lms_id:
            return None  # the create itself failed: its failure is journaled already
        task.row = {**task.row, "action": "update", "lms_id": lms_id, "changes": None}
        return task

    def _send_all(self, tasks: list[Task], pool: ThreadPoolExecutor) -> bool:
        """Send tasks in journaled batches; False when the failure share says stop."""
        for start, end in self._batches(len(tasks)):
            batch = [task for task in tasks[start:end] if not self._already_done(task)]
            if not batch:
                continue
            self.journal.start([self._entry(task) for task in batch])
            outcomes = self._execute_batch(batch) if self.batched else list(pool.map(self._execute, batch))
            links = [link for outcome in outcomes if (link := outcome.pop("link", None))]
            self.journal.finish(outcomes, self.sync, links)
            for task, outcome in zip(batch, outcomes, strict=True):
                self._count(task, outcome)
            self.on_batch(self.finished, self.total)
            if self.should_stop():
                return False
        return True

    def should_stop(self) -> bool:
        """Refusals past STOP_SHARE of what was tried: the reason is set, and the run goes no further."""
        failed = len(self.result.failed)
        if self.attempted >= STOP_MINIMUM and failed > STOP_SHARE * self.attempted:
            self.result.stopped = (
                f"stopped after {failed} of {self.attempted} changes were refused (more than "
                f"{STOP_SHARE:.0%}): {self.result.failed[-1][2]}"
            )
            return True
        return False

    def _batches(self, count: int):
        """(start, end) of each journaled batch: BATCH at a time, or for a batch target doubling from BATCH
        to BULK_BATCH, so the stop rule still judges the first BATCH changes before many more are sent."""
        start, size = 0, BATCH
        while start < count:
            yield start, min(start + size, count)
            start += size
            size = min(size * 2, BULK_BATCH) if self.batched else BATCH

    def _already_done(self, task: Task) -> bool:
        previous = self.done.get((task.seq, task.part))
        if previous is None or previous["outcome"] != "applied":
            return False
        if task.action == "create" and previous["lms_id"]:
            self.result.created[(task.row["entity"], task.row["key"])] = previous["lms_id"]
        self.result.skipped += 1
        self.finished += 1
        return True

    def _entry(self, task: Task) -> dict:
        row = task.row
        return {
            "plan_id": self.plan_id,
            "seq": task.seq,
            "part": task.part,
            "entity": row["entity"],
            "action": task.action,
            "key": row["key"],
            "lms_id": row["lms_id"],
            "before": dumps({name: pair[0] for name, pair in (row.get("changes") or {}).items()} or None),
            "after": dumps(task.values or None),
        }

    def _execute(self, task: Task) -> dict:
        """One change, retried on transient failures; a create that may have landed is looked up first."""
        outcome = {"plan_id": self.plan_id, "seq": task.seq, "part": task.part}
        try:
            operation = self._operation(task)
        except TargetError as error:
            return outcome | {"outcome": "failed", "message": str(error), "lms_id": task.row["lms_id"]}
        for attempt in range(self.retries + 1):
            try:
                lms_id = None
                if task.recheck and operation.action == "create":
                    lms_id = self.target.find(operation)
                    outcome["adopted"] = lms_id is not None
                if lms_id is None:
                    if not self.per_call:
                        self.bucket.take()
                    lms_id = self.target.apply(operation)
                return outcome | {"outcome": "applied", "lms_id": lms_id, "link": self._link(task, lms_id)}
            except TRANSIENT as error:
                if attempt == self.retries:
                    message = f"the LMS did not answer after {self.retries + 1} tries: {error}"
                    return outcome | {"outcome": "failed", "message": message, "lms_id": task.row["lms_id"]}
                outcome["retried"] = outcome.get("retried", 0) + 1
                task.recheck = True
                self.sleep(backoff(attempt))
            except TargetError as error:
                return outcome | {"outcome": "failed", "message": str(error), "lms_id": task.row["lms_id"]}
        raise AssertionError("unreachable")

    def _execute_batch(self, batch: list[Task]) -> list[dict]:
        """A journaled batch in one `apply_batch` call; a create to look up first, or a batch the LMS did
        not answer, goes change by change through `_execute` (its retries and look-ups)."""
        outcomes: list[dict | None] = [None] * len(batch)
        pending: list[tuple[int, Operation]] = []
        for n, task in enumerate(batch):
            if task.recheck:
                outcomes[n] = self._execute(task)
                continue
            try:
                pending.append((n, self._operation(task)))
            except TargetError as error:
                outcomes[n] = self._refused(task, error)
        answers = self.send_batch([operation for _, operation in pending]) if pending else None
        for k, (n, _) in enumerate(pending):
            task = batch[n]
            if answers is None:
                task.recheck = True  # the batch may have landed before the connection broke
                outcomes[n] = self._execute(task)
            elif isinstance(answers[k], TargetError):
                outcomes[n] = self._refused(task, answers[k])
            else:
                lms_id = answers[k]
                outcome = {"plan_id": self.plan_id, "seq": task.seq, "part": task.part}
                outcomes[n] = outcome | {
                    "outcome": "applied",
                    "lms_id": lms_id,
                    "link": self._link(task, lms_id),
                }
        return outcomes

    def send_batch(self, operations: list[Operation]) -> list | None:
        """The target's answers to one `apply_batch` call, or None when the LMS did not answer."""
        try:
            self.bucket.take()
            return self.target.apply_batch(operations)
        except TRANSIENT:
            return None

    def _refused(self, task: Task, error: TargetError) -> dict:
        outcome = {"plan_id": self.plan_id, "seq": task.seq, "part": task.part}
        return outcome | {"outcome": "failed", "message": str(error), "lms_id": task.row["lms_id"]}

    @staticmethod
    def _link(task: Task, lms_id: str | None) -> dict | None:
        row = task.row
        if task.action != "create" or not lms_id or not row.get("source_id"):
            return None
        if row["entity"] not in ("users", "departments"):
            return None
        return {"entity": row["entity"], "source_id": row["source_id"], "lms_id": str(lms_id)}

    def _count(self, task: Task, outcome: dict) -> None:
        entity, key = task.row["entity"], task.row["key"]
        self.attempted += 1
        self.finished += 1
        self.result.retried += outcome.get("retried", 0)
        self.result.adopted += int(bool(outcome.get("adopted")))
        item = {"entity": entity, "action": task.action, "key": key}
        if outcome["outcome"] == "applied":
            if task.action == "create":
                self.result.created[(entity, key)] = outcome["lms_id"]
            label = "update" if task.part else task.row["action"]
            self.result.applied[(entity, label)] += 1
            # no values kept for what landed: quarantine hashes a refusal's only (apply_outcomes.py)
            self.result.outcomes.append(item | {"values": None, "outcome": "applied"})
        else:
            self.result.failed.append((entity, key, outcome["message"]))
            failed = {"values": task.values, "outcome": "failed", "message": outcome["message"]}
            self.result.outcomes.append(item | failed)

    def _unresolved(self, value) -> bool:
        return is_pending(value) and ("users", value[len(NEW) :]) not in self.result.created

    def _resolve(self, entity: str, value):
        if not (isinstance(value, str) and value.startswith(NEW)):  # is_pending, inlined: once per reference
            return value
        key = value[len(NEW) :]
        created = self.result.created.get((entity, key))
        if created is None:
            raise TargetError(f"{entity[:-1]} '{key}' was to be created by this plan but was not")
        return created

    def _operation(self, task: Task) -> Operation:
        return operation(self._resolve, task.row["entity"], task.action, task.row["lms_id"], task.values)
