"""After apply: re-plan against the LMS as it now is and sort what is left into what did not land and
what waits for a person, so the convergence check can never say "nothing left" while changes wait."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from rostersync_pipelines import steps
from rostersync_pipelines.apply import ApplyResult, applicable
from rostersync_pipelines.config import Config
from rostersync_pipelines.defs.previews import markdown_table, plan_view
from rostersync_pipelines.reconcile.plan import make_plan
from rostersync_pipelines.transform.normalize import Canonical

WAITING = ("held", "conflict", "error")


def after_apply(
    config: Config, sync_name: str, canonical: Canonical, sources: dict
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(still different, waiting for a person, LMS records compared), the first two as plan_view rows."""
    sync = config.syncs[sync_name]
    with steps.connected(config, sync_name) as (store, target):
        state = steps.remembered(store, sync_name, with_approvals=False)
        health = steps.source_health(store, sync_name, sources)
        plan = make_plan(canonical, target.read_state(), sync, state, health)
        plan = steps.set_aside_quarantined(store, sync_name, plan)
    view = plan_view(plan)
    still = plan_view(applicable(plan))
    waiting = view[view["attention"].isin(WAITING)]
    return still, waiting, int(plan["lms_id"].notna().sum())


def quarantined(plan: pd.DataFrame) -> int:
    """Changes set aside after repeated refusals (steps.set_aside_quarantined): only rows with an error
    are looked at, in Python, not every row of the plan."""
    errors = plan["error"][plan["error"].notna()]
    return int(errors.str.startswith("set aside").sum()) if len(errors) else 0


def applied_metadata(sync_plan, result: ApplyResult, follow_ups: int) -> dict:
    applied = {f"{entity} {action}": count for (entity, action), count in sorted(result.applied.items())}
    shown = {
        "plan_id": sync_plan.plan_id,
        "applied": sum(result.applied.values()),
        "of which manager follow-ups": follow_ups,
        "failed": len(result.failed),
        "retried": result.retried,
        "adopted after a crash": result.adopted,
        "already applied": result.skipped,
        "quarantined": quarantined(sync_plan.plan),
        "applied by action": dg.MetadataValue.json(applied),
        "stopped": result.stopped or "",
    }
    if result.failed:
        failures = pd.DataFrame(result.failed, columns=["entity", "key", "message"])
        shown["failures"] = markdown_table(failures, ["entity", "key", "message"], 50)
    return shown
