"""The engine's path for a target that takes a journaled batch in one call (`apply_batch`: the embedded LMS).

The outcomes, journal rows, links and stop rule are exactly those of the change-by-change path in
apply.py; only the shape differs. A wave of the plan is carried as columns (one list per field), the
journal is started and finished a batch at a time from those columns, and outcomes are counted into
columns too, so a first load of a million people builds no task, entry or outcome dict per change. A
change that must go alone (a create to look up first after a crash, a batch the LMS did not answer)
becomes a `Task` and takes the one-by-one path with its retries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from rostersync_pipelines.apply_operations import USER_REFERENCES, Task, operation
from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.state import dumps

WAVE_COLUMNS = ("entity", "action", "key", "lms_id", "source_id", "changes")


@dataclass
class Wave:
    """One wave's changes, a list per field, one position per change (part 0: the change itself)."""

    seq: list[int]
    values: list[dict]
    recheck: list[bool]
    entity: list
    action: list
    key: list
    lms_id: list
    source_id: list
    changes: list

    def row(self, n: int) -> dict:
        """The plan row of change n, as the one-by-one path reads it."""
        return {
            "entity": self.entity[n],
            "action": self.action[n],
            "key": self.key[n],
            "lms_id": self.lms_id[n],
            "source_id": self.source_id[n],
            "changes": self.changes[n],
        }


def wave_of(applier, frame: pd.DataFrame, deferred: list) -> Wave:
    """The wave's changes as columns; a reference to a user this plan creates later is deferred to a
    follow-up Task, and an update left with nothing else to send drops out (as `Applier._task`)."""
    seqs = [int(seq) for seq in (frame["seq"] if "seq" in frame else frame.index)]
    columns = {name: frame[name].tolist() if name in frame else [None] * len(frame) for name in WAVE_COLUMNS}
    values = [dict(value or {}) for value in frame["values"].tolist()]
    unconfirmed = applier.unconfirmed
    keep = []
    for n, (seq, entity) in enumerate(zip(seqs, columns["entity"], strict=True)):
        if entity == "users":
            found = values[n]
            later = {
                name: found.pop(name) for name in USER_REFERENCES if applier._unresolved(found.get(name))
            }
            if later:
                row = {name: column[n] for name, column in columns.items()}
                deferred.append(Task(seq, 1, row, later, "update", recheck=(seq, 1) in unconfirmed))
                if not found and columns["action"][n] != "create":
                    continue
        keep.append(n)
    if len(keep) < len(seqs):
        seqs, values = [seqs[n] for n in keep], [values[n] for n in keep]
        columns = {name: [column[n] for n in keep] for name, column in columns.items()}
    recheck = [(seq, 0) in unconfirmed for seq in seqs] if unconfirmed else [False] * len(seqs)
    return Wave(seqs, values, recheck, **columns)


def send_wave(applier, wave: Wave) -> bool:
    """Send a wave in journaled batches; False when the failure share says stop (as `_send_all`)."""
    for start, end in applier._batches(len(wave.seq)):
        positions = [n for n in range(start, end) if not _already_done(applier, wave, n)]
        if not positions:
            continue
        _start(applier, wave, positions)
        answers = _execute(applier, wave, positions)
        _finish(applier, wave, positions, answers)
        applier.on_batch(applier.finished, applier.total)
        if applier.should_stop():
            return False
    return True


def _already_done(applier, wave: Wave, n: int) -> bool:
    if not applier.done:
        return False
    previous = applier.done.get((wave.seq[n], 0))
    if previous is None or previous["outcome"] != "applied":
        return False
    if wave.action[n] == "create" and previous["lms_id"]:
        applier.result.created[(wave.entity[n], wave.key[n])] = previous["lms_id"]
    applier.result.skipped += 1
    applier.finished += 1
    return True


