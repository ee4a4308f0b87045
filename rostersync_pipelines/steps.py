"""The steps of one sync as plain functions: the Dagster assets and the tests call these, nothing else.

Each step takes and returns tables; only `plan_sync` and `apply_sync` touch the state database and the LMS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import requests

from rostersync_pipelines.apply import Applier, ApplyResult, applicable
from rostersync_pipelines.apply_recovery import settle_interrupted
from rostersync_pipelines.config import Config, Sync
from rostersync_pipelines.connections import open_state, open_target
from rostersync_pipelines.errors import RosterSyncError
from rostersync_pipelines.plan_files import plan_texts, publish, write_plan_csv
from rostersync_pipelines.reconcile.plan import SyncState, make_plan, summarize
from rostersync_pipelines.reconcile.safety import SourceHealth
from rostersync_pipelines.sources import SourceTable, mapped_columns, read_source
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.state.quarantine import inputs_hash
from rostersync_pipelines.targets.base import Target
from rostersync_pipelines.transform.normalize import Canonical, normalize


@dataclass
class PlannedSync:
    plan_id: str
    plan: pd.DataFrame
    summary: dict
    plan_file: str


@contextmanager
def connected(config: Config, sync_name: str) -> Iterator[tuple[StateStore, Target]]:
    """The state database and the sync's LMS, closed again whatever happens."""
    store = open_state(config)
    try:
        target = open_target(config, sync_name)
    except BaseException:
        store.dispose()
        raise
    try:
        yield store, target
    finally:
        store.dispose()
        getattr(target, "dispose", lambda: None)()


def remembered(store: StateStore, sync_name: str, with_approvals: bool) -> SyncState:
    """What earlier syncs left for this one; approvals only count for a plan that will be applied."""
    return SyncState(
        user_links=store.links(sync_name, "users"),
        department_links=store.links(sync_name, "departments"),
        owned_groups=store.owned_groups(sync_name),
        approved=store.approved_changes(sync_name) if with_approvals else {},
    )


def read_sources(
    config: Config, sync_name: str, session: requests.Session | None = None
) -> dict[str, SourceTable]:
    return {
        name: read_one_source(config, sync_name, name, session) for name in config.syncs[sync_name].sources
    }


def read_one_source(
    config: Config, sync_name: str, source_name: str, session: requests.Session | None = None
) -> SourceTable:
    """One source, with the cursors it keeps in the state database (a Graph delta link, an ETag)."""
    store = open_state(config)
    try:
        cursors = store.cursors(sync_name, source_name)
        return read_source(source_name, config.syncs[sync_name], config, session, cursors, sync_name)
    finally:
        store.dispose()


def canonicalize(sources: dict[str, SourceTable], sync: Sync) -> Canonical:
    """A failed departments source falls back to the LMS's own departments; a failed users source plans
    with no users at all, so every deactivation it implies is held by the safety rules."""
    users = sources["users"].frame
    if users is None:
        users = pd.DataFrame({"__row__": pd.Series(dtype="int64")})
        users = users.assign(**{column: pd.Series(dtype=object) for column in mapped_columns(sync, "users")})
    departments = sources["departments"].frame if "departments" in sources else None
    return normalize(users, departments, sync)


def source_health(store: StateStore, sync_name: str, sources: dict[str, SourceTable]) -> list[SourceHealth]:
    return [
        SourceHealth(name, table.rows, store.last_good_rows(sync_name, name), table.error)
        for name, table in sources.items()
    ]


def fingerprint(table: SourceTable) -> dict:
    """Row count and a content hash: enough to tell two inputs apart, without keeping any of their data."""
    if getattr(table, "fingerprint", None) is not None:  # digested where it was read (defs/assets.py)
        return table.fingerprint
    if table.frame is None:
        return {"rows": 0, "error": table.error}
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(table.frame, index=False).to_numpy().tobytes()
    ).hexdigest()
    return {"rows": table.rows, "sha256": digest}


def new_plan_id(sync_name: str) -> str:
    return f"{sync_name}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def holder_token(run_id: str | None) -> str:
    """Who holds a sync: the Dagster run, or this process when the steps are called directly."""
    return run_id or f"process-{os.getpid()}"


