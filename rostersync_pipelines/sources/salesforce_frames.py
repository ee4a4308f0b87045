"""Salesforce pages (REST JSON records, Bulk 2.0 CSV) as text columns, one whole page at a time.

Both paths must give the same table for the same records: a column per selected field named as the
mapping spells it, text values as Salesforce writes them in CSV (`true` / `false`, numbers as sent), None
for null. A dotted name (`Manager.Username`) is read from the nested relationship object of a REST
record, and from the column of that name in Bulk CSV.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from rostersync_pipelines.sources.soql import BOOLEAN, ID, TEXT

ROW = "__row__"
_AS_IS = {TEXT, ID}


def rest_page(records: list[dict], paths: list[str], names: list[str], kinds: dict) -> pd.DataFrame:
    """One `query` page: `paths` are the canonical field paths as SELECTed, `names` the output columns."""
    raw = pd.DataFrame.from_records(records) if records else pd.DataFrame(index=range(0))
    columns = {}
    for path, name in zip(paths, names, strict=True):
        head, *rest = path.split(".")
        values = raw[head] if head in raw else pd.Series([None] * len(raw), dtype=object)
        for part in rest:  # a null relationship stays null all the way down
            values = values.astype(object).str.get(part)
        columns[name] = _text(values, kinds.get(path))
    return pd.DataFrame(columns, index=range(len(raw)))


def _text(values: pd.Series, kind: str | None) -> pd.Series:
    values = values.astype(object)
    present = values.notna()
    if kind in _AS_IS:
        return values.where(present, None)
    if kind == BOOLEAN:
        return values.map({True: "true", False: "false"}).astype(object).where(present, None)
    return values.map(_cell).astype(object).where(present, None)


def _cell(value) -> str | None:
    if value is None or value is np.nan:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_page(text: str, names: list[str]) -> pd.DataFrame:
    """One Bulk 2.0 result set: its header is the SELECT list, in order, so columns are renamed by place."""
    if not text.strip():
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    frame = pd.read_csv(
        io.StringIO(text),
        dtype=str,
        keep_default_na=False,  # "NA" or "null" typed by a person is a value; only an empty cell is null
        na_values=[""],
        engine="c",
    )
    if len(frame.columns) != len(names):
        raise ValueError(f"Bulk result has columns {list(frame.columns)}, expected {len(names)}")
    frame.columns = names
    return frame.astype(object).where(frame.notna(), None)


def combine(pages: list[pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """The pages as one table, with `__row__` as the 1-based position of each record in the answer."""
    pages = [page for page in pages if len(page)]
    if pages:
        frame = pd.concat(pages, ignore_index=True) if len(pages) > 1 else pages[0].reset_index(drop=True)
    else:
        frame = pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    frame[ROW] = np.arange(1, len(frame) + 1, dtype="int64")
    return frame
