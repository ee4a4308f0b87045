"""Keys as integer codes: a million strings are hashed once per key, then every lookup is numpy indexing.

Matching asks the same questions of the same keys many times (who holds this email, is it held twice,
which row claims that record); asking them of integer codes keeps a million-user plan in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostersync_pipelines.transform.identity import plan_cache

NONE = -1


def encode(*columns: pd.Series | np.ndarray) -> tuple[list[np.ndarray], int]:
    """The same code for the same value in every column (-1 for None); and how many distinct values.

    Inside `fold_once()`, encoding the same folded columns again is free: they are remembered.
    """
    cache = plan_cache()
    if cache is None or not all(isinstance(column, pd.Series) for column in columns):
        return _encode(*columns)
    key = ("encode", *(id(column) for column in columns))
    hit = cache.get(key)
    if hit is None or any(kept is not column for kept, column in zip(hit[0], columns, strict=True)):
        hit = cache[key] = (columns, _encode(*columns))  # holding the columns keeps their ids unique
    return hit[1]


def _encode(*columns: pd.Series | np.ndarray) -> tuple[list[np.ndarray], int]:
    arrays = [
        np.asarray(column.to_numpy(dtype=object) if isinstance(column, pd.Series) else column, dtype=object)
        for column in columns
    ]
    joined = pa.array(
        np.concatenate(arrays) if arrays else np.array([], dtype=object), type=pa.string(), from_pandas=True
    )
    encoded = pc.dictionary_encode(joined)
    codes = pc.fill_null(encoded.indices, NONE).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.split(codes, np.cumsum([len(array) for array in arrays])[:-1]), len(encoded.dictionary)


def holders(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each code: the position holding it (the last one, when several do) and how many do.

    At least one slot, so `holder[codes.clip(0)]` is safe whatever the codes."""
    size = max(size, 1)
    present = codes >= 0
    count = np.bincount(codes[present], minlength=size)
    position = np.full(size, NONE)
    position[codes[present]] = np.flatnonzero(present)
    return position, count


def take(values: np.ndarray, positions: np.ndarray, default=None) -> np.ndarray:
    """values[positions] where positions >= 0, else `default`: an object array."""
    result = np.full(len(positions), default, dtype=object)
    found = positions >= 0
    result[found] = values[positions[found]]
    return result