def plan_sync(
    config: Config,
    sync_name: str,
    sources: dict[str, SourceTable],
    canonical: Canonical,
    today: dt.date | None = None,
    run_id: str | None = None,
    will_apply: bool = True,
) -> PlannedSync:
    """Plan under the sync's lock. A plan that will not be applied here is a preview: no run may apply it."""
    sync = config.syncs[sync_name]
    holder = holder_token(run_id)
    with connected(config, sync_name) as (store, target):
        store.locks.acquire(sync_name, holder, wait_seconds=lock_wait_seconds())
        try:
            interrupted = settle_interrupted(store, target, sync_name)
            state = remembered(store, sync_name, with_approvals=will_apply)
            health = source_health(store, sync_name, sources)
            plan = make_plan(canonical, target.read_state(), sync, state, health, today)
            plan = set_aside_quarantined(store, sync_name, plan)
            summary = summarize(plan, canonical.rejects)
            summary["source_errors"] = {name: table.error for name, table in sources.items() if table.error}
            plan_id = new_plan_id(sync_name)
            summary["plan_id"] = plan_id
            plans_dir = Path(config.resolve_path(config.state.plans_dir))
            texts = plan_texts(plan)  # the dicts encoded once, for the files and the state database
            partial = write_plan_csv(plan, plans_dir / f"{plan_id}.csv", texts)
            inputs = {name: fingerprint(table) for name, table in sources.items()}
            try:
                supersede(store, sync_name, plan_id, interrupted)
                store.save_plan(
                    plan_id,
                    sync_name,
                    plan,
                    inputs,
                    summary,
                    str(partial.with_suffix("")),
                    run_id=run_id,
                    status="planned" if will_apply else "preview",
                    texts=texts,
                )
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            plan_file = publish(partial)
        except BaseException:
            store.locks.release(sync_name, holder)
            raise
        if not will_apply:
            store.locks.release(sync_name, holder)
        return PlannedSync(plan_id, plan, summary, plan_file)


def lock_wait_seconds() -> float:
    """How long a second run of a sync waits for the first before it gives up (ROSTERSYNC_LOCK_WAIT)."""
    return float(os.environ.get("ROSTERSYNC_LOCK_WAIT", "0"))


def supersede(store: StateStore, sync_name: str, plan_id: str, interrupted: list[str]) -> None:
    """Older plans of the sync that were never applied (or were killed) can no longer be applied."""
    for old in store.plans_of(sync_name, ("planned", "interrupted")):
        if old["status"] == "planned" or old["plan_id"] in interrupted:
            summary = (store.plan(old["plan_id"]) or {}).get("summary") or {}
            summary["superseded_by"] = plan_id
            status = "interrupted" if old["status"] == "interrupted" else "superseded"
            store.set_plan_status(old["plan_id"], status, summary)


def set_aside_quarantined(store: StateStore, sync_name: str, plan: pd.DataFrame) -> pd.DataFrame:
    """Changes the LMS refused again and again, with the same values, wait with the recorded error."""
    held = store.quarantine.held(sync_name)
    if held.empty:
        return plan
    keys = pd.MultiIndex.from_frame(plan[["entity", "action", "key"]].astype(str))
    wanted = pd.MultiIndex.from_frame(held[["entity", "action", "key"]].astype(str))
    suspects = plan.index[keys.isin(wanted)]
    if not len(suspects):
        return plan
    plan = plan.copy()
    by_key = held.set_index(["entity", "action", "key"])
    for index in suspects:
        row = plan.loc[index]
        record = by_key.loc[(row["entity"], row["action"], str(row["key"]))]
        if inputs_hash(row["values"]) == record["inputs_hash"]:
            plan.at[index, "error"] = (
                f"set aside after {record['failures']} refusals by the LMS: {record['message']} "
                "(it is tried again when the source changes)"
            )
    return plan


