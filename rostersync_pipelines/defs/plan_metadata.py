"""The plan's and the rejects' metadata, counted the same way as `rostersync plan` and apply count them.

Every entity × action count is present, zeros included, so the UI's metadata plots have a point per run;
held changes are counted apart from what will be applied; the manager follow-up updates apply will send
are announced here, so the plan's total and apply's total agree.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from rostersync_pipelines import steps
from rostersync_pipelines.defs.previews import (
    PLAN_ROWS,
    PLAN_VIEW,
    action_counts,
    column_schema,
    count_metadata,
    manager_follow_ups,
    markdown_table,
    plan_table,
    plan_view,
)
from rostersync_pipelines.reconcile.rows import PLAN_COLUMNS
from rostersync_pipelines.schema import OUT_OF_SCOPE

PLAN_COLUMN_DESCRIPTIONS = {
    "entity": "users | departments | groups",
    "action": "create update move deactivate reactivate delete add_member remove_member none",
    "situation": "linked matched unmatched missing conflict",
    "key": "what a person calls the record: login, department code, group name, 'group: login'",
    "lms_id": "the record's id in the LMS",
    "row": "source row number",
    "source_id": "the source identity the link table remembers",
    "changes": "{field: [old, new]}",
    "values": "what the LMS is sent",
    "reason": "why, in words",
    "held": "waits for approval",
    "error": "why the LMS's state blocks it",
    "order": "apply order within the entity's phase",
}
ORDER_NOTE = (
    "errors, conflicts, held, other destructive, moves, updates, reactivations, creates; people first"
)


def describe_plan(planned: steps.PlannedSync) -> tuple[dict, pd.DataFrame]:
    plan, summary = planned.plan, planned.summary
    view = plan_view(plan)
    counts = action_counts(plan)
    changing = int((plan["action"] != "none").sum())
    follow_ups = manager_follow_ups(plan)
    counted = count_metadata(counts)
    shown = {
        "plan_id": planned.plan_id,
        "counts": counted.pop("counts"),
        "preview": markdown_table(view, PLAN_VIEW, PLAN_ROWS),
        "plan table": plan_table(view),
        "preview order": ORDER_NOTE,
        "plan_file": dg.MetadataValue.path(planned.plan_file),
        "dagster/row_count": len(plan),
        "dagster/column_schema": column_schema(plan[PLAN_COLUMNS], PLAN_COLUMN_DESCRIPTIONS),
        "changes": changing,
        "to apply": int(counts["to apply"].sum()),
        "held": int(counts["held"].sum()),
        "conflicts": summary["conflicts"],
        "errors": summary["errors"],
        "manager follow-ups": follow_ups,
        "LMS calls expected": int(counts["to apply"].sum()) + follow_ups,
        "rejected_rows": summary["rejected_rows"],
        "skipped_rows": summary["skipped_rows"],
        "unchanged": summary["unchanged"],
        "summary": dg.MetadataValue.json(summary),
    }
    return shown | counted, view


def plan_run_tags(planned: steps.PlannedSync, view: pd.DataFrame) -> dict[str, str]:
    """Tags that make a run findable in the runs list: which plan, how much waits for a person."""
    kinds = view["attention"].value_counts()
    return {
        "rostersync/plan_id": planned.plan_id,
        "rostersync/held": str(int(kinds.get("held", 0))),
        "rostersync/conflicts": str(int(kinds.get("conflict", 0))),
        "rostersync/errors": str(int(kinds.get("error", 0))),
    }


def rejects_metadata(rejects: pd.DataFrame) -> dict:
    """The plan's names for the same counts: rejected rows (every outcome but out of scope), skipped rows."""
    skipped = rejects["outcome"] == OUT_OF_SCOPE
    return {
        "rejected_rows": int((~skipped).sum()),
        "skipped_rows": int(skipped.sum()),
        "by outcome": dg.MetadataValue.json(rejects["outcome"].value_counts().to_dict()),
        "preview": markdown_table(rejects, ["source", "row", "key", "outcome", "reason"]),
    }
