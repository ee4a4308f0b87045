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
    headers = raw.attrs.get("headers", {})  # set by the file reader: the header each column came from
    folded = wanted.strip().casefold()
    matches = [
        column
        for column in raw.columns
        if column != ROW and str(headers.get(column, (column,))[0]).strip().casefold() == folded
    ]
    if len(matches) > 1:
        cells = [_cell_name(headers[column][1]) if column in headers else repr(column) for column in matches]
        raise SourceError(
            f"source '{source_name}': mapped column '{wanted}' is in the header {len(matches)} times "
            f"(columns {', '.join(cells)}); rename or remove all but one"
        )
    column = matches[0] if matches else None
    if column is None:
        present = ", ".join(str(column) for column in raw.columns if column != ROW)
        raise SourceError(
            f"source '{source_name}': mapped column '{wanted}' is missing; columns present: {present}"
        )
    return column


def _cell_name(position: int) -> str:
    """0 -> A, 27 -> AB: the column letters a person sees in a spreadsheet."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


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
