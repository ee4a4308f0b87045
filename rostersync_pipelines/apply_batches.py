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
    after: list[str | None]  # the journal's after of each change: its values as saved, or None when empty
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
    follow-up Task, and an update left with nothing else to send drops out (as `Applier._task`). The
    plan's values dicts are shared, not copied: only one that gives up a deferred reference is copied."""
    seqs = list(map(int, (frame["seq"] if "seq" in frame else frame.index).tolist()))
    columns = {name: frame[name].tolist() if name in frame else [None] * len(frame) for name in WAVE_COLUMNS}
    values = [value if value else {} for value in frame["values"].tolist()]
    after = _after_texts(frame, values)
    unconfirmed, unresolved = applier.unconfirmed, applier._unresolved
    keep = []
    for n, (seq, entity) in enumerate(zip(seqs, columns["entity"], strict=True)):
        if entity == "users":
            found = values[n]
            names = [name for name in USER_REFERENCES if unresolved(found.get(name))]
            if names:
                found = values[n] = dict(found)
                later = {name: found.pop(name) for name in names}
                after[n] = dumps(found) if found else None
                row = {name: column[n] for name, column in columns.items()}
                deferred.append(Task(seq, 1, row, later, "update", recheck=(seq, 1) in unconfirmed))
                if not found and columns["action"][n] != "create":
                    continue
        keep.append(n)
    if len(keep) < len(seqs):
        seqs, values, after = [seqs[n] for n in keep], [values[n] for n in keep], [after[n] for n in keep]
        columns = {name: [column[n] for n in keep] for name, column in columns.items()}
    recheck = [(seq, 0) in unconfirmed for seq in seqs] if unconfirmed else [False] * len(seqs)
    return Wave(seqs, values, after, recheck, **columns)


def _after_texts(frame: pd.DataFrame, values: list[dict]) -> list[str | None]:
    """`dumps` of each change's values: the text the plan was saved with when the frame carries it
    (`StateStore.plan_changes(with_text=True)`: decoding it and encoding again gives that same text)."""
    if "after_text" not in frame:
        return [dumps(found) if found else None for found in values]
    return [text if found else None for text, found in zip(frame["after_text"].tolist(), values, strict=True)]


def send_wave(applier, wave: Wave) -> bool:
    """Send a wave in journaled batches; False when the failure share says stop (as `_send_all`)."""
    for start, end in applier._batches(len(wave.seq)):
        positions: range | list[int] = range(start, end)
        if applier.done:  # a resumed plan: what an earlier run applied is counted, not sent again
            positions = [n for n in positions if not _already_done(applier, wave, n)]
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
    previous = applier.done.get((wave.seq[n], 0))
    if previous is None or previous["outcome"] != "applied":
        return False
    if wave.action[n] == "create" and previous["lms_id"]:
        applier.result.created[(wave.entity[n], wave.key[n])] = previous["lms_id"]
    applier.result.skipped += 1
    applier.finished += 1
    return True


def _pick(column: list, positions: range | list[int]) -> list:
    """The column's cells at these positions: a slice when they are a run (nothing skipped)."""
    if isinstance(positions, range):
        return column[positions.start : positions.stop]
    return [column[n] for n in positions]


def _start(applier, wave: Wave, positions: range | list[int]) -> None:
    before = [
        dumps({name: pair[0] for name, pair in change.items()}) if change else None
        for change in _pick(wave.changes, positions)
    ]
    columns = {
        "seq": _pick(wave.seq, positions),
        "part": [0] * len(positions),
        "entity": _pick(wave.entity, positions),
        "action": _pick(wave.action, positions),
        "key": _pick(wave.key, positions),
        "lms_id": _pick(wave.lms_id, positions),
        "before": before,
        "after": _pick(wave.after, positions),
    }
    applier.journal.start_columns(applier.plan_id, columns)


@dataclass
class Answers:
    """The LMS's answers to a batch, a list per field, one position per change of the batch; `extra` holds
    the retries and adoptions of the few changes that went alone (n -> the `_execute` outcome)."""

    outcome: list[str]
    lms_id: list
    message: list
    extra: dict[int, dict]


