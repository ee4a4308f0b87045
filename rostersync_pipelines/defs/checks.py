"""The checks of a sync, each named for what it checks and declared as it behaves.

None is blocking: a held change, a conflict or an error never stops the rest of the sync (that is the
product's promise), so a check that said "blocking" would lie. Severity says who must act: WARN when a
person has something to decide (held changes, conflicts, errors), ERROR when the sync itself went wrong (a
source that could not be read, changes that did not land).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from rostersync_pipelines.defs.previews import markdown_table

LOCATION = "rostersync"  # pyproject's code_location_name: what `make ui` / `dagster dev` load
WHO = ["entity", "key", "row", "changes", "reason"]
HELD_KINDS = ("users deactivate", "departments delete", "groups remove_member")

DESCRIPTIONS = {
    "source_read": "ERROR when the source could not be read (its destructive changes are then held)",
    "held_changes": "WARN while destructive changes wait for approval; the rest of the plan still applies",
    "conflicts": "WARN when records could not be matched safely: who, which LMS records, and why",
    "plan_errors": "WARN when the LMS's state blocks a change (for example a department that still has users)",
    "converged": "after apply, re-plans against the LMS: ERROR if applied changes did not land, "
    "WARN while changes wait for a person (held, conflicts, errors)",
}


def specs(key: dg.AssetKey, *names: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=key, description=DESCRIPTIONS[name]) for name in names]


def source_read(table) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name="source_read",
        passed=table.error is None,
        severity=dg.AssetCheckSeverity.ERROR,
        description=table.error or f"read {table.rows} rows",
        metadata={"error": table.error or "", "rows": table.rows},
    )


def held_changes(view: pd.DataFrame, plan_id: str, approve_job: str, link: str) -> dg.AssetCheckResult:
    held = view[view["attention"] == "held"]
    by_action = held.groupby(["entity", "action"]).size()
    counts = {name: 0 for name in HELD_KINDS}  # every kind present, so the plots have a point per run
    counts |= {f"{entity} {action}": int(n) for (entity, action), n in by_action.items()}
    text = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    return dg.AssetCheckResult(
        check_name="held_changes",
        passed=held.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(held)} destructive changes held ({text}): approve plan {plan_id} with the approve job "
            f"{approve_job} (or `rostersync approve {plan_id}`); they apply at the next sync"
            if len(held)
            else "no change is held"
        ),
        metadata={
            "plan_id": plan_id,
            "held": len(held),
            **counts,
            "approve": dg.MetadataValue.url(link),
            "held changes": markdown_table(held, WHO, 50),
        },
    )


def conflicts(view: pd.DataFrame) -> dg.AssetCheckResult:
    found = view[view["attention"] == "conflict"]
    who = ", ".join(found["key"].head(10))
    return dg.AssetCheckResult(
        check_name="conflicts",
        passed=found.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(found)} records could not be matched safely and were left alone: {who}"
            + (" …" if len(found) > 10 else "")
            if len(found)
            else "every record matched safely"
        ),
        metadata={"conflicts": len(found), "who and why": markdown_table(found, WHO, 50)},
    )


def plan_errors(view: pd.DataFrame) -> dg.AssetCheckResult:
    found = view[view["attention"] == "error"]
    return dg.AssetCheckResult(
        check_name="plan_errors",
        passed=found.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(found)} changes are blocked: {', '.join(found['key'].head(10))}"
            if len(found)
            else "no change is blocked"
        ),
        metadata={"errors": len(found), "which and why": markdown_table(found, WHO, 50)},
    )


def converged(applied: int, still: pd.DataFrame, waiting: pd.DataFrame) -> dg.AssetCheckResult:
    """`still`: applicable changes a re-plan finds after apply; `waiting`: the re-plan's held, conflict and
    error rows (plan_view rows). Passing means the LMS matches the sources and nothing waits."""
    kinds = waiting["attention"].value_counts()
    held, conflict, error = (int(kinds.get(name, 0)) for name in ("held", "conflict", "error"))
    wait_text = f"waiting for a person: {held} held, {conflict} conflicts, {error} errors"
    if len(still):
        severity, verdict = dg.AssetCheckSeverity.ERROR, f"{len(still)} changes still differ after apply"
    elif len(waiting):
        severity, verdict = dg.AssetCheckSeverity.WARN, "every applicable change landed"
    else:
        severity, verdict = dg.AssetCheckSeverity.WARN, "the LMS matches the sources"
    return dg.AssetCheckResult(
        check_name="converged",
        passed=still.empty and waiting.empty,
        severity=severity,
        description=f"applied {applied}; {verdict}; still different {len(still)}; {wait_text}",
        metadata={
            "applied": applied,
            "still different": len(still),
            "waiting held": held,
            "waiting conflicts": conflict,
            "waiting errors": error,
            "still different changes": markdown_table(still, WHO, 50),
            "waiting changes": markdown_table(waiting, ["attention", *WHO], 50),
        },
    )
