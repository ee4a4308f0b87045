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
        wider = _within_wider(cache, columns)
        if wider is not None:
            return wider
        hit = cache[key] = (columns, _encode(*columns))  # holding the columns keeps their ids unique
    return hit[1]


def _within_wider(cache: dict, columns) -> tuple[list[np.ndarray], int] | None:
    """The codes of columns an earlier call encoded together with others: the same value still has the
    same code, so a plan encodes each family of keys (logins, managers' logins) once, however grouped."""
    for key, hit in cache.items():
        if key[0] != "encode" or len(hit[0]) <= len(columns):
            continue
        kept, (codes, size) = hit
        positions = [next((i for i, other in enumerate(kept) if other is column), None) for column in columns]
        if None not in positions:
            return [codes[i] for i in positions], size
    return None


def encode_together(*columns: pd.Series) -> None:
    """Inside `fold_once()`, encode a family of key columns at once, so that later `encode` calls of any of
    them reuse these codes instead of hashing a million strings again."""
    cache = plan_cache()
    if cache is not None:
        encode(*columns)


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
    # one gather: `default` sits after the values, where position -1 points
    padded = np.empty(len(values) + 1, dtype=object)
    padded[:-1] = values
    padded[-1] = default
    return padded[np.maximum(positions, NONE)]
