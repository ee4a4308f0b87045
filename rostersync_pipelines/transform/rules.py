"""Import rules: who is in scope at all (SkyPrep import rules, TalentLMS filters).

A skipped row is out of scope, not rejected: its LMS account is treated as missing from the source, the way
Entra treats a user who leaves the provisioning scope, so it stays under the same safety limits.
"""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.config import Rule
from rostersync_pipelines.frames import nones
from rostersync_pipelines.transform.mapping import clean_text, find_column


def skipped_by_rules(raw: pd.DataFrame, rules: list[Rule], source_name: str) -> pd.Series:
    """The reason each row is skipped (the first rule that matched), or None when it is imported."""
    reason = nones(raw.index)
    for rule in rules:
        condition = rule.skip
        values = clean_text(raw[find_column(raw, condition.field, source_name)])
        folded = values.str.casefold()
        if condition.contains is not None:
            hit = folded.str.contains(condition.contains.casefold(), regex=False).fillna(False)
            text = f"{condition.field} contains '{condition.contains}'"
        elif condition.equals is not None:
            hit = (folded == condition.equals.casefold()).fillna(False)
            text = f"{condition.field} is '{condition.equals}'"
        elif condition.one_of is not None:
            hit = folded.isin([value.casefold() for value in condition.one_of])
            text = f"{condition.field} is one of {', '.join(condition.one_of)}"
        else:
            hit = values.isna() if condition.empty else values.notna()
            text = f"{condition.field} is {'empty' if condition.empty else 'not empty'}"
        reason = reason.where(reason.notna() | ~hit.astype(bool), f"skipped by import rule: {text}")
    return reason
