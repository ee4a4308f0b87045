"""Deliver learning records: find each learner's Salesforce record, fingerprint, write only what changed.

Every outcome is stored after each destination call (state/deliveries.py), so a run that the request limit
stops, or that dies, keeps what went through; records that failed or were not sent keep their last good
fingerprint and are sent again by the next run over their days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from rostersync_pipelines.config import Config
from rostersync_pipelines.learning import identity
from rostersync_pipelines.learning.destinations import DeliveryStopped, make_destination
from rostersync_pipelines.learning.hashes import changed_mask, content_hashes
from rostersync_pipelines.learning.kinds import KINDS, fingerprint_columns
from rostersync_pipelines.learning.records import LearningRecords, lms_users
from rostersync_pipelines.state.deliveries import Deliveries

PROBLEMS_KEPT = 50  # failed records listed in the report (all of them stay in the state database)
FLUSH_ROWS = 5000  # outcomes stored per commit: a commit per 200-record call would cost more than the call


@dataclass
class DeliveryReport:
    destination: str
    read: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    unsent: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    stopped: str | None = None
    problems: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        total = {
            name: sum(getattr(self, name).values())
            for name in ("read", "unchanged", "written", "failed", "unsent")
        }
        return {
            "destination": self.destination,
            **total,
            "created": sum(self.created.values()),
            "by_kind": {
                kind: {
                    name: getattr(self, name).get(kind, 0)
                    for name in ("read", "unchanged", "written", "failed", "unsent")
                }
                for kind in self.read
            },
            "write_calls": self.calls,
            "stopped": self.stopped,
            "problems": self.problems,
        }


def deliver(
    config: Config, sync_name: str, records: LearningRecords, store, destination=None
) -> DeliveryReport:
    own = destination is None
    destination = destination or make_destination(config, sync_name, store)
    deliveries = Deliveries(store.engine)
    report = DeliveryReport(destination.key)
    try:
        try:
            lookups = _lookups(config, sync_name, records, store, destination)
        except DeliveryStopped as stop:  # before any write: every changed record waits for the next run
            report.stopped, lookups = str(stop), pd.DataFrame(columns=identity.LOOKUPS, dtype=object)
        for name, kind in KINDS.items():
            frame = records.frames[name]
            payload = frame.drop(columns=["salesforce_user_id", "salesforce_contact_id"]).join(
                lookups, on="lms_user_id"
            )[frame.columns]
            hashes = content_hashes(payload, fingerprint_columns(kind))
            known = deliveries.fingerprints(sync_name, destination.key, name)
            changed = changed_mask(hashes, payload["external_id"], known)
            todo = payload[changed].assign(content_hash=hashes[changed]).reset_index(drop=True)
            report.read[name], report.unchanged[name] = len(payload), int((~changed).sum())
            for counter in (report.written, report.created, report.failed, report.unsent):
                counter[name] = 0
            if todo.empty:
                continue
            if report.stopped is None:
                _write(destination, kind, todo, deliveries, known, sync_name, report)
            else:
                _unsent(todo, report.stopped, deliveries, known, sync_name, destination.key, name, report)
    finally:
        report.calls = destination.calls
        if own:
            destination.close()
    return report


def _write(destination, kind, todo, deliveries, known, sync_name, report) -> None:
    """Outcomes are stored every FLUSH_ROWS records (one commit each) and whatever happens, before the
    stop is handled: what went through is never sent again."""
    # an index hashed once; each call's outcomes are looked up in it (a merge per call is quadratic)
    sent = pd.Index(todo["external_id"], dtype=object)
    hashes, days = todo["content_hash"].to_numpy(), todo["day"].to_numpy(dtype=object)
    buffered: list[pd.DataFrame] = []
    done: set[str] = set()

    def flush() -> None:
        if buffered:
            deliveries.record(sync_name, destination.key, kind.name, pd.concat(buffered), known)
            buffered.clear()

    try:
        for outcome in destination.write(kind, todo):
            at = sent.get_indexer(outcome["external_id"])
            merged = outcome.assign(content_hash=hashes[at], day=days[at])
            buffered.append(merged)
            done.update(outcome["external_id"])
            ok = merged["status"] == "delivered"
            report.written[kind.name] += int(ok.sum())
            report.created[kind.name] += int((ok & merged["created"].astype(bool)).sum())
            report.failed[kind.name] += int((merged["status"] == "failed").sum())
            report.unsent[kind.name] += int((merged["status"] == "unsent").sum())
            for row in merged[~ok].head(max(0, PROBLEMS_KEPT - len(report.problems))).itertuples():
                report.problems.append(
                    {"kind": kind.name, "external_id": row.external_id, "error": row.error}
                )
            if sum(len(frame) for frame in buffered) >= FLUSH_ROWS:
                flush()
    except DeliveryStopped as stop:
        report.stopped = str(stop)
    finally:
        flush()
    if report.stopped:
        rest = todo[~todo["external_id"].isin(done)]
        _unsent(rest, report.stopped, deliveries, known, sync_name, destination.key, kind.name, report)


def _unsent(todo, reason, deliveries, known, sync_name, destination_key, kind_name, report) -> None:
    rest = todo[["external_id", "content_hash", "day"]].assign(status="unsent", record_id=None, error=reason)
    deliveries.record(sync_name, destination_key, kind_name, rest, known)
    report.unsent[kind_name] += len(rest)


def _lookups(config, sync_name, records, store, destination) -> pd.DataFrame:
    """LMS user id -> salesforce_user_id, salesforce_contact_id, for the learners in these records."""
    learners = set()
    for frame in records.frames.values():
        learners |= set(frame["lms_user_id"].dropna())
    if not learners:
        return pd.DataFrame(columns=identity.LOOKUPS, dtype=object)
    users = lms_users(config, sync_name)
    users = users[users["id"].isin(learners)].reset_index(drop=True)
    return identity.resolve(
        config, sync_name, users, store.links(sync_name, "users"), destination.find_by_email
    )
