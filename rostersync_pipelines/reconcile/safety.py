"""Safety: destructive changes are held, never dropped, when they look like an accident.

Like Entra's staged deletes: above a threshold, or after a source that failed, came back empty or shrank
sharply, deactivations, deletions and membership removals stay in the plan marked held while the rest
applies; a person releases them with `rostersync approve PLAN_ID`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rostersync_pipelines.config import Safety
from rostersync_pipelines.frames import nones
from rostersync_pipelines.reconcile.rows import DESTRUCTIVE


@dataclass
class SourceHealth:
    name: str
    rows: int
    last_good_rows: int | None = None
    error: str | None = None

    def problem(self, ratio: float) -> str | None:
        if self.error:
            return f"source {self.name} failed ({self.error})"
        if self.rows == 0:
            return f"source {self.name} returned no rows"
        if self.last_good_rows and self.rows < ratio * self.last_good_rows:
            return (
                f"source {self.name} shrank to {self.rows} rows from {self.last_good_rows} "
                f"(below min_source_rows_ratio {ratio:g})"
            )
        return None


def hold_destructive(
    plan: pd.DataFrame,
    safety: Safety,
    active_users: int,
    health: list[SourceHealth],
    approved: dict[tuple, str],
    approved_only: bool = False,
) -> pd.DataFrame:
    """Mark held rows; `approved` maps (entity, action, lms_id) of released changes to the approving plan id.

    `approved_only` (the sync's `apply: approved_only`, Okta's confirm queue) holds every destructive change
    until a person approves the plan that announced it."""
    plan = plan.copy(deep=False)  # copy-on-write: the caller's frame is never changed all the same
    destructive = plan["action"].isin(DESTRUCTIVE) & plan["error"].isna()
    why = nones(plan.index)
    problems = [problem for source in health if (problem := source.problem(safety.min_source_rows_ratio))]
    if problems:
        why[destructive] = "held: " + "; ".join(problems)
    deactivations = destructive & (plan["entity"] == "users") & (plan["action"] == "deactivate")
    limit = safety.deactivation_limit(active_users)
    if deactivations.sum() > limit:
        why[deactivations & why.isna()] = (
            f"held: {deactivations.sum()} deactivations exceed max_deactivations "
            f"{safety.max_deactivations} ({limit} of {active_users} active users)"
        )
    deletions = destructive & (plan["entity"] == "departments") & (plan["action"] == "delete")
    if deletions.sum() > safety.max_department_deletions:
        why[deletions & why.isna()] = (
            f"held: {deletions.sum()} department deletions exceed max_department_deletions "
            f"{safety.max_department_deletions}"
        )
    if approved_only:
        why[destructive & why.isna()] = (
            "held: this sync applies destructive changes only once approved (apply: approved_only)"
        )
    held = why.notna()
    # a source that could not be read says nothing about who left: no approval releases what it holds
    failed = any(source.error for source in health)
    if approved and held.any() and not failed:
        keys = pd.Series(
            list(zip(plan["entity"], plan["action"], plan["lms_id"], strict=True)), index=plan.index
        )
        approver = keys.map(approved)
        released = held & approver.notna()
        plan.loc[released, "reason"] = (
            plan.loc[released, "reason"] + "; released by the approval of plan " + approver[released]
        )
        held &= ~released
    plan["held"] = held
    plan.loc[held, "reason"] = (
        plan.loc[held, "reason"] + "; " + why[held] + "; release with rostersync approve"
    )
    return plan
