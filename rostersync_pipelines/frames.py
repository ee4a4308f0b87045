"""Small pandas helpers: every cell in the core is a str or None, never NaN, so `is None` means blank."""

from __future__ import annotations

import numpy as np
import pandas as pd


def nones(index: pd.Index) -> pd.Series:
    """An object column of None (pd.Series(None, dtype=object) would hold NaN)."""
    return pd.Series(np.full(len(index), None, dtype=object), index=index, dtype=object, copy=False)


def as_objects(values: pd.Series) -> pd.Series:
    """Object dtype with None for missing values, so it mixes with any other column."""
    return values.astype(object).where(values.notna(), None)


def fill(template: str, *columns: pd.Series) -> pd.Series:
    """template.format(a, b, ...) per row, as an object column. Called on the few rows that need a message."""
    index = columns[0].index
    return pd.Series(
        [template.format(*values) for values in zip(*columns, strict=True)] if len(index) else [],
        index=index,
        dtype=object,
    )


def lookup(keys, values, keep: str = "first") -> pd.Series:
    """A key -> value table for `Series.map`: blank keys dropped, the first of repeated keys kept.

    The index stays object dtype: a str index would convert every looked-up key to Arrow and back.
    """
    table = pd.Series(
        np.asarray(values, dtype=object),
        index=pd.Index(np.asarray(keys, dtype=object), dtype=object),
        dtype=object,
    )
    table = table[table.index.notna()]
    return table[~table.index.duplicated(keep=keep)]
