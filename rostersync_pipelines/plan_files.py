"""The plan as files: a CSV a person opens in Excel (what changes), and the full plan as Parquet beside it.

The CSV holds the rows that change, plus conflicts and errors: a million-person plan where 3% changes is a
30,000-row sheet a person can read, not a million rows that take seconds to write and minutes to open.
Every row, unchanged ones included, goes to `<plan id>.parquet` (columnar, written at disk speed), for
audits and tools. A source value such as `=1+2` or `@SUM(1+1)` would run when the CSV is opened in a
spreadsheet (CSV injection), so every CSV cell that starts with `=`, `+`, `-`, `@`, tab or CR is prefixed
with a quote, as OWASP recommends. Both files are written beside their final names and renamed only once
the plan is saved, so a failed save never leaves an orphan plan file behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_pipelines.csv_text import write_csv
from rostersync_pipelines.json_cells import encode_all

FORMULA_START = r"^[=+\-@\t\r]"
DICT_COLUMNS = (
    "changes",
    "values",
)  # the plan's columns of dicts: text in the files, left out of the plan value
PARTIAL = ".partial"


def defuse(values: pd.Series) -> pd.Series:
    """Text cells that a spreadsheet would read as a formula, prefixed with ' (other cells as they are)."""
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) not in ("string", "mixed"):
        return values
    risky = _risky(values)
    if not risky.any():
        return values
    values = values.copy()
    values[risky] = "'" + values[risky]
    return values


def _risky(values: pd.Series) -> pd.Series:
    """Cells that start like a formula; in Arrow when every cell is text or None (no Python per cell)."""
    try:
        text = pa.array(values.to_numpy(), type=pa.large_string(), from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # other values among the text: they never match
        return values.str.match(FORMULA_START, na=False).astype(bool)
    found = pc.fill_null(pc.match_substring_regex(text, FORMULA_START), False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def shown(plan: pd.DataFrame) -> pd.Series:
    """The rows a person needs to see: changes, conflicts and errors."""
    return (plan["action"] != "none") | (plan["situation"] == "conflict") | plan["error"].notna()


def plan_texts(plan: pd.DataFrame) -> dict[str, list[str | None]]:
    """The plan's dicts as JSON text, `json.dumps(value, sort_keys=True, default=str)` of each: encoded once
    for the files and the state database (StateStore.save_plan), which stores this same text."""
    return {column: encode_all(plan[column], sort_keys=True) for column in DICT_COLUMNS}


def write_plan_csv(plan: pd.DataFrame, path: Path, texts: dict[str, list] | None = None) -> Path:
    """Write `<path>.partial` (the CSV) and the full plan's Parquet partial; `publish` renames both.
    `texts`: `plan_texts(plan)`, when the caller has them already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    full = plan.assign(**(texts or plan_texts(plan)))
    _write_parquet(full, path.with_suffix(".parquet"))
    sheet = full[shown(plan)]
    for column in sheet.columns:
        if sheet[column].dtype == object:
            sheet[column] = defuse(sheet[column])
    partial = path.with_name(path.name + PARTIAL)
    write_csv(sheet, partial, "seq")  # sheet.to_csv(partial, index_label="seq"), by Arrow
    return partial


def _write_parquet(full: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = full.rename_axis("seq").reset_index()
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column mixing kinds of values: keep each as text
        texts = {
            c: frame[c].map(lambda v: v if v is None else str(v)) for c in frame if frame[c].dtype == object
        }
        table = pa.Table.from_pandas(frame.assign(**texts), preserve_index=False)
    pq.write_table(table, path.with_name(path.name + PARTIAL))


def publish(partial: Path) -> str:
    final = partial.with_name(partial.name.removesuffix(PARTIAL))
    full = final.with_suffix(".parquet")
    if full.with_name(full.name + PARTIAL).exists():
        os.replace(full.with_name(full.name + PARTIAL), full)
    os.replace(partial, final)
    return str(final)
