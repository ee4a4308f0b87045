"""Source columns -> canonical fields, as the config's `fields` section says.

Headers are matched after trimming and case-insensitively because HR exports drift ("Email " vs "email");
a mapped column that is still missing stops the sync with the list of columns that are there.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.compute as pc

from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.frames import nones, rewrite_text
from rostersync_pipelines.schema import ROW


def find_column(raw: pd.DataFrame, wanted: str, source_name: str) -> str:
    by_folded = {str(column).strip().casefold(): column for column in raw.columns if column != ROW}
    column = by_folded.get(wanted.strip().casefold())
    if column is None:
        present = ", ".join(str(column) for column in raw.columns if column != ROW)
        raise SourceError(
            f"source '{source_name}': mapped column '{wanted}' is missing; columns present: {present}"
        )
    return column


def clean_text(values: pd.Series) -> pd.Series:
    """Trim, and turn empty text into None: a blank cell and a missing one mean the same to a person."""
    return rewrite_text(values, pc.utf8_trim_whitespace)


def select_columns(
    raw: pd.DataFrame, mapping: dict[str, str | list[str] | None], source_name: str
) -> pd.DataFrame:
    """One canonical column per mapped field; a list of columns means first non-blank value wins."""
    selected = pd.DataFrame({ROW: raw[ROW].to_numpy()}, index=raw.index)
    for field, columns in mapping.items():
        if columns is None:
            continue
        candidates = [columns] if isinstance(columns, str) else columns
        value = nones(raw.index)
        for column in candidates:
            value = value.where(value.notna(), clean_text(raw[find_column(raw, column, source_name)]))
        selected[field] = value.astype(object).where(value.notna(), None)
    return selected.reset_index(drop=True)