def apply_sync(
    config: Config,
    sync_name: str,
    plan_id: str,
    sources: dict[str, SourceTable],
    run_id: str | None = None,
    plan: pd.DataFrame | None = None,
    on_batch=None,
) -> ApplyResult:
    """Apply a saved plan (only the run that made it, or a resume of a killed one), then remember what a
    later plan needs: links of every matched record, owned groups, good source sizes."""
    sync = config.syncs[sync_name]
    holder = holder_token(run_id)
    with connected(config, sync_name) as (store, target):
        store.locks.acquire(sync_name, holder, wait_seconds=lock_wait_seconds())
        try:
            check_applicable(store, plan_id, run_id)
            store.set_plan_status(plan_id, "applying")
            changes = store.plan_changes(plan_id, with_text=True)
            heartbeat = _heartbeat(store, sync_name, holder, on_batch)
            applier = Applier(
                target,
                store.journal,
                plan_id,
                sync_name,
                rate_limit=sync.target.effective_rate_limit(),
                concurrency=sync.target.concurrency,
                on_batch=heartbeat,
            )
            result = applier.run(changes.set_index("seq", drop=False))
            store.quarantine.record(sync_name, result.outcomes)
            remember(store, sync_name, plan_id, changes if plan is None else plan, result)
            summary = (store.plan(plan_id) or {}).get("summary") or {}
            summary["applied"] = {
                f"{entity} {action}": count for (entity, action), count in sorted(result.applied.items())
            }
            summary["failed"] = [f"{entity} {key}: {message}" for entity, key, message in result.failed]
            summary["retried"], summary["adopted"] = result.retried, result.adopted
            summary["stopped"] = result.stopped
            status = "stopped" if result.stopped else "applied_with_failures" if result.failed else "applied"
            store.set_plan_status(plan_id, status, summary)
            held = bool(changes["held"].any()) if len(changes) else False
            for name, table in sources.items():
                healthy = table.error is None and table.rows > 0
                if healthy and not held and not result.stopped:
                    store.record_source_size(sync_name, name, table.rows)
            return result
        finally:
            store.locks.release(sync_name, holder)


def check_applicable(store: StateStore, plan_id: str, run_id: str | None) -> None:
    """A run applies the plan it computed; a preview or a superseded plan is never applied."""
    saved = store.plan(plan_id)
    if saved is None:
        raise RosterSyncError(f"no plan with id '{plan_id}' in the state database")
    status = saved["status"]
    if status == "preview":
        raise RosterSyncError(f"plan {plan_id} is a preview (made by a plan-only run) and is never applied")
    if status in ("superseded", "interrupted"):
        newer = (saved.get("summary") or {}).get("superseded_by")
        raise RosterSyncError(
            f"plan {plan_id} is {status}" + (f" by plan {newer}" if newer else "") + "; run the sync again"
        )
    if status != "planned" and status != "applying" and saved.get("run_id") != run_id:
        raise RosterSyncError(f"plan {plan_id} was already {status}; run the sync again for a new plan")


def _heartbeat(store: StateStore, sync_name: str, holder: str, on_batch):
    last = [time.monotonic()]

    def beat(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 30:
            store.locks.heartbeat(sync_name, holder)
            last[0] = time.monotonic()
        if on_batch is not None:
            on_batch(done, total)

    return beat


def remember(
    store: StateStore, sync_name: str, plan_id: str, plan: pd.DataFrame, result: ApplyResult
) -> None:
    """Links for every record matched or linked (unchanged ones too) and every create that landed: a sync
    against an existing LMS, or with a fresh state database, links everyone it recognised."""
    for entity in ("users", "departments"):
        rows = plan[(plan["entity"] == entity) & plan["source_id"].notna()]
        made = {key: lms_id for (kind, key), lms_id in result.created.items() if kind == entity}
        created = rows["key"].map(made.get)  # None where nothing was created, as the LMS id column has
        lms_ids = rows["lms_id"].where(rows["action"] != "create", created)
        ok = rows["situation"].isin(["linked", "matched", "unmatched"]) & lms_ids.notna()
        ok &= ~lms_ids.astype(str).str.startswith("new:")
        store.write_links(
            sync_name, entity, pd.Series(lms_ids[ok].to_numpy(), index=rows.loc[ok, "source_id"].to_numpy())
        )
    groups = {group_id: key for (entity, key), group_id in result.created.items() if entity == "groups"}
    store.add_owned_groups(sync_name, groups)
    store.use_approvals(sync_name, plan_id)


def remaining_changes(
    config: Config, sync_name: str, canonical: Canonical, sources: dict[str, SourceTable]
) -> pd.DataFrame:
    """Re-plan against the LMS as it is now: after a good apply, nothing applicable is left."""
    sync = config.syncs[sync_name]
    with connected(config, sync_name) as (store, target):
        state = remembered(store, sync_name, with_approvals=False)
        plan = make_plan(
            canonical, target.read_state(), sync, state, source_health(store, sync_name, sources)
        )
        return applicable(set_aside_quarantined(store, sync_name, plan))
