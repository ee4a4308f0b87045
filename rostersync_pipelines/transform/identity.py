"""Keys compared the way people mean them: case- and whitespace-insensitive."""

from __future__ import annotations

import pandas as pd

from rostersync_pipelines.frames import fill, nones
from rostersync_pipelines.schema import ROW


def folded(values: pd.Series) -> pd.Series:
    """Lower case with all whitespace removed; None stays None."""
    text = values.astype(object).where(values.notna(), None)
    result = text.str.replace(r"\s+", "", regex=True).str.casefold()
    return result.where(result.notna() & (result != ""), None).astype(object)


def exact_duplicates(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.Series, pd.Series]:
    """(mask of repeated rows after the first, the first row's number) — an exported row listed twice."""
    hashed = pd.util.hash_pandas_object(frame[columns].astype(object).fillna("\x00"), index=False)
    first_row = frame[ROW].groupby(hashed.to_numpy()).transform("min")
    return hashed.duplicated(keep="first"), first_row


def shared_values(frame: pd.DataFrame, key: str) -> tuple[pd.Series, pd.Series]:
    """(mask of rows whose folded `key` another row also has, 'login "x" also on rows 3, 9')."""
    values = folded(frame[key])
    shared = values.notna() & values.duplicated(keep=False)
    reason = nones(frame.index)
    if shared.any():
        rows = fill("{}", frame.loc[shared, ROW]).groupby(values[shared]).agg(", ".join)
        reason[shared] = [
            f'{key} "{frame.at[index, key]}" is on rows {rows[value]}: the same identity twice'
            for index, value in values[shared].items()
        ]
    return shared, reason