def _execute(applier, wave: Wave, positions: range | list[int]) -> Answers:
    """The answer of every position (as `_execute_batch`): sent in one `apply_batch` call, but for a
    change that must go alone, a refused reference, or a batch the LMS did not answer."""
    count = len(positions)
    answers = Answers(["applied"] * count, [None] * count, [None] * count, {})
    pending: list[int] = []  # the batch's places sent in the one call
    calls = []
    resolve, entities, actions, lms_ids, values = (
        applier._resolve,
        wave.entity,
        wave.action,
        wave.lms_id,
        wave.values,
    )
    recheck = wave.recheck
    for k, n in enumerate(positions):
        if recheck[n]:
            _alone(answers, k, applier._execute(_task(wave, n)))
            continue
        try:
            calls.append(operation(resolve, entities[n], actions[n], lms_ids[n], values[n]))
        except TargetError as error:
            answers.outcome[k], answers.message[k], answers.lms_id[k] = "failed", str(error), lms_ids[n]
            continue
        pending.append(k)
    replies = applier.send_batch(calls) if calls else None
    if replies is None:
        for k in pending:
            task = _task(wave, positions[k])
            task.recheck = True  # the batch may have landed before the connection broke
            _alone(answers, k, applier._execute(task))
        return answers
    for k, reply in zip(pending, replies, strict=True):
        if isinstance(reply, TargetError):
            answers.outcome[k], answers.message[k] = "failed", str(reply)
            answers.lms_id[k] = lms_ids[positions[k]]
        else:
            answers.lms_id[k] = reply
    return answers


def _alone(answers: Answers, k: int, outcome: dict) -> None:
    answers.outcome[k], answers.lms_id[k] = outcome["outcome"], outcome.get("lms_id")
    answers.message[k] = outcome.get("message")
    answers.extra[k] = outcome


def _task(wave: Wave, n: int) -> Task:
    return Task(wave.seq[n], 0, wave.row(n), wave.values[n], wave.action[n], recheck=wave.recheck[n])


def _finish(applier, wave: Wave, positions: range | list[int], answers: Answers) -> None:
    """Journal the answers with their links, then count them (as `journal.finish` + `_count`)."""
    result, count = applier.result, len(positions)
    entities, actions, keys = (_pick(column, positions) for column in (wave.entity, wave.action, wave.key))
    outcome, lms_ids, messages = answers.outcome, answers.lms_id, answers.message
    failed = [k for k, state in enumerate(outcome) if state != "applied"]
    links: dict[str, list] = {"entity": [], "source_id": [], "lms_id": []}
    created, applied = result.created, Counter()
    refused = set(failed)
    source_ids = _pick(wave.source_id, positions)
    for k, (entity, action, key, lms_id) in enumerate(zip(entities, actions, keys, lms_ids, strict=True)):
        if k in refused:
            continue
        applied[(entity, action)] += 1
        if action == "create":
            created[(entity, key)] = lms_id
            source_id = source_ids[k]
            if lms_id and source_id and entity in ("users", "departments"):
                links["entity"].append(entity), links["source_id"].append(source_id)
                links["lms_id"].append(str(lms_id))
    results = {
        "plan_id": [applier.plan_id] * count,
        "seq": _pick(wave.seq, positions),
        "part": [0] * count,
        "outcome": outcome,
        "lms_id": lms_ids,
        "message": messages,
    }
    applier.journal.finish_columns(results, applier.sync, links)
    applier.attempted += count
    applier.finished += count
    result.retried += sum(extra.get("retried", 0) for extra in answers.extra.values())
    result.adopted += sum(bool(extra.get("adopted")) for extra in answers.extra.values())
    result.applied.update(applied)
    result.failed.extend((entities[k], keys[k], messages[k]) for k in failed)
    # values only for a refusal: quarantine hashes those, and an applied change's are not held (apply_outcomes.py)
    values: list = [None] * count
    for k in failed:
        values[k] = wave.values[positions[k]]
    result.outcomes.extend_columns((entities, actions, keys, values, outcome, messages))
