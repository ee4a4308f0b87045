"""plan(source, lms, state) -> every change the sync would make, each with its situation and reason.

A pure function of tables: nothing here reads or writes anything, so the plan can be shown before it is
applied, and tests of every rule run without Dagster or a database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rostersync_pipelines.config import Sync
from rostersync_pipelines.reconcile.capabilities import drop_unsupported
from rostersync_pipelines.reconcile.codes import encode_together
from rostersync_pipelines.reconcile.departments import (
    plan_department_deletions,
    plan_departments,
    plan_unknown_departments,
)
from rostersync_pipelines.reconcile.groups import plan_groups
from rostersync_pipelines.reconcile.match import match
from rostersync_pipelines.reconcile.missing import plan_missing_users
from rostersync_pipelines.reconcile.rows import PLAN_COLUMNS
from rostersync_pipelines.reconcile.safety import SourceHealth, hold_destructive
from rostersync_pipelines.reconcile.users import plan_users, user_source_ids
from rostersync_pipelines.schema import OUT_OF_SCOPE
from rostersync_pipelines.targets.base import LmsState
from rostersync_pipelines.transform.identity import fold, fold_once
from rostersync_pipelines.transform.normalize import Canonical

ENTITIES = ("users", "departments", "groups")


@dataclass
class SyncState:
    """What the state database remembers between syncs."""

    user_links: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))  # source id -> LMS id
    department_links: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    owned_groups: set[str] = field(default_factory=set)
    approved: dict[tuple, str] = field(default_factory=dict)  # (entity, action, lms_id) -> approving plan id


def make_plan(
    canonical: Canonical,
    lms: LmsState,
    sync: Sync,
    state: SyncState | None = None,
    health: list[SourceHealth] | None = None,
    today: dt.date | None = None,
) -> pd.DataFrame:
    with fold_once():
        state = state or SyncState()
        today = today or dt.date.today()
        users = canonical.users
        department_rows, code_ids, claimed_departments = plan_departments(
            canonical.departments, lms.departments, sync, state.department_links
        )
        if canonical.departments is None:
            department_rows, code_ids = plan_unknown_departments(users, lms.departments, code_ids, sync)
        people = ("login", "manager", "functional_manager")
        if all(column in users for column in people) and "login" in lms.users:
            # logins are matched, then looked up as managers: one encoding serves both
            encode_together(
                fold(users, "login"), fold(lms.users, "login"), *(fold(users, c) for c in people[1:])
            )
        found = match(users, lms.users, sync.matching.users, user_source_ids(users), state.user_links, "user")
        user_rows = plan_users(users, found, lms.users, code_ids, sync, today)
        parts = [
            department_rows,
            user_rows,
            plan_missing_users(lms.users, found, canonical.rejects, sync, state.user_links),
        ]
        if canonical.departments is not None:
            kept = claimed_departments | _departments_named_by_rejects(canonical.rejects, lms.departments)
            users_to = _destinations(user_rows, "department_id")
            departments_to = _destinations(department_rows, "parent_id")
            parts.append(
                plan_department_deletions(lms.departments, kept, lms.users, users_to, departments_to, sync)
            )
        parts.append(plan_groups(users, user_rows, lms, state.owned_groups, sync))
        plan = (
            pd.concat([part for part in parts if len(part)], ignore_index=True)
            if any(len(p) for p in parts)
            else parts[0]
        )
        active_users = int((lms.users["status"] == "active").sum())
        plan = drop_unsupported(plan[PLAN_COLUMNS], getattr(lms, "unsupported", None) or {})
        approved_only = sync.apply == "approved_only"
        return hold_destructive(plan, sync.safety, active_users, health or [], state.approved, approved_only)


def _destinations(rows: pd.DataFrame, field: str) -> pd.Series:
    """LMS id -> the new value of `field`, for the rows of the plan that change it."""
    values, ids = rows["values"].to_numpy(dtype=object), rows["lms_id"].to_numpy(dtype=object)
    records = np.flatnonzero(pd.notna(ids))  # creates have no LMS id yet: their dicts are never read
    moves = [(ids[row], values[row].get(field)) for row in records if isinstance(values[row], dict)]
    moves = [(lms_id, to) for lms_id, to in moves if pd.notna(to)]
    return pd.Series(
        [to for _, to in moves], index=pd.Index([lms_id for lms_id, _ in moves], dtype=object), dtype=object
    )


def _departments_named_by_rejects(rejects: pd.DataFrame, lms: pd.DataFrame) -> set[str]:
    """A department whose source row was rejected is still in the source: never delete it for that."""
    rows = rejects[(rejects["source"] == "departments") & (rejects["outcome"] != OUT_OF_SCOPE)]
    named = fold(lms, "code").isin(set(fold(rows, "code").dropna()))
    named |= fold(lms, "department_unique_key").isin(set(fold(rows, "department_unique_key").dropna()))
    return set(lms.loc[named, "id"])


def summarize(plan: pd.DataFrame, rejects: pd.DataFrame) -> dict:
    """Counts per entity and action, held changes, conflicts and rejected rows, as `plan --json` prints."""
    changing = plan[plan["action"] != "none"]
    counts = {entity: {} for entity in ENTITIES}
    for (entity, action), count in changing.groupby(["entity", "action"]).size().items():
        counts[entity][action] = int(count)
    held = changing[changing["held"]]
    return {
        **counts,
        "held": {
            f"{entity} {action}": int(n)
            for (entity, action), n in held.groupby(["entity", "action"]).size().items()
        },
        "conflicts": int((plan["situation"] == "conflict").sum()),
        "errors": int(plan["error"].notna().sum()),
        "rejected_rows": int((rejects["outcome"] != OUT_OF_SCOPE).sum()),
        "skipped_rows": int((rejects["outcome"] == OUT_OF_SCOPE).sum()),
        "unchanged": int((plan["action"] == "none").sum()),
    }