def _start(applier, wave: Wave, positions: list[int]) -> None:
    def pick(column: list) -> list:
        return [column[n] for n in positions]

    changes = pick(wave.changes)
    before = [
        dumps({name: pair[0] for name, pair in change.items()}) if change else None for change in changes
    ]
    columns = {
        "seq": pick(wave.seq),
        "part": [0] * len(positions),
        "entity": pick(wave.entity),
        "action": pick(wave.action),
        "key": pick(wave.key),
        "lms_id": pick(wave.lms_id),
        "before": before,
        "after": [dumps(values) if values else None for values in pick(wave.values)],
    }
    applier.journal.start_columns(applier.plan_id, columns)


def _execute(applier, wave: Wave, positions: list[int]) -> list[dict]:
    """One answer per position: {outcome, lms_id[, message, retried, adopted]} (as `_execute_batch`)."""
    answers: dict[int, dict] = {}
    pending: list[tuple[int, object]] = []
    for n in positions:
        if wave.recheck[n]:
            answers[n] = applier._execute(_task(wave, n))
            continue
        try:
            pending.append(
                (
                    n,
                    operation(
                        applier._resolve, wave.entity[n], wave.action[n], wave.lms_id[n], wave.values[n]
                    ),
                )
            )
        except TargetError as error:
            answers[n] = {"outcome": "failed", "message": str(error), "lms_id": wave.lms_id[n]}
    replies = applier.send_batch([op for _, op in pending]) if pending else None
    for k, (n, _) in enumerate(pending):
        if replies is None:
            task = _task(wave, n)
            task.recheck = True  # the batch may have landed before the connection broke
            answers[n] = applier._execute(task)
        elif isinstance(replies[k], TargetError):
            answers[n] = {"outcome": "failed", "message": str(replies[k]), "lms_id": wave.lms_id[n]}
        else:
            answers[n] = {"outcome": "applied", "lms_id": replies[k]}
    return [answers[n] for n in positions]


def _task(wave: Wave, n: int) -> Task:
    return Task(wave.seq[n], 0, wave.row(n), wave.values[n], wave.action[n], recheck=wave.recheck[n])


def _finish(applier, wave: Wave, positions: list[int], answers: list[dict]) -> None:
    """Journal the answers with their links, then count them (as `journal.finish` + `_count`)."""
    result = applier.result
    outcome = [answer["outcome"] for answer in answers]
    lms_ids = [answer.get("lms_id") for answer in answers]
    messages = [answer.get("message") for answer in answers]
    links = {"entity": [], "source_id": [], "lms_id": []}
    created = result.created
    applied: Counter = Counter()
    entities, actions, keys = [], [], []
    for n, state, lms_id in zip(positions, outcome, lms_ids, strict=True):
        entity, action, key = wave.entity[n], wave.action[n], wave.key[n]
        entities.append(entity), actions.append(action), keys.append(key)
        if state != "applied":
            continue
        applied[(entity, action)] += 1
        if action == "create":
            created[(entity, key)] = lms_id
            source_id = wave.source_id[n]
            if lms_id and source_id and entity in ("users", "departments"):
                links["entity"].append(entity), links["source_id"].append(source_id)
                links["lms_id"].append(str(lms_id))
    seqs = [wave.seq[n] for n in positions]
    results = {
        "plan_id": [applier.plan_id] * len(positions),
        "seq": seqs,
        "part": [0] * len(positions),
        "outcome": outcome,
        "lms_id": lms_ids,
        "message": messages,
    }
    applier.journal.finish_columns(results, applier.sync, links)
    count = len(positions)
    applier.attempted += count
    applier.finished += count
    result.retried += sum(answer.get("retried", 0) for answer in answers)
    result.adopted += sum(bool(answer.get("adopted")) for answer in answers)
    result.applied.update(applied)
    result.failed.extend(
        (entity, key, message)
        for entity, key, state, message in zip(entities, keys, outcome, messages, strict=True)
        if state != "applied"
    )
    values = [wave.values[n] for n in positions]
    result.outcomes.extend_columns((entities, actions, keys, values, outcome, messages))
