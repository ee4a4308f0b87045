"""What an LMS cannot hold never becomes a change: a flat LMS has no parent, TalentLMS no manager.

Without this, every sync would propose the same updates again (the source has a value, the LMS can never
show it), and each would cost an API call that changes nothing. The rows keep their reason, with a note
saying what was left out, so the plan still tells a person why a parent or a manager did not arrive.
"""

from __future__ import annotations

import pandas as pd

NOTES = {"parent_id": "parent ignored: this LMS's departments are flat"}


def drop_unsupported(plan: pd.DataFrame, unsupported: dict[str, frozenset[str]]) -> pd.DataFrame:
    """Remove the columns the LMS cannot hold from updates; an update left with nothing is 'none'."""
    if not unsupported or plan.empty:
        return plan
    plan = plan.copy()
    for entity, columns in unsupported.items():
        rows = (plan["entity"] == entity) & plan["action"].isin(
            ["create", "update", "move", "deactivate", "reactivate"]
        )
        for index in plan.index[rows]:
            changes, values = plan.at[index, "changes"], plan.at[index, "values"]
            named = set(changes or {}) | set(values or {})
            dropped = sorted(named & columns)
            if not dropped:
                continue
            notes = [NOTES[column] for column in dropped if column in NOTES and _has_value(values, column)]
            if plan.at[index, "action"] == "create":  # a create sends all it has: the LMS keeps what it can
                _note(plan, index, notes)
                continue
            if changes is not None:
                changes = {name: pair for name, pair in changes.items() if name not in columns}
            if values is not None:
                values = {name: value for name, value in values.items() if name not in columns}
            plan.at[index, "changes"] = changes or None
            plan.at[index, "values"] = values
            if not changes:
                plan.at[index, "action"] = "none"
                plan.at[index, "values"] = None
                notes.append("up to date as far as this LMS can hold")
            _note(plan, index, notes)
    return plan


def _note(plan: pd.DataFrame, index, notes: list[str]) -> None:
    if notes:
        plan.at[index, "reason"] = "; ".join([plan.at[index, "reason"] or "", *notes]).lstrip("; ")


def _has_value(values: dict | None, column: str) -> bool:
    return bool(values) and values.get(column) is not None
