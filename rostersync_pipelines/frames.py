"""Small pandas helpers: every cell in the core is a str or None, never NaN, so `is None` means blank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


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


def rewrite_text(values: pd.Series, kernel) -> pd.Series:
    """Apply an Arrow string kernel; blanks become None. Unchanged values keep their Python objects, so a
    million mostly-clean cells are neither converted back from Arrow nor held twice in memory."""
    original = values.to_numpy(dtype=object)
    text = pa.array(original, type=pa.string(), from_pandas=True)
    result_text = kernel(text)
    result_text = pc.if_else(pc.equal(result_text, ""), pa.scalar(None, pa.string()), result_text)
    changed = pc.fill_null(pc.not_equal(result_text, text), False)
    changed = np.flatnonzero(
        pc.or_(changed, pc.and_(pc.is_null(result_text), pc.is_valid(text))).to_numpy(zero_copy_only=False)
    )
    result = original.copy()
    result[pc.is_null(text).to_numpy(zero_copy_only=False)] = None  # NaN, None, pd.NA: Arrow's nulls
    if len(changed):
        result[changed] = result_text.take(pa.array(changed)).to_numpy(zero_copy_only=False)
    return pd.Series(result, index=values.index, dtype=object, copy=False)


def per_distinct(values: pd.Series, function) -> pd.Series:
    """function(values), computed on each distinct value once: a million statuses or dates are a few
    distinct texts. `function` must treat each value on its own; blanks (None, NaN) all get None's result."""
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    table = np.empty(len(distinct) + 1, dtype=object)
    table[:-1] = distinct
    table[-1] = None  # code -1 (blank) reads the last slot
    results = function(pd.Series(table, dtype=object))
    return pd.Series(results.to_numpy()[codes], index=values.index, dtype=results.dtype)
