"""The steps of one sync as plain functions: the Dagster assets and the tests call these, nothing else.

Each step takes and returns tables; only `plan_sync` and `apply_sync` touch the state database and the LMS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import requests

from rostersync_pipelines.apply import Applier, ApplyResult, applicable
from rostersync_pipelines.config import Config, Sync
from rostersync_pipelines.reconcile.plan import SyncState, make_plan, summarize
from rostersync_pipelines.reconcile.safety import SourceHealth
from rostersync_pipelines.sources import SourceTable, mapped_columns, read_source
from rostersync_pipelines.state import StateStore
from rostersync_pipelines.targets import make_target
from rostersync_pipelines.targets.base import Target
from rostersync_pipelines.transform.normalize import Canonical, normalize


@dataclass
class PlannedSync:
    plan_id: str
    plan: pd.DataFrame
    summary: dict
    plan_file: str


@contextmanager
def connected(config: Config, sync: Sync) -> Iterator[tuple[StateStore, Target]]:
    """The state database and the sync's LMS, closed again whatever happens."""
    store = StateStore(config.resolve_url(config.state.url))
    target = make_target(sync.target, config)
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
    store = StateStore(config.resolve_url(config.state.url))
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
    if table.frame is None:
        return {"rows": 0, "error": table.error}
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(table.frame, index=False).to_numpy().tobytes()
    ).hexdigest()
    return {"rows": table.rows, "sha256": digest}


def new_plan_id(sync_name: str) -> str:
    return f"{sync_name}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def plan_sync(
    config: Config,
    sync_name: str,
    sources: dict[str, SourceTable],
    canonical: Canonical,
    today: dt.date | None = None,
) -> PlannedSync:
    sync = config.syncs[sync_name]
    with connected(config, sync) as (store, target):
        state = remembered(store, sync_name, with_approvals=True)
        health = source_health(store, sync_name, sources)
        plan = make_plan(canonical, target.read_state(), sync, state, health, today)
        summary = summarize(plan, canonical.rejects)
        summary["source_errors"] = {name: table.error for name, table in sources.items() if table.error}
        plan_id = new_plan_id(sync_name)
        summary["plan_id"] = plan_id
        plan_file = write_plan_csv(plan, Path(config.resolve_path(config.state.plans_dir)) / f"{plan_id}.csv")
        inputs = {name: fingerprint(table) for name, table in sources.items()}
        store.save_plan(plan_id, sync_name, plan, inputs, summary, plan_file)
        return PlannedSync(plan_id, plan, summary, plan_file)


def write_plan_csv(plan: pd.DataFrame, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = plan.copy()
    for column in ("changes", "values"):
        shown[column] = shown[column].map(
            lambda value: None if value is None else json.dumps(value, default=str)
        )
    shown.to_csv(path, index_label="seq")
    return str(path)


def apply_sync(config: Config, sync_name: str, plan_id: str, sources: dict[str, SourceTable]) -> ApplyResult:
    """Apply a saved plan, then remember what a later plan needs: links, owned groups, good source sizes."""
    sync = config.syncs[sync_name]
    with connected(config, sync) as (store, target):
        changes = store.plan_changes(plan_id)
        applier = Applier(target, store.record, plan_id, store.applied_seqs(plan_id))
        result = applier.run(changes.set_index("seq", drop=False))
        remember(store, sync_name, plan_id, changes, result)
        summary = (store.plan(plan_id) or {}).get("summary") or {}
        summary["applied"] = {
            f"{entity} {action}": count for (entity, action), count in sorted(result.applied.items())
        }
        summary["failed"] = [f"{entity} {key}: {message}" for entity, key, message in result.failed]
        store.set_plan_status(plan_id, "applied_with_failures" if result.failed else "applied", summary)
        for name, table in sources.items():
            healthy = table.error is None and table.rows > 0
            held = bool(changes["held"].any()) if len(changes) else False
            if healthy and not held:
                store.record_source_size(sync_name, name, table.rows)
        return result


def remember(
    store: StateStore, sync_name: str, plan_id: str, changes: pd.DataFrame, result: ApplyResult
) -> None:
    for entity in ("users", "departments"):
        rows = changes[(changes["entity"] == entity) & changes["source_id"].notna()]
        created = rows["key"].map(lambda key, entity=entity: result.created.get((entity, key)))
        lms_ids = rows["lms_id"].where(rows["action"] != "create", created)
        ok = rows["situation"].isin(["linked", "matched", "unmatched"]) & lms_ids.notna()
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
    with connected(config, sync) as (store, target):
        state = remembered(store, sync_name, with_approvals=False)
        plan = make_plan(
            canonical, target.read_state(), sync, state, source_health(store, sync_name, sources)
        )
        return applicable(plan)
