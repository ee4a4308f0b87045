"""The plan as a CSV file a person opens in Excel: every change, and cells that cannot run as formulas.

A source value such as `=1+2` or `@SUM(1+1)` would run when the plan is opened in a spreadsheet (CSV
injection), so every cell that starts with `=`, `+`, `-`, `@`, tab or CR is prefixed with a quote, as OWASP
recommends. The file is written beside its final name and renamed only once the plan is saved, so a failed
save never leaves an orphan plan file behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

FORMULA_START = r"^[=+\-@\t\r]"


def defuse(values: pd.Series) -> pd.Series:
    """Text cells that a spreadsheet would read as a formula, prefixed with ' (other cells as they are)."""
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) not in ("string", "mixed"):
        return values
    risky = values.str.match(FORMULA_START, na=False).astype(bool)
    if not risky.any():
        return values
    values = values.copy()
    values[risky] = "'" + values[risky]
    return values


def write_plan_csv(plan: pd.DataFrame, path: Path) -> Path:
    """Write to `<path>.partial`; `publish` renames it once the plan is in the state database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = plan.copy()
    for column in ("changes", "values"):
        shown[column] = shown[column].map(
            lambda value: None if value is None else json.dumps(value, default=str)
        )
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = defuse(shown[column])
    partial = path.with_name(path.name + ".partial")
    shown.to_csv(partial, index_label="seq")
    return partial


def publish(partial: Path) -> str:
    final = partial.with_name(partial.name.removesuffix(".partial"))
    os.replace(partial, final)
    return str(final)
